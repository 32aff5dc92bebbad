import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmwpRuntime } from '@viridian/vmwp';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { CheckpointInfo } from './checkpoint-tree.js';
import { jobResult, makeDisk } from './storage.test-fixture.js';
import type { VmDetail } from './vmms.js';
import { Vmms } from './vmms.js';

// Checkpoints and backup of VMs that really run: the `kvstore` image commits transactions to the
// disk at LUN 0 and reports through guest KVP items what it committed, what it found at boot and
// where a VSS freeze stopped it, so each test can tell exactly which point in time a disk holds.

const GUEST_POOL = 1;
let dir: string;
let vmms: Vmms;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-kv-'));
  mkdirSync(join(dir, 'disks'));
  vmms = new Vmms({ dataDir: join(dir, 'data'), runtime: new VmwpRuntime({ safePointTimeoutMs: 10_000 }) });
});

afterEach(async () => {
  await vmms.stopService();
  rmSync(dir, { recursive: true, force: true });
});

const ok = <T = unknown>(job: { id: string }): Promise<T> => jobResult<T>(vmms, job);

async function item(vm: string, key: string): Promise<string | undefined> {
  try {
    return (await vmms.kvpGet(vm, key, GUEST_POOL)).value;
  } catch {
    return undefined;
  }
}

async function number(vm: string, key: string): Promise<number> {
  return Number((await item(vm, key)) ?? Number.NaN);
}

async function until(what: string, predicate: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the store committed at least `n` transactions with its check ok; returns the count. */
async function committedAtLeast(vm: string, n: number): Promise<number> {
  await until(`${vm}: kvstore.committed >= ${n}`, async () => {
    const check = await item(vm, 'kvstore.check');
    if (check !== undefined && check !== 'ok') throw new Error(`${vm}: kvstore.check is ${check}`);
    return (await number(vm, 'kvstore.committed')) >= n;
  });
  return number(vm, 'kvstore.committed');
}

async function bootCommitted(vm: string): Promise<number> {
  await until(
    `${vm}: kvstore.bootCommitted`,
    async () => (await item(vm, 'kvstore.bootCommitted')) !== undefined,
  );
  return number(vm, 'kvstore.bootCommitted');
}

/** Guest log lines that mean the store found something wrong. */
function guestProblems(): string[] {
  return vmms.events
    .query({})
    .filter((e) => e.kind === 'guest' && /corrupt|error|does not match/.test(e.message))
    .map((e) => e.message);
}

async function kvVm(name: string): Promise<string> {
  const base = await makeDisk(join(dir, 'disks', `${name}.vhdx`));
  vmms.create({ name, image: 'kvstore', memoryMB: 32 });
  await vmms.attachDisk(name, { path: base });
  await ok(vmms.start(name));
  return base;
}

test('production checkpoint of a running VM, then apply: the VM boots where the guest froze', async () => {
  const base = await kvVm('kv');
  await committedAtLeast('kv', 10);
  const cp = await ok<CheckpointInfo>(vmms.createCheckpoint('kv', { name: 'p', type: 'Production' }));
  expect(cp).toMatchObject({ type: 'Production', hasState: false, disks: [{ lun: 0, path: base }] });
  const frozenAt = await number('kv', 'kvstore.frozenAt');
  expect(frozenAt).toBeGreaterThanOrEqual(10);
  await committedAtLeast('kv', frozenAt + 10);

  await ok(vmms.stop('kv', { turnOff: true }));
  await ok(vmms.applyCheckpoint('kv', 'p'));
  expect(vmms.get('kv').state).toBe('Off');
  await ok(vmms.start('kv'));
  expect(await bootCommitted('kv')).toBe(frozenAt);
  await committedAtLeast('kv', frozenAt + 5);
  expect(guestProblems()).toEqual([]);
}, 180_000);

test('standard checkpoint of a running VM, then apply: Saved, and start resumes; removal merges while it runs', async () => {
  const base = await kvVm('kv');
  await committedAtLeast('kv', 10);
  const cp = await ok<CheckpointInfo>(vmms.createCheckpoint('kv', { name: 's' }));
  expect(cp).toMatchObject({ type: 'Standard', hasState: true });
  const after = await committedAtLeast('kv', 15);

  await ok(vmms.stop('kv', { turnOff: true }));
  await ok(vmms.applyCheckpoint('kv', cp.id));
  expect(vmms.get('kv').state).toBe('Saved');
  await ok(vmms.start('kv'));
  // The memory state came back with the disk it was captured with: the program keeps its view and
  // its full verify (every 50 transactions) passes.
  expect(await bootCommitted('kv')).toBe(0);
  await committedAtLeast('kv', after + 55);

  await ok(vmms.removeCheckpoint('kv', 's'));
  expect(vmms.get('kv').disks[0]!.path).toBe(base);
  expect(readdirSync(join(dir, 'disks'))).toEqual(['kv.vhdx']);
  const merged = await number('kv', 'kvstore.committed');
  await committedAtLeast('kv', merged + 55);
  expect(guestProblems()).toEqual([]);
}, 180_000);

test('backup while the guest writes, then restore: the copy boots exactly where the guest froze', async () => {
  const base = await kvVm('kv');
  await committedAtLeast('kv', 10);
  const destination = join(dir, 'backup');
  const result = await ok<{ consistent: boolean }>(vmms.backup('kv', destination));
  expect(result.consistent).toBe(true);
  const frozenAt = await number('kv', 'kvstore.frozenAt');
  // The VM is back on its own file and goes on writing.
  expect(vmms.get('kv').disks[0]!.path).toBe(base);
  expect(existsSync(join(dir, 'disks', 'kv_backup.avhdx'))).toBe(false);
  await committedAtLeast('kv', frozenAt + 10);

  const restored = await ok<VmDetail>(vmms.restoreBackup(destination, { name: 'kv-restored' }));
  await ok(vmms.start(restored.id));
  // The disks were snapshotted while the guest was frozen: the copy holds exactly its frozen store.
  expect(await bootCommitted('kv-restored')).toBe(frozenAt);
  await committedAtLeast('kv-restored', frozenAt + 5);
  expect(guestProblems()).toEqual([]);
}, 180_000);
