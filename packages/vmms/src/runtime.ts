import type { DiskAttachment, VmConfig } from './config.js';
import type { IcCall } from './integration.js';

/** Heartbeat as Hyper-V reports it for a VM's heartbeat integration service. */
export const HeartbeatStatus = {
  Ok: 'OK',
  NoContact: 'NoContact',
  LostCommunication: 'LostCommunication',
  Paused: 'Paused',
  Disabled: 'Disabled',
} as const;
export type HeartbeatStatus = (typeof HeartbeatStatus)[keyof typeof HeartbeatStatus];

/** Live figures of a running VM. */
export interface VmRuntimeStats {
  /** Processor use as a percentage of one host processor. */
  cpuPercent: number;
  /** Memory the guest is actually using, in MB. */
  memoryDemandMB: number;
  uptimeMs: number;
  heartbeat: HeartbeatStatus;
}

/** Why a VM stopped without being asked to. */
export const ExitReason = { GuestCrashed: 'guestCrashed', WorkerDied: 'workerDied' } as const;
export type ExitReason = (typeof ExitReason)[keyof typeof ExitReason];

export interface VmExit {
  reason: ExitReason;
  message: string;
}

export interface VmStartOptions {
  /** State returned by an earlier `save()`; the VM resumes from it instead of booting. */
  restore?: unknown;
  /** Called once if the VM ends without being asked (guest crash, worker death). */
  onExit(exit: VmExit): void;
  /** Messages the guest logs; VMMS puts them in the VM's event log. */
  onGuestLog?(message: string): void;
}

/** One running VM as its runtime exposes it to VMMS. */
export interface RunningVm {
  /** Stops the guest at a safe point; resolves when it is stopped. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /**
   * Asks the guest to shut down (the shutdown integration service). Resolves `true` once the VM
   * is off, `false` if the guest refused or did not finish within `timeoutMs`; the VM then keeps running.
   */
  shutdown(timeoutMs: number): Promise<boolean>;
  /** Cuts power at once. Always completes. */
  turnOff(): Promise<void>;
  /** Captures the whole VM state at a safe point and powers the VM off. The state is structured-cloneable. */
  save(): Promise<unknown>;
  /**
   * Why a graceful shutdown cannot be asked of this guest right now (for example: it runs no shutdown
   * integration service), or undefined when it can. VMMS refuses a stop with this reason.
   */
  shutdownUnavailableReason?(): string | undefined;
  /** The share of one host processor this VM may use, set by VMMS from the VMs' weights, reserves and limits. */
  setCpuBudget(percent: number): void;
  stats(): VmRuntimeStats;
  /**
   * One request to the VM's integration services (KVP, VSS, their state); resolves with the IC's own
   * result value. Runtimes without integration-service access leave it out.
   */
  ic?(request: IcCall): Promise<unknown>;
  /** Hot add: opens the file and attaches it at its LUN (the guest rescans). */
  attachDisk?(disk: DiskAttachment): Promise<void>;
  /** Hot remove: waits for the LUN's running commands, then closes the file. */
  detachDisk?(lun: number): Promise<void>;
  /**
   * Pauses at a safe point (unless paused), flushes every disk, then for each named LUN creates a
   * differencing disk at `path` whose parent is the LUN's current file and makes the LUN write to it
   * (same disk identity for the guest); captures the VM state if asked (what `save()` returns, but the
   * VM keeps running), and resumes if it was running.
   */
  snapshotDisks?(request: DiskSnapshotRequest): Promise<{ state?: unknown }>;
  /**
   * Pauses, flushes, merges the LUN's current differencing file into its parent (the child file is
   * deleted), switches the LUN to the parent, resumes. Resolves with the parent's path.
   */
  mergeDisk?(lun: number): Promise<string>;
}

export interface DiskSnapshotRequest {
  disks: { lun: number; path: string }[];
  captureState: boolean;
}

/**
 * The seam between VMMS (policy, state, files) and whatever runs a VM. VMMS never assumes how a VM
 * runs; a runtime never decides lifecycle policy.
 */
export interface VmRuntime {
  /** Why `image` cannot run here, or undefined when it can. */
  checkImage(image: string): string | undefined;
  /** Boots (or restores) the VM; resolves once it runs, rejects if it could not start. */
  start(config: VmConfig, options: VmStartOptions): Promise<RunningVm>;
  /** Releases what the runtime holds (its hypervisor, threads) once every VM is off or saved. */
  close?(): Promise<void>;
}
