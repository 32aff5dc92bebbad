import type { BlockDevice } from '@viridian/storage';

/** What a guest program sees of the VM it runs in. */
export interface GuestContext {
  readonly vmId: string;
  readonly vmName: string;
  readonly memoryMB: number;
  readonly processorCount: number;
  /** Milliseconds since this boot or restore. */
  readonly uptimeMs: number;
  /** Writes a line to the VM's event log on the host (rate-limited). */
  log(message: string): void;
  /** Publishes an item in the guest's KVP pool (the host reads it); false without the KVP service. */
  publish(key: string, value: string): boolean;
  /** An item the host set in the guest's KVP pool (EXTERNAL), if any. */
  hostItem(key: string): string | undefined;
  /**
   * The disks of the VM's synthetic SCSI controller now present, by LUN. Live: hot add and remove
   * change it (a removed device's `removed` is set), and after a restore the devices are new objects.
   */
  readonly disks: readonly BlockDevice[];
  /** The disk at a LUN, if present. */
  disk(lun: number): BlockDevice | undefined;
}

/**
 * A guest program run by the boot image inside a partition. Its state must be serializable (v8): the
 * boot image keeps it in guest memory whenever the VM stops at a safe point, so saving a VM
 * captures it with the memory and restoring hands it back to `step` unchanged.
 */
export interface GuestProgram<S = unknown> {
  /** Builds the initial state on a fresh boot. */
  boot(ctx: GuestContext): S;
  /**
   * One slice of work. Keep it short: between steps the VM can be paused, saved or shut down.
   * Returns how many milliseconds to idle before the next step (0 or nothing: run again at once).
   * May return a promise (disk I/O): the firmware awaits it, and pauses, saves or freezes the VM only
   * between steps, so a step's awaited writes are complete at every safe point.
   */
  step(state: S, ctx: GuestContext): number | undefined | Promise<number | undefined>;
  /**
   * VSS freeze (a host backup or checkpoint): bring the on-disk data to a consistent point. The
   * firmware calls it between steps, flushes every disk afterwards and runs no step until `thaw`.
   */
  freeze?(state: S, ctx: GuestContext): void | Promise<void>;
  /** The end of a VSS freeze: steps run again after it. */
  thaw?(state: S, ctx: GuestContext): void | Promise<void>;
  /** The host asks for a shutdown. Return false to refuse it; anything else shuts down. */
  shutdown?(state: S, ctx: GuestContext): boolean | undefined;
}

/** Identity helper that gives a guest module's default export its type. */
export function defineGuest<S>(program: GuestProgram<S>): GuestProgram<S> {
  return program;
}
