import type { Caller, TokenStore } from './auth.js';
import { ErrorCode, toVmmsError, VmmsError } from './errors.js';
import { EventLevel, HOST_LOG_ID } from './event-log.js';
import { JobState } from './jobs.js';
import {
  type ClientMessage,
  COMMANDS,
  PROTOCOL_VERSION,
  type Request,
  roleAllows,
  type ServerMessage,
  validateRequest,
} from './protocol.js';
import type { Vmms } from './vmms.js';

/** What a session serves: the service, its tokens and the product version it reports. */
export interface ApiHost {
  vmms: Vmms;
  tokens: TokenStore;
  productVersion: string;
}

const MAX_SUBSCRIPTIONS = 16;

/**
 * One client's conversation with the service, independent of transport: it takes decoded messages
 * and sends messages through `send`. The socket server and the in-process transport both wrap it.
 * Nothing a client sends can throw out of `receive`.
 */
export class ApiSession {
  readonly #host: ApiHost;
  readonly #send: (message: ServerMessage) => void;
  readonly #close: () => void;
  #caller: Caller | undefined;
  #closed = false;
  #nextSubscription = 1;
  readonly #subscriptions = new Map<number, () => void>();
  readonly #follows = new Set<() => void>();

  constructor(host: ApiHost, send: (message: ServerMessage) => void, close: () => void) {
    this.#host = host;
    this.#send = send;
    this.#close = close;
  }

  receive(raw: unknown): void {
    if (this.#closed) return;
    try {
      this.#receive(raw);
    } catch (error) {
      this.#reply(null, toVmmsError(error));
    }
  }

  /** A frame that could not be decoded; fatal ones end the connection. */
  badFrame(error: VmmsError, fatal: boolean): void {
    if (fatal) {
      this.#bye(error);
      return;
    }
    this.#reply(null, error);
  }

  dispose(): void {
    this.#closed = true;
    for (const off of this.#subscriptions.values()) off();
    this.#subscriptions.clear();
    for (const off of this.#follows) off();
    this.#follows.clear();
  }

  #receive(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null)
      throw new VmmsError(ErrorCode.InvalidArgument, 'a message must be an object');
    const message = raw as Partial<ClientMessage> & Record<string, unknown>;
    if (this.#caller === undefined) {
      if (message.t !== 'hello') {
        this.#bye(new VmmsError(ErrorCode.Unauthorized, 'the first message must be a hello with a token'));
        return;
      }
      if (message['version'] !== PROTOCOL_VERSION) {
        this.#bye(
          new VmmsError(
            ErrorCode.VersionMismatch,
            `client speaks protocol version ${String(message['version'])}, this service speaks version ${PROTOCOL_VERSION}`,
          ),
        );
        return;
      }
      const caller = this.#host.tokens.authenticate(message['token']);
      if (caller === undefined) {
        this.#host.vmms.events.append(
          HOST_LOG_ID,
          '',
          EventLevel.Warning,
          'unauthorized',
          'connection refused: unknown token',
        );
        this.#bye(new VmmsError(ErrorCode.Unauthorized, 'the token is not valid'));
        return;
      }
      this.#caller = caller;
      this.#send({ t: 'welcome', version: PROTOCOL_VERSION, role: caller.role, name: caller.name });
      return;
    }
    if (message.t !== 'req')
      throw new VmmsError(ErrorCode.InvalidArgument, `unexpected message type ${String(message.t)}`);
    const id = message['id'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
      throw new VmmsError(ErrorCode.InvalidArgument, 'a request needs an integer id');
    }
    try {
      const request = validateRequest(message['req']);
      const needed = COMMANDS[request.kind].role;
      if (!roleAllows(this.#caller.role, needed)) {
        const text = `${this.#caller.name} (${this.#caller.role}) may not ${request.kind}; it needs ${needed}`;
        this.#host.vmms.events.append(HOST_LOG_ID, '', EventLevel.Warning, 'unauthorized', text);
        throw new VmmsError(ErrorCode.Unauthorized, text);
      }
      const result = this.#dispatch(request);
      if (result instanceof Promise) {
        // Integration-service requests wait for the guest's answer.
        result.then(
          (value: unknown) => this.#send({ t: 'res', id, ok: true, result: value ?? null }),
          (error: unknown) => this.#reply(id, toVmmsError(error)),
        );
        return;
      }
      this.#send({ t: 'res', id, ok: true, result: result ?? null });
    } catch (error) {
      this.#reply(id, toVmmsError(error));
    }
  }

  #dispatch(request: Request): unknown {
    const { vmms, tokens } = this.#host;
    switch (request.kind) {
      case 'host.info':
        return {
          protocolVersion: PROTOCOL_VERSION,
          productVersion: this.#host.productVersion,
          dataDir: vmms.dataDir,
          vmCount: vmms.list().length,
          configProblems: vmms.problems,
        };
      case 'vm.list':
        return vmms.list();
      case 'vm.get':
        return vmms.get(request.vm);
      case 'vm.create':
        return vmms.create(request.spec);
      case 'vm.set':
        return vmms.set(request.vm, request.changes);
      case 'vm.remove':
        vmms.remove(request.vm);
        return null;
      case 'vm.start':
        return vmms.start(request.vm);
      case 'vm.stop':
        return vmms.stop(request.vm, {
          ...(request.turnOff === undefined || request.turnOff === null ? {} : { turnOff: request.turnOff }),
          ...(typeof request.timeoutMs === 'number' ? { timeoutMs: clampTimeout(request.timeoutMs) } : {}),
        });
      case 'vm.restart':
        return vmms.restart(
          request.vm,
          typeof request.timeoutMs === 'number' ? { timeoutMs: clampTimeout(request.timeoutMs) } : {},
        );
      case 'vm.save':
        return vmms.save(request.vm);
      case 'vm.pause':
        return vmms.pause(request.vm);
      case 'vm.resume':
        return vmms.resume(request.vm);
      case 'vm.discardSaved':
        return vmms.discardSavedState(request.vm);
      case 'vm.disk.attach':
        return vmms.attachDisk(request.vm, {
          path: request.path,
          ...(typeof request.lun === 'number' ? { lun: request.lun } : {}),
          ...(typeof request.readOnly === 'boolean' ? { readOnly: request.readOnly } : {}),
        });
      case 'vm.disk.detach':
        return vmms.detachDisk(request.vm, request.lun);
      case 'checkpoint.create':
        return vmms.createCheckpoint(request.vm, {
          ...(typeof request.name === 'string' ? { name: request.name } : {}),
          ...(typeof request.type === 'string' ? { type: request.type } : {}),
        });
      case 'checkpoint.list':
        return vmms.listCheckpoints(request.vm);
      case 'checkpoint.apply':
        return vmms.applyCheckpoint(request.vm, request.checkpoint);
      case 'checkpoint.rename':
        return vmms.renameCheckpoint(request.vm, request.checkpoint, request.name);
      case 'checkpoint.remove':
        return vmms.removeCheckpoint(request.vm, request.checkpoint, { subtree: request.subtree === true });
      case 'vm.backup':
        return vmms.backup(request.vm, request.destination);
      case 'vm.restoreBackup':
        return vmms.restoreBackup(
          request.source,
          typeof request.name === 'string' ? { name: request.name } : {},
        );
      case 'ic.list':
        return vmms.icState(request.vm);
      case 'kvp.get':
        return vmms.kvpGet(request.vm, request.key, request.pool);
      case 'kvp.list':
        return vmms.kvpList(request.vm, request.pool);
      case 'kvp.set':
        return vmms.kvpSet(request.vm, request.key, request.value, request.pool);
      case 'kvp.remove':
        return vmms.kvpRemove(request.vm, request.key, request.pool);
      case 'vss.freeze':
        return vmms.vss(request.vm, 'freeze');
      case 'vss.thaw':
        return vmms.vss(request.vm, 'thaw');
      case 'job.get':
        return vmms.jobs.get(request.job);
      case 'job.list':
        return vmms.jobs.list();
      case 'job.cancel':
        return vmms.jobs.cancel(request.job);
      case 'job.follow':
        return this.#follow(request.job);
      case 'events.query': {
        const vmId = typeof request.vm === 'string' ? vmms.get(request.vm).id : undefined;
        const limit =
          typeof request.limit === 'number' ? Math.max(1, Math.min(10_000, Math.floor(request.limit))) : 1000;
        return vmms.events.query({
          ...(vmId === undefined ? {} : { vmId }),
          ...(typeof request.afterSeq === 'number' ? { afterSeq: request.afterSeq } : {}),
          limit,
        });
      }
      case 'events.subscribe': {
        if (this.#subscriptions.size >= MAX_SUBSCRIPTIONS) {
          throw new VmmsError(
            ErrorCode.Conflict,
            `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`,
          );
        }
        const vmId = typeof request.vm === 'string' ? vmms.get(request.vm).id : undefined;
        const subscription = this.#nextSubscription++;
        const off = vmms.events.subscribe((event) => {
          if (vmId === undefined || event.vmId === vmId) this.#push({ t: 'event', subscription, event });
        });
        this.#subscriptions.set(subscription, off);
        return { subscription };
      }
      case 'events.unsubscribe': {
        const off = this.#subscriptions.get(request.subscription);
        if (off === undefined)
          throw new VmmsError(ErrorCode.NotFound, `no subscription ${request.subscription}`);
        off();
        this.#subscriptions.delete(request.subscription);
        return null;
      }
      case 'token.create':
        return { name: request.name, role: request.role, token: tokens.create(request.name, request.role) };
      case 'token.list':
        return tokens.list();
      case 'token.revoke':
        tokens.revoke(request.name);
        return null;
    }
  }

  #follow(jobId: string): unknown {
    const { jobs } = this.#host.vmms;
    const current = jobs.get(jobId);
    if (current.state !== JobState.Running) return current;
    const off = jobs.subscribe((job) => {
      if (job.id !== jobId) return;
      this.#push({ t: 'job', job });
      if (job.state !== JobState.Running) {
        off();
        this.#follows.delete(off);
      }
    });
    this.#follows.add(off);
    return current;
  }

  #push(message: ServerMessage): void {
    // Streamed messages follow the reply that started them.
    queueMicrotask(() => {
      if (!this.#closed) this.#send(message);
    });
  }

  #reply(id: number | null, error: VmmsError): void {
    this.#send({ t: 'res', id, ok: false, error: { code: error.code, message: error.message } });
  }

  #bye(error: VmmsError): void {
    this.#send({ t: 'bye', error: { code: error.code, message: error.message } });
    this.dispose();
    this.#close();
  }
}

function clampTimeout(ms: number): number {
  return Math.max(0, Math.min(3_600_000, Math.floor(ms)));
}
