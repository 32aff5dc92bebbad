// The scheduler's policy core: pure decisions, no threads, no clocks of its own. The caller feeds
// it time ("now"), run time consumed by each VP and which VPs are runnable, and asks it which VP a
// free logical processor should run next and for how long.
//
// Order of precedence, as the Hyper-V controls mean it:
//   1. limit (cap): a VP whose limit credit is spent is not eligible, even on an idle LP;
//   2. reserve: a runnable VP that has received less than its reserve is chosen first;
//   3. weight: the rest is shared in proportion to weight by virtual time (stride scheduling):
//      every VP's virtual clock advances by run time / weight, the lowest clock runs next.

/** The per-VP controls, as fractions of one logical processor. */
export interface SchedParams {
  /** Relative weight, 1..10000 (Hyper-V default 100). */
  readonly weight: number;
  /** Share of one LP guaranteed while runnable, 0..1. */
  readonly reserve: number;
  /** Most of one LP the VP may use, 0..1 (1 = no limit). */
  readonly limit: number;
}

export const DEFAULT_SCHED_PARAMS: SchedParams = { weight: 100, reserve: 0, limit: 1 };

export interface PolicyOptions {
  /** Length of a time slice in ns. */
  readonly sliceNs: number;
  /**
   * How much unused reserve or limit credit a VP may bank, in ns of LP time (default 4 slices).
   * Bounds how far a VP can run ahead of its limit after a quiet period.
   */
  readonly burstNs?: number;
}

/** A decision for one free LP. */
export interface Pick {
  readonly id: number;
  /** Length of the granted slice (shortened so a limited VP does not overrun its credit). */
  readonly sliceNs: number;
  /** Why it was chosen: its reserve was owed, or its turn by weight. */
  readonly reason: 'reserve' | 'weight';
}

interface Entity {
  readonly id: number;
  params: SchedParams;
  runnable: boolean;
  /** Virtual time: run ns × (DEFAULT weight / weight). */
  vtime: number;
  /** ns of LP time the VP may still use under its limit (negative after an overrun). */
  limitCredit: number;
  /** ns of LP time owed to the VP under its reserve (down to -1 slice: an overrun is carried). */
  reserveCredit: number;
  /** Time credits were last brought up to date. */
  accruedAt: number;
  /** Total run time charged (ns). */
  runNs: number;
}

const WEIGHT_SCALE = 100;

/** Clamps externally supplied controls into their documented ranges. */
export function normalizeParams(p: Partial<SchedParams>): SchedParams {
  const num = (v: number | undefined, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  return {
    weight: Math.min(10000, Math.max(1, Math.round(num(p.weight, 100)))),
    reserve: Math.min(1, Math.max(0, num(p.reserve, 0))),
    limit: Math.min(1, Math.max(0, num(p.limit, 1))),
  };
}

export class SchedulerPolicy {
  private readonly entities = new Map<number, Entity>();
  readonly sliceNs: number;
  readonly burstNs: number;

  constructor(options: PolicyOptions) {
    if (!(options.sliceNs > 0)) throw new RangeError('sliceNs must be positive');
    this.sliceNs = options.sliceNs;
    this.burstNs = Math.max(options.burstNs ?? options.sliceNs * 4, options.sliceNs);
  }

  get size(): number {
    return this.entities.size;
  }

  has(id: number): boolean {
    return this.entities.has(id);
  }

  /** Adds a VP, not runnable until setRunnable. Its virtual clock starts at the current minimum. */
  add(id: number, params: Partial<SchedParams>, nowNs: number): void {
    if (this.entities.has(id)) throw new RangeError(`VP ${id} already scheduled`);
    const p = normalizeParams(params);
    this.entities.set(id, {
      id,
      params: p,
      runnable: false,
      vtime: this.minVtime(),
      limitCredit: p.limit < 1 ? p.limit * this.sliceNs : 0,
      reserveCredit: 0,
      accruedAt: nowNs,
      runNs: 0,
    });
  }

  remove(id: number): void {
    this.entities.delete(id);
  }

  configure(id: number, params: Partial<SchedParams>, nowNs: number): void {
    const e = this.entities.get(id);
    if (!e) return;
    this.accrue(e, nowNs);
    const p = normalizeParams(params);
    if (p.limit !== e.params.limit && p.limit < 1 && e.params.limit >= 1) e.limitCredit = 0;
    e.params = p;
  }

  params(id: number): SchedParams | undefined {
    return this.entities.get(id)?.params;
  }

  /**
   * Marks a VP runnable (wants an LP) or not (halted, waiting for SIPI). A VP that becomes
   * runnable does not keep virtual time banked while it slept: its clock is lifted to the
   * minimum of the others, so a VP that halts often cannot starve the rest when it wakes.
   */
  setRunnable(id: number, runnable: boolean, nowNs: number): void {
    const e = this.entities.get(id);
    if (!e || e.runnable === runnable) return;
    this.accrue(e, nowNs);
    if (runnable) {
      const floor = this.minVtime(e);
      if (Number.isFinite(floor)) e.vtime = Math.max(e.vtime, floor);
    } else {
      // A reserve is a guarantee while the VP wants the CPU; idle time is not owed later.
      e.reserveCredit = Math.min(0, e.reserveCredit);
    }
    e.runnable = runnable;
  }

  isRunnable(id: number): boolean {
    return this.entities.get(id)?.runnable ?? false;
  }

  /** Charges run time to a VP (ns, ≥ 0). */
  charge(id: number, ns: number, nowNs: number): void {
    const e = this.entities.get(id);
    if (!e || !(ns > 0)) return;
    this.accrue(e, nowNs);
    e.runNs += ns;
    e.vtime += (ns * WEIGHT_SCALE) / e.params.weight;
    if (e.params.limit < 1) e.limitCredit -= ns;
    if (e.params.reserve > 0) e.reserveCredit = Math.max(-this.sliceNs, e.reserveCredit - ns);
  }

  /** Total run time charged to a VP (ns). */
  runTime(id: number): number {
    return this.entities.get(id)?.runNs ?? 0;
  }

  /**
   * Chooses the VP for a free logical processor: among runnable VPs not in `busy` (those on other
   * LPs) and within their limit, the one most behind on its reserve, else the lowest virtual time.
   * Ties go to the lower id, so decisions are deterministic.
   */
  pick(nowNs: number, busy: ReadonlySet<number>): Pick | undefined {
    let owed: Entity | undefined;
    let owedScore = 0;
    let fair: Entity | undefined;
    for (const e of this.entities.values()) {
      if (!e.runnable || busy.has(e.id)) continue;
      this.accrue(e, nowNs);
      if (e.params.limit < 1 && e.limitCredit <= 0) continue;
      // Owed: a reserve VP is due once it is within half a slice of its reserve, so slice
      // rounding errs above the reserve, never below it.
      if (e.params.reserve > 0 && e.reserveCredit > -this.sliceNs / 2) {
        // Most owed first (absolute ns): a larger reserve falls behind faster and goes first.
        const score = e.reserveCredit;
        if (!owed || score > owedScore || (score === owedScore && e.id < owed.id)) {
          owed = e;
          owedScore = score;
        }
      }
      if (!fair || e.vtime < fair.vtime || (e.vtime === fair.vtime && e.id < fair.id)) fair = e;
    }
    const chosen = owed ?? fair;
    if (!chosen) return undefined;
    let slice = this.sliceNs;
    if (chosen.params.limit < 1) slice = Math.min(slice, Math.max(chosen.limitCredit, this.sliceNs / 8));
    return { id: chosen.id, sliceNs: slice, reason: owed ? 'reserve' : 'weight' };
  }

  /**
   * The earliest time (ns) a runnable VP held back only by its limit becomes eligible again, or
   * Infinity. A dispatcher with an idle LP sleeps until then.
   */
  nextEligibleNs(nowNs: number, busy: ReadonlySet<number>): number {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.entities.values()) {
      if (!e.runnable || busy.has(e.id)) continue;
      this.accrue(e, nowNs);
      if (e.params.limit >= 1 || e.limitCredit > 0) return nowNs;
      const at =
        e.params.limit > 0 ? nowNs + (-e.limitCredit + 1) / e.params.limit : Number.POSITIVE_INFINITY;
      next = Math.min(next, at);
    }
    return next;
  }

  private accrue(e: Entity, nowNs: number): void {
    const dt = nowNs - e.accruedAt;
    if (!(dt > 0)) return;
    e.accruedAt = nowNs;
    const { limit, reserve } = e.params;
    if (limit < 1) e.limitCredit = Math.min(e.limitCredit + limit * dt, Math.max(limit * this.burstNs, 1));
    if (reserve > 0 && e.runnable) {
      e.reserveCredit = Math.min(e.reserveCredit + reserve * dt, reserve * this.burstNs);
    }
  }

  private minVtime(except?: Entity): number {
    let min = Number.POSITIVE_INFINITY;
    for (const e of this.entities.values()) {
      if (e !== except && e.runnable && e.vtime < min) min = e.vtime;
    }
    if (except === undefined && !Number.isFinite(min)) {
      for (const e of this.entities.values()) if (e.vtime < min) min = e.vtime;
    }
    return Number.isFinite(min) ? min : 0;
  }
}
