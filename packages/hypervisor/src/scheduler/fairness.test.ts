// The scheduler on real VP threads: CPU-bound guests on one logical processor, shares measured as
// ratios of the run time the scheduler accounted (not wall-clock latency), so a noisy host moves
// every VP alike and the shares hold.
import { afterEach, expect, test } from 'vitest';
import { HvPartitionProperty } from '../defs.js';
import { connectRootVp, type GuestVp } from '../guest-vp.js';
import { bootChild, waitGuest } from '../harness.test-fixture.js';
import { Hypervisor } from '../hypervisor.js';
import type { SchedulerStats } from './dispatcher.js';
import { cpuUsage } from './usage.js';

const BURN = new URL('./burn.test-fixture.ts', import.meta.url);
let hv: Hypervisor | undefined;

afterEach(async () => {
  if (hv) {
    expect((await hv.stats()).internalErrors).toEqual([]);
    await hv.stop();
  }
  hv = undefined;
});

interface Vm {
  weight?: number;
  /** Percent of one LP. */
  reserve?: number;
  limit?: number;
}

const fixed = (percent: number) => BigInt(Math.round((percent / 100) * 0x10000));

async function start(vms: Vm[]): Promise<{ hv: Hypervisor; root: GuestVp; ids: bigint[] }> {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024, logicalProcessors: 1 });
  const root = connectRootVp(await hv.attachRootVp());
  const ids = vms.map((vm) => {
    const id = bootChild(root, { pages: 16 });
    const set = (code: number, value: bigint) => {
      const status = root.setPartitionProperty(id, code, value);
      if (status !== 0) throw new Error(`SetPartitionProperty 0x${code.toString(16)}: ${status}`);
    };
    if (vm.weight !== undefined) set(HvPartitionProperty.CpuWeight, BigInt(vm.weight));
    if (vm.reserve !== undefined) set(HvPartitionProperty.CpuReserve, fixed(vm.reserve));
    if (vm.limit !== undefined) set(HvPartitionProperty.CpuCap, fixed(vm.limit));
    root.setPartitionImage(id, BURN);
    if (root.createVp(id, 0) !== 0) throw new Error('CreateVp');
    return id;
  });
  return { hv, root, ids };
}

/** Waits until every VM has run, then measures run time over `ms`. */
async function measure(h: Hypervisor, ids: bigint[], ms: number) {
  const ran = (s: SchedulerStats, id: bigint) =>
    s.partitions.find((p) => p.partitionId === id)?.runTimeNs ?? 0;
  for (let i = 0; i < 200; i++) {
    const s = await h.schedulerStats();
    if (ids.every((id) => ran(s, id) > 0)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Let the VP threads finish booting before the window opens.
  await new Promise((r) => setTimeout(r, 300));
  const before = await h.schedulerStats();
  await new Promise((r) => setTimeout(r, ms));
  const after = await h.schedulerStats();
  const usage = cpuUsage(before, after);
  if (process.env.SCHED_DEBUG)
    console.log(JSON.stringify(usage, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  const delta = ids.map((id) => ran(after, id) - ran(before, id));
  const total = delta.reduce((a, b) => a + b, 0);
  return {
    /** Share of the accounted run time, in percent. */
    share: delta.map((d) => (100 * d) / total),
    /** Percent of one LP over the window. */
    ofLp: ids.map((id) => usage.partitions.find((p) => p.partitionId === id)?.percentOfLp ?? 0),
    total: usage.totalPercent,
    stats: after,
  };
}

test('weights 100/200/400 on one LP: shares within ±5 points of 1/7, 2/7, 4/7 over 5 s', async () => {
  const { hv: h, ids } = await start([{ weight: 100 }, { weight: 200 }, { weight: 400 }]);
  const m = await measure(h, ids, 5000);
  const target = [100 / 7, 200 / 7, 400 / 7];
  m.share.forEach((s, i) => {
    expect(Math.abs(s - (target[i] as number))).toBeLessThanOrEqual(5);
  });
  // One LP: together about one LP's worth of time (a VP descheduled by a loaded host past the
  // overrun bound can overlap the next one briefly).
  expect(m.total).toBeLessThanOrEqual(110);
  expect(m.total).toBeGreaterThan(80);
});

test('a VM with limit 25% stays at or under 27% of the LP, and the competitor gets the rest', async () => {
  const { hv: h, ids } = await start([{ limit: 25, weight: 10000 }, {}]);
  const m = await measure(h, ids, 3000);
  expect(m.ofLp[0]).toBeLessThanOrEqual(27);
  expect(m.share[0]).toBeLessThanOrEqual(27);
  expect(m.ofLp[0]).toBeGreaterThan(15);
  expect(m.ofLp[1]).toBeGreaterThan(60);
});

test('a VM with reserve 50% gets at least 48% against two heavy competitors', async () => {
  const { hv: h, ids } = await start([{ reserve: 50 }, { weight: 10000 }, { weight: 10000 }]);
  const m = await measure(h, ids, 3000);
  expect(m.share[0]).toBeGreaterThanOrEqual(48);
  expect(m.ofLp[0]).toBeGreaterThanOrEqual(48);
});

test('VP_RUNTIME counts the VP run time, not the time it spent halted', async () => {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024, logicalProcessors: 1 });
  const root = connectRootVp(await hv.attachRootVp());
  const id = bootChild(root, { pages: 16 });
  root.setPartitionImage(id, `${BURN.href}?mode=runtime`);
  expect(root.createVp(id, 0)).toBe(0);
  const r = (await waitGuest(hv, id, (d) => 'runtimeMs' in d)) as { runtimeMs: number; wallMs: number };
  // About 400 ms of computing in about 800 ms: the 400 ms halt is not in it.
  expect(r.wallMs).toBeGreaterThan(800);
  expect(r.runtimeMs).toBeGreaterThan(300);
  expect(r.runtimeMs).toBeLessThan(r.wallMs - 300);
});

test('a VP waiting outside halt() cannot stall another partition, even on one LP', async () => {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024, logicalProcessors: 1 });
  const root = connectRootVp(await hv.attachRootVp());
  const start = (wait: number) => {
    const id = bootChild(root, { pages: 16 });
    root.setPartitionImage(id, `${BURN.href}?mode=waiter&wait=${wait}`);
    expect(root.createVp(id, 0)).toBe(0);
    return id;
  };
  const first = start(0);
  await waitGuest(hv, first, (d) => d.tick === 3);
  // The second sits 3 s in a wait the scheduler cannot see (it never reaches a safe point), yet
  // the first keeps ticking on the only LP meanwhile.
  const second = start(3000);
  await waitGuest(hv, second, (d) => d.waiting === 3000);
  const ticks = () => guestTicks(hv as Hypervisor, first);
  const from = ticks();
  await waitGuest(hv, first, (d) => typeof d.tick === 'number' && d.tick >= from + 20, 2500);
  await waitGuest(hv, second, (d) => d.tick === 3, 15_000);
  // The second held the LP while it waited and was asked to give it back: it was taken from it.
  expect((await hv.schedulerStats()).overruns).toBeGreaterThan(0);
});

function guestTicks(h: Hypervisor, id: bigint): number {
  let last = -1;
  for (const e of h.events) {
    if (e.type === 'guest' && e.partitionId === id)
      last = Math.max(last, (e.data as { tick?: number }).tick ?? -1);
  }
  return last;
}
