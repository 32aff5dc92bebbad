// The dispatcher against real control blocks (SharedArrayBuffers), with the VP side played by the
// test: it writes what a VP thread writes (parked, idle, run time) and passes time explicitly, so
// every step is deterministic.
import { expect, test } from 'vitest';
import { HvPartitionProperty } from '../defs.js';
import { VP_CONTROL_BYTES, VpControl, VpRunState } from '../layout.js';
import { Dispatcher, type SchedulableVp } from './dispatcher.js';
import { cpuUsage } from './usage.js';

const MS = 1_000_000;
const T0 = 1_000_000 * MS;

class FakeVp implements SchedulableVp {
  readonly control = new SharedArrayBuffer(VP_CONTROL_BYTES);
  readonly ctl = new Int32Array(this.control);
  readonly f64 = new Float64Array(this.control, 0, 2112 >> 3);
  deleted = false;
  readonly partition: { id: bigint; properties: Map<number, bigint> };
  constructor(
    id: bigint,
    readonly index = 0,
    props: [number, bigint][] = [],
  ) {
    this.partition = { id, properties: new Map(props) };
    Atomics.store(this.ctl, VpControl.runState >> 2, VpRunState.Running);
  }
  get hold(): number {
    return Atomics.load(this.ctl, VpControl.schedHold >> 2);
  }
  get grant(): number {
    return this.f64[VpControl.schedGrantNs >> 3] ?? Number.NaN;
  }
  /** The VP starts running at `at` (after a grant or a wake-up). */
  run(at: number): void {
    Atomics.store(this.ctl, VpControl.schedParked >> 2, 0);
    this.f64[VpControl.schedRunStartNs >> 3] = at;
  }
  private stop(at: number): void {
    const start = this.f64[VpControl.schedRunStartNs >> 3] ?? Number.NaN;
    if (start > 0)
      this.f64[VpControl.schedRunNs >> 3] = (this.f64[VpControl.schedRunNs >> 3] ?? 0) + at - start;
    this.f64[VpControl.schedStampNs >> 3] = at;
    this.f64[VpControl.schedRunStartNs >> 3] = Number.NaN;
  }
  /** Reaches a safe point while held. */
  park(at: number): void {
    this.stop(at);
    Atomics.store(this.ctl, VpControl.schedParked >> 2, 1);
  }
  halt(at: number): void {
    this.stop(at);
    Atomics.store(this.ctl, VpControl.schedIdle >> 2, 1);
  }
  wake(at: number): void {
    Atomics.store(this.ctl, VpControl.schedIdle >> 2, 0);
    this.run(at);
  }
}

function setup(vps: FakeVp[], lps = 1) {
  const root = {};
  const source = { allVps: vps as readonly SchedulableVp[], root };
  const d = new Dispatcher(source, { logicalProcessors: lps, sliceMs: 10 });
  return { d, source };
}

test('new VPs are held; a free LP goes to the first pick with the slice start in schedGrantNs', () => {
  const a = new FakeVp(2n);
  const b = new FakeVp(3n);
  const { d } = setup([a, b]);
  d.tick(T0);
  expect([a.hold, b.hold]).toEqual([0, 1]);
  expect(a.grant).toBe(T0);
  a.run(T0 + 0.1 * MS);
  // Within the slice nothing changes; the next decision is due at the slice end.
  expect(d.tick(T0 + 5 * MS)).toBe(T0 + 10 * MS);
  expect([a.hold, b.hold]).toEqual([0, 1]);
});

test('at the slice end the occupant is held; when it parks, the next VP gets the LP from its park time', () => {
  const a = new FakeVp(2n);
  const b = new FakeVp(3n);
  const { d } = setup([a, b]);
  d.tick(T0);
  a.run(T0);
  d.tick(T0 + 10 * MS);
  expect(a.hold).toBe(1);
  expect(b.hold).toBe(1);
  a.park(T0 + 10.3 * MS);
  d.tick(T0 + 10.5 * MS);
  expect(b.hold).toBe(0);
  expect(b.grant).toBe(T0 + 10.3 * MS);
  const s = d.stats(T0 + 10.5 * MS);
  expect(s.partitions.find((p) => p.partitionId === 2n)?.runTimeNs).toBeCloseTo(10.3 * MS, -3);
  expect(s.preemptions).toBe(1);
  expect(s.grants).toBe(2);
});

test('a lone VP is extended at its slice end instead of being parked', () => {
  const a = new FakeVp(2n);
  const { d } = setup([a]);
  d.tick(T0);
  a.run(T0);
  expect(d.tick(T0 + 10 * MS)).toBe(T0 + 20 * MS);
  expect(a.hold).toBe(0);
});

test('a halted VP consumes nothing and keeps its LP until another VP wants it', () => {
  const a = new FakeVp(2n);
  const b = new FakeVp(3n);
  Atomics.store(b.ctl, VpControl.runState >> 2, VpRunState.WaitForSipi);
  const { d } = setup([a, b]);
  d.tick(T0);
  a.run(T0);
  a.halt(T0 + 2 * MS);
  d.tick(T0 + 50 * MS);
  expect(a.hold).toBe(0);
  expect(d.stats(T0 + 50 * MS).partitions.find((p) => p.partitionId === 2n)?.runTimeNs).toBe(2 * MS);
  // b becomes runnable (its SIPI arrived) and parks at its first safe point: the LP moves to it.
  Atomics.store(b.ctl, VpControl.runState >> 2, VpRunState.Running);
  b.park(T0 + 51 * MS);
  d.tick(T0 + 52 * MS);
  expect([a.hold, b.hold]).toEqual([1, 0]);
  // a wakes while held: it runs to its next safe point and parks; that run is charged to it too.
  a.wake(T0 + 53 * MS);
  a.park(T0 + 54 * MS);
  d.tick(T0 + 54 * MS);
  expect(d.stats(T0 + 54 * MS).partitions.find((p) => p.partitionId === 2n)?.runTimeNs).toBe(3 * MS);
});

test('a VP whose thread exited, a deleted VP and a suspended partition give up their LP', () => {
  const a = new FakeVp(2n);
  const b = new FakeVp(3n);
  const c = new FakeVp(4n);
  const { d, source } = setup([a, b, c]);
  d.tick(T0);
  a.run(T0);
  d.threadExited(a);
  b.park(T0 + MS);
  d.tick(T0 + MS);
  expect(b.hold).toBe(0);
  b.run(T0 + MS);
  // b's partition is suspended: it is held at its next safe point and c runs.
  b.partition.properties.set(HvPartitionProperty.Suspend, 1n);
  d.tick(T0 + 2 * MS);
  expect(b.hold).toBe(1);
  b.park(T0 + 2.5 * MS);
  c.park(T0 + 0.1 * MS);
  d.tick(T0 + 3 * MS);
  expect(c.hold).toBe(0);
  // c is deleted: its run time stays in its partition's total.
  c.run(c.grant);
  c.park(T0 + 7 * MS);
  c.deleted = true;
  source.allVps = [a, b];
  const s = d.stats(T0 + 8 * MS);
  expect(s.partitions.find((p) => p.partitionId === 4n)?.runTimeNs).toBeCloseTo(4.5 * MS, -3);
  expect(s.partitions.find((p) => p.partitionId === 4n)?.vps).toEqual([]);
});

test('run time a hostile VP reports is bounded by wall time and never negative', () => {
  const a = new FakeVp(2n);
  const { d } = setup([a]);
  d.tick(T0);
  a.f64[VpControl.schedRunNs >> 3] = 1e18;
  d.tick(T0 + 10 * MS);
  const ran = d.stats(T0 + 10 * MS).partitions[0]?.runTimeNs ?? 0;
  expect(ran).toBeLessThanOrEqual(10 * MS);
  for (const v of [Number.NaN, -1e18, Number.POSITIVE_INFINITY, 0]) {
    a.f64[VpControl.schedRunNs >> 3] = v;
    a.f64[VpControl.schedRunStartNs >> 3] = v;
    d.tick(T0 + 20 * MS);
  }
  const after = d.stats(T0 + 20 * MS).partitions[0]?.runTimeNs ?? 0;
  expect(after).toBeGreaterThanOrEqual(ran);
  expect(after).toBeLessThanOrEqual(20 * MS);
});

test('the partition controls reach the policy; limit and weight decide who runs on two LPs', () => {
  const capped = new FakeVp(2n, 0, [[HvPartitionProperty.CpuCap, 0x4000n]]);
  const heavy = new FakeVp(3n, 0, [[HvPartitionProperty.CpuWeight, 400n]]);
  const light = new FakeVp(4n, 0, [[HvPartitionProperty.CpuReserve, 0x8000n]]);
  const { d } = setup([capped, heavy, light], 2);
  d.tick(T0);
  const params = d.stats(T0).partitions.map((p) => p.vps[0]?.params);
  expect(params).toEqual([
    { weight: 100, reserve: 0, limit: 0.25 },
    { weight: 400, reserve: 0, limit: 1 },
    { weight: 100, reserve: 0.5, limit: 1 },
  ]);
  expect(d.stats(T0).logicalProcessors).toBe(2);
  // Two LPs, three runnable VPs: exactly two granted.
  expect([capped.hold, heavy.hold, light.hold].filter((h) => h === 0)).toHaveLength(2);
});

test('cpuUsage turns two snapshots into percent of one LP and of the host', () => {
  const base = { logicalProcessors: 2, sliceNs: 10 * MS, grants: 0, preemptions: 0, overruns: 0 };
  const a = { ...base, atNs: 0, partitions: [{ partitionId: 2n, runTimeNs: 0, vps: [] }] };
  const b = {
    ...base,
    atNs: 1000 * MS,
    partitions: [
      { partitionId: 2n, runTimeNs: 500 * MS, vps: [] },
      { partitionId: 3n, runTimeNs: 1000 * MS, vps: [] },
    ],
  };
  expect(cpuUsage(a, b)).toEqual({
    intervalNs: 1000 * MS,
    totalPercent: 150,
    partitions: [
      { partitionId: 2n, percentOfLp: 50, percentOfHost: 25 },
      { partitionId: 3n, percentOfLp: 100, percentOfHost: 50 },
    ],
  });
});

test('an LP left idle by a limit charges nobody: the next grant starts when it is given', () => {
  const a = new FakeVp(2n, 0, [[HvPartitionProperty.CpuCap, 0x4000n]]);
  const { d } = setup([a]);
  d.tick(T0);
  expect(a.hold).toBe(0);
  a.run(a.grant);
  // Slices are cut to its limit credit; once the credit is spent it is held and parks.
  let t = T0;
  for (let i = 0; i < 20; i++) {
    const due = d.tick(t);
    if (a.hold === 1) break;
    t = due;
  }
  expect(a.hold).toBe(1);
  const ranFor = t - T0;
  a.park(t);
  const next = d.tick(t + 0.1 * MS);
  expect(a.hold).toBe(1);
  // Idle until the limit credit is back: at 25 %, about 3 × what it ran beyond its credit.
  expect(next).toBeGreaterThan(t + MS);
  d.tick(next);
  expect(a.hold).toBe(0);
  expect(a.grant).toBe(next);
  const ran = d.stats(next).partitions[0]?.runTimeNs ?? 0;
  expect(ran).toBe(ranFor);
  const end = next;
  expect(end).toBeGreaterThan(T0);
});

test('a VP that ignores its preemption for 10 slices loses the LP anyway, so nobody stalls behind it', () => {
  // a waits outside halt() (say, Atomics.waitAsync on its own word): it never reaches a safe point.
  const a = new FakeVp(2n);
  const b = new FakeVp(3n);
  const { d } = setup([a, b]);
  d.tick(T0);
  a.run(T0);
  b.park(T0);
  expect(d.tick(T0 + 10 * MS)).toBe(T0 + 110 * MS);
  expect([a.hold, b.hold]).toEqual([1, 1]);
  d.tick(T0 + 60 * MS);
  expect(b.hold).toBe(1);
  d.tick(T0 + 110 * MS);
  expect([a.hold, b.hold]).toEqual([1, 0]);
  expect(b.grant).toBe(T0 + 110 * MS);
  expect(d.stats(T0 + 110 * MS).overruns).toBe(1);
  // a is still charged for what it ran; when it finally parks it waits for its turn like anyone.
  a.park(T0 + 115 * MS);
  b.run(b.grant);
  d.tick(T0 + 116 * MS);
  expect(a.hold).toBe(1);
  expect(d.stats(T0 + 116 * MS).partitions.find((p) => p.partitionId === 2n)?.runTimeNs).toBe(115 * MS);
});
