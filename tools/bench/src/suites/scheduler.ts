import { connectRootVp, cpuUsage, type GuestVp, Hypervisor, type SchedulerStats } from '@viridian/hypervisor';
import { compared } from '../stats.js';
import type { BenchRecord, BenchSuite } from '../types.js';

/**
 * VP scheduler shares: CPU-bound guest VPs on one logical processor with relative weights, a
 * limit and a reserve; each achieved share (ratio of the run time the scheduler accounted) beside
 * its target. This module is also the guest image the VPs run (`main`).
 */

const CpuReserve = 0x0002_0001;
const CpuCap = 0x0002_0002;
const CpuWeight = 0x0002_0003;

/** Guest side: compute in 0.2 ms bursts with a safe point between them, forever. */
export async function main(vp: GuestVp): Promise<void> {
  let x = 1;
  for (;;) {
    const end = performance.now() + 0.2;
    while (performance.now() < end) x = (x * 1.000001 + 1) % 1e9;
    await vp.yield();
    if (x < 0) return;
  }
}

interface Vm {
  readonly weight?: number;
  /** Percent of one LP. */
  readonly reserve?: number;
  readonly limit?: number;
}

const fixed = (percent: number) => BigInt(Math.round((percent / 100) * 0x10000));

function must(status: number, what: string): void {
  if (status !== 0) throw new Error(`${what}: status 0x${status.toString(16)}`);
}

/** Runs `vms` on one LP for `ms` after a warm-up; returns each VM's share and percent of the LP. */
async function scenario(vms: readonly Vm[], ms: number): Promise<{ share: number[]; ofLp: number[] }> {
  const hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024, logicalProcessors: 1 });
  try {
    const root = connectRootVp(await hv.attachRootVp());
    const ids = vms.map((vm) => {
      const c = root.createPartition();
      must(c.status, 'CreatePartition');
      const id = c.partitionId;
      must(root.depositMemory(id, 16).status, 'DepositMemory');
      must(root.initializePartition(id), 'InitializePartition');
      const pages = Array.from({ length: 16 }, (_, i) => BigInt(i));
      must(root.mapGpaPages(id, 0n, 7, pages).status, 'MapGpaPages');
      if (vm.weight !== undefined)
        must(root.setPartitionProperty(id, CpuWeight, BigInt(vm.weight)), 'weight');
      if (vm.reserve !== undefined)
        must(root.setPartitionProperty(id, CpuReserve, fixed(vm.reserve)), 'reserve');
      if (vm.limit !== undefined) must(root.setPartitionProperty(id, CpuCap, fixed(vm.limit)), 'limit');
      root.setPartitionImage(id, import.meta.url);
      must(root.createVp(id, 0), 'CreateVp');
      return id;
    });
    const ran = (s: SchedulerStats, id: bigint) =>
      s.partitions.find((p) => p.partitionId === id)?.runTimeNs ?? 0;
    for (let i = 0; i < 200; i++) {
      const s = await hv.schedulerStats();
      if (ids.every((id) => ran(s, id) > 0)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    const before = await hv.schedulerStats();
    await new Promise((r) => setTimeout(r, ms));
    const after = await hv.schedulerStats();
    const usage = cpuUsage(before, after);
    const delta = ids.map((id) => ran(after, id) - ran(before, id));
    const total = delta.reduce((a, b) => a + b, 0);
    return {
      share: delta.map((d) => (100 * d) / total),
      ofLp: ids.map((id) => usage.partitions.find((p) => p.partitionId === id)?.percentOfLp ?? 0),
    };
  } finally {
    await hv.stop();
  }
}

export const suite: BenchSuite = {
  name: 'scheduler',
  async run(): Promise<BenchRecord[]> {
    const records: BenchRecord[] = [];
    const w = await scenario([{ weight: 100 }, { weight: 200 }, { weight: 400 }], 5000);
    [100, 200, 400].forEach((weight, i) => {
      records.push(
        compared(
          `weight ${weight} of 100/200/400, share on 1 LP over 5 s`,
          w.share[i] ?? 0,
          '%',
          'target',
          (100 * weight) / 700,
        ),
      );
    });
    const l = await scenario([{ limit: 25, weight: 10000 }, {}], 3000);
    records.push(
      compared('limit 25% VM vs 1 competitor, % of the LP', l.ofLp[0] ?? 0, '%', 'target (at most)', 25),
      compared('competitor of the limit 25% VM, % of the LP', l.ofLp[1] ?? 0, '%', 'target', 75),
    );
    const r = await scenario([{ reserve: 50 }, { weight: 10000 }, { weight: 10000 }], 3000);
    records.push(
      compared(
        'reserve 50% VM vs 2 heavy (weight 10000), share',
        r.share[0] ?? 0,
        '%',
        'target (at least)',
        50,
      ),
    );
    return records;
  },
};
