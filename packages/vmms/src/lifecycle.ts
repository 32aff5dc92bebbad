import { ErrorCode, VmmsError } from './errors.js';

/** Hyper-V's VM states as VMMS reports them. */
export const VmState = {
  Off: 'Off',
  Starting: 'Starting',
  Running: 'Running',
  Pausing: 'Pausing',
  Paused: 'Paused',
  Resuming: 'Resuming',
  Saving: 'Saving',
  Saved: 'Saved',
  Stopping: 'Stopping',
  Critical: 'Critical',
} as const;
export type VmState = (typeof VmState)[keyof typeof VmState];

/**
 * What can happen to a VM. Requests come from callers; the rest are completions reported by the
 * runtime that runs the VM.
 */
export const LifecycleEvent = {
  // requests
  Start: 'start',
  Pause: 'pause',
  Resume: 'resume',
  Save: 'save',
  Stop: 'stop',
  TurnOff: 'turnOff',
  DiscardSaved: 'discardSaved',
  /** A checkpoint's memory state became the VM's saved state (applying a Standard checkpoint). */
  StateApplied: 'stateApplied',
  // completions
  Started: 'started',
  Paused: 'paused',
  Resumed: 'resumed',
  SaveCompleted: 'saveCompleted',
  Stopped: 'stopped',
  /** A transitional operation gave up (timeout, guest refused): back to where it began. */
  Aborted: 'aborted',
  /** The VM's worker or guest failed. */
  Failed: 'failed',
} as const;
export type LifecycleEvent = (typeof LifecycleEvent)[keyof typeof LifecycleEvent];

const E = LifecycleEvent;
const S = VmState;

/**
 * The transition table. `back` means "return to the state before the operation began" (a stop the
 * guest refused returns to Running; a save that timed out returns to where it was; a start from
 * Saved that failed returns to Saved).
 */
const TABLE: Record<VmState, Partial<Record<LifecycleEvent, VmState | 'back'>>> = {
  Off: { [E.Start]: S.Starting, [E.StateApplied]: S.Saved },
  Starting: { [E.Started]: S.Running, [E.Aborted]: 'back', [E.Failed]: S.Critical },
  Running: {
    [E.Pause]: S.Pausing,
    [E.Save]: S.Saving,
    [E.Stop]: S.Stopping,
    [E.TurnOff]: S.Stopping,
    [E.Failed]: S.Critical,
  },
  Pausing: { [E.Paused]: S.Paused, [E.Aborted]: 'back', [E.Failed]: S.Critical },
  Paused: { [E.Resume]: S.Resuming, [E.Save]: S.Saving, [E.TurnOff]: S.Stopping, [E.Failed]: S.Critical },
  Resuming: { [E.Resumed]: S.Running, [E.Aborted]: 'back', [E.Failed]: S.Critical },
  Saving: { [E.SaveCompleted]: S.Saved, [E.Aborted]: 'back', [E.Failed]: S.Critical },
  Saved: { [E.Start]: S.Starting, [E.DiscardSaved]: S.Off },
  Stopping: { [E.Stopped]: S.Off, [E.Aborted]: 'back', [E.Failed]: S.Critical, [E.TurnOff]: S.Stopping },
  Critical: { [E.Start]: S.Starting, [E.TurnOff]: S.Off },
};

/** Which requests are legal in which states; the API documents and checks commands with it. */
export function legalIn(event: LifecycleEvent): VmState[] {
  return (Object.keys(TABLE) as VmState[]).filter((state) => TABLE[state][event] !== undefined);
}

export interface LifecycleHooks {
  onTransition?(from: VmState, to: VmState, event: LifecycleEvent): void;
}

/**
 * One VM's lifecycle as a pure state machine: no I/O, no timers. VMMS feeds it requests and
 * completions; an event that is not legal in the current state is refused with an InvalidState
 * error naming the state and the request.
 */
export class VmLifecycle {
  #state: VmState;
  #before: VmState | undefined;
  readonly #hooks: LifecycleHooks;

  constructor(initial: VmState = S.Off, hooks: LifecycleHooks = {}) {
    this.#state = initial;
    this.#hooks = hooks;
  }

  get state(): VmState {
    return this.#state;
  }

  can(event: LifecycleEvent): boolean {
    return TABLE[this.#state][event] !== undefined;
  }

  /** Applies `event`, returning the new state; throws InvalidState when it is not legal now. */
  apply(event: LifecycleEvent): VmState {
    const target = TABLE[this.#state][event];
    if (target === undefined) {
      throw new VmmsError(ErrorCode.InvalidState, `cannot ${describe(event)} while the VM is ${this.#state}`);
    }
    const from = this.#state;
    const to = target === 'back' ? (this.#before ?? S.Off) : target;
    if (to === S.Pausing || to === S.Saving || to === S.Stopping || to === S.Resuming || to === S.Starting) {
      if (from !== S.Stopping) this.#before = from;
    }
    this.#state = to;
    this.#hooks.onTransition?.(from, to, event);
    return to;
  }
}

function describe(event: LifecycleEvent): string {
  switch (event) {
    case E.TurnOff:
      return 'turn off';
    case E.DiscardSaved:
      return 'discard the saved state';
    case E.Start:
    case E.Pause:
    case E.Resume:
    case E.Save:
    case E.Stop:
      return event;
    default:
      return `complete "${event}"`;
  }
}
