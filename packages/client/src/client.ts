import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  type CheckpointType,
  type ClientMessage,
  type Connection,
  ErrorCode,
  encodeFrame,
  FrameDecoder,
  isErrorCode,
  type JobInfo,
  JobState,
  KvpPoolName,
  PROTOCOL_VERSION,
  type RequestKind,
  type RequestOf,
  type ResultOf,
  type Role,
  type ServerMessage,
  type StopOptions,
  socketPathFor,
  type VmChanges,
  type VmEvent,
  type VmSpec,
} from '@viridian/vmms';

/** A KVP pool by its hv_kvp number (0–4) or its name (`'external'`, `'guest'`, …). */
export type KvpPool = number | KvpPoolName;

function poolNumber(pool: KvpPool | undefined): { pool?: number } {
  if (pool === undefined || typeof pool === 'number') return pool === undefined ? {} : { pool };
  if (!Object.hasOwn(KvpPoolName, pool))
    throw new ApiError(
      ErrorCode.InvalidArgument,
      `unknown KVP pool "${String(pool)}" (${Object.keys(KvpPoolName).join(', ')})`,
    );
  return { pool: KvpPoolName[pool] };
}

/** A refusal or failure reported by the service, with its stable code. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  /** The data directory of the host; its socket and (unless `token` is given) its local admin token are used. */
  dataDir?: string;
  /** The socket path, when it is not the data directory's. */
  socketPath?: string;
  /** The token to present; else `VIRIDIAN_TOKEN`, else the data directory's local admin token. */
  token?: string;
}

/** Opens a socket connection speaking the framed protocol. */
export function connectSocket(path: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const decoder = new FrameDecoder();
    const messageListeners: Array<(m: ServerMessage) => void> = [];
    const closeListeners: Array<() => void> = [];
    socket.once('error', (error) =>
      reject(new ApiError(ErrorCode.NotFound, `cannot reach the service at ${path}: ${error.message}`)),
    );
    socket.once('connect', () => {
      socket.on('error', () => socket.destroy());
      resolve({
        send: (message: ClientMessage) => {
          if (!socket.destroyed) socket.write(encodeFrame(message));
        },
        onMessage: (listener) => messageListeners.push(listener),
        onClose: (listener) => closeListeners.push(listener),
        close: () => socket.end(),
      });
    });
    socket.on('data', (chunk: Buffer) => {
      for (const result of decoder.push(chunk)) {
        if (!result.ok) {
          socket.destroy();
          return;
        }
        for (const listener of messageListeners) listener(result.message as ServerMessage);
      }
    });
    socket.on('close', () => {
      for (const listener of closeListeners) listener();
    });
  });
}

function readToken(options: ConnectOptions): string {
  if (options.token !== undefined) return options.token;
  const fromEnv = process.env['VIRIDIAN_TOKEN'];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  if (options.dataDir === undefined) {
    throw new ApiError(
      ErrorCode.Unauthorized,
      'no token: pass one, set VIRIDIAN_TOKEN, or give the data directory',
    );
  }
  const file = join(options.dataDir, 'auth', 'admin.token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ApiError(
      ErrorCode.Unauthorized,
      `cannot read the local token ${file}: ${(error as Error).message}`,
    );
  }
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** A typed client of the management API. One request per method; jobs can be followed, events subscribed. */
export class ViridianClient {
  readonly role: Role;
  readonly callerName: string;
  readonly #connection: Connection;
  readonly #pending = new Map<number, Pending>();
  readonly #jobListeners = new Map<string, Set<(job: JobInfo) => void>>();
  readonly #eventListeners = new Map<number, (event: VmEvent) => void>();
  #nextId = 1;
  #closed: ApiError | undefined;

  private constructor(connection: Connection, role: Role, name: string) {
    this.#connection = connection;
    this.role = role;
    this.callerName = name;
    connection.onMessage((message) => this.#onMessage(message));
    connection.onClose(() =>
      this.#onClose(new ApiError(ErrorCode.Internal, 'the connection to the service closed')),
    );
  }

  /** Connects to a host's socket and authenticates. */
  static async connect(options: ConnectOptions): Promise<ViridianClient> {
    const token = readToken(options);
    const path =
      options.socketPath ?? (options.dataDir === undefined ? undefined : socketPathFor(options.dataDir));
    if (path === undefined)
      throw new ApiError(ErrorCode.InvalidArgument, 'give a data directory or a socket path');
    return ViridianClient.over(await connectSocket(path), token);
  }

  /** Authenticates over an already open connection (a socket, or an in-process one). */
  static over(connection: Connection, token: string): Promise<ViridianClient> {
    return new Promise((resolve, reject) => {
      let settled = false;
      connection.onMessage((message) => {
        if (settled) return;
        settled = true;
        if (message.t === 'welcome') resolve(new ViridianClient(connection, message.role, message.name));
        else if (message.t === 'bye') reject(new ApiError(message.error.code, message.error.message));
        else reject(new ApiError(ErrorCode.Internal, `unexpected first message ${message.t}`));
      });
      connection.onClose(() => {
        if (!settled) {
          settled = true;
          reject(new ApiError(ErrorCode.Internal, 'the service closed the connection during the hello'));
        }
      });
      connection.send({ t: 'hello', version: PROTOCOL_VERSION, token });
    });
  }

  /** Sends any request of the union and resolves with its typed result. */
  request<K extends RequestKind>(request: RequestOf<K>): Promise<ResultOf<K>> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#connection.send({ t: 'req', id, req: request as never });
    });
  }

  hostInfo() {
    return this.request({ kind: 'host.info' });
  }
  listVms() {
    return this.request({ kind: 'vm.list' });
  }
  getVm(vm: string) {
    return this.request({ kind: 'vm.get', vm });
  }
  createVm(spec: VmSpec) {
    return this.request({ kind: 'vm.create', spec });
  }
  setVm(vm: string, changes: VmChanges) {
    return this.request({ kind: 'vm.set', vm, changes });
  }
  removeVm(vm: string) {
    return this.request({ kind: 'vm.remove', vm });
  }
  startVm(vm: string) {
    return this.request({ kind: 'vm.start', vm });
  }
  stopVm(vm: string, options: StopOptions = {}) {
    return this.request({ kind: 'vm.stop', vm, ...options });
  }
  restartVm(vm: string, options: { timeoutMs?: number } = {}) {
    return this.request({ kind: 'vm.restart', vm, ...options });
  }
  saveVm(vm: string) {
    return this.request({ kind: 'vm.save', vm });
  }
  pauseVm(vm: string) {
    return this.request({ kind: 'vm.pause', vm });
  }
  resumeVm(vm: string) {
    return this.request({ kind: 'vm.resume', vm });
  }
  discardSavedState(vm: string) {
    return this.request({ kind: 'vm.discardSaved', vm });
  }

  /** Hot-adds (or, when Off, adds) a virtual disk file at a LUN; the service picks the lowest free LUN unless given. */
  attachDisk(vm: string, path: string, options: { lun?: number; readOnly?: boolean } = {}) {
    return this.request({ kind: 'vm.disk.attach', vm, path, ...options });
  }
  detachDisk(vm: string, lun: number) {
    return this.request({ kind: 'vm.disk.detach', vm, lun });
  }

  /** Starts a checkpoint job; the finished job's `result` is the new `CheckpointInfo`. */
  createCheckpoint(vm: string, options: { name?: string; type?: CheckpointType } = {}) {
    return this.request({ kind: 'checkpoint.create', vm, ...options });
  }
  listCheckpoints(vm: string) {
    return this.request({ kind: 'checkpoint.list', vm });
  }
  /** `checkpoint` is a checkpoint id or a name unique within the VM. */
  applyCheckpoint(vm: string, checkpoint: string) {
    return this.request({ kind: 'checkpoint.apply', vm, checkpoint });
  }
  renameCheckpoint(vm: string, checkpoint: string, name: string) {
    return this.request({ kind: 'checkpoint.rename', vm, checkpoint, name });
  }
  /** Removes one checkpoint (its disks merge), or with `subtree` it and every checkpoint below it; the job's `result` is `{ removed: string[] }` (ids). */
  removeCheckpoint(vm: string, checkpoint: string, options: { subtree?: boolean } = {}) {
    return this.request({ kind: 'checkpoint.remove', vm, checkpoint, ...options });
  }

  /** Starts a backup job writing the VM's configuration and disks into `destination` (an absolute, empty or new directory); the job's `result` is a `BackupResult`. */
  backupVm(vm: string, destination: string) {
    return this.request({ kind: 'vm.backup', vm, destination });
  }
  /** Starts a job creating a new VM from a backup directory; the finished job's `result` is its `VmDetail`. */
  restoreBackup(source: string, options: { name?: string } = {}) {
    return this.request({ kind: 'vm.restoreBackup', source, ...options });
  }

  /** The state of each integration service of a running VM, with the guest clock offset. */
  listIntegrationServices(vm: string) {
    return this.request({ kind: 'ic.list', vm });
  }
  async getKvp(vm: string, key: string, options: { pool?: KvpPool } = {}) {
    return this.request({ kind: 'kvp.get', vm, key, ...poolNumber(options.pool) });
  }
  async listKvp(vm: string, options: { pool?: KvpPool } = {}) {
    return this.request({ kind: 'kvp.list', vm, ...poolNumber(options.pool) });
  }
  async setKvp(vm: string, key: string, value: string, options: { pool?: KvpPool } = {}) {
    return this.request({ kind: 'kvp.set', vm, key, value, ...poolNumber(options.pool) });
  }
  async removeKvp(vm: string, key: string, options: { pool?: KvpPool } = {}) {
    return this.request({ kind: 'kvp.remove', vm, key, ...poolNumber(options.pool) });
  }
  /** Asks the guest's VSS writers to freeze (bring their on-disk data to a consistent point). */
  freezeVss(vm: string) {
    return this.request({ kind: 'vss.freeze', vm });
  }
  thawVss(vm: string) {
    return this.request({ kind: 'vss.thaw', vm });
  }

  getJob(job: string) {
    return this.request({ kind: 'job.get', job });
  }
  listJobs() {
    return this.request({ kind: 'job.list' });
  }
  cancelJob(job: string) {
    return this.request({ kind: 'job.cancel', job });
  }
  queryEvents(query: { vm?: string; afterSeq?: number; limit?: number } = {}) {
    return this.request({ kind: 'events.query', ...query });
  }
  createToken(name: string, role: Role) {
    return this.request({ kind: 'token.create', name, role });
  }
  listTokens() {
    return this.request({ kind: 'token.list' });
  }
  revokeToken(name: string) {
    return this.request({ kind: 'token.revoke', name });
  }

  /** Follows a job until it ends, calling `onProgress` with each update; resolves with the final snapshot. */
  async followJob(jobId: string, onProgress?: (job: JobInfo) => void): Promise<JobInfo> {
    const listeners = this.#jobListeners.get(jobId) ?? new Set();
    this.#jobListeners.set(jobId, listeners);
    let finish!: (job: JobInfo) => void;
    const ended = new Promise<JobInfo>((resolve) => {
      finish = resolve;
    });
    const listener = (job: JobInfo): void => {
      onProgress?.(job);
      if (job.state !== JobState.Running) finish(job);
    };
    listeners.add(listener);
    try {
      const now = await this.request({ kind: 'job.follow', job: jobId });
      listener(now);
      return await Promise.race([ended, this.#closedPromise()]);
    } finally {
      listeners.delete(listener);
      if (listeners.size === 0) this.#jobListeners.delete(jobId);
    }
  }

  /** Streams events (of one VM, or all); resolves with a function that ends the subscription. */
  async subscribeEvents(listener: (event: VmEvent) => void, vm?: string): Promise<() => Promise<void>> {
    const { subscription } = await this.request({
      kind: 'events.subscribe',
      ...(vm === undefined ? {} : { vm }),
    });
    this.#eventListeners.set(subscription, listener);
    return async () => {
      this.#eventListeners.delete(subscription);
      if (this.#closed === undefined) await this.request({ kind: 'events.unsubscribe', subscription });
    };
  }

  close(): void {
    this.#connection.close();
  }

  #closedPromise(): Promise<never> {
    return new Promise((_, reject) => {
      const check = setInterval(() => {
        if (this.#closed !== undefined) {
          clearInterval(check);
          reject(this.#closed);
        }
      }, 100);
      check.unref();
    });
  }

  #onMessage(message: ServerMessage): void {
    switch (message.t) {
      case 'res': {
        if (message.id === null) return;
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        if (message.ok) pending.resolve(message.result);
        else {
          const code = isErrorCode(message.error.code) ? message.error.code : ErrorCode.Internal;
          pending.reject(new ApiError(code, message.error.message));
        }
        return;
      }
      case 'job':
        for (const listener of this.#jobListeners.get(message.job.id) ?? []) listener(message.job);
        return;
      case 'event':
        this.#eventListeners.get(message.subscription)?.(message.event);
        return;
      case 'bye':
        this.#onClose(new ApiError(message.error.code, message.error.message));
        return;
      case 'welcome':
        return;
    }
  }

  #onClose(error: ApiError): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
