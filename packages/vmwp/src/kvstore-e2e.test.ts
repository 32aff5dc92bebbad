import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvpPool } from '@viridian/ic';
import { VirtualDisk } from '@viridian/vhd';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { vhdBlockDevice } from './guests/kvstore-devices.test-fixture.js';
import { openKvStore } from './guests/kvstore-store.js';
import { workloadProblem } from './guests/kvstore-workload.js';
import { type VmwpConfig, type VmwpExit, VmwpRuntime, type VmwpVm } from './index.js';

let runtime: VmwpRuntime;
let dir: string;

beforeAll(async () => {
  runtime = new VmwpRuntime({ safePointTimeoutMs: 10_000 });
  dir = await mkdtemp(join(tmpdir(), 'viridian-kvstore-'));
});

afterAll(async () => {
  await runtime.close();
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function item(vm: VmwpVm, key: string): Promise<string | undefined> {
  const r = (await vm.ic({ op: 'kvpGet', pool: KvpPool.Guest, key })) as { ok: boolean; value?: string };
  return r.ok ? r.value : undefined;
}

const committed = async (vm: VmwpVm) => Number((await item(vm, 'kvstore.committed')) ?? -1);

async function until(what: string, predicate: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Waits until the store committed at least `n` transactions, with its check still ok. */
async function committedAtLeast(vm: VmwpVm, n: number): Promise<number> {
  await until(`kvstore.committed >= ${n}`, async () => {
    const check = await item(vm, 'kvstore.check');
    if (check !== undefined && check !== 'ok') throw new Error(`kvstore.check is ${check}`);
    return (await committed(vm)) >= n;
  });
  return committed(vm);
}

/** Opens the store in the file from the host and checks every value against the workload. */
async function storeInFile(path: string): Promise<number> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  try {
    const opened = await openKvStore(vhdBlockDevice(disk));
    if (!opened.ok) throw new Error(`store in ${path}: ${opened.code}: ${opened.reason}`);
    const { header, entries } = opened.state;
    expect(opened.formatted).toBe(false);
    expect(workloadProblem(entries, header.committed)).toBeUndefined();
    return header.committed;
  } finally {
    await disk.close();
  }
}

function kvConfig(path: string): VmwpConfig {
  return {
    id: '00000000-0000-4000-8000-00000000cafe',
    name: 'kvstore',
    memoryMB: 32,
    processorCount: 1,
    cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 100 },
    image: 'kvstore',
    integrationServices: { heartbeat: true, shutdown: true, kvp: true, vss: true },
    disks: [{ lun: 0, path, readOnly: false }],
  };
}

async function newDisk(name: string, parentPath?: string): Promise<string> {
  const path = join(dir, name);
  const disk = await VirtualDisk.create(
    path,
    parentPath === undefined
      ? { format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 }
      : { format: 'vhdx', type: 'differencing', parentPath },
  );
  await disk.close();
  return path;
}

test('kvstore on a 16 MiB VHDX: data survives turnOff+start, a VSS freeze, and save+restore', async () => {
  const path = await newDisk('kv.vhdx');
  const config = kvConfig(path);
  const exits: VmwpExit[] = [];
  const logs: string[] = [];
  const options = { onExit: (e: VmwpExit) => exits.push(e), onGuestLog: (line: string) => logs.push(line) };

  // First boot formats the blank disk.
  const first = await runtime.start(config, options);
  const beforeOff = await committedAtLeast(first, 20);
  expect(await item(first, 'kvstore.bootCommitted')).toBe('0');
  await first.turnOff();
  const inFile = await storeInFile(path);
  expect(inFile).toBeGreaterThanOrEqual(beforeOff);

  // Second boot opens what the first one committed and goes on from there.
  const second = await runtime.start(config, options);
  await until(
    'kvstore.bootCommitted',
    async () => (await item(second, 'kvstore.bootCommitted')) !== undefined,
  );
  expect(Number(await item(second, 'kvstore.bootCommitted'))).toBe(inFile);
  await committedAtLeast(second, inFile + 10);

  // A VSS freeze stops the program at a committed transaction; thaw lets it go on.
  expect(await second.ic({ op: 'vssFreeze' })).toMatchObject({ outcome: 'ok' });
  const frozenAt = Number(await item(second, 'kvstore.frozenAt'));
  expect(frozenAt).toBeGreaterThanOrEqual(inFile + 10);
  // Nothing is committed while frozen.
  expect(await committed(second)).toBe(frozenAt);
  await sleep(300);
  expect(await committed(second)).toBe(frozenAt);
  expect(await second.ic({ op: 'vssThaw' })).toMatchObject({ outcome: 'ok' });
  await committedAtLeast(second, frozenAt + 5);

  // Save and restore: the program keeps its view and keeps committing, and the next full verify
  // (every 50 transactions) still finds the disk matching it.
  const saved = await second.save();
  const atSave = await storeInFile(path);
  const restored = await runtime.start(config, { ...options, restore: saved });
  await committedAtLeast(restored, atSave + 55);
  expect(Number(await item(restored, 'kvstore.bootCommitted'))).toBe(inFile);
  await restored.turnOff();
  expect(await storeInFile(path)).toBeGreaterThanOrEqual(atSave + 55);

  expect(exits).toEqual([]);
  expect(logs.filter((line) => /corrupt|error|does not match/.test(line))).toEqual([]);
  expect(logs).toContain('kvstore: opened at sequence 0, 0 keys (formatted a blank disk)');
}, 120_000);

test('kvstore across a disk snapshot: the captured state restores on a new child of the parent, and a merge keeps it running', async () => {
  const base = await newDisk('base.vhdx');
  const exits: VmwpExit[] = [];
  const logs: string[] = [];
  const onExit = (e: VmwpExit) => exits.push(e);
  const onGuestLog = (line: string) => logs.push(line);
  const vm = await runtime.start(kvConfig(base), { onExit, onGuestLog });
  await committedAtLeast(vm, 10);
  const { state } = await vm.snapshotDisks({
    disks: [{ lun: 0, path: join(dir, 'base-1.avhdx') }],
    captureState: true,
  });
  const afterSnapshot = await committed(vm);
  await committedAtLeast(vm, afterSnapshot + 10);
  await vm.turnOff();
  // The parent stays at the snapshot; the child carries on from it.
  const inParent = await storeInFile(base);
  expect(inParent).toBeGreaterThanOrEqual(10);
  expect(await storeInFile(join(dir, 'base-1.avhdx'))).toBeGreaterThanOrEqual(afterSnapshot + 10);

  // The state captured with the snapshot matches the parent exactly: restored on a fresh child, the
  // program keeps its in-memory view (no reopen) and its full verify passes.
  const second = await newDisk('base-2.avhdx', base);
  const restored = await runtime.start(kvConfig(second), { onExit, onGuestLog, restore: state });
  await committedAtLeast(restored, inParent + 55);
  expect(await item(restored, 'kvstore.bootCommitted')).toBe('0');
  expect(logs.filter((line) => / at LUN 0 matches memory$/.test(line))).toHaveLength(1);

  // Merging the child back into the parent while the program writes: it goes on, verify included.
  expect(await restored.mergeDisk(0)).toBe(base);
  const afterMerge = await committed(restored);
  await committedAtLeast(restored, afterMerge + 55);
  await restored.turnOff();
  expect(existsSync(second)).toBe(false);
  expect(await storeInFile(base)).toBeGreaterThanOrEqual(afterMerge + 55);
  expect(exits).toEqual([]);
  expect(logs.filter((line) => /corrupt|error|does not match/.test(line))).toEqual([]);
}, 120_000);
