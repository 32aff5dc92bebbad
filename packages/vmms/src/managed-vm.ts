import type { VmConfig } from './config.js';
import type { EventLevel } from './event-log.js';
import type { VmState } from './lifecycle.js';
import type { RunningVm } from './runtime.js';

/** What the checkpoint and backup work needs of one VM; the service core provides it. */
export interface ManagedVm {
  readonly id: string;
  config(): VmConfig;
  /** Durably replaces the VM's configuration. */
  saveConfig(config: VmConfig): void;
  state(): VmState;
  /** The running VM's handle while it runs or is paused. */
  running(): RunningVm | undefined;
  /** `<dataDir>/saved/<id>.vrss`. */
  readonly savedFile: string;
  /** The VM (Off) now has a saved state: it becomes Saved. */
  markSaved(): void;
  /** Drops a Saved VM's saved state: it becomes Off. */
  discardSaved(): void;
  /** Waits until the VM is in no transitional state (starting, saving, stopping…). */
  settle(): Promise<void>;
  log(level: EventLevel, kind: string, message: string): void;
}
