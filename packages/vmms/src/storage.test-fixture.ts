import { VirtualDisk } from '@viridian/vhd';
import type { VmConfig } from './config.js';
import type { IcCall } from './integration.js';
import { JobState } from './jobs.js';
import type { RunningVm, VmRuntime, VmStartOptions } from './runtime.js';
import type { Vmms } from './vmms.js';

export const MiB = 1024 * 1024;

/** A small dynamic disk (16 MiB, 1 MiB blocks), optionally with a first sector. */
export async function makeDisk(path: string, first?: string): Promise<string> {
  const disk = await VirtualDisk.create(path, {
    format: path.endsWith('.vhd') ? 'vhd' : 'vhdx',
    type: 'dynamic',
    sizeBytes: 16 * MiB,
    blockSize: path.endsWith('.vhd') ? 2 * MiB : MiB,
  });
  if (first !== undefined) await disk.write(0, sector(first));
  await disk.close();
  return path;
}

export function sector(text: string): Buffer {
  const out = Buffer.alloc(512);
  out.write(text, 'utf8');
  return out;
}

/** Writes a text at `offset` through the whole chain of `path` (into its top file). */
export async function writeText(path: string, text: string, offset = 0): Promise<void> {
  const disk = await VirtualDisk.open(path);
  await disk.write(offset, sector(text));
  await disk.close();
}

/** The text at `offset` as the chain of `path` shows it. */
export async function readText(path: string, offset = 0): Promise<string> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  const bytes = await disk.read(offset, 512);
  await disk.close();
  return bytes.toString('utf8').replace(/\0+$/, '');
}

export async function chainOf(path: string): Promise<string[]> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  const info = await disk.info();
  await disk.close();
  return info.parentChain.map((p) => p.path);
}

/** A runtime for tests of VMs that stay off: it refuses to run anything. */
export const offlineRuntime: VmRuntime = {
  checkImage: () => undefined,
  start: () => Promise.reject(new Error('this test runs no VM')),
};

/**
 * A runtime whose "VMs" only hold their disk files the way a worker does: snapshots and merges
 * happen on the real files, VSS can be told to fail, and every call is recorded in order.
 */
export class FileRuntime implements VmRuntime {
  freezeFails = false;
  /** The guest answers the thaw E_FAIL (as after its hold window ran out). */
  thawFails = false;
  /** When set, a snapshot fails after moving this many LUNs (as a runtime that could not make a child). */
  failSnapshotAfter: number | undefined;
  readonly calls: string[] = [];
  readonly restores: unknown[] = [];
  disks = new Map<number, string>();

  checkImage(): string | undefined {
    return undefined;
  }

  async start(config: VmConfig, options: VmStartOptions): Promise<RunningVm> {
    this.disks = new Map(config.disks.map((d) => [d.lun, d.path]));
    this.restores.push(options.restore);
    const state = options.restore ?? { bootedAt: Date.now() };
    const calls = this.calls;
    const disks = this.disks;
    return {
      pause: async () => undefined,
      resume: async () => undefined,
      shutdown: async () => true,
      turnOff: async () => undefined,
      save: async () => state,
      setCpuBudget: () => undefined,
      stats: () => ({ cpuPercent: 0, memoryDemandMB: 0, uptimeMs: 0, heartbeat: 'OK' }),
      ic: async (call: IcCall) => {
        calls.push(call.op);
        if (call.op === 'vssFreeze' && this.freezeFails)
          return { ok: false, reason: 'guest-status', status: 0x8000_4005 };
        if (call.op === 'vssThaw' && this.thawFails)
          return { ok: false, reason: 'guest-status', status: 0x8000_4005 };
        return { ok: true };
      },
      attachDisk: async (disk) => {
        calls.push(`attach ${disk.lun}`);
        disks.set(disk.lun, disk.path);
      },
      detachDisk: async (lun) => {
        calls.push(`detach ${lun}`);
        disks.delete(lun);
      },
      snapshotDisks: async (request) => {
        calls.push(`snapshot${request.captureState ? '+state' : ''}`);
        for (const [index, { lun, path }] of request.disks.entries()) {
          if (index === this.failSnapshotAfter) throw new Error(`cannot create ${path}`);
          const child = await VirtualDisk.create(path, {
            format: path.endsWith('.avhd') ? 'vhd' : 'vhdx',
            type: 'differencing',
            parentPath: disks.get(lun)!,
          });
          await child.close();
          disks.set(lun, path);
        }
        return request.captureState ? { state } : {};
      },
      mergeDisk: async (lun) => {
        calls.push(`merge ${lun}`);
        const { parentPath } = await VirtualDisk.merge(disks.get(lun)!);
        disks.set(lun, parentPath);
        return parentPath;
      },
    };
  }
}

/** Waits for a job of `vmms` and returns its result; a job that did not complete throws with its error. */
export async function jobResult<T = unknown>(vmms: Vmms, job: { id: string }): Promise<T> {
  const done = await vmms.jobs.wait(job.id);
  if (done.state !== JobState.Completed)
    throw new Error(`job ${done.kind} ${done.state}: ${done.error?.message}`);
  return done.result as T;
}
