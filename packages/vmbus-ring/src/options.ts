/** How a ring end reaches its peer and how it sleeps. */
export interface RingOptions {
  /**
   * Called when the peer must be told to look at the ring (reader: data arrived; writer: space
   * freed). The VMBus layer turns it into SignalEvent or an event-flag set. Must not throw.
   */
  readonly signal: () => void;
  /**
   * A word the owner bumps and notifies when the peer signals this end; `waitForSpace` and
   * `waitForData` sleep on it with Atomics.wait.
   */
  readonly doorbell?: Int32Array;
  readonly doorbellIndex?: number;
}

/** Result of `waitForSpace` / `waitForData`. */
export const WaitStatus = {
  Ready: 0,
  TimedOut: 1,
  Corrupt: 2,
} as const;
export type WaitStatus = (typeof WaitStatus)[keyof typeof WaitStatus];
