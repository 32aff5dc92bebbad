import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ViridianClient } from '@viridian/client';
import { HostService, KvpPoolName, type VmSummary, VmwpRuntime } from '@viridian/vmms';
import type { Io } from './cli.js';
import { eventLine, vmTable } from './format.js';

export interface DemoOptions {
  durationMs: number;
  io: Io;
  json: boolean;
  version: string;
}

interface GuestView {
  /** The guest's own KVP items (GUEST pool). */
  kvp: Record<string, string> | undefined;
  /** Guest clock minus host clock, ms (time sync). */
  clockOffsetMs: number | undefined;
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
  const snapshots: Array<{ atMs: number; vms: VmSummary[]; guests: Record<string, GuestView> }> = [];
  const integration: Record<string, unknown> = {};
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
    // What each guest tells the host through its integration services: the KVP items it publishes
    // (GUEST pool) and its clock against the host's (time sync). A service still connecting shows '-'.
    const guestView = async (name: string): Promise<GuestView> => {
      const [items, state] = await Promise.all([
        client.request({ kind: 'kvp.list', vm: name, pool: KvpPoolName.guest }).catch(() => undefined),
        client.request({ kind: 'ic.list', vm: name }).catch(() => undefined),
      ]);
      return {
        kvp: items === undefined ? undefined : Object.fromEntries(items.map((i) => [i.key, i.value])),
        clockOffsetMs: state?.timeSync?.guestClockOffsetMs,
      };
    };
    const views = new Map<string, GuestView>();
    const render = (vms: VmSummary[]) =>
      vmTable(
        vms,
        (vm) => {
          const view = views.get(vm.name);
          const offset = view?.clockOffsetMs;
          const kvp = view?.kvp;
          return [
            String(weights.get(vm.name) ?? ''),
            `${Math.round((100 * (weights.get(vm.name) ?? 0)) / 500)}%`,
            offset === undefined ? '-' : `${offset >= 0 ? '+' : ''}${offset.toFixed(1)} ms`,
            kvp === undefined
              ? '-'
              : `${kvp['GuestProgram'] ?? '?'}${kvp['Ticks'] ? ` ticks=${kvp['Ticks']}` : ''}`,
          ];
        },
        ['Weight', 'Share', 'Clock', 'Guest KVP'],
      );
    const began = Date.now();
    let lines = 0;
    while (Date.now() - began < durationMs) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, durationMs)));
      const vms = await client.listVms();
      for (const vm of vms) views.set(vm.name, await guestView(vm.name));
      const atMs = Date.now() - began;
      snapshots.push({ atMs, vms, guests: Object.fromEntries(views) });
      if (json) continue;
      const text = `t+${(atMs / 1000).toFixed(0)}s\n${render(vms)}`;
      if (io.isTTY && lines > 0) io.out(`\u001b[${lines}A\u001b[J${text}`);
      else io.out(io.isTTY ? text : `${text}\n`);
      lines = text.split('\n').length;
    }

    // Host → guest through KVP, and a VSS freeze/thaw, on the counter VM once its services are up.
    const target = 'counter';
    const icEnd = Date.now() + 30_000;
    for (;;) {
      const state = await client.request({ kind: 'ic.list', vm: target }).catch(() => undefined);
      const ready = (ic: string) => state?.services.find((s) => s.name === ic)?.status === 'ok';
      if ((ready('kvp') && ready('vss')) || Date.now() > icEnd) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const message = `hello from the host at ${new Date().toISOString()}`;
    try {
      await client.request({ kind: 'kvp.set', vm: target, key: 'DemoMessage', value: message });
      say(`\nhost: set KVP item DemoMessage on ${target}`);
      // The guest logs what it reads from its KVP pool; its line reaches the VM's event log.
      const seenEnd = Date.now() + 10_000;
      let seen: string | undefined;
      while (seen === undefined && Date.now() < seenEnd) {
        const events = await client.queryEvents({ vm: target, limit: 200 });
        seen = events.find((e) => e.message.includes('kvp: host set DemoMessage='))?.message;
        if (seen === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      integration['kvp'] = { set: message, guestSaw: seen ?? null };
      say(seen === undefined ? 'guest: did not report the item' : `guest ${target}: ${seen}`);
    } catch (error) {
      integration['kvp'] = { error: (error as Error).message };
      say(`KVP: ${(error as Error).message}`);
    }
    try {
      const frozen = await client.request({ kind: 'vss.freeze', vm: target });
      const thawed = await client.request({ kind: 'vss.thaw', vm: target });
      integration['vss'] = { freeze: frozen.outcome, thaw: thawed.outcome };
      say(`VSS on ${target}: freeze ${frozen.outcome}, thaw ${thawed.outcome}`);
    } catch (error) {
      integration['vss'] = { error: (error as Error).message };
      say(`VSS: ${(error as Error).message}`);
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
      io.out(JSON.stringify({ dataDir: dir, snapshots, integration, final, events }, null, 2));
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
