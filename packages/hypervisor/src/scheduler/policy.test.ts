// The policy core driven by a deterministic simulation: LPs hand out slices, VPs overrun their
// slice by a pseudo-random amount before they reach a safe point (as real VP threads do), and
// run time is charged exactly as the dispatcher charges it.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { normalizeParams, type SchedParams, SchedulerPolicy } from './policy.js';

const MS = 1_000_000;

interface SimVp {
  readonly params: Partial<SchedParams>;
  /** Runs this long, then halts for `haltNs` (absent: CPU-bound forever). */
  readonly burstNs?: number;
  readonly haltNs?: number;
}

interface SimResult {
  readonly runNs: number[];
  readonly elapsedNs: number;
  readonly lps: number;
  /** Largest run time any VP had in any window of `windowNs` (for limit checks). */
  readonly maxSlices: { lp: number; id: number }[][];
}

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function simulate(
  vps: readonly SimVp[],
  opts: { lps?: number; durationNs?: number; sliceNs?: number; overrunNs?: number; seed?: number } = {},
): SimResult {
  const lps = opts.lps ?? 1;
  const duration = opts.durationNs ?? 5000 * MS;
  const slice = opts.sliceNs ?? 10 * MS;
  const overrun = opts.overrunNs ?? 0.5 * MS;
  const rand = rng(opts.seed ?? 1);
  const policy = new SchedulerPolicy({ sliceNs: slice });
  vps.forEach((v, id) => {
    policy.add(id, v.params, 0);
    policy.setRunnable(id, true, 0);
  });
  const runNs = vps.map(() => 0);
  // Each VP's remaining CPU burst and when it wakes from halt.
  const burstLeft = vps.map((v) => v.burstNs ?? Number.POSITIVE_INFINITY);
  const wakeAt = vps.map(() => 0);
  const lpFreeAt = Array.from({ length: lps }, () => 0);
  const onLp = Array.from({ length: lps }, () => -1);
  const trace: { lp: number; id: number }[][] = [];
  let now = 0;
  while (now < duration) {
    // Wake halted VPs.
    vps.forEach((_, id) => {
      if (!policy.isRunnable(id) && wakeAt[id] !== undefined && (wakeAt[id] as number) <= now) {
        burstLeft[id] = vps[id]?.burstNs ?? Number.POSITIVE_INFINITY;
        policy.setRunnable(id, true, now);
      }
    });
    const busy = new Set(onLp.filter((id) => id >= 0));
    const step: { lp: number; id: number }[] = [];
    for (let lp = 0; lp < lps; lp++) {
      if ((lpFreeAt[lp] as number) > now) continue;
      onLp[lp] = -1;
      busy.delete(-1);
      const pick = policy.pick(now, new Set(onLp.filter((id) => id >= 0)));
      if (!pick) continue;
      step.push({ lp, id: pick.id });
      const id = pick.id;
      // The VP runs its slice, then up to `overrun` more before it reaches a safe point, unless
      // its burst ends first (it halts).
      let ran = pick.sliceNs + rand() * overrun;
      const left = burstLeft[id] as number;
      let halts = false;
      if (left <= ran) {
        ran = left;
        halts = true;
      }
      burstLeft[id] = left - ran;
      runNs[id] = (runNs[id] as number) + ran;
      policy.charge(id, ran, now + ran);
      if (halts) {
        policy.setRunnable(id, false, now + ran);
        wakeAt[id] = now + ran + (vps[id]?.haltNs ?? 0);
      }
      onLp[lp] = id;
      lpFreeAt[lp] = now + ran;
    }
    trace.push(step);
    // Advance to the next event: an LP becoming free, a wake-up, or a limit credit refill.
    const events = [...lpFreeAt.filter((t) => t > now), ...wakeAt.filter((t) => t > now)];
    const idleLp = lpFreeAt.some((t) => t <= now);
    if (idleLp) {
      const busyNow = new Set(onLp.filter((id, lp) => id >= 0 && (lpFreeAt[lp] as number) > now));
      const eligible = policy.nextEligibleNs(now, busyNow);
      if (eligible > now && Number.isFinite(eligible)) events.push(eligible);
    }
    const next = events.length ? Math.min(...events) : now + slice;
    for (let lp = 0; lp < lps; lp++) if ((lpFreeAt[lp] as number) <= next) onLp[lp] = -1;
    now = Math.max(next, now + 1000);
  }
  return { runNs, elapsedNs: now, lps, maxSlices: trace };
}

const shares = (r: SimResult) => {
  const total = r.runNs.reduce((a, b) => a + b, 0);
  return r.runNs.map((n) => n / total);
};
const ofLp = (r: SimResult, id: number) => (r.runNs[id] as number) / r.elapsedNs;

describe('normalizeParams', () => {
  test('clamps hostile values into the documented ranges', () => {
    expect(normalizeParams({ weight: 0, reserve: -1, limit: 7 })).toEqual({
      weight: 1,
      reserve: 0,
      limit: 1,
    });
    expect(normalizeParams({ weight: 1e9, reserve: Number.NaN, limit: -0.5 })).toEqual({
      weight: 10000,
      reserve: 0,
      limit: 0,
    });
    expect(normalizeParams({})).toEqual({ weight: 100, reserve: 0, limit: 1 });
  });
});

describe('SchedulerPolicy', () => {
  test('weights 100/200/400 on one LP share it 1/7, 2/7, 4/7', () => {
    const r = simulate([
      { params: { weight: 100 } },
      { params: { weight: 200 } },
      { params: { weight: 400 } },
    ]);
    const s = shares(r);
    expect(s[0]).toBeCloseTo(1 / 7, 2);
    expect(s[1]).toBeCloseTo(2 / 7, 2);
    expect(s[2]).toBeCloseTo(4 / 7, 2);
  });

  test('the lowest virtual time runs next, ties to the lower id', () => {
    const p = new SchedulerPolicy({ sliceNs: 10 * MS });
    for (const id of [3, 1, 2]) {
      p.add(id, { weight: 100 }, 0);
      p.setRunnable(id, true, 0);
    }
    expect(p.pick(0, new Set())).toEqual({ id: 1, sliceNs: 10 * MS, reason: 'weight' });
    expect(p.pick(0, new Set([1]))?.id).toBe(2);
    p.charge(1, 10 * MS, 10 * MS);
    expect(p.pick(10 * MS, new Set())?.id).toBe(2);
  });

  test('a limit of 25% holds the VP to 25% of the LP even with the LP otherwise idle', () => {
    const alone = simulate([{ params: { limit: 0.25 } }]);
    expect(ofLp(alone, 0)).toBeGreaterThan(0.24);
    expect(ofLp(alone, 0)).toBeLessThanOrEqual(0.255);
    const contended = simulate([{ params: { limit: 0.25, weight: 10000 } }, { params: {} }]);
    expect(ofLp(contended, 0)).toBeLessThanOrEqual(0.255);
    // Work conserving: the other VP gets the rest.
    expect(ofLp(contended, 1)).toBeGreaterThan(0.74);
  });

  test('a reserve of 50% is honoured against two heavy competitors', () => {
    const r = simulate([
      { params: { reserve: 0.5 } },
      { params: { weight: 10000 } },
      { params: { weight: 10000 } },
    ]);
    expect(ofLp(r, 0)).toBeGreaterThanOrEqual(0.5);
    expect(shares(r)[0]).toBeGreaterThanOrEqual(0.5);
    // A reserve is a floor, not a grab: the competitors share the rest.
    expect(ofLp(r, 0)).toBeLessThan(0.6);
  });

  test('halted VPs consume nothing and bank no virtual time for later', () => {
    // VP 0 runs 2 ms then halts 18 ms (≈10% of an LP); VP 1 and 2 are CPU-bound.
    const r = simulate([{ params: {}, burstNs: 2 * MS, haltNs: 18 * MS }, { params: {} }, { params: {} }]);
    expect(ofLp(r, 0)).toBeLessThan(0.11);
    expect(ofLp(r, 0)).toBeGreaterThan(0.08);
    const s = shares(r);
    expect(Math.abs((s[1] as number) - (s[2] as number))).toBeLessThan(0.01);
  });

  test('two LPs: a VP never runs on two LPs at once; equal weights split 2 LPs among 4 VPs evenly', () => {
    const r = simulate([{ params: {} }, { params: {} }, { params: {} }, { params: {} }], { lps: 2 });
    for (const step of r.maxSlices) {
      const ids = step.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    for (const s of shares(r)) expect(s).toBeCloseTo(0.25, 2);
  });

  test('property: limits hold, reserves are met when feasible, weights order the shares', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            weight: fc.integer({ min: 1, max: 10000 }),
            reserve: fc.constantFrom(0, 0, 0.1, 0.2, 0.3),
            limit: fc.constantFrom(1, 1, 0.2, 0.5, 0.8),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 1000 }),
        (params, lps, seed) => {
          const vps = params.map((p) => ({ params: { ...p, reserve: Math.min(p.reserve, p.limit) } }));
          const r = simulate(vps, { lps, seed, durationNs: 2000 * MS });
          const reserveSum = vps.reduce((a, v) => a + v.params.reserve, 0);
          vps.forEach((v, id) => {
            // Limit: at most the cap plus one burst and one overrun over the run.
            expect(ofLp(r, id)).toBeLessThanOrEqual(v.params.limit + 0.03);
            // Reserve: met (within slack) when the reserves fit in the LPs.
            if (reserveSum <= lps * 0.9) expect(ofLp(r, id)).toBeGreaterThanOrEqual(v.params.reserve - 0.02);
          });
          // Among VPs with neither reserve nor limit, a heavier VP never gets less than a lighter one.
          const free = vps
            .map((v, id) => ({ ...v.params, id }))
            .filter((v) => v.reserve === 0 && v.limit === 1);
          for (const a of free)
            for (const b of free)
              if (a.weight > b.weight) expect(ofLp(r, a.id)).toBeGreaterThanOrEqual(ofLp(r, b.id) - 0.02);
          // Never more than one LP per VP, never more VPs than LPs at once.
          for (const step of r.maxSlices) expect(new Set(step.map((s) => s.id)).size).toBe(step.length);
        },
      ),
      { numRuns: 60, seed: 7 },
    );
  });

  test('adding and removing VPs keeps decisions valid; an unknown id is ignored', () => {
    const p = new SchedulerPolicy({ sliceNs: MS });
    p.add(1, {}, 0);
    expect(p.pick(0, new Set())).toBeUndefined();
    p.setRunnable(1, true, 0);
    expect(p.pick(0, new Set())?.id).toBe(1);
    expect(() => p.add(1, {}, 0)).toThrow(RangeError);
    p.remove(1);
    expect(p.pick(0, new Set())).toBeUndefined();
    p.charge(99, 5, 0);
    p.setRunnable(99, true, 0);
    expect(p.runTime(99)).toBe(0);
  });

  test('a limited VP held back only by its limit tells the dispatcher when it can run again', () => {
    const p = new SchedulerPolicy({ sliceNs: 10 * MS });
    p.add(1, { limit: 0.25 }, 0);
    p.setRunnable(1, true, 0);
    const first = p.pick(0, new Set());
    expect(first?.id).toBe(1);
    p.charge(1, 10 * MS, 10 * MS);
    expect(p.pick(10 * MS, new Set())).toBeUndefined();
    const at = p.nextEligibleNs(10 * MS, new Set());
    expect(at).toBeGreaterThan(10 * MS);
    expect(at).toBeLessThanOrEqual(10 * MS + 30 * MS + 1);
    expect(p.pick(at, new Set())?.id).toBe(1);
  });
});
