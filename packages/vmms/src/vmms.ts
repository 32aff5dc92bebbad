import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
import { writeFileAtomic } from './atomic-file.js';
import { type BackupResult, backupVm, checkDestination, copyBackupDisks, readBackup } from './backup.js';
import { type CheckpointInfo, CheckpointStore, CheckpointType } from './checkpoint-tree.js';
import { Checkpoints } from './checkpoints.js';
import {
  AutomaticStartAction,
  AutomaticStopAction,
  applyVmChanges,
  createVmConfig,
  type DiskAttachment,
  LIMITS,
  OFFLINE_ONLY_FIELDS,
  RecoveryAction,
  type VmConfig,
  validateDiskPath,
  validateLun,
  validateName,
} from './config.js';
import { canonicalPath, probeDisk } from './disk-files.js';
import { ErrorCode, VmmsError } from './errors.js';
import { EventLevel, EventLog, HOST_LOG_ID } from './event-log.js';
import { isGuid, newGuid } from './guid.js';
import {
  checkPool,
  type IcState,
  icCall,
  type KvpItem,
  type VssResultInfo,
  versionText,
} from './integration.js';
import { type JobHandle, type JobInfo, JobManager } from './jobs.js';
import { LifecycleEvent, VmLifecycle, VmState } from './lifecycle.js';
import type { ManagedVm } from './managed-vm.js';
import { recoverVmStorage, requireDrives, storageProblems } from './recovery.js';
import type { HeartbeatStatus, RunningVm, VmExit, VmRuntime } from './runtime.js';
import { readSavedState, removeSavedState, writeSavedState } from './saved-state.js';
import { ConfigStore, type StoreProblem } from './store.js';

export interface VmmsOptions {
  dataDir: string;
  runtime: VmRuntime;
  /** Processor capacity shared by all VMs, in percent of one host processor. */
  cpuCapacityPercent?: number;
  /** Graceful stop timeout when a caller gives none. */
  defaultStopTimeoutMs?: number;
  /** Events kept per VM. */
  eventsPerVm?: number;
  /** Automatic restarts allowed per VM within `restartWindowMs` before it stays Critical. */
  maxRestarts?: number;
  restartWindowMs?: number;
}

/** One VM as `vm list` shows it (the columns of Get-VM). */
export interface VmSummary {
  id: string;
  name: string;
  state: VmState;
  cpuPercent: number;
  memoryMB: number;
  memoryDemandMB: number;
  uptimeMs: number;
  heartbeat: HeartbeatStatus | '';
  status: string;
}

export interface VmDetail extends VmSummary {
  config: VmConfig;
  /** The VM's drives (the same list as `config.disks`), by LUN. */
  disks: DiskAttachment[];
  hasSavedState: boolean;
  cpuBudgetPercent: number;
  /** What the service found wrong with the VM's files when it started (a missing disk, stray files). */
  problems: string[];
}

/** `vm.disk.attach`: the file, and optionally the LUN (default: the lowest free one) and read-only. */
export interface DiskAttachRequest {
  path: string;
  lun?: number;
  readOnly?: boolean;
}

export interface CheckpointRequest {
  name?: string;
  type?: CheckpointType;
}

export interface StopOptions {
  turnOff?: boolean;
  timeoutMs?: number;
}

interface VmRecord {
  config: VmConfig;
  lifecycle: VmLifecycle;
  running: RunningVm | undefined;
  status: string;
  cpuBudget: number;
  restarts: number[];
  /** A disk, checkpoint or backup operation in progress; others wait for it to end. */
  busy: string | undefined;
  problems: string[];
}

/** States in which a VM's disks are not in use by a worker. */
const STOPPED_STATES: readonly VmState[] = [VmState.Off, VmState.Saved, VmState.Critical];

const NORMAL = 'Operating normally';

/**
 * The Virtual Machine Management Service: owns every VM's configuration, lifecycle and saved state,
 * and applies policy (timeouts, recovery, automatic actions). It runs VMs only through a VmRuntime.
 */
export class Vmms {
  readonly dataDir: string;
  readonly jobs = new JobManager();
  readonly events: EventLog;
  readonly #store: ConfigStore;
  readonly #runtime: VmRuntime;
  readonly #vms = new Map<string, VmRecord>();
  readonly #problems: StoreProblem[];
  readonly #savedDir: string;
  readonly #wasRunningFile: string;
  readonly #wasRunning: Set<string>;
  readonly #options: Required<Omit<VmmsOptions, 'dataDir' | 'runtime'>>;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #checkpoints: Checkpoints;
  #stopping = false;

  constructor(options: VmmsOptions) {
    this.dataDir = options.dataDir;
    this.#runtime = options.runtime;
    this.#options = {
      cpuCapacityPercent: options.cpuCapacityPercent ?? 100,
      defaultStopTimeoutMs: options.defaultStopTimeoutMs ?? 30_000,
      eventsPerVm: options.eventsPerVm ?? 1000,
      maxRestarts: options.maxRestarts ?? 3,
      restartWindowMs: options.restartWindowMs ?? 60_000,
    };
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.#store = new ConfigStore(this.dataDir);
    this.events = new EventLog(this.dataDir, this.#options.eventsPerVm);
    this.#savedDir = join(this.dataDir, 'saved');
    mkdirSync(this.#savedDir, { recursive: true });
    this.#checkpoints = new Checkpoints(new CheckpointStore(this.dataDir));
    this.#wasRunningFile = join(this.dataDir, 'running.json');
    this.#wasRunning = new Set(readIdList(this.#wasRunningFile));
    const { configs, problems } = this.#store.loadAll();
    this.#problems = problems;
    for (const problem of problems) {
      this.events.append(HOST_LOG_ID, '', EventLevel.Error, 'config-unreadable', problem.message);
    }
    for (const config of configs) {
      const initial = existsSync(this.#savedFile(config.id)) ? VmState.Saved : VmState.Off;
      this.#vms.set(config.id, this.#record(config, initial));
    }
  }

  /** Configuration files that could not be read; they are left on disk untouched. */
  get problems(): StoreProblem[] {
    return [...this.#problems];
  }

  /**
   * Finishes or undoes the storage operations a crash cut off (each VM busy meanwhile), then applies
   * each VM's automatic start action. Call once when the service starts.
   */
  async startService(): Promise<void> {
    this.events.append(
      HOST_LOG_ID,
      '',
      EventLevel.Info,
      'service-started',
      `service started with ${this.#vms.size} VMs`,
    );
    await this.#recoverStorage();
    for (const record of this.#vms.values()) {
      const { automaticStartAction: action, automaticStartDelaySec: delay } = record.config;
      const wanted =
        action === AutomaticStartAction.Start ||
        (action === AutomaticStartAction.StartIfRunning && this.#wasRunning.has(record.config.id));
      if (!wanted) continue;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (this.#stopping || !this.#vms.has(record.config.id)) return;
        if (!record.lifecycle.can(LifecycleEvent.Start)) return;
        this.#log(record, EventLevel.Info, 'automatic-start', `automatic start action (${action})`);
        this.start(record.config.id);
      }, delay * 1000);
      this.#timers.add(timer);
    }
  }

  async #recoverStorage(): Promise<void> {
    const records = [...this.#vms.values()];
    for (const record of records) record.busy = '(recovering its disks after a service crash)';
    try {
      for (const record of records) {
        try {
          const done = await recoverVmStorage(this.#managed(record), this.#checkpoints);
          for (const line of done) this.#log(record, EventLevel.Warning, 'recovery', line);
        } catch (error) {
          this.#problem(record, `recovery of its disks failed: ${(error as Error).message}`);
        } finally {
          record.busy = undefined;
        }
      }
    } finally {
      for (const record of records) record.busy = undefined;
    }
    const referenced = new Set<string>();
    for (const record of records) {
      for (const disk of record.config.disks) referenced.add(disk.path);
      for (const file of this.#treeFiles(record) ?? []) referenced.add(file);
    }
    for (const record of records) {
      for (const message of storageProblems(record.config, this.#treeFiles(record), referenced)) {
        this.#problem(record, message);
      }
    }
  }

  /** Undefined when the tree cannot be read (that is reported by the VM's recovery). */
  #treeFiles(record: VmRecord): Set<string> | undefined {
    try {
      return this.#checkpoints.tree(record.config.id).files();
    } catch {
      return undefined;
    }
  }

  /** A problem a person must look at: in the VM's status, its `problems` and its event log. */
  #problem(record: VmRecord, message: string): void {
    record.problems.push(message);
    record.status = record.problems.join('; ');
    this.#log(record, EventLevel.Error, 'storage-problem', message);
  }

  /**
   * Applies each running VM's automatic stop action and waits until every VM is off or saved.
   * A VM whose guest does not shut down in time is turned off: the service never hangs on a guest.
   */
  async stopService(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const pending: Promise<unknown>[] = [];
    for (const record of this.#vms.values()) {
      pending.push(this.#applyStopAction(record));
    }
    await Promise.allSettled(pending);
    await this.#runtime.close?.();
    this.events.append(HOST_LOG_ID, '', EventLevel.Info, 'service-stopped', 'service stopped');
  }

  list(): VmSummary[] {
    return [...this.#vms.values()]
      .map((record) => this.#summary(record))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(ref: string): VmDetail {
    const record = this.#find(ref);
    return {
      ...this.#summary(record),
      config: structuredClone(record.config),
      disks: structuredClone(record.config.disks),
      hasSavedState: existsSync(this.#savedFile(record.config.id)),
      cpuBudgetPercent: record.cpuBudget,
      problems: [...record.problems],
    };
  }

  create(spec: unknown): VmDetail {
    const config = createVmConfig(spec);
    this.#checkImage(config.image);
    this.#checkNameFree(config.name, undefined);
    this.#store.save(config);
    const record = this.#record(config, VmState.Off);
    this.#vms.set(config.id, record);
    this.#log(record, EventLevel.Info, 'created', `created (image ${config.image}, ${config.memoryMB} MB)`);
    return this.get(config.id);
  }

  set(ref: string, changes: unknown): VmDetail {
    const record = this.#find(ref);
    const next = applyVmChanges(record.config, changes);
    const changed = Object.keys(changes as object);
    const state = record.lifecycle.state;
    if (state !== VmState.Off) {
      for (const field of OFFLINE_ONLY_FIELDS) {
        if (JSON.stringify(next[field]) !== JSON.stringify(record.config[field])) {
          throw new VmmsError(
            ErrorCode.InvalidState,
            `${field} can only change while the VM is Off (it is ${state})`,
          );
        }
      }
    }
    if (next.image !== record.config.image) this.#checkImage(next.image);
    if (next.name !== record.config.name) this.#checkNameFree(next.name, record.config.id);
    this.#store.save(next);
    record.config = next;
    this.#rebalanceCpu();
    this.#log(record, EventLevel.Info, 'changed', `settings changed: ${changed.join(', ')}`);
    return this.get(next.id);
  }

  remove(ref: string): void {
    const record = this.#find(ref);
    const state = record.lifecycle.state;
    if (state !== VmState.Off && state !== VmState.Saved && state !== VmState.Critical) {
      throw new VmmsError(ErrorCode.InvalidState, `cannot remove while the VM is ${state}; stop it first`);
    }
    this.#requireIdle(record);
    this.#store.remove(record.config.id);
    this.#checkpoints.forget(record.config.id);
    removeSavedState(this.#savedFile(record.config.id));
    this.#vms.delete(record.config.id);
    this.#setWasRunning(record.config.id, false);
    this.#log(record, EventLevel.Info, 'removed', 'removed');
  }

  /** Starts an Off or Critical VM, or resumes a Saved one from its saved state. */
  start(ref: string): JobInfo {
    const record = this.#find(ref);
    this.#requireIdle(record);
    record.lifecycle.apply(LifecycleEvent.Start);
    return this.jobs.run('start', record.config.id, (job) => this.#startWork(record, job));
  }

  stop(ref: string, options: StopOptions = {}): JobInfo {
    const record = this.#find(ref);
    if (options.turnOff === true) {
      record.lifecycle.apply(LifecycleEvent.TurnOff);
      return this.jobs.run('turnOff', record.config.id, (job) => this.#turnOffWork(record, job));
    }
    this.#requireShutdownIc(record);
    record.lifecycle.apply(LifecycleEvent.Stop);
    const timeoutMs = options.timeoutMs ?? this.#options.defaultStopTimeoutMs;
    return this.jobs.run('stop', record.config.id, (job) => this.#stopWork(record, job, timeoutMs));
  }

  /** A graceful shutdown followed by a start. */
  restart(ref: string, options: StopOptions = {}): JobInfo {
    const record = this.#find(ref);
    this.#requireShutdownIc(record);
    record.lifecycle.apply(LifecycleEvent.Stop);
    const timeoutMs = options.timeoutMs ?? this.#options.defaultStopTimeoutMs;
    return this.jobs.run('restart', record.config.id, async (job) => {
      await this.#stopWork(record, job, timeoutMs, 50);
      record.lifecycle.apply(LifecycleEvent.Start);
      return this.#startWork(record, job, 50);
    });
  }

  save(ref: string): JobInfo {
    const record = this.#find(ref);
    record.lifecycle.apply(LifecycleEvent.Save);
    return this.jobs.run('save', record.config.id, (job) => this.#saveWork(record, job));
  }

  pause(ref: string): JobInfo {
    const record = this.#find(ref);
    record.lifecycle.apply(LifecycleEvent.Pause);
    return this.jobs.run('pause', record.config.id, async () => {
      try {
        await this.#running(record).pause();
      } catch (error) {
        this.#abort(record);
        throw error;
      }
      this.#apply(record, LifecycleEvent.Paused);
      this.#log(record, EventLevel.Info, 'paused', 'paused');
      return this.#summary(record);
    });
  }

  resume(ref: string): JobInfo {
    const record = this.#find(ref);
    record.lifecycle.apply(LifecycleEvent.Resume);
    return this.jobs.run('resume', record.config.id, async () => {
      try {
        await this.#running(record).resume();
      } catch (error) {
        this.#abort(record);
        throw error;
      }
      this.#apply(record, LifecycleEvent.Resumed);
      this.#log(record, EventLevel.Info, 'resumed', 'resumed');
      return this.#summary(record);
    });
  }

  /** The state of each integration service of a running VM, with time sync's guest clock offset. */
  async icState(ref: string): Promise<IcState> {
    const raw = (await icCall(this.#icTarget(ref), { op: 'icState' })) as IcState & {
      services: Array<IcState['services'][number] & { version?: unknown }>;
    };
    return {
      ...raw,
      services: raw.services.map((s) => {
        const version = versionText(s.version);
        return { name: s.name, enabled: s.enabled, status: s.status, ...(version ? { version } : {}) };
      }),
    };
  }

  async kvpGet(ref: string, key: string, pool?: number): Promise<KvpItem> {
    const p = checkPool(pool);
    const r = (await icCall(this.#icTarget(ref), { op: 'kvpGet', pool: p, key })) as { value: string };
    return { key, value: r.value };
  }

  async kvpList(ref: string, pool?: number): Promise<KvpItem[]> {
    const p = checkPool(pool);
    const r = (await icCall(this.#icTarget(ref), { op: 'kvpList', pool: p })) as { items: KvpItem[] };
    return r.items.map(({ key, value }) => ({ key, value }));
  }

  async kvpSet(ref: string, key: string, value: string, pool?: number): Promise<null> {
    const record = this.#find(ref);
    const p = checkPool(pool);
    await icCall(this.#icTarget(ref), { op: 'kvpSet', pool: p, key, value });
    this.#log(record, EventLevel.Info, 'kvp', `KVP item ${key} set in pool ${p}`);
    return null;
  }

  async kvpRemove(ref: string, key: string, pool?: number): Promise<null> {
    const record = this.#find(ref);
    const p = checkPool(pool);
    await icCall(this.#icTarget(ref), { op: 'kvpRemove', pool: p, key });
    this.#log(record, EventLevel.Info, 'kvp', `KVP item ${key} removed from pool ${p}`);
    return null;
  }

  async vss(ref: string, op: 'freeze' | 'thaw'): Promise<VssResultInfo> {
    const record = this.#find(ref);
    await icCall(this.#icTarget(ref), { op: op === 'freeze' ? 'vssFreeze' : 'vssThaw' });
    this.#log(record, EventLevel.Info, 'vss', op === 'freeze' ? 'VSS freeze done' : 'VSS thaw done');
    return { outcome: 'ok' };
  }

  #icTarget(ref: string): RunningVm {
    const record = this.#find(ref);
    const state = record.lifecycle.state;
    if (state !== VmState.Running && state !== VmState.Paused) {
      throw new VmmsError(ErrorCode.InvalidState, `the VM is ${state}; integration services need it running`);
    }
    return this.#running(record);
  }

  // --- disks ---

  /** Attaches a disk file at a LUN: hot-added while Running, else recorded in the configuration. */
  async attachDisk(ref: string, request: DiskAttachRequest): Promise<VmDetail> {
    const record = this.#find(ref);
    this.#requireDiskChangeState(record);
    if (typeof request !== 'object' || request === null) {
      throw new VmmsError(ErrorCode.InvalidArgument, 'a disk attach request must be an object');
    }
    const readOnly = request.readOnly ?? false;
    if (typeof readOnly !== 'boolean')
      throw new VmmsError(ErrorCode.InvalidArgument, 'readOnly must be true or false');
    const path = canonicalPath(validateDiskPath(request.path));
    const disks = record.config.disks;
    if (disks.length >= LIMITS.disksMax) {
      throw new VmmsError(ErrorCode.InvalidArgument, `a VM has at most ${LIMITS.disksMax} disks`);
    }
    const lun =
      request.lun === undefined || request.lun === null ? lowestFreeLun(disks) : validateLun(request.lun);
    const holder = disks.find((disk) => disk.lun === lun);
    if (holder !== undefined)
      throw new VmmsError(ErrorCode.Conflict, `LUN ${lun} already holds ${holder.path}`);
    return this.#exclusive(record, 'attaching a disk', async () => {
      await this.#checkDiskFree(path, readOnly, record);
      await probeDisk(path, readOnly);
      const disk: DiskAttachment = { lun, path, readOnly };
      const running = record.lifecycle.state === VmState.Running ? this.#running(record) : undefined;
      if (running !== undefined) {
        if (running.attachDisk === undefined) {
          throw new VmmsError(
            ErrorCode.InvalidState,
            'this VM runtime cannot hot-add disks; turn the VM off first',
          );
        }
        await running.attachDisk(disk);
      }
      this.#saveConfig(record, {
        ...record.config,
        disks: [...record.config.disks, disk].sort((a, b) => a.lun - b.lun),
      });
      this.#checkpoints.noteReattached(record.config.id, path);
      this.#log(
        record,
        EventLevel.Info,
        'disk-attached',
        `disk ${path} attached at LUN ${lun}${readOnly ? ' (read-only)' : ''}${running ? ' while running' : ''}`,
      );
      return this.get(record.config.id);
    });
  }

  /** Detaches the disk at a LUN (hot-removed while Running). The file stays where it is. */
  async detachDisk(ref: string, lunValue: number): Promise<VmDetail> {
    const record = this.#find(ref);
    this.#requireDiskChangeState(record);
    const lun = validateLun(lunValue);
    const disk = record.config.disks.find((d) => d.lun === lun);
    if (disk === undefined) throw new VmmsError(ErrorCode.NotFound, `no disk at LUN ${lun}`);
    return this.#exclusive(record, 'detaching a disk', async () => {
      const running = record.lifecycle.state === VmState.Running ? this.#running(record) : undefined;
      if (running !== undefined) {
        if (running.detachDisk === undefined) {
          throw new VmmsError(
            ErrorCode.InvalidState,
            'this VM runtime cannot hot-remove disks; turn the VM off first',
          );
        }
        await running.detachDisk(lun);
      }
      this.#saveConfig(record, { ...record.config, disks: record.config.disks.filter((d) => d.lun !== lun) });
      this.#checkpoints.noteDetached(record.config.id, disk.path);
      this.#log(record, EventLevel.Info, 'disk-detached', `disk ${disk.path} detached from LUN ${lun}`);
      return this.get(record.config.id);
    });
  }

  // --- checkpoints ---

  /** Takes a checkpoint (Off, Saved, Running or Paused); the job's result is its CheckpointInfo. */
  createCheckpoint(ref: string, request: CheckpointRequest = {}): JobInfo {
    const record = this.#find(ref);
    const state = record.lifecycle.state;
    if (!STOPPED_STATES.includes(state) && state !== VmState.Running && state !== VmState.Paused) {
      throw new VmmsError(ErrorCode.InvalidState, `cannot take a checkpoint while the VM is ${state}`);
    }
    const type = request.type ?? CheckpointType.Standard;
    if (type !== CheckpointType.Standard && type !== CheckpointType.Production) {
      throw new VmmsError(ErrorCode.InvalidArgument, 'type must be Standard or Production');
    }
    const name =
      request.name === undefined || request.name === null
        ? defaultCheckpointName(record.config.name)
        : validateName(request.name);
    this.#checkpoints.tree(record.config.id);
    return this.#exclusiveJob(record, 'checkpoint.create', (job) =>
      this.#checkpoints.create(this.#managed(record), job, { name, type }),
    );
  }

  /** The VM's checkpoints, parents before children. */
  listCheckpoints(ref: string): CheckpointInfo[] {
    return this.#checkpoints.list(this.#find(ref).config.id);
  }

  /** Applies a checkpoint to an Off or Saved VM: Saved again if it has memory state, else Off. */
  applyCheckpoint(ref: string, checkpoint: string): JobInfo {
    const record = this.#find(ref);
    const state = record.lifecycle.state;
    if (state !== VmState.Off && state !== VmState.Saved) {
      throw new VmmsError(
        ErrorCode.InvalidState,
        `cannot apply a checkpoint while the VM is ${state}; turn off or save the VM first`,
      );
    }
    const cp = this.#checkpoints.tree(record.config.id).find(checkpoint);
    return this.#exclusiveJob(record, 'checkpoint.apply', async (job) => {
      await this.#checkpoints.apply(this.#managed(record), job, cp);
      return this.#summary(record);
    });
  }

  renameCheckpoint(ref: string, checkpoint: string, name: string): CheckpointInfo {
    const record = this.#find(ref);
    const valid = validateName(name);
    this.#requireIdle(record);
    return this.#checkpoints.rename(this.#managed(record), checkpoint, valid);
  }

  /** Removes a checkpoint (or its whole subtree), merging its files into the chains that use them. */
  removeCheckpoint(ref: string, checkpoint: string, options: { subtree?: boolean } = {}): JobInfo {
    const record = this.#find(ref);
    const state = record.lifecycle.state;
    if (!STOPPED_STATES.includes(state) && state !== VmState.Running && state !== VmState.Paused) {
      throw new VmmsError(ErrorCode.InvalidState, `cannot remove a checkpoint while the VM is ${state}`);
    }
    const cp = this.#checkpoints.tree(record.config.id).find(checkpoint);
    const subtree = options.subtree === true;
    return this.#exclusiveJob(record, 'checkpoint.remove', async (job) => ({
      removed: await this.#checkpoints.remove(this.#managed(record), job, cp, subtree),
    }));
  }

  // --- backup ---

  /** Copies the VM's disks and configuration into an empty directory; a running VM is frozen (VSS) first. */
  backup(ref: string, destination: string): JobInfo {
    const record = this.#find(ref);
    const state = record.lifecycle.state;
    if (!STOPPED_STATES.includes(state) && state !== VmState.Running) {
      throw new VmmsError(
        ErrorCode.InvalidState,
        `cannot back up while the VM is ${state}${state === VmState.Paused ? '; resume it (the guest must freeze its writes) or turn it off' : ''}`,
      );
    }
    const dir = checkDestination(destination);
    return this.#exclusiveJob(record, 'vm.backup', async (job): Promise<BackupResult> => {
      const id = record.config.id;
      const result = await backupVm(this.#managed(record), job, dir, {
        begin: (temporary) => this.#checkpoints.beginBackup(id, temporary),
        end: () => this.#checkpoints.endBackup(id),
      });
      this.#log(
        record,
        EventLevel.Info,
        'backup',
        `backed up to ${dir}${result.consistent ? ' (guest frozen through VSS)' : ''}`,
      );
      return result;
    });
  }

  /** Creates a new VM from a backup: new id, disks copied into `<dataDir>/disks/<id>/`. */
  restoreBackup(source: string, options: { name?: string } = {}): JobInfo {
    const { manifest } = readBackup(source);
    const name =
      options.name === undefined || options.name === null ? manifest.config.name : validateName(options.name);
    this.#checkNameFree(name, undefined);
    this.#checkImage(manifest.config.image);
    return this.jobs.run('vm.restoreBackup', undefined, async (job) => {
      const id = newGuid();
      let disks: DiskAttachment[];
      try {
        disks = await copyBackupDisks(job, source, manifest, join(this.dataDir, 'disks', id));
        this.#checkNameFree(name, undefined);
      } catch (error) {
        rmSync(join(this.dataDir, 'disks', id), { recursive: true, force: true });
        const message = `restoring the backup in ${source} failed: ${(error as Error).message}`;
        this.events.append(HOST_LOG_ID, '', EventLevel.Error, 'restore-failed', message);
        throw error;
      }
      const config: VmConfig = { ...structuredClone(manifest.config), id, name, disks };
      this.#store.save(config);
      const record = this.#record(config, VmState.Off);
      this.#vms.set(id, record);
      this.#log(record, EventLevel.Info, 'restored', `created from the backup in ${source}`);
      return this.get(id);
    });
  }

  /** Drops a Saved VM's saved state, leaving it Off. */
  discardSavedState(ref: string): VmDetail {
    const record = this.#find(ref);
    this.#requireIdle(record);
    record.lifecycle.apply(LifecycleEvent.DiscardSaved);
    removeSavedState(this.#savedFile(record.config.id));
    this.#log(record, EventLevel.Info, 'saved-state-discarded', 'saved state discarded');
    return this.get(record.config.id);
  }

  // --- work behind the jobs ---

  async #startWork(record: VmRecord, job: JobHandle, base = 0): Promise<VmSummary> {
    const id = record.config.id;
    const scale = (p: number) => base + (p * (100 - base)) / 100;
    let restore: unknown;
    let running: RunningVm | undefined;
    const savedFile = this.#savedFile(id);
    try {
      await requireDrives(record.config);
      if (existsSync(savedFile)) {
        job.progress(scale(10), 'reading saved state');
        restore = readSavedState(savedFile).state;
      }
      job.progress(scale(30), restore === undefined ? 'booting' : 'restoring');
      const options = {
        onExit: (exit: VmExit) => this.#onExit(record, running, exit),
        onGuestLog: (message: string) => this.#log(record, EventLevel.Info, 'guest', message),
        ...(restore === undefined ? {} : { restore }),
      };
      // The exit callback closes over `running`, so exits of an older worker are ignored.
      running = await this.#runtime.start(record.config, options);
      record.running = running;
    } catch (error) {
      this.#abort(record);
      this.#log(record, EventLevel.Error, 'start-failed', `start failed: ${(error as Error).message}`);
      throw error;
    }
    removeSavedState(savedFile);
    record.status = NORMAL;
    this.#apply(record, LifecycleEvent.Started);
    this.#setWasRunning(id, true);
    this.#rebalanceCpu();
    this.#log(
      record,
      EventLevel.Info,
      'started',
      restore === undefined ? 'started' : 'restored from saved state',
    );
    return this.#summary(record);
  }

  async #stopWork(record: VmRecord, job: JobHandle, timeoutMs: number, share = 100): Promise<VmSummary> {
    job.progress(share * 0.1, 'asking the guest to shut down');
    const running = this.#running(record);
    const done = await running.shutdown(timeoutMs);
    if (record.lifecycle.state !== VmState.Stopping) {
      throw new VmmsError(ErrorCode.InvalidState, `the VM became ${record.lifecycle.state} while stopping`);
    }
    if (!done) {
      this.#abort(record);
      const message = `the guest did not shut down within ${timeoutMs} ms; it is still running (turn it off to force)`;
      this.#log(record, EventLevel.Warning, 'stop-failed', message);
      throw new VmmsError(ErrorCode.Timeout, message);
    }
    this.#poweredOff(record, 'shut down');
    job.progress(share, 'shut down');
    return this.#summary(record);
  }

  async #turnOffWork(record: VmRecord, job: JobHandle): Promise<VmSummary> {
    job.progress(10, 'turning off');
    const running = record.running;
    record.running = undefined;
    await running?.turnOff();
    if (record.lifecycle.state === VmState.Stopping) this.#poweredOff(record, 'turned off');
    return this.#summary(record);
  }

  async #saveWork(record: VmRecord, job: JobHandle): Promise<VmSummary> {
    job.progress(10, 'capturing state');
    const running = this.#running(record);
    let state: unknown;
    try {
      state = await running.save();
    } catch (error) {
      this.#abort(record);
      this.#log(record, EventLevel.Warning, 'save-failed', `save failed: ${(error as Error).message}`);
      throw error;
    }
    record.running = undefined;
    job.progress(60, 'writing saved state');
    try {
      writeSavedState(
        this.#savedFile(record.config.id),
        { vmId: record.config.id, image: record.config.image, savedAt: Date.now() },
        state,
      );
    } catch (error) {
      // The VM is already powered off: without its saved state it can only boot afresh.
      this.#apply(record, LifecycleEvent.Failed);
      record.status = `saved state could not be written: ${(error as Error).message}`;
      this.#log(record, EventLevel.Error, 'save-failed', record.status);
      throw error;
    }
    this.#apply(record, LifecycleEvent.SaveCompleted);
    if (!this.#stopping) this.#setWasRunning(record.config.id, false);
    this.#rebalanceCpu();
    this.#log(record, EventLevel.Info, 'saved', 'saved');
    return this.#summary(record);
  }

  #onExit(record: VmRecord, running: RunningVm | undefined, exit: VmExit): void {
    if (running === undefined || record.running !== running) return;
    record.running = undefined;
    const what = exit.reason === 'guestCrashed' ? 'guest crashed' : 'worker died';
    record.status = `${what}: ${exit.message}`;
    this.#log(record, EventLevel.Error, exit.reason, record.status);
    if (record.lifecycle.can(LifecycleEvent.Failed)) this.#apply(record, LifecycleEvent.Failed);
    this.#rebalanceCpu();
    if (record.config.recoveryAction !== RecoveryAction.Restart || this.#stopping) {
      this.#setWasRunning(record.config.id, false);
      return;
    }
    const now = Date.now();
    record.restarts = record.restarts.filter((at) => now - at < this.#options.restartWindowMs);
    if (record.restarts.length >= this.#options.maxRestarts) {
      record.status = `${record.status} (restart limit of ${this.#options.maxRestarts} reached)`;
      this.#log(record, EventLevel.Error, 'recovery-gave-up', 'too many failures; the VM stays Critical');
      this.#setWasRunning(record.config.id, false);
      return;
    }
    record.restarts.push(now);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopping || !this.#vms.has(record.config.id) || !record.lifecycle.can(LifecycleEvent.Start))
        return;
      this.#log(record, EventLevel.Info, 'recovery-restart', 'recovery action: restarting');
      this.start(record.config.id);
    }, 500);
    this.#timers.add(timer);
  }

  async #applyStopAction(record: VmRecord): Promise<void> {
    const state = record.lifecycle.state;
    if (state === VmState.Off || state === VmState.Saved || state === VmState.Critical) return;
    // Let a transition in flight finish first.
    await this.#settle(record);
    const now = record.lifecycle.state;
    if (now !== VmState.Running && now !== VmState.Paused) return;
    const action = record.config.automaticStopAction;
    this.#log(record, EventLevel.Info, 'automatic-stop', `automatic stop action (${action})`);
    try {
      if (action === AutomaticStopAction.Save) {
        await this.jobs.wait(this.save(record.config.id).id);
      } else if (
        action === AutomaticStopAction.ShutDown &&
        now === VmState.Running &&
        record.config.integrationServices.shutdown
      ) {
        const job = await this.jobs.wait(
          this.stop(record.config.id, { timeoutMs: Math.min(this.#options.defaultStopTimeoutMs, 10_000) }).id,
        );
        if (job.state === 'Completed') return;
      }
    } catch {
      // fall through to turning it off
    }
    if (record.lifecycle.state === VmState.Running || record.lifecycle.state === VmState.Paused) {
      await this.jobs.wait(this.stop(record.config.id, { turnOff: true }).id);
    }
  }

  async #settle(record: VmRecord): Promise<void> {
    const transitional = new Set<VmState>([
      VmState.Starting,
      VmState.Pausing,
      VmState.Resuming,
      VmState.Saving,
      VmState.Stopping,
    ]);
    for (let i = 0; i < 600 && transitional.has(record.lifecycle.state); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // --- helpers ---

  #record(config: VmConfig, initial: VmState): VmRecord {
    const record: VmRecord = {
      config,
      lifecycle: new VmLifecycle(initial, {
        onTransition: (from, to) => {
          if (from !== to) this.#log(record, EventLevel.Info, 'state', `${from} -> ${to}`);
        },
      }),
      running: undefined,
      status: NORMAL,
      cpuBudget: 0,
      restarts: [],
      busy: undefined,
      problems: [],
    };
    return record;
  }

  #summary(record: VmRecord): VmSummary {
    const stats = record.running?.stats();
    return {
      id: record.config.id,
      name: record.config.name,
      state: record.lifecycle.state,
      cpuPercent: stats?.cpuPercent ?? 0,
      memoryMB: stats === undefined ? 0 : record.config.memoryMB,
      memoryDemandMB: stats?.memoryDemandMB ?? 0,
      uptimeMs: stats?.uptimeMs ?? 0,
      heartbeat: stats?.heartbeat ?? '',
      status: record.status,
    };
  }

  #find(ref: string): VmRecord {
    if (typeof ref !== 'string' || ref.length === 0) {
      throw new VmmsError(ErrorCode.InvalidArgument, 'a VM name or id is required');
    }
    if (isGuid(ref)) {
      const record = this.#vms.get(ref);
      if (record !== undefined) return record;
    }
    const lower = ref.toLowerCase();
    for (const record of this.#vms.values()) {
      if (record.config.name.toLowerCase() === lower) return record;
    }
    throw new VmmsError(ErrorCode.NotFound, `no VM named or with id "${ref}"`);
  }

  #checkNameFree(name: string, except: string | undefined): void {
    const lower = name.toLowerCase();
    for (const record of this.#vms.values()) {
      if (record.config.id !== except && record.config.name.toLowerCase() === lower) {
        throw new VmmsError(ErrorCode.Conflict, `a VM named "${record.config.name}" already exists`);
      }
    }
  }

  #checkImage(image: string): void {
    const problem = this.#runtime.checkImage(image);
    if (problem !== undefined) throw new VmmsError(ErrorCode.InvalidArgument, problem);
  }

  #requireIdle(record: VmRecord): void {
    if (record.busy !== undefined) {
      throw new VmmsError(ErrorCode.InvalidState, `the VM is busy ${record.busy}; try again when it is done`);
    }
  }

  #requireDiskChangeState(record: VmRecord): void {
    const state = record.lifecycle.state;
    if (state === VmState.Saved) {
      throw new VmmsError(
        ErrorCode.InvalidState,
        'the VM is Saved and its saved state depends on its disks; start it or discard the saved state first',
      );
    }
    if (state !== VmState.Off && state !== VmState.Critical && state !== VmState.Running) {
      throw new VmmsError(ErrorCode.InvalidState, `disks cannot change while the VM is ${state}`);
    }
  }

  /** Runs `work` with the VM marked busy, so no other disk, checkpoint or start request overlaps it. */
  async #exclusive<T>(record: VmRecord, what: string, work: () => Promise<T>): Promise<T> {
    this.#requireIdle(record);
    record.busy = what;
    try {
      return await work();
    } finally {
      record.busy = undefined;
    }
  }

  #exclusiveJob(record: VmRecord, kind: string, work: (job: JobHandle) => Promise<unknown>): JobInfo {
    this.#requireIdle(record);
    record.busy = `(${kind})`;
    return this.jobs.run(kind, record.config.id, async (job) => {
      try {
        return await work(job);
      } catch (error) {
        this.#log(record, EventLevel.Error, `${kind}-failed`, `${kind} failed: ${(error as Error).message}`);
        throw error;
      } finally {
        record.busy = undefined;
      }
    });
  }

  /**
   * A file may be written by one drive only, and nothing may read through a file that changes: a
   * file is refused if it is a drive of any VM (unless both are read-only), a file of any VM's
   * checkpoint tree (merges change those), or, for a writable drive, a parent of any drive. Its own
   * parents must not be drives that are written or files of a checkpoint tree. Shared read-only
   * parents (a common base of several differencing disks) are fine.
   */
  async #checkDiskFree(path: string, readOnly: boolean, record: VmRecord): Promise<void> {
    const parents = await parentChain(path);
    for (const other of this.#vms.values()) {
      const whose = other === record ? 'this VM' : `VM "${other.config.name}"`;
      const conflict = (what: string): never => {
        throw new VmmsError(ErrorCode.Conflict, `${path} ${what} of ${whose}`);
      };
      let treeFiles = new Set<string>();
      try {
        const tree = this.#checkpoints.tree(other.config.id);
        // A file detached from this VM may come back to it, with its chain.
        if (other !== record || !tree.detached.has(path)) treeFiles = tree.files();
      } catch {
        // An unreadable checkpoint tree is reported by that VM's own checkpoint requests.
      }
      if (treeFiles.has(path)) conflict('belongs to the checkpoints');
      if (parents.some((parent) => treeFiles.has(parent)))
        conflict('is a differencing disk of a file that belongs to the checkpoints');
      for (const disk of other.config.disks) {
        if (disk.path === path && !(readOnly && disk.readOnly))
          conflict(`is already the drive at LUN ${disk.lun}`);
        if (!disk.readOnly && parents.includes(disk.path))
          conflict(`is a differencing disk of the drive at LUN ${disk.lun}`);
        if (!readOnly && (await parentChain(disk.path)).includes(path))
          conflict(`is a parent of the drive at LUN ${disk.lun}`);
      }
    }
  }

  #saveConfig(record: VmRecord, config: VmConfig): void {
    this.#store.save(config);
    record.config = config;
  }

  #managed(record: VmRecord): ManagedVm {
    return {
      id: record.config.id,
      config: () => record.config,
      saveConfig: (config) => this.#saveConfig(record, config),
      state: () => record.lifecycle.state,
      running: () => record.running,
      savedFile: this.#savedFile(record.config.id),
      markSaved: () => record.lifecycle.apply(LifecycleEvent.StateApplied),
      discardSaved: () => {
        record.lifecycle.apply(LifecycleEvent.DiscardSaved);
        removeSavedState(this.#savedFile(record.config.id));
      },
      settle: () => this.#settle(record),
      log: (level, kind, message) => this.#log(record, level, kind, message),
    };
  }

  #requireShutdownIc(record: VmRecord): void {
    if (!record.config.integrationServices.shutdown && record.lifecycle.can(LifecycleEvent.Stop)) {
      throw new VmmsError(
        ErrorCode.InvalidState,
        'the shutdown integration service is disabled for this VM, so the guest cannot be asked to shut down; turn it off instead',
      );
    }
    const unavailable = record.running?.shutdownUnavailableReason?.();
    if (unavailable !== undefined && record.lifecycle.can(LifecycleEvent.Stop)) {
      throw new VmmsError(ErrorCode.InvalidState, unavailable);
    }
  }

  #running(record: VmRecord): RunningVm {
    if (record.running === undefined) {
      throw new VmmsError(
        ErrorCode.InvalidState,
        `the VM is ${record.lifecycle.state} and has no running worker`,
      );
    }
    return record.running;
  }

  #apply(record: VmRecord, event: LifecycleEvent): void {
    if (record.lifecycle.can(event)) record.lifecycle.apply(event);
  }

  #abort(record: VmRecord): void {
    this.#apply(record, LifecycleEvent.Aborted);
  }

  #poweredOff(record: VmRecord, how: string): void {
    record.running = undefined;
    record.status = NORMAL;
    this.#apply(record, LifecycleEvent.Stopped);
    if (!this.#stopping) this.#setWasRunning(record.config.id, false);
    this.#rebalanceCpu();
    this.#log(record, EventLevel.Info, 'stopped', how);
  }

  /** Proportional share of the host's processor capacity by weight, clamped to each VM's reserve and limit. */
  #rebalanceCpu(): void {
    const active = [...this.#vms.values()].filter((record) => record.running !== undefined);
    const totalWeight = active.reduce((sum, record) => sum + record.config.cpu.relativeWeight, 0);
    for (const record of this.#vms.values()) record.cpuBudget = 0;
    for (const record of active) {
      const { relativeWeight, reservePercent, limitPercent } = record.config.cpu;
      const share = (this.#options.cpuCapacityPercent * relativeWeight) / totalWeight;
      record.cpuBudget = Math.round(Math.min(limitPercent, Math.max(reservePercent, share)) * 10) / 10;
      record.running!.setCpuBudget(record.cpuBudget);
    }
  }

  #setWasRunning(id: string, running: boolean): void {
    if (this.#wasRunning.has(id) === running) return;
    if (running) this.#wasRunning.add(id);
    else this.#wasRunning.delete(id);
    writeFileAtomic(this.#wasRunningFile, `${JSON.stringify([...this.#wasRunning])}\n`);
  }

  #savedFile(id: string): string {
    return join(this.#savedDir, `${id}.vrss`);
  }

  #log(record: VmRecord, level: EventLevel, kind: string, message: string): void {
    this.events.append(record.config.id, record.config.name, level, kind, message);
  }
}

function lowestFreeLun(disks: readonly DiskAttachment[]): number {
  for (let lun = 0; lun <= LIMITS.lunMax; lun++) {
    if (!disks.some((disk) => disk.lun === lun)) return lun;
  }
  throw new VmmsError(ErrorCode.InvalidArgument, 'every LUN is in use');
}

/** The files under a disk, nearest first; empty when it cannot be read (it is then checked elsewhere). */
async function parentChain(path: string): Promise<string[]> {
  try {
    const disk = await VirtualDisk.open(path, { readOnly: true });
    try {
      return (await disk.info()).parentChain.map((parent) => parent.path);
    } finally {
      await disk.close();
    }
  } catch {
    return [];
  }
}

/** Hyper-V's default checkpoint name: `<vm> - (<local date> - <local time>)`. */
function defaultCheckpointName(vmName: string): string {
  const now = new Date();
  const when = `${now.toLocaleDateString('en-US')} - ${now.toLocaleTimeString('en-US')}`;
  const suffix = ` - (${when})`;
  return `${vmName.slice(0, LIMITS.nameMaxLength - suffix.length)}${suffix}`;
}

function readIdList(file: string): string[] {
  try {
    const ids: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return Array.isArray(ids) ? ids.filter(isGuid) : [];
  } catch {
    return [];
  }
}
