import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvpPool } from '@viridian/ic';
import { VirtualDisk } from '@viridian/vhd';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { roundBlock } from './disk-writer.test-fixture.js';
import { type DiskAttachment, type VmwpConfig, VmwpError, VmwpRuntime, type VmwpVm } from './index.js';

let runtime: VmwpRuntime;
let dir: string;

beforeAll(async () => {
  runtime = new VmwpRuntime({ safePointTimeoutMs: 10_000 });
  dir = await mkdtemp(join(tmpdir(), 'viridian-vmwp-disks-'));
});

afterAll(async () => {
  await runtime.close();
  await rm(dir, { recursive: true, force: true });
});

const writer = new URL('./disk-writer.test-fixture.ts', import.meta.url).href;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let vmCount = 0;

function vmConfig(name: string, disks: DiskAttachment[], vss = false): VmwpConfig {
  vmCount++;
  return {
    id: `00000000-0000-4000-8000-d15c${String(vmCount).padStart(8, '0')}`,
    name,
    memoryMB: 32,
    processorCount: 1,
    cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 100 },
    image: writer,
    integrationServices: { heartbeat: true, shutdown: true, kvp: true, vss },
    disks,
  };
}

async function newDisk(name: string, format: 'vhd' | 'vhdx' = 'vhdx'): Promise<string> {
  const path = join(dir, name);
  const disk = await VirtualDisk.create(path, { format, type: 'dynamic', sizeBytes: 16 << 20 });
  await disk.close();
  return path;
}

/** An item the guest program published (undefined until it has). */
async function guestItem(vm: VmwpVm, key: string): Promise<string | undefined> {
  const r = (await vm.ic({ op: 'kvpGet', pool: KvpPool.Guest, key })) as { ok: boolean; value?: string };
  return r.ok ? r.value : undefined;
}

async function until(what: string, predicate: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const round = async (vm: VmwpVm) => Number((await guestItem(vm, 'Round')) ?? 0);
const roundAtLeast = (vm: VmwpVm, n: number) => until(`round ${n}`, async () => (await round(vm)) >= n);

/**
 * How many rounds the file holds: blocks 0..n-1 each hold their round, and nothing is written after
 * them (the next blocks read as zeros).
 */
async function roundsInFile(path: string): Promise<number> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  try {
    const size = disk.sectorSize;
    let n = 0;
    for (; ; n++) {
      const block = await disk.read(n * size, size);
      if (block.every((b) => b === 0)) break;
      expect(Buffer.compare(block, Buffer.from(roundBlock(n, size)))).toBe(0);
    }
    const after = await disk.read(n * size, 8 * size);
    expect(after.every((b) => b === 0)).toBe(true);
    return n;
  } finally {
    await disk.close();
  }
}

test('a program writes and flushes to LUN 0; the bytes are in the VHDX after turnOff', async () => {
  const path = await newDisk('plain.vhdx');
  const vm = await runtime.start(vmConfig('plain', [{ lun: 0, path, readOnly: false }]), {
    onExit: () => undefined,
  });
  await roundAtLeast(vm, 5);
  expect(await guestItem(vm, 'Disks')).toBe('0');
  await until('disk stats', async () => vm.stats().disks.commands >= 10);
  expect(vm.stats().disks.attached).toBe(1);
  await vm.turnOff();
  expect(await roundsInFile(path)).toBeGreaterThanOrEqual(5);
});

test('save then restore: the program continues and its disk data is intact', async () => {
  const path = await newDisk('saved.vhdx');
  const config = vmConfig('saver', [{ lun: 0, path, readOnly: false }]);
  const vm = await runtime.start(config, { onExit: () => undefined });
  await roundAtLeast(vm, 4);
  const saved = await vm.save();
  // Saving closed the file: everything written so far is in it.
  const atSave = await roundsInFile(path);
  expect(atSave).toBeGreaterThanOrEqual(4);
  const restored = await runtime.start(config, { restore: saved, onExit: () => undefined });
  // The program goes on from its saved round (it checks the block before each new one).
  await roundAtLeast(restored, atSave + 3);
  await restored.turnOff();
  expect(await roundsInFile(path)).toBeGreaterThanOrEqual(atSave + 3);
});

test('hot attach and detach while running: the program sees its disks change', async () => {
  const exits: unknown[] = [];
  const vm = await runtime.start(vmConfig('hotplug', []), { onExit: (e) => exits.push(e) });
  const disksAre = (want: string) =>
    until(`disks ${want}`, async () => (await guestItem(vm, 'Disks')) === want);
  await disksAre('');
  const a = await newDisk('hot-a.vhdx');
  const b = await newDisk('hot-b.vhd', 'vhd');
  await vm.attachDisk({ lun: 1, path: b, readOnly: true });
  await disksAre('1');
  await vm.attachDisk({ lun: 0, path: a, readOnly: false });
  await disksAre('0,1');
  await roundAtLeast(vm, 3);
  // Refused: a LUN in use, a file already attached, a relative path, an unknown LUN.
  await expect(vm.attachDisk({ lun: 0, path: b, readOnly: false })).rejects.toThrow(
    /LUN 0 already has a disk/,
  );
  await expect(vm.attachDisk({ lun: 2, path: a, readOnly: false })).rejects.toThrow(/already attached/);
  await expect(vm.attachDisk({ lun: 2, path: 'x.vhdx', readOnly: false })).rejects.toMatchObject({
    code: 'ERR_VMWP_DISK',
    message: expect.stringMatching(/absolute path/),
  });
  await expect(vm.attachDisk({ lun: 64, path: a, readOnly: false })).rejects.toThrow(/from 0 to 63/);
  await expect(vm.attachDisk({ lun: 2, path: join(dir, 'none.vhdx'), readOnly: false })).rejects.toThrow(
    /cannot open the disk at LUN 2 .*ENOENT/,
  );
  await expect(vm.detachDisk(5)).rejects.toThrow(/LUN 5 has no disk/);
  await vm.detachDisk(1);
  await disksAre('0');
  await vm.detachDisk(0);
  await disksAre('');
  const written = await round(vm);
  await vm.turnOff();
  expect(exits).toEqual([]);
  // A round cut short by the removal may have left its block in the file without being counted.
  const inFile = await roundsInFile(a);
  expect(inFile).toBeGreaterThanOrEqual(written);
  expect(inFile).toBeLessThanOrEqual(written + 1);
});

test('snapshotDisks: writes go to a new differencing file; the captured state restores on a new child; mergeDisk folds a child into its parent', async () => {
  const base = await newDisk('base.vhdx');
  const other = await newDisk('other.vhd', 'vhd');
  const disks = [
    { lun: 0, path: base, readOnly: false },
    { lun: 1, path: other, readOnly: false },
  ];
  const vm = await runtime.start(vmConfig('snap', disks), { onExit: () => undefined });
  await roundAtLeast(vm, 3);
  const first = join(dir, 'snap-1.avhdx');
  const otherChild = join(dir, 'other-1.avhd');
  await expect(vm.snapshotDisks({ disks: [{ lun: 0, path: base }], captureState: false })).rejects.toThrow(
    /already exists/,
  );
  // A child that cannot be made leaves the LUN on its file, and the program keeps writing there.
  await expect(
    vm.snapshotDisks({ disks: [{ lun: 0, path: join(dir, 'no-such-dir', 'x.avhdx') }], captureState: true }),
  ).rejects.toMatchObject({
    code: 'ERR_VMWP_DISK',
    message: expect.stringMatching(/cannot create the differencing disk .*x\.avhdx for LUN 0: ENOENT/),
  });
  await roundAtLeast(vm, (await round(vm)) + 2);
  const { state } = await vm.snapshotDisks({
    disks: [
      { lun: 0, path: first },
      { lun: 1, path: otherChild },
    ],
    captureState: true,
  });
  expect(state).toMatchObject({ kind: 'viridian-vmwp-state' });
  expect(existsSync(first)).toBe(true);
  // The VM keeps running, now writing to the child.
  const afterSnapshot = await round(vm);
  await roundAtLeast(vm, afterSnapshot + 3);
  await vm.turnOff();
  const inParent = await roundsInFile(base);
  expect(inParent).toBeGreaterThanOrEqual(3);
  expect(await roundsInFile(first)).toBeGreaterThanOrEqual(inParent + 3);
  const childInfo = await VirtualDisk.open(otherChild, { readOnly: true });
  expect((await childInfo.info()).parentChain.map((p) => [p.path, p.format])).toEqual([[other, 'vhd']]);
  expect(childInfo.format).toBe('vhd');
  await childInfo.close();

  // The captured state restores on a new child of the snapshot's parent: the program goes on from
  // the round it had at the snapshot, which is exactly what the parent holds.
  const second = join(dir, 'snap-2.avhdx');
  await (
    await VirtualDisk.create(second, { format: 'vhdx', type: 'differencing', parentPath: base })
  ).close();
  const restored = await runtime.start(
    vmConfig('snap', [
      { lun: 0, path: second, readOnly: false },
      { lun: 1, path: other, readOnly: false },
    ]),
    { restore: state, onExit: () => undefined },
  );
  await roundAtLeast(restored, inParent + 2);
  expect(await roundsInFile(base)).toBe(inParent);

  // Merge: the child's rounds end in the parent, the child file is gone, the LUN writes to the parent.
  expect(await restored.mergeDisk(0)).toBe(base);
  expect(existsSync(second)).toBe(false);
  await expect(restored.mergeDisk(0)).rejects.toMatchObject({
    code: 'ERR_VMWP_DISK',
    message: expect.stringMatching(/not a differencing disk/),
  });
  const merged = await round(restored);
  await roundAtLeast(restored, merged + 2);
  await restored.turnOff();
  expect(await roundsInFile(base)).toBeGreaterThanOrEqual(merged + 2);
});

test('VSS freeze while the program writes: the freeze hook runs, the disks are flushed, thaw resumes', async () => {
  const path = await newDisk('frozen.vhdx');
  const vm = await runtime.start(vmConfig('noflush', [{ lun: 0, path, readOnly: false }], true), {
    onExit: () => undefined,
  });
  try {
    await roundAtLeast(vm, 3);
    expect(await vm.ic({ op: 'vssFreeze' })).toMatchObject({ outcome: 'ok' });
    expect(await guestItem(vm, 'Freezes')).toBe('1');
    const frozenAt = await round(vm);
    await sleep(300);
    expect(await round(vm)).toBe(frozenAt);
    // The program never flushes itself: a copy of the file taken now holds every round because the
    // firmware flushed the disks before it answered the freeze.
    const copy = join(dir, 'frozen-copy.vhdx');
    await copyFile(path, copy);
    expect(await roundsInFile(copy)).toBe(frozenAt);
    expect(await vm.ic({ op: 'vssThaw' })).toMatchObject({ outcome: 'ok' });
    expect(await guestItem(vm, 'Thaws')).toBe('1');
    await roundAtLeast(vm, frozenAt + 2);
  } finally {
    await vm.turnOff();
  }
});

test('a bad disk fails start() with a clear message and leaves nothing running', async () => {
  const hv = await runtime.hypervisor();
  const before = (await hv.stats()).partitions.length;
  const good = await newDisk('good.vhdx');
  const corrupt = join(dir, 'corrupt.vhdx');
  await writeFile(corrupt, Buffer.alloc(8192, 0x5a));
  const start = (disks: unknown) =>
    runtime.start(vmConfig('bad', disks as DiskAttachment[]), { onExit: () => undefined });
  await expect(
    start([
      { lun: 0, path: good, readOnly: false },
      { lun: 1, path: join(dir, 'missing.vhdx'), readOnly: false },
    ]),
  ).rejects.toThrow(/cannot open the disk at LUN 1 \(.*missing\.vhdx\): ENOENT/);
  await expect(start([{ lun: 0, path: corrupt, readOnly: false }])).rejects.toThrow(
    /cannot open the disk at LUN 0 \(.*corrupt\.vhdx\): UNKNOWN_FORMAT/,
  );
  const refused = [
    [{ lun: 0, path: 'relative.vhdx', readOnly: false }, /absolute path/],
    [{ lun: 0, path: join(dir, 'x.iso'), readOnly: false }, /\.vhd, \.vhdx, \.avhd or \.avhdx/],
    [{ lun: -1, path: good, readOnly: false }, /from 0 to 63/],
    [{ lun: 0, path: good }, /readOnly must be true or false/],
    ['nonsense', /must be an object/],
  ] as const;
  for (const [disk, message] of refused) {
    const error = await start([disk]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmwpError);
    expect(error).toMatchObject({ code: 'ERR_VMWP_DISK', message: expect.stringMatching(message) });
  }
  await expect(
    start([
      { lun: 0, path: good, readOnly: false },
      { lun: 0, path: corrupt, readOnly: false },
    ]),
  ).rejects.toThrow(/LUN 0 is given to more than one disk/);
  await expect(start({ lun: 0 })).rejects.toThrow(/disks must be a list/);
  expect((await hv.stats()).partitions.length).toBe(before);
  // The good disk was closed again: it opens and is intact.
  expect(await roundsInFile(good)).toBe(0);
});
