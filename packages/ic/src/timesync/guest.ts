import type { IcProtocolError } from '../core/errors.js';
import { IcGuestEndpoint } from '../core/guest-endpoint.js';
import { decodeTimeSync, isBodyError } from '../wire/bodies.js';
import { IcMessageType, IcMessageVersions, IcStatus, type IcVersion, TimeSyncFlags } from '../wire/defs.js';
import type { DriftingClock } from './guest-clock.js';
import { filetimeToUnixMs } from './time.js';

/** One correction the guest made, for observation. */
export interface TimeSyncCorrection {
  /** Reference time (ms) of the sample. */
  readonly at: number;
  readonly flags: number;
  /** Host time minus guest clock before the correction, ms. */
  readonly offsetMs: number;
  readonly action: 'step' | 'discipline' | 'stale';
  /** Oscillator correction factor after the sample. */
  readonly rate: number;
}

export interface TimeSyncGuestOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock: DriftingClock;
  /** The partition reference counter in 100 ns units (what vmreferencetime is measured in). */
  readonly referenceTime: () => bigint;
  /** Offsets at least this large are stepped even on SAMPLE (Linux steps when 5 s behind). */
  readonly stepThresholdMs?: number;
  /** Samples older than this are ignored (Linux: 600 s). */
  readonly staleMs?: number;
  /** Correction history kept (newest last). */
  readonly historyLength?: number;
  readonly messageVersions?: readonly IcVersion[];
  readonly onCorrection?: (c: TimeSyncCorrection) => void;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/**
 * Guest side of time sync: SYNC steps the clock to host time; SAMPLE disciplines it — the offset
 * accumulated since the previous correction measures the oscillator's rate error, which is folded into
 * the clock's rate, and the remaining phase error is removed.
 * With v4 samples the host time is carried forward by the reference time elapsed since it was sampled.
 */
export class TimeSyncGuest {
  readonly endpoint: IcGuestEndpoint;
  readonly #o: TimeSyncGuestOptions;
  readonly #history: TimeSyncCorrection[] = [];
  #lastCorrectionAt: number | undefined;

  constructor(options: TimeSyncGuestOptions) {
    this.#o = options;
    this.endpoint = new IcGuestEndpoint({
      messageType: IcMessageType.TimeSync,
      messageVersions: options.messageVersions ?? [...IcMessageVersions.timeSync].reverse(),
      send: options.send,
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
      handle: (req) => {
        const v4 = req.versions.message.major >= 4;
        const msg = decodeTimeSync(req.body, v4);
        if (isBodyError(msg)) {
          this.endpoint.reportBodyError(`timesync body ${msg.have} < ${msg.need}`);
          return;
        }
        req.respond(IcStatus.Ok);
        this.#apply(msg.parentTime, v4 ? msg.referenceTime : undefined, msg.flags);
      },
    });
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  get history(): readonly TimeSyncCorrection[] {
    return this.#history;
  }

  #apply(parentTime: bigint, referenceTime: bigint | undefined, flags: number): void {
    const clock = this.#o.clock;
    const refNowTicks = this.#o.referenceTime();
    const refNow = Number(refNowTicks) / 10_000;
    let hostNow = filetimeToUnixMs(parentTime);
    if (referenceTime !== undefined) {
      const age = Number(refNowTicks - referenceTime) / 10_000;
      if (age > (this.#o.staleMs ?? 600_000) || age < -1_000) {
        this.#record({
          at: refNow,
          flags,
          offsetMs: hostNow - clock.now(),
          action: 'stale',
          rate: clock.rate,
        });
        return;
      }
      hostNow += Math.max(0, age);
    }
    const offset = hostNow - clock.now();
    const sync = (flags & TimeSyncFlags.Sync) !== 0;
    if (
      sync ||
      Math.abs(offset) >= (this.#o.stepThresholdMs ?? 5_000) ||
      this.#lastCorrectionAt === undefined
    ) {
      clock.step(hostNow);
      this.#lastCorrectionAt = refNow;
      this.#record({ at: refNow, flags, offsetMs: offset, action: 'step', rate: clock.rate });
      return;
    }
    if ((flags & TimeSyncFlags.Sample) === 0) return;
    const elapsed = refNow - this.#lastCorrectionAt;
    if (elapsed > 0) {
      // The clock advanced elapsed - offset while elapsed passed: scale the rate to close that gap.
      const ratio = elapsed / (elapsed - offset);
      if (Number.isFinite(ratio) && ratio > 0.5 && ratio < 2) clock.setRate(clock.rate * ratio);
    }
    clock.step(hostNow);
    this.#lastCorrectionAt = refNow;
    this.#record({ at: refNow, flags, offsetMs: offset, action: 'discipline', rate: clock.rate });
  }

  #record(c: TimeSyncCorrection): void {
    this.#history.push(c);
    const max = this.#o.historyLength ?? 256;
    if (this.#history.length > max) this.#history.splice(0, this.#history.length - max);
    this.#o.onCorrection?.(c);
  }
}
