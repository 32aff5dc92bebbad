// The VP side of run-time accounting: each VP thread measures its own run intervals (from a
// grant or a wake-up to a park or a halt) and publishes them in its control block, where the
// scheduler reads them. Only the VP knows when it really ran; the scheduler only knows what it
// granted.
import { HvBell, VpControl } from '../layout.js';

/** Host-monotonic nanoseconds, the same clock in every thread. */
export const monoNs = (): number => Number(process.hrtime.bigint());

/** f64 words covering the control block up to the end of the scheduler seam. */
const VP_F64_WORDS = 2112 >> 3;

const F64 = {
  runNs: VpControl.schedRunNs >> 3,
  runStart: VpControl.schedRunStartNs >> 3,
  stamp: VpControl.schedStampNs >> 3,
  grant: VpControl.schedGrantNs >> 3,
} as const;

/** Run time (ns) of a VP as its control block shows it now, including the interval in progress. */
export function vpRunTimeNs(control: SharedArrayBuffer, nowNs: number = monoNs()): number {
  const f = new Float64Array(control, 0, VP_F64_WORDS);
  return liveRunNs(f, nowNs);
}

export function liveRunNs(f: Float64Array, nowNs: number): number {
  const run = f[F64.runNs] ?? 0;
  const start = f[F64.runStart] ?? Number.NaN;
  // 0 (a fresh control block) and NaN both mean "not running".
  const total = !(start > 0) || start > nowNs ? run : run + (nowNs - start);
  return Number.isFinite(total) && total > 0 ? total : 0;
}

export class VpRunClock {
  private readonly f: Float64Array;
  private readonly ctl: Int32Array;
  private readonly bell: Int32Array;

  constructor(control: SharedArrayBuffer, bell: SharedArrayBuffer, running: boolean) {
    this.f = new Float64Array(control, 0, VP_F64_WORDS);
    this.ctl = new Int32Array(control);
    this.bell = new Int32Array(bell);
    if (Number.isNaN(this.f[F64.runStart] ?? Number.NaN) || this.f[F64.runStart] === 0) {
      this.f[F64.runStart] = running ? monoNs() : Number.NaN;
    }
  }

  /** Starts a run interval now unless one is open (an AP's first safe point). */
  ensureRunning(): void {
    if (Number.isNaN(this.f[F64.runStart] ?? Number.NaN)) this.f[F64.runStart] = monoNs();
  }

  /** Ends the open run interval: adds it to the total and stamps its end. */
  stop(): void {
    const now = monoNs();
    const start = this.f[F64.runStart] ?? Number.NaN;
    if (!Number.isNaN(start) && now > start) this.f[F64.runNs] = (this.f[F64.runNs] ?? 0) + (now - start);
    this.f[F64.stamp] = now;
    this.f[F64.runStart] = Number.NaN;
  }

  /**
   * Starts a run interval after a release from park. The slice began when the scheduler granted
   * it (the LP's previous occupant stopped), not when this thread woke: the wake-up is part of
   * this VP's slice, so the LP's time is accounted without gaps.
   */
  resumeFromGrant(): void {
    const now = monoNs();
    const grant = this.f[F64.grant] ?? Number.NaN;
    const stamp = this.f[F64.stamp] ?? 0;
    this.f[F64.runStart] = grant >= stamp && grant <= now ? grant : now;
  }

  /** Entering (true) or leaving (false) a halt: idle VPs consume nothing and free their LP. */
  idle(on: boolean): void {
    if (on) {
      this.stop();
      Atomics.store(this.ctl, VpControl.schedIdle >> 2, 1);
      this.ringScheduler();
    } else {
      Atomics.store(this.ctl, VpControl.schedIdle >> 2, 0);
      this.f[F64.runStart] = monoNs();
    }
  }

  /** Parks at a safe point: publishes the end of the run, then tells the scheduler. */
  parked(): void {
    Atomics.store(this.ctl, VpControl.schedParked >> 2, 1);
    this.ringScheduler();
  }

  private ringScheduler(): void {
    Atomics.add(this.bell, HvBell.sequence, 1);
    Atomics.notify(this.bell, HvBell.sequence, 1);
  }
}
