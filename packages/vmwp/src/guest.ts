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
   */
  step(state: S, ctx: GuestContext): number | undefined;
  /** The host asks for a shutdown. Return false to refuse it; anything else shuts down. */
  shutdown?(state: S, ctx: GuestContext): boolean | undefined;
}

/** Identity helper that gives a guest module's default export its type. */
export function defineGuest<S>(program: GuestProgram<S>): GuestProgram<S> {
  return program;
}
