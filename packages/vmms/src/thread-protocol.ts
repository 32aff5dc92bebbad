/** Layout of the control words shared between VMMS and a VM's worker thread (Int32 slots). */
export const Ctl = { Command: 0, Status: 1, BudgetPermille: 2, Length: 4 } as const;

/** Values of the Command slot, written by the host; the guest acts on them at its next safe point. */
export const Command = { Run: 0, Pause: 1, Shutdown: 2, Save: 3 } as const;

/** Values of the Status slot, written by the worker. */
export const Status = { Booting: 0, Running: 1, GuestCrashed: 2 } as const;

export interface GuestWorkerData {
  vmId: string;
  vmName: string;
  memoryMB: number;
  processorCount: number;
  /** A built-in image name or a module URL. */
  image: string;
  builtin: boolean;
  control: SharedArrayBuffer;
  restore: unknown;
  hasRestore: boolean;
}

/** Messages from the worker to the host. */
export type GuestMessage =
  | { type: 'booted' }
  | { type: 'tick'; busyMs: number; heapMB: number }
  | { type: 'paused' }
  | { type: 'resumed' }
  | { type: 'saved'; state: unknown }
  | { type: 'saveFailed'; message: string }
  | { type: 'shutdownRefused' }
  | { type: 'log'; message: string };
