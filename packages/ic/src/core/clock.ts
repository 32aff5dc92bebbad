/** A cancellable timer handle. */
export interface IcTimer {
  cancel(): void;
}

/**
 * The time source the IC cores use: a monotonic millisecond clock and one-shot timers. Injected so the
 * state machines run deterministically under a manual clock in tests and on real timers in a VM.
 */
export interface IcClock {
  now(): number;
  setTimer(ms: number, fn: () => void): IcTimer;
}

/** Real time: performance.now() and setTimeout (unref'd so an idle IC never keeps a thread alive). */
export const systemClock: IcClock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told to; timers fire in deadline order during advance(). */
export class ManualClock implements IcClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): IcTimer {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return { cancel: () => void this.#timers.delete(id) };
  }

  /** Moves time forward by `ms`, firing due timers in order (timers they create fire too if due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Number.POSITIVE_INFINITY;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && (t.at < nextAt || (t.at === nextAt && id < nextId))) {
          nextId = id;
          nextAt = t.at;
        }
      }
      const timer = this.#timers.get(nextId);
      if (!timer) break;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, timer.at);
      timer.fn();
    }
    this.#now = end;
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }
}
