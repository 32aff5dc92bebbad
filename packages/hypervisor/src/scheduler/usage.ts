// CPU usage from two scheduler snapshots, as a management service shows it.
import type { SchedulerStats } from './dispatcher.js';

export interface PartitionUsage {
  readonly partitionId: bigint;
  /** Run time between the snapshots as a percent of one logical processor (may exceed 100 with several VPs). */
  readonly percentOfLp: number;
  /** The same as a percent of all logical processors (Hyper-V Manager's "CPU usage"). */
  readonly percentOfHost: number;
}

export interface CpuUsage {
  readonly intervalNs: number;
  readonly partitions: PartitionUsage[];
  /** All child partitions together, percent of one LP. */
  readonly totalPercent: number;
}

/** CPU usage of each partition between two snapshots of Hypervisor.schedulerStats(). */
export function cpuUsage(previous: SchedulerStats, next: SchedulerStats): CpuUsage {
  const interval = next.atNs - previous.atNs;
  const before = new Map(previous.partitions.map((p) => [p.partitionId, p.runTimeNs]));
  let total = 0;
  const partitions = next.partitions.map((p) => {
    const ran = Math.max(0, p.runTimeNs - (before.get(p.partitionId) ?? 0));
    total += ran;
    const percentOfLp = interval > 0 ? (100 * ran) / interval : 0;
    return {
      partitionId: p.partitionId,
      percentOfLp,
      percentOfHost: percentOfLp / Math.max(1, next.logicalProcessors),
    };
  });
  return { intervalNs: interval, partitions, totalPercent: interval > 0 ? (100 * total) / interval : 0 };
}
