// The scheduler's mechanism, run by the hypervisor thread: it keeps the policy's picture of each
// child VP up to date from the VP control blocks (run time the VP accounted, idle, parked), gives
// free logical processors to the VPs the policy picks, and holds the others at their next safe
// point. Nothing here blocks: every step is a look at shared words and a few stores.
//
// A logical processor is a budget, not a thread: the VP threads run wherever the host puts them,
// but at most `logicalProcessors` of them hold a grant at once. A VP that halts keeps its LP
// (hold stays 0) until another VP needs it, so an uncontended VP never parks.
import { HvPartitionProperty } from '../defs.js';
import { VpControl, VpRunState } from '../layout.js';
import { type SchedParams, SchedulerPolicy } from './policy.js';
import { liveRunNs, monoNs } from './vp-clock.js';

/** What the dispatcher needs to know of a VP (the kernel's Vp has it). */
export interface SchedulableVp {
  readonly partition: { readonly id: bigint; readonly properties: ReadonlyMap<number, bigint> };
  readonly index: number;
  readonly control: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly deleted: boolean;
}

export interface VpSource {
  /** Every VP; replaced (not mutated) when VPs come and go. */
  readonly allVps: readonly SchedulableVp[];
  /** The root partition: its VPs are host threads and are never scheduled. */
  readonly root: object;
}

export interface DispatcherOptions {
  readonly logicalProcessors: number;
  /** Time slice in ms (default 10). */
  readonly sliceMs?: number;
}

/** Per-VP scheduler statistics (cumulative). */
export interface VpSchedStats {
  readonly vpIndex: number;
  /** Run time accounted to the VP (ns). */
  readonly runTimeNs: number;
  readonly runnable: boolean;
  /** LP the VP holds, or -1. */
  readonly lp: number;
  readonly params: SchedParams;
}

export interface PartitionSchedStats {
  readonly partitionId: bigint;
  /** Sum of its VPs' run time (ns), including VPs since deleted. */
  readonly runTimeNs: number;
  readonly vps: VpSchedStats[];
}

/** A snapshot of the scheduler; two snapshots give CPU % (see cpuUsage). */
export interface SchedulerStats {
  /** Host-monotonic ns of the snapshot. */
  readonly atNs: number;
  readonly logicalProcessors: number;
  readonly sliceNs: number;
  readonly partitions: PartitionSchedStats[];
  /** Grants given and preemptions requested since start. */
  readonly grants: number;
  readonly preemptions: number;
  /** Preemptions not honoured within 10 slices (no safe point): the LP was handed on regardless. */
  readonly overruns: number;
}

interface Entry {
  readonly id: number;
  readonly vp: SchedulableVp;
  readonly f64: Float64Array;
  /** Live run time last sampled and when. */
  lastLive: number;
  sampledAt: number;
  /** Total charged (clamped) run time. */
  charged: number;
  lp: number;
  runnable: boolean;
  /** Raw CpuReserve / CpuCap / CpuWeight last given to the policy. */
  reserve: bigint | undefined;
  cap: bigint | undefined;
  weight: bigint | undefined;
  /** Start of the VP's last grant (its run may be accounted from there). */
  grantedFrom: number;
  /** The VP's thread ended: it will never run again. */
  exited: boolean;
}

interface Lp {
  entry: Entry | undefined;
  sliceEnd: number;
  /** The occupant was asked to stop at its next safe point. */
  preempting: boolean;
  /** When the LP's last occupant stopped (start of the next grant); NaN: use the grant's time. */
  freeSince: number;
  /** Start of the LP's current or last grant. */
  grantedFrom: number;
}

const F64_WORDS = 2112 >> 3;
const HOLD = VpControl.schedHold >> 2;
const PARKED = VpControl.schedParked >> 2;
const IDLE = VpControl.schedIdle >> 2;
const RUN_STATE = VpControl.runState >> 2;
const STAMP = VpControl.schedStampNs >> 3;
const RUN_NS = VpControl.schedRunNs >> 3;
const RUN_START = VpControl.schedRunStartNs >> 3;
const GRANT = VpControl.schedGrantNs >> 3;
const FIXED_ONE = 0x10000;
/**
 * Slices a preempted VP has to reach a safe point before its LP is handed on regardless. Long
 * enough that a yielding guest on a loaded host is never cut short, short enough that a guest
 * waiting outside halt() delays the others by at most this.
 */
const OVERRUN_SLICES = 10;

export class Dispatcher {
  readonly policy: SchedulerPolicy;
  readonly logicalProcessors: number;
  private readonly lps: Lp[];
  private readonly entries = new Map<SchedulableVp, Entry>();
  private readonly byId = new Map<number, Entry>();
  /** Run time of deleted VPs, kept per partition so usage does not drop when a VP goes. */
  private readonly retired = new Map<bigint, number>();
  private seen: readonly SchedulableVp[] = [];
  private nextId = 1;
  private grants = 0;
  private preemptions = 0;
  private overruns = 0;
  private readonly busy = new Set<number>();

  constructor(
    private readonly source: VpSource,
    options: DispatcherOptions,
  ) {
    const n = Math.floor(options.logicalProcessors);
    this.logicalProcessors = Number.isFinite(n) && n >= 1 ? Math.min(n, 1024) : 1;
    const sliceMs = options.sliceMs ?? 10;
    this.policy = new SchedulerPolicy({ sliceNs: Math.max(0.1, sliceMs) * 1e6 });
    this.lps = Array.from({ length: this.logicalProcessors }, () => ({
      entry: undefined,
      sliceEnd: 0,
      preempting: false,
      freeSince: Number.NaN,
      grantedFrom: Number.NaN,
    }));
  }

  /**
   * One scheduling pass. Returns the host-monotonic ns of the next decision (a slice end, or a
   * limited VP becoming eligible), or Infinity when only VP activity (a park or halt, which
   * rings the hypervisor bell) can change anything.
   */
  tick(now?: number): number {
    // Runs on every hypervisor loop turn (every trap): with no child VP it reads no clock.
    if (this.source.allVps === this.seen && this.entries.size === 0) return Number.POSITIVE_INFINITY;
    return this.pass(now ?? monoNs());
  }

  private pass(now: number): number {
    if (this.source.allVps !== this.seen) this.sync(now);
    // 1. Bring the policy up to date: run time, runnable state, controls.
    for (const e of this.entries.values()) this.sample(e, now);
    // 2. LPs whose occupant stopped (parked after a preemption, halted, gone) are handed on.
    for (const lp of this.lps) {
      const e = lp.entry;
      if (!e) continue;
      // A preempted VP gives the LP back when it parks or stops running (halt, exit, SIPI wait);
      // a suspended one still runs to its safe point first.
      if (!lp.preempting) continue;
      if (Atomics.load(e.vp.ctl, PARKED) === 1 || this.stopped(e)) this.vacate(lp, now);
      else if (now >= lp.sliceEnd) {
        // Asked 10 slices ago and still no safe point (a guest waiting outside halt(), or one that
        // never yields): the LP is handed on anyway so no other VP stalls behind it. It stays
        // held and parks at its next safe point; what it runs meanwhile is still charged to it.
        e.lp = -1;
        lp.entry = undefined;
        lp.preempting = false;
        lp.freeSince = now;
        this.overruns++;
      }
    }
    // 3. Decisions for free LPs, LPs whose occupant is idle, and expired slices.
    let next = Number.POSITIVE_INFINITY;
    for (const lp of this.lps) {
      const e = lp.entry;
      if (e && lp.preempting) continue;
      if (!e) {
        this.grantFree(lp, now);
      } else if (!e.runnable) {
        // Halted occupant: it keeps the LP (and its hold at 0) until someone else wants it.
        const pick = this.policy.pick(now, this.busyIds());
        if (pick) {
          this.release(e, lp);
          lp.freeSince = now;
          this.grant(lp, pick.id, pick.sliceNs, now);
        }
      } else if (now >= lp.sliceEnd) {
        // Slice over: extend if the policy still picks the occupant, else preempt it.
        this.busy.clear();
        for (const other of this.lps) if (other !== lp && other.entry) this.busy.add(other.entry.id);
        const pick = this.policy.pick(now, this.busy);
        if (pick && pick.id === e.id) {
          lp.sliceEnd = now + pick.sliceNs;
        } else {
          lp.preempting = true;
          lp.sliceEnd = now + this.policy.sliceNs * OVERRUN_SLICES;
          this.preemptions++;
          Atomics.store(e.vp.ctl, HOLD, 1);
        }
      }
      const occ = lp.entry;
      if (occ && (occ.runnable || lp.preempting)) next = Math.min(next, lp.sliceEnd);
    }
    let idleLp = false;
    for (const lp of this.lps) if (!lp.entry?.runnable) idleLp = true;
    if (idleLp) next = Math.min(next, this.policy.nextEligibleNs(now, this.busyIds()));
    return next <= now ? now + 50_000 : next;
  }

  /** Accounted run time (ns) of one VP, or undefined if it is not scheduled. */
  runTimeNs(vp: SchedulableVp): number | undefined {
    return this.entries.get(vp)?.charged;
  }

  stats(now: number = monoNs()): SchedulerStats {
    if (this.source.allVps !== this.seen) this.sync(now);
    const byPartition = new Map<bigint, PartitionSchedStats>();
    const part = (id: bigint) => {
      let p = byPartition.get(id);
      if (!p) {
        p = { partitionId: id, runTimeNs: this.retired.get(id) ?? 0, vps: [] };
        byPartition.set(id, p);
      }
      return p;
    };
    for (const id of this.retired.keys()) part(id);
    for (const e of this.entries.values()) {
      this.sample(e, now);
      const p = part(e.vp.partition.id);
      p.vps.push({
        vpIndex: e.vp.index,
        runTimeNs: e.charged,
        runnable: e.runnable,
        lp: e.lp,
        params: this.policy.params(e.id) ?? { weight: 100, reserve: 0, limit: 1 },
      });
      (p as { runTimeNs: number }).runTimeNs += e.charged;
    }
    return {
      atNs: now,
      logicalProcessors: this.logicalProcessors,
      sliceNs: this.policy.sliceNs,
      partitions: [...byPartition.values()],
      grants: this.grants,
      preemptions: this.preemptions,
      overruns: this.overruns,
    };
  }

  /** The VP's thread ended (its guest returned or crashed): it no longer wants an LP. */
  threadExited(vp: SchedulableVp, now: number = monoNs()): void {
    const e = this.entries.get(vp);
    if (!e) return;
    this.sample(e, now);
    e.exited = true;
    // The thread cannot close its open run interval any more: close it here.
    const start = e.f64[RUN_START] ?? Number.NaN;
    if (start > 0 && start <= now) e.f64[RUN_NS] = (e.f64[RUN_NS] ?? 0) + (now - start);
    e.f64[RUN_START] = Number.NaN;
    e.f64[STAMP] = now;
  }

  /** Releases every VP (the hypervisor is stopping). */
  releaseAll(): void {
    for (const e of this.entries.values()) {
      Atomics.store(e.vp.ctl, HOLD, 0);
      Atomics.notify(e.vp.ctl, HOLD);
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  private sync(now: number): void {
    const current = new Set(this.source.allVps);
    for (const [vp, e] of this.entries) {
      if (current.has(vp) && !vp.deleted) continue;
      this.sample(e, now);
      const pid = vp.partition.id;
      this.retired.set(pid, (this.retired.get(pid) ?? 0) + e.charged);
      const lp = e.lp >= 0 ? this.lps[e.lp] : undefined;
      if (lp) {
        lp.entry = undefined;
        lp.preempting = false;
        lp.freeSince = now;
      }
      this.policy.remove(e.id);
      this.entries.delete(vp);
      this.byId.delete(e.id);
    }
    for (const vp of this.source.allVps) {
      if (vp.deleted || this.entries.has(vp) || (vp.partition as object) === this.source.root) continue;
      const f64 = new Float64Array(vp.control, 0, F64_WORDS);
      const e: Entry = {
        id: this.nextId++,
        vp,
        f64,
        lastLive: liveRunNs(f64, now),
        sampledAt: now,
        charged: 0,
        lp: -1,
        runnable: false,
        grantedFrom: now,
        exited: false,
        reserve: undefined,
        cap: undefined,
        weight: undefined,
      };
      // Held until granted: a new VP reaches its first safe point long after the pass below.
      Atomics.store(vp.ctl, HOLD, 1);
      this.policy.add(e.id, paramsOf(vp), now);
      this.entries.set(vp, e);
      this.byId.set(e.id, e);
    }
    this.seen = this.source.allVps;
  }

  private sample(e: Entry, now: number): void {
    const vp = e.vp;
    // Run time as the VP accounted it, trusted only within what wall time allows: a hostile VP
    // can make its own numbers worse, never take more than one LP's worth.
    const live = liveRunNs(e.f64, now);
    // An honest VP's run since the last sample lies in [last sample or its grant's start, now].
    const delta = Math.min(live - e.lastLive, now - Math.min(e.sampledAt, e.grantedFrom));
    if (delta > 0) {
      e.charged += delta;
      this.policy.charge(e.id, delta, now);
    }
    if (live > e.lastLive) e.lastLive = live;
    e.sampledAt = now;
    // Controls are re-read every pass, but the policy only hears of a change.
    const props = vp.partition.properties;
    const reserve = props.get(HvPartitionProperty.CpuReserve);
    const cap = props.get(HvPartitionProperty.CpuCap);
    const weight = props.get(HvPartitionProperty.CpuWeight);
    if (reserve !== e.reserve || cap !== e.cap || weight !== e.weight) {
      e.reserve = reserve;
      e.cap = cap;
      e.weight = weight;
      this.policy.configure(e.id, paramsOf(vp), now);
    }
    const suspended = (vp.partition.properties.get(HvPartitionProperty.Suspend) ?? 0n) !== 0n;
    const runnable =
      !suspended &&
      !e.exited &&
      Atomics.load(vp.ctl, RUN_STATE) === VpRunState.Running &&
      Atomics.load(vp.ctl, IDLE) === 0;
    if (runnable !== e.runnable) {
      e.runnable = runnable;
      this.policy.setRunnable(e.id, runnable, now);
    }
    if (suspended && e.lp >= 0) {
      const lp = this.lps[e.lp];
      if (lp && !lp.preempting) {
        lp.preempting = true;
        lp.sliceEnd = now + this.policy.sliceNs * OVERRUN_SLICES;
        Atomics.store(vp.ctl, HOLD, 1);
      }
    }
  }

  private stopped(e: Entry): boolean {
    return (
      e.exited ||
      Atomics.load(e.vp.ctl, IDLE) === 1 ||
      Atomics.load(e.vp.ctl, RUN_STATE) !== VpRunState.Running
    );
  }

  private busyIds(): Set<number> {
    this.busy.clear();
    for (const lp of this.lps) if (lp.entry) this.busy.add(lp.entry.id);
    return this.busy;
  }

  private grantFree(lp: Lp, now: number): void {
    const pick = this.policy.pick(now, this.busyIds());
    if (pick) this.grant(lp, pick.id, pick.sliceNs, now);
    // Idle LP: nobody is charged for the idle time; a later grant starts when it is given.
    else lp.freeSince = Number.NaN;
  }

  private vacate(lp: Lp, now: number): void {
    const e = lp.entry;
    if (!e) return;
    // The next slice starts where this VP's run ended (its stamp), so the LP has no gaps.
    // The VP's own stamp when it parked or halted, not before this LP's grant began; else now.
    const stamp = e.f64[STAMP] ?? now;
    const floor = lp.grantedFrom >= 0 ? lp.grantedFrom : now;
    const stoppedItself = Atomics.load(e.vp.ctl, PARKED) === 1 || Atomics.load(e.vp.ctl, IDLE) === 1;
    lp.freeSince = stoppedItself && stamp <= now && stamp >= floor ? stamp : now;
    e.lp = -1;
    lp.entry = undefined;
    lp.preempting = false;
  }

  /** Takes an idle occupant off its LP; it parks at its next safe point if it wakes. */
  private release(e: Entry, lp: Lp): void {
    Atomics.store(e.vp.ctl, HOLD, 1);
    e.lp = -1;
    lp.entry = undefined;
    lp.preempting = false;
  }

  private grant(lp: Lp, id: number, sliceNs: number, now: number): void {
    const e = this.byId.get(id);
    if (!e) return;
    e.lp = this.lps.indexOf(lp);
    lp.entry = e;
    lp.preempting = false;
    lp.sliceEnd = now + sliceNs;
    const from = lp.freeSince >= 0 && lp.freeSince <= now ? lp.freeSince : now;
    e.grantedFrom = from;
    lp.grantedFrom = from;
    lp.freeSince = Number.NaN;
    e.f64[GRANT] = from;
    this.grants++;
    Atomics.store(e.vp.ctl, HOLD, 0);
    Atomics.notify(e.vp.ctl, HOLD);
  }
}

/** The partition's controls as policy parameters (CpuReserve/CpuCap in 1/65536 of an LP). */
export function paramsOf(vp: SchedulableVp): SchedParams {
  const props = vp.partition.properties;
  const reserve = Number(props.get(HvPartitionProperty.CpuReserve) ?? 0n) / FIXED_ONE;
  const cap = Number(props.get(HvPartitionProperty.CpuCap) ?? BigInt(FIXED_ONE)) / FIXED_ONE;
  const weight = Number(props.get(HvPartitionProperty.CpuWeight) ?? 100n);
  return {
    weight: Math.min(10000, Math.max(1, weight)),
    reserve: Math.min(1, Math.max(0, reserve)),
    limit: Math.min(1, Math.max(0, cap)),
  };
}
