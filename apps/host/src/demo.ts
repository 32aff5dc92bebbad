import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ViridianClient } from '@viridian/client';
import { VirtualDisk } from '@viridian/vhd';
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
  { name: 'kvstore', image: 'kvstore', weight: 100, notes: 'a key-value store on its SCSI disk, weight 100' },
] as const;
const TOTAL_WEIGHT = VMS.reduce((sum, vm) => sum + vm.weight, 0);
/** The VM whose guest keeps its data on a virtual disk (a VHDX on the synthetic SCSI controller). */
const STORE_VM = 'kvstore';

/**
 * A host on a temporary data directory, in this process, driven through the same API a remote
 * client uses: four VMs with different weights and guests (one with a data disk), a live table,
 * integration services, a production checkpoint and a backup of the disk VM, then a clean
 * shutdown, the checkpoint applied and the backup restored as a new VM.
 */
export async function runDemo({ durationMs, io, json, version }: DemoOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'viridian-demo-'));
  const say = (text: string) => {
    if (!json) io.out(text);
  };
  say(`viridian ${version} demo: host on ${dir}`);
  // One host processor shared by the four VMs: their weights decide the split.
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
    const diskPath = join(dir, 'disks', 'kvstore-data.vhdx');
    mkdirSync(join(dir, 'disks'));
    await (
      await VirtualDisk.create(diskPath, { format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 })
    ).close();
    await client.attachDisk(STORE_VM, diskPath, { lun: 0 });
    say(`attached ${diskPath} (16 MiB dynamic VHDX) to ${STORE_VM} at SCSI LUN 0`);
    const jobs = await Promise.all(VMS.map((vm) => client.startVm(vm.name)));
    const started = await Promise.all(jobs.map((job) => client.followJob(job.id)));
    for (const job of started) {
      if (job.state !== 'Completed') throw new Error(`start failed: ${job.error?.message ?? job.state}`);
    }
    say('started all four VMs: each a child partition of the hypervisor, driven by its own VM worker\n');

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
            `${Math.round((100 * (weights.get(vm.name) ?? 0)) / TOTAL_WEIGHT)}%`,
            offset === undefined ? '-' : `${offset >= 0 ? '+' : ''}${offset.toFixed(1)} ms`,
            kvp === undefined ? '-' : guestSummary(kvp),
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

    integration['storage'] = await storageWhileRunning(client, dir, say);
    const reached = await storeItem(client, STORE_VM, 'kvstore.committed');

    say('\nshutting every VM down through its guest');
    const stops = await Promise.all(VMS.map((vm) => client.stopVm(vm.name, { timeoutMs: 10_000 })));
    const stopped = await Promise.all(stops.map((job) => client.followJob(job.id)));
    for (const job of stopped) {
      if (job.state !== 'Completed') throw new Error(`stop failed: ${job.error?.message ?? job.state}`);
    }
    integration['storageAfterShutdown'] = await storageAfterShutdown(client, dir, reached, say);
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

/** The guest KVP column: the program, and what it reports of its work. */
function guestSummary(kvp: Record<string, string>): string {
  const program = kvp['GuestProgram'] ?? '?';
  if (kvp['kvstore.committed'] !== undefined)
    return `${program} committed=${kvp['kvstore.committed']} check=${kvp['kvstore.check'] ?? '?'}`;
  return `${program}${kvp['Ticks'] ? ` ticks=${kvp['Ticks']}` : ''}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads one of the store VM's guest KVP items (undefined until the guest publishes it). */
async function storeItem(client: ViridianClient, vm: string, key: string): Promise<string | undefined> {
  try {
    return (await client.getKvp(vm, key, { pool: 'guest' })).value;
  } catch {
    return undefined;
  }
}

/** Waits until the store VM's guest publishes `key` (or a while passes). */
async function awaitStoreItem(client: ViridianClient, vm: string, key: string, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await storeItem(client, vm, key);
    if (value !== undefined || Date.now() > end) return value;
    await sleep(200);
  }
}

async function completed(client: ViridianClient, job: { id: string }, what: string) {
  const done = await client.followJob(job.id);
  if (done.state !== 'Completed') throw new Error(`${what} failed: ${done.error?.message ?? done.state}`);
  return done;
}

/** A production checkpoint (VSS freeze in the guest, disks only) and a VSS-consistent backup. */
async function storageWhileRunning(client: ViridianClient, dir: string, say: (text: string) => void) {
  try {
    await awaitStoreItem(client, STORE_VM, 'kvstore.committed');
    const checkpoint = await completed(
      client,
      await client.createCheckpoint(STORE_VM, { name: 'before-more-writes', type: 'Production' }),
      'checkpoint',
    );
    const frozenAt = await storeItem(client, STORE_VM, 'kvstore.frozenAt');
    const info = checkpoint.result as { name: string; type: string; disks: { path: string }[] };
    say(
      `\n${STORE_VM}: ${info.type} checkpoint "${info.name}" taken with the guest frozen at transaction ${frozenAt}; ` +
        `its disk ${info.disks.map((d) => d.path.split('/').pop()).join(', ')} is now read-only, the VM writes a differencing disk`,
    );
    // Let the guest write on (into the differencing disk) so the backup and the checkpoint differ.
    await sleep(2000);
    const destination = join(dir, 'backup');
    const backup = await completed(client, await client.backupVm(STORE_VM, destination), 'backup');
    const result = backup.result as { files: string[]; consistent: boolean };
    const backupAt = await storeItem(client, STORE_VM, 'kvstore.frozenAt');
    say(
      `${STORE_VM}: backup to ${destination} (${result.consistent ? 'VSS-consistent' : 'crash-consistent'}, ` +
        `guest frozen at transaction ${backupAt}): ${result.files.map((f) => f.split('/').pop()).join(', ')}`,
    );
    await sleep(1000);
    return { checkpoint: info, frozenAt, backup: result, backupAt };
  } catch (error) {
    say(`storage: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}

/** Applies the checkpoint (the guest boots at the frozen transaction) and boots the restored backup. */
async function storageAfterShutdown(
  client: ViridianClient,
  dir: string,
  reached: string | undefined,
  say: (text: string) => void,
) {
  const bootAndCheck = async (vm: string) => {
    await completed(client, await client.startVm(vm), `start ${vm}`);
    const bootCommitted = await awaitStoreItem(client, vm, 'kvstore.bootCommitted');
    const check = await awaitStoreItem(client, vm, 'kvstore.check');
    await completed(client, await client.stopVm(vm, { timeoutMs: 10_000 }), `stop ${vm}`);
    return { bootCommitted, check };
  };
  try {
    await completed(client, await client.applyCheckpoint(STORE_VM, 'before-more-writes'), 'apply');
    const applied = await bootAndCheck(STORE_VM);
    say(
      `${STORE_VM}: checkpoint applied; the guest found transaction ${applied.bootCommitted} on its disk ` +
        `(check ${applied.check})${reached === undefined ? '' : `, not the ${reached} it had reached`}`,
    );
    const restore = await completed(
      client,
      await client.restoreBackup(join(dir, 'backup'), { name: `${STORE_VM}-restored` }),
      'restore',
    );
    const restoredName = (restore.result as { name: string }).name;
    const restored = await bootAndCheck(restoredName);
    say(
      `${restoredName}: restored from the backup; the guest found transaction ${restored.bootCommitted} ` +
        `(check ${restored.check})`,
    );
    return { applied, restored };
  } catch (error) {
    say(`storage: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}
