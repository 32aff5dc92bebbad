import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import {
  connectRootVp,
  cpuUsage,
  type GuestVp,
  Hypervisor,
  type HypervisorEvent,
  type HypervisorOptions,
  type SchedulerStats,
  VP_CONTROL_BYTES,
  type VpHandle,
} from '@viridian/hypervisor';
import { spawnWorker } from '@viridian/threads';
import { checkDiskAttachment, checkDisks, checkLun, checkSnapshotRequest, DiskError } from './disk-config.js';
import { BUILTIN_IMAGES, type BuiltinImage } from './guests/index.js';
import { builtinImageUrl, moduleUrl } from './module-url.js';
import type {
  DiskAttachment,
  DiskSnapshotRequest,
  FromVmwp,
  IcRequest,
  ToVmwp,
  VmwpConfig,
  VmwpWorkerData,
} from './protocol.js';

type CallMessage = Extract<ToVmwp, { type: 'call' }>;
/** A call to the VMWP without its envelope. */
type CallRequest = CallMessage extends infer M
  ? M extends CallMessage
    ? Omit<M, 'type' | 'id'>
    : never
  : never;

/** Heartbeat as Hyper-V reports it for a VM's heartbeat integration service. */
export const HeartbeatStatus = {
  Ok: 'OK',
  NoContact: 'NoContact',
  LostCommunication: 'LostCommunication',
  Paused: 'Paused',
  Disabled: 'Disabled',
} as const;
export type HeartbeatStatus = (typeof HeartbeatStatus)[keyof typeof HeartbeatStatus];

/** Why a VM ended without being asked to. */
export const ExitReason = { GuestCrashed: 'guestCrashed', WorkerDied: 'workerDied' } as const;
export type ExitReason = (typeof ExitReason)[keyof typeof ExitReason];

export interface VmwpExit {
  reason: ExitReason;
  message: string;
}

export interface VmwpStartOptions {
  /** State returned by an earlier `save()`; the VM resumes from it instead of booting. */
  restore?: unknown;
  /** Called once if the VM ends without being asked (guest crash, worker death). */
  onExit(exit: VmwpExit): void;
  /** Lines the guest logs (rate-limited). */
  onGuestLog?(message: string): void;
}

export interface VmwpStats {
  /** Processor use as a percentage of one host processor (over the last ~2 s). */
  cpuPercent: number;
  /** Memory assigned to the partition, in MB. */
  memoryDemandMB: number;
  uptimeMs: number;
  heartbeat: HeartbeatStatus;
  /** Disks attached, and SCSI commands the guest has sent since the start (as of the last ~250 ms). */
  disks: { attached: number; commands: number };
}

export class VmwpError extends Error {
  constructor(
    readonly code:
      | 'ERR_VMWP_START'
      | 'ERR_VMWP_TIMEOUT'
      | 'ERR_VMWP_STATE'
      | 'ERR_VMWP_IMAGE'
      | 'ERR_VMWP_DISK',
    message: string,
  ) {
    super(message);
    this.name = 'VmwpError';
  }
}

export interface VmwpRuntimeOptions {
  /** A hypervisor to run VMs on; by default the runtime starts one on first use and stops it on close(). */
  hypervisor?: Hypervisor;
  /** Options for the hypervisor the runtime starts itself. */
  hypervisorOptions?: HypervisorOptions;
  /** How long a boot may take before the start fails (default 30 s). */
  bootTimeoutMs?: number;
  /** How long pause and save wait for the guest's next safe point (default 10 s). */
  safePointTimeoutMs?: number;
}

/** The largest VM memory the runtime's own hypervisor accepts (pages of 4 KiB): 2 GiB. */
const MAX_PARTITION_PAGES = 524_288;
const LOG_PER_SECOND = 20;
/** How long one disk operation (open, create, merge a small file) may take before the call times out. */
const DISK_OP_MS = 60_000;

/**
 * Runs each VM as a child partition of the Viridian hypervisor, driven by its own VMWP thread.
 * Implements VMMS's VmRuntime seam (structurally: this package sits below VMMS).
 */
export class VmwpRuntime {
  readonly #options: VmwpRuntimeOptions;
  readonly #timeouts: { boot: number; safePoint: number };
  #hypervisor: Promise<Hypervisor> | undefined;
  #ownsHypervisor = false;
  #cleanupVp: GuestVp | undefined;
  readonly #byPartition = new Map<bigint, VmwpVm>();
  readonly #unclaimed = new Map<bigint, HypervisorEvent[]>();
  readonly #vms = new Set<VmwpVm>();
  /**
   * Root VPs whose VMWP ended cleanly, for the next VMWP: the hypervisor has no call to detach a root
   * VP, and each one's SynIC and hypercall pages sit at fixed places in root memory by VP index.
   */
  readonly #idleRootVps: VpHandle[] = [];
  readonly #rootOf = new Map<VmwpVm, VpHandle>();
  /** Scheduler snapshots of the last ~2 s and the CPU % per partition they give. */
  #snapshots: SchedulerStats[] = [];
  readonly #cpu = new Map<bigint, number>();
  #sampler: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: VmwpRuntimeOptions = {}) {
    this.#options = options;
    this.#timeouts = {
      boot: options.bootTimeoutMs ?? 30_000,
      safePoint: options.safePointTimeoutMs ?? 10_000,
    };
  }

  /** The hypervisor the VMs run on (started on first use unless one was given). */
  hypervisor(): Promise<Hypervisor> {
    if (this.#hypervisor === undefined) {
      const given = this.#options.hypervisor;
      this.#ownsHypervisor = given === undefined;
      this.#hypervisor = (
        given
          ? Promise.resolve(given)
          : Hypervisor.start({ maxPartitionPages: MAX_PARTITION_PAGES, ...this.#options.hypervisorOptions })
      ).then((hv) => {
        hv.onEvent((event) => this.#route(event));
        this.#sampler = setInterval(() => void this.#sample(hv), 500);
        this.#sampler.unref();
        return hv;
      });
    }
    return this.#hypervisor;
  }

  checkImage(image: string): string | undefined {
    if (Object.hasOwn(BUILTIN_IMAGES, image)) return undefined;
    if (image.startsWith('file:') || isAbsolute(image)) {
      const path = image.startsWith('file:') ? fileURLToPath(image) : image;
      return existsSync(path) ? undefined : `guest module ${path} does not exist`;
    }
    return `unknown built-in image "${image}" (known: ${Object.keys(BUILTIN_IMAGES).join(', ')})`;
  }

  async start(config: VmwpConfig, options: VmwpStartOptions): Promise<VmwpVm> {
    if (this.#closed) throw new VmwpError('ERR_VMWP_STATE', 'the runtime is closed');
    const problem = this.checkImage(config.image);
    if (problem !== undefined) throw new VmwpError('ERR_VMWP_IMAGE', problem);
    if (config.memoryMB * 256 > (this.#options.hypervisorOptions?.maxPartitionPages ?? MAX_PARTITION_PAGES)) {
      throw new VmwpError(
        'ERR_VMWP_START',
        `${config.memoryMB} MB is more memory than the hypervisor gives a partition`,
      );
    }
    let disks: DiskAttachment[];
    try {
      disks = checkDisks(config.disks);
    } catch (error) {
      throw new VmwpError('ERR_VMWP_DISK', (error as Error).message);
    }
    const hv = await this.hypervisor();
    const program = Object.hasOwn(BUILTIN_IMAGES, config.image)
      ? builtinImageUrl(config.image as BuiltinImage)
      : config.image.startsWith('file:')
        ? config.image
        : pathToFileURL(config.image).href;
    const data: VmwpWorkerData = {
      config: {
        id: config.id,
        name: config.name,
        memoryMB: config.memoryMB,
        processorCount: config.processorCount,
        cpu: { ...config.cpu },
        image: config.image,
        integrationServices: {
          heartbeat: config.integrationServices.heartbeat,
          shutdown: config.integrationServices.shutdown,
          kvp: config.integrationServices.kvp === true,
          timesync: config.integrationServices.timesync === true,
          vss: config.integrationServices.vss === true,
        },
        disks,
      },
      root: this.#idleRootVps.pop() ?? (await hv.attachRootVp()),
      bootImage: moduleUrl('./boot-image.js'),
      program,
      restore: options.restore,
      hasRestore: options.restore !== undefined,
      bootTimeoutMs: this.#timeouts.boot,
      safePointTimeoutMs: this.#timeouts.safePoint,
    };
    const worker = spawnWorker(new URL('./vmwp-worker.js', import.meta.url), { workerData: data });
    const vm: VmwpVm = new VmwpVm(worker, data.config, options, this.#timeouts.safePoint, {
      claim: (id: bigint): void => this.#claim(id, vm),
      cpuPercent: (id: bigint): number => this.#cpu.get(id) ?? 0,
      release: (id: bigint): Promise<void> => this.#release(id, vm),
    });
    this.#vms.add(vm);
    this.#rootOf.set(vm, data.root);
    try {
      await vm.booted(this.#timeouts.boot + 5_000);
    } catch (error) {
      this.#vms.delete(vm);
      throw error;
    }
    return vm;
  }

  /** CPU use per partition from the hypervisor's run-time accounting, over a window of about 2 s. */
  async #sample(hv: Hypervisor): Promise<void> {
    if (this.#vms.size === 0) {
      this.#snapshots = [];
      return;
    }
    const next = await hv.schedulerStats().catch(() => undefined);
    if (next === undefined) return;
    this.#snapshots.push(next);
    while (this.#snapshots.length > 2 && next.atNs - (this.#snapshots[0]?.atNs ?? next.atNs) > 2e9)
      this.#snapshots.shift();
    const first = this.#snapshots[0];
    if (first === undefined || first === next) return;
    this.#cpu.clear();
    for (const p of cpuUsage(first, next).partitions) this.#cpu.set(p.partitionId, p.percentOfLp);
  }

  /** Turns every VM off and stops the hypervisor if this runtime started it. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sampler !== undefined) clearInterval(this.#sampler);
    await Promise.all([...this.#vms].map((vm) => vm.turnOff()));
    if (this.#hypervisor !== undefined && this.#ownsHypervisor) await (await this.#hypervisor).stop();
  }

  #route(event: HypervisorEvent): void {
    if (!('partitionId' in event)) return;
    const vm = this.#byPartition.get(event.partitionId);
    if (vm !== undefined) {
      vm.hypervisorEvent(event);
      return;
    }
    // Events can overtake the VMWP's report of the partition id; keep a few until it is claimed.
    const queue = this.#unclaimed.get(event.partitionId) ?? [];
    this.#unclaimed.set(event.partitionId, queue);
    if (queue.length < 64) queue.push(event);
  }

  #claim(id: bigint, vm: VmwpVm): void {
    this.#byPartition.set(id, vm);
    const early = this.#unclaimed.get(id) ?? [];
    this.#unclaimed.delete(id);
    for (const event of early) vm.hypervisorEvent(event);
  }

  /** Forgets a partition; when its VMWP died without deleting it, deletes it from a root VP of our own. */
  async #release(id: bigint, vm: VmwpVm): Promise<void> {
    this.#vms.delete(vm);
    const root = this.#rootOf.get(vm);
    this.#rootOf.delete(vm);
    if (this.#byPartition.get(id) === vm) this.#byPartition.delete(id);
    // A VMWP that ended without tearing down may have left its root VP mid-trap: never reuse that one.
    if (!vm.orphaned) {
      if (root !== undefined) this.#idleRootVps.push(root);
      return;
    }
    const hv = await this.hypervisor();
    this.#cleanupVp ??= connectRootVp(await hv.attachRootVp());
    this.#cleanupVp.finalizePartition(id);
    this.#cleanupVp.deletePartition(id);
  }
}

interface Registry {
  claim(id: bigint): void;
  cpuPercent(id: bigint): number;
  release(id: bigint): Promise<void>;
}

/** One running VM: the runtime's handle on its VMWP thread. */
export class VmwpVm {
  readonly #worker: Worker;
  readonly #config: VmwpConfig;
  readonly #options: VmwpStartOptions;
  readonly #safePointTimeoutMs: number;
  readonly #registry: Registry;
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #firmwareSeen = new Set<number>();
  #nextCall = 1;
  #partitionId: bigint | undefined;
  #startedAt = Date.now();
  #paused = false;
  #heartbeat: 'OK' | 'NoContact' | 'LostCommunication' = 'NoContact';
  #shutdownReady = false;
  #disks = { attached: 0, commands: 0 };
  #exited = false;
  #expectExit = false;
  #exitReported = false;
  #boot: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #logWindow = 0;
  #logCount = 0;
  /** True when the VMWP ended without deleting its partition. */
  orphaned = false;

  constructor(
    worker: Worker,
    config: VmwpConfig,
    options: VmwpStartOptions,
    safePointTimeoutMs: number,
    registry: Registry,
  ) {
    this.#worker = worker;
    this.#config = config;
    this.#options = options;
    this.#safePointTimeoutMs = safePointTimeoutMs;
    this.#registry = registry;
    let lastError: Error | undefined;
    worker.on('message', (m: FromVmwp) => this.#onMessage(m));
    worker.on('error', (error) => {
      lastError = error;
    });
    worker.on('exit', (code) => this.#onWorkerExit(code, lastError));
  }

  /** The child partition's id, once the VMWP has created it. */
  get partitionId(): bigint | undefined {
    return this.#partitionId;
  }

  booted(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#boot = undefined;
        void this.turnOff();
        reject(new VmwpError('ERR_VMWP_TIMEOUT', `the VM did not boot within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#boot = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  async pause(): Promise<void> {
    await this.#call({ op: 'pause' });
    this.#paused = true;
  }

  async resume(): Promise<void> {
    await this.#call({ op: 'resume' });
    this.#paused = false;
  }

  /** The reason a graceful shutdown cannot be asked for, or undefined when it can. */
  shutdownUnavailableReason(): string | undefined {
    if (this.#config.integrationServices.shutdown || this.#exited) return undefined;
    return 'the shutdown integration service is not offered to this guest, so it cannot be asked to shut down; turn it off instead';
  }

  /** True once the guest has connected and negotiated its shutdown integration service. */
  get shutdownServiceReady(): boolean {
    return this.#shutdownReady;
  }

  async shutdown(timeoutMs: number): Promise<boolean> {
    if (this.#exited) return true;
    const off = (await this.#call({ op: 'shutdown', timeoutMs }, timeoutMs + 5_000)) === true;
    if (off) {
      this.#expectExit = true;
      await this.#worker.terminate();
    }
    return off;
  }

  async turnOff(): Promise<void> {
    if (this.#exited) return;
    this.#expectExit = true;
    try {
      await this.#call({ op: 'turnOff' }, 10_000);
    } catch {
      // The VMWP did not answer: ending it leaves the partition to the runtime to delete.
      this.orphaned = true;
    }
    await this.#worker.terminate();
  }

  async save(): Promise<unknown> {
    this.#expectExit = true;
    try {
      const state = await this.#call({ op: 'save' }, this.#safePointTimeoutMs + DISK_OP_MS);
      await this.#worker.terminate();
      return state;
    } catch (error) {
      this.#expectExit = false;
      throw error;
    }
  }

  /**
   * One request to the VM's integration services (KVP, VSS, their state). Resolves with the IC's
   * own result value (`{ ok: false, reason: 'not-offered' }` when the VM does not run that IC);
   * rejects only when the VM is not running.
   */
  ic(request: IcRequest): Promise<unknown> {
    if (this.#exited) return Promise.reject(new VmwpError('ERR_VMWP_STATE', 'the VM is not running'));
    const id = this.#nextCall++;
    // VSS freeze may take the guest's writers up to a minute; KVP answers within 30 s.
    const wait = 70_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(
          new VmwpError('ERR_VMWP_TIMEOUT', `the VM worker did not answer ${request.op} within ${wait} ms`),
        );
      }, wait);
      this.#calls.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#post({ type: 'ic', id, request });
    });
  }

  /** Hot add: opens the file and attaches it at its LUN (the guest rescans its controller). */
  async attachDisk(disk: DiskAttachment): Promise<void> {
    const checked = this.#checked(() => checkDiskAttachment(disk));
    await this.#call({ op: 'attachDisk', disk: checked }, DISK_OP_MS);
  }

  /** Hot remove: the guest rescans; resolves once the LUN's running commands are done and the file is closed. */
  async detachDisk(lun: number): Promise<void> {
    const checked = this.#checked(() => checkLun(lun));
    await this.#call({ op: 'detachDisk', lun: checked }, DISK_OP_MS);
  }

  /**
   * Pauses at a safe point (unless paused), flushes every disk, then moves each named LUN onto a new
   * differencing file at `path` whose parent is the LUN's current file (the guest is not told: same
   * disk). With `captureState`, also captures the VM state (what `save()` returns; restorable with
   * `start({ restore })`) while the VM stays on. Resumes if it was running.
   */
  async snapshotDisks(request: DiskSnapshotRequest): Promise<{ state?: unknown }> {
    const checked = this.#checked(() => checkSnapshotRequest(request));
    const limit = this.#safePointTimeoutMs + DISK_OP_MS * checked.disks.length;
    return (await this.#call({ op: 'snapshotDisks', request: checked }, limit)) as { state?: unknown };
  }

  /**
   * Pauses (unless paused), flushes, merges the LUN's differencing file into its parent (the child
   * file is deleted), moves the LUN onto the parent and resumes. Resolves with the parent's path.
   */
  async mergeDisk(lun: number): Promise<string> {
    const checked = this.#checked(() => checkLun(lun));
    return (await this.#call(
      { op: 'mergeDisk', lun: checked },
      this.#safePointTimeoutMs + DISK_OP_MS,
    )) as string;
  }

  #checked<T>(check: () => T): T {
    try {
      return check();
    } catch (error) {
      if (error instanceof DiskError) throw new VmwpError('ERR_VMWP_DISK', error.message);
      throw error;
    }
  }

  /**
   * VMMS's share for this VM. The hypervisor's scheduler enforces the VM's reserve, limit and weight
   * (set as partition properties at start), so the runtime does not throttle on top of it.
   */
  setCpuBudget(_percent: number): void {}

  stats(): VmwpStats {
    const now = Date.now();
    const id = this.#partitionId;
    const cpuPercent = this.#paused || this.#exited || id === undefined ? 0 : this.#registry.cpuPercent(id);
    let heartbeat: HeartbeatStatus;
    if (!this.#config.integrationServices.heartbeat) heartbeat = HeartbeatStatus.Disabled;
    else if (this.#paused) heartbeat = HeartbeatStatus.Paused;
    else heartbeat = this.#heartbeat;
    return {
      cpuPercent: Math.round(Math.max(0, cpuPercent) * 10) / 10,
      memoryDemandMB: this.#config.memoryMB,
      uptimeMs: this.#exited ? 0 : now - this.#startedAt,
      heartbeat,
      disks: { ...this.#disks },
    };
  }

  /** Events of this VM's partition, routed here by the runtime. */
  hypervisorEvent(event: HypervisorEvent): void {
    if (this.#exited) return;
    if (event.type === 'vp-exit') {
      this.#post({
        type: 'vp-exit',
        vpIndex: event.vpIndex,
        ...(event.error === undefined ? {} : { error: event.error }),
        ...(event.code === undefined ? {} : { code: event.code }),
      });
      return;
    }
    if (event.type !== 'guest') return;
    // Guest data is hostile: only the firmware's first report per VP is trusted (it runs before any
    // guest code); log lines are strings, rate-limited.
    const m = event.data as { type?: unknown; message?: unknown; control?: unknown; ram?: unknown };
    if (typeof m !== 'object' || m === null) return;
    if (m.type === 'firmware' && !this.#firmwareSeen.has(event.vpIndex)) {
      this.#firmwareSeen.add(event.vpIndex);
      if (!(m.control instanceof SharedArrayBuffer) || m.control.byteLength !== VP_CONTROL_BYTES) return;
      if (!(m.ram instanceof SharedArrayBuffer)) return;
      this.#post({ type: 'firmware', vpIndex: event.vpIndex, control: m.control, ram: m.ram });
    } else if (m.type === 'log' && typeof m.message === 'string') {
      const second = Math.floor(Date.now() / 1000);
      if (second !== this.#logWindow) {
        this.#logWindow = second;
        this.#logCount = 0;
      }
      if (++this.#logCount <= LOG_PER_SECOND) this.#options.onGuestLog?.(m.message.slice(0, 1000));
    }
  }

  #post(message: ToVmwp): void {
    this.#worker.postMessage(message);
  }

  #call(request: CallRequest, limitMs?: number): Promise<unknown> {
    const op = request.op;
    if (this.#exited) return Promise.reject(new VmwpError('ERR_VMWP_STATE', 'the VM is not running'));
    const id = this.#nextCall++;
    const wait = limitMs ?? this.#safePointTimeoutMs + 5_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new VmwpError('ERR_VMWP_TIMEOUT', `the VM worker did not answer ${op} within ${wait} ms`));
      }, wait);
      this.#calls.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#post({ type: 'call', id, ...request } as CallMessage);
    });
  }

  #onMessage(m: FromVmwp): void {
    switch (m.type) {
      case 'partition':
        this.#partitionId = m.partitionId;
        this.#registry.claim(m.partitionId);
        break;
      case 'booted':
        this.#startedAt = Date.now();
        this.#boot?.resolve();
        this.#boot = undefined;
        break;
      case 'failed': {
        this.#expectExit = true;
        const error = new VmwpError('ERR_VMWP_START', `the VM could not start: ${m.message}`);
        if (this.#boot) this.#boot.reject(error);
        else this.#report({ reason: ExitReason.GuestCrashed, message: m.message });
        this.#boot = undefined;
        void this.#worker.terminate();
        break;
      }
      case 'log':
        this.#options.onGuestLog?.(m.message);
        break;
      case 'tick':
        this.#heartbeat = m.heartbeat;
        this.#shutdownReady = m.shutdownReady;
        this.#disks = { attached: m.disks.attached, commands: m.disks.commands };
        break;
      case 'reply': {
        const call = this.#calls.get(m.id);
        this.#calls.delete(m.id);
        if (m.ok) call?.resolve(m.value);
        else
          call?.reject(
            new VmwpError(m.diskError === true ? 'ERR_VMWP_DISK' : 'ERR_VMWP_STATE', m.error ?? 'failed'),
          );
        break;
      }
      case 'exit':
        this.#expectExit = m.reason === 'off';
        if (m.reason !== 'off') this.#report({ reason: m.reason, message: m.message });
        void this.#worker.terminate();
        break;
    }
  }

  #report(exit: VmwpExit): void {
    if (this.#exitReported) return;
    this.#exitReported = true;
    this.#options.onExit(exit);
  }

  #onWorkerExit(code: number, error: Error | undefined): void {
    this.#exited = true;
    for (const call of this.#calls.values())
      call.reject(new VmwpError('ERR_VMWP_STATE', 'the VM worker ended'));
    this.#calls.clear();
    const message = error?.message ?? `VM worker thread exited with code ${code}`;
    if (!this.#expectExit) this.orphaned = true;
    if (this.#boot) {
      this.#boot.reject(new VmwpError('ERR_VMWP_START', `the VM could not start: ${message}`));
      this.#boot = undefined;
    } else if (!this.#expectExit) {
      this.#report({ reason: ExitReason.WorkerDied, message });
    }
    if (this.#partitionId !== undefined)
      void this.#registry.release(this.#partitionId).catch(() => undefined);
  }
}
