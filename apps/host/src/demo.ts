import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ViridianClient } from '@viridian/client';
import { HostService, type VmSummary, VmwpRuntime } from '@viridian/vmms';
import type { Io } from './cli.js';
import { eventLine, vmTable } from './format.js';

export interface DemoOptions {
  durationMs: number;
  io: Io;
  json: boolean;
  version: string;
}

const VMS = [
  { name: 'primes-heavy', image: 'primes', weight: 300, notes: 'processor-bound, weight 300' },
  { name: 'primes-light', image: 'primes', weight: 100, notes: 'processor-bound, weight 100' },
  { name: 'counter', image: 'counter', weight: 100, notes: 'light load, weight 100' },
] as const;

/**
 * A host on a temporary data directory, in this process, driven through the same API a remote
 * client uses: three VMs with different weights and guests, a live table, then a clean shutdown.
 */
export async function runDemo({ durationMs, io, json, version }: DemoOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'viridian-demo-'));
  const say = (text: string) => {
    if (!json) io.out(text);
  };
  say(`viridian ${version} demo: host on ${dir}`);
  // One host processor shared by the three VMs: their weights decide the split.
  const host = await HostService.start({
    dataDir: dir,
    listen: false,
    productVersion: version,
    cpuCapacityPercent: 100,
    // The hypervisor's scheduler gets one logical processor, so the weights decide the split.
    runtime: new VmwpRuntime({ hypervisorOptions: { logicalProcessors: 1 } }),
  });
  const client = await ViridianClient.over(
    host.connectInProcess(),
    readFileSync(host.adminTokenFile, 'utf8').trim(),
  );
  const snapshots: Array<{ atMs: number; vms: VmSummary[] }> = [];
  try {
    for (const vm of VMS) {
      await client.createVm({
        name: vm.name,
        image: vm.image,
        memoryMB: 256,
        cpu: { relativeWeight: vm.weight },
        notes: vm.notes,
      });
    }
    say(`created ${VMS.map((v) => `${v.name} (${v.image}, weight ${v.weight})`).join(', ')}`);
    const jobs = await Promise.all(VMS.map((vm) => client.startVm(vm.name)));
    const started = await Promise.all(jobs.map((job) => client.followJob(job.id)));
    for (const job of started) {
      if (job.state !== 'Completed') throw new Error(`start failed: ${job.error?.message ?? job.state}`);
    }
    say('started all three VMs: each a child partition of the hypervisor, driven by its own VM worker\n');

    const weights = new Map<string, number>(VMS.map((vm) => [vm.name, vm.weight]));
    const render = (vms: VmSummary[]) =>
      vmTable(
        vms,
        (vm) => [
          String(weights.get(vm.name) ?? ''),
          `${Math.round((100 * (weights.get(vm.name) ?? 0)) / 500)}%`,
        ],
        ['Weight', 'Share'],
      );
    const began = Date.now();
    let lines = 0;
    while (Date.now() - began < durationMs) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, durationMs)));
      const vms = await client.listVms();
      const atMs = Date.now() - began;
      snapshots.push({ atMs, vms });
      if (json) continue;
      const text = `t+${(atMs / 1000).toFixed(0)}s\n${render(vms)}`;
      if (io.isTTY && lines > 0) io.out(`\u001b[${lines}A\u001b[J${text}`);
      else io.out(io.isTTY ? text : `${text}\n`);
      lines = text.split('\n').length;
    }

    say('\nshutting every VM down through its guest');
    const stops = await Promise.all(VMS.map((vm) => client.stopVm(vm.name, { timeoutMs: 10_000 })));
    const stopped = await Promise.all(stops.map((job) => client.followJob(job.id)));
    for (const job of stopped) {
      if (job.state !== 'Completed') throw new Error(`stop failed: ${job.error?.message ?? job.state}`);
    }
    const final = await client.listVms();
    const events = await client.queryEvents({ limit: 12 });
    if (json) {
      io.out(JSON.stringify({ dataDir: dir, snapshots, final, events }, null, 2));
    } else {
      io.out(vmTable(final));
      io.out('\nlast events:');
      for (const e of events) io.out(eventLine(e));
      io.out('\ndemo finished: every VM is Off');
    }
  } finally {
    client.close();
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
