import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { parseVmConfig, validateDisks } from './config.js';
import { ErrorCode } from './errors.js';
import { makeDisk, offlineRuntime } from './storage.test-fixture.js';
import { ConfigStore } from './store.js';
import { Vmms } from './vmms.js';

let dir: string;
let vmms: Vmms;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-disks-'));
  vmms = new Vmms({ dataDir: join(dir, 'data'), runtime: offlineRuntime });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

test.each([
  ['not a list', {}, /disks must be an array/],
  [
    'too many',
    Array.from({ length: 65 }, (_, lun) => ({ lun, path: `/d${lun}.vhdx`, readOnly: false })),
    /at most 64/,
  ],
  ['LUN out of range', [{ lun: 64, path: '/a.vhdx', readOnly: false }], /between 0 and 63/],
  ['LUN not an integer', [{ lun: 1.5, path: '/a.vhdx', readOnly: false }], /integer/],
  [
    'LUN twice',
    [
      { lun: 1, path: '/a.vhdx', readOnly: false },
      { lun: 1, path: '/b.vhdx', readOnly: false },
    ],
    /used twice/,
  ],
  ['relative path', [{ lun: 0, path: 'a.vhdx', readOnly: false }], /absolute/],
  ['wrong extension', [{ lun: 0, path: '/a.img', readOnly: false }], /\.vhd, \.vhdx, \.avhd or \.avhdx/],
  ['control characters', [{ lun: 0, path: '/a\u0000.vhdx', readOnly: false }], /control characters/],
  ['readOnly missing', [{ lun: 0, path: '/a.vhdx' }], /readOnly must be true or false/],
  ['unknown field', [{ lun: 0, path: '/a.vhdx', readOnly: false, cache: 1 }], /not a disk setting/],
])('a hostile disk list is refused: %s', (_what, disks, message) => {
  expect(() => validateDisks(disks)).toThrow(message);
});

test('configurations written before disks existed still load, with no disks', () => {
  const created = vmms.create({ name: 'old', image: 'idle' });
  const { disks: _disks, ...withoutDisks } = created.config;
  const store = new ConfigStore(join(dir, 'data'));
  const text = JSON.stringify({ formatVersion: 1, config: withoutDisks });
  expect(store.decode(text).disks).toEqual([]);
  expect(
    parseVmConfig({ ...withoutDisks, disks: [{ lun: 3, path: '/x.avhdx', readOnly: true }] }).disks,
  ).toEqual([{ lun: 3, path: '/x.avhdx', readOnly: true }]);
});

test('disks change only through the disk commands, not vm.set or vm.create', () => {
  vmms.create({ name: 'web', image: 'idle' });
  expect(() => vmms.set('web', { disks: [] })).toThrow(/only through the disk commands/);
  expect(() => vmms.create({ name: 'x', image: 'idle', disks: [] })).toThrow(
    /only through the disk commands/,
  );
});

test('attach picks the lowest free LUN, validates the file, persists; detach keeps the file', async () => {
  const a = await makeDisk(join(dir, 'a.vhdx'));
  const b = await makeDisk(join(dir, 'b.vhd'));
  const c = await makeDisk(join(dir, 'c.vhdx'));
  vmms.create({ name: 'web', image: 'idle' });
  await vmms.attachDisk('web', { path: a, lun: 1 });
  const detail = await vmms.attachDisk('web', { path: b, readOnly: true });
  expect(detail.disks).toEqual([
    { lun: 0, path: b, readOnly: true },
    { lun: 1, path: a, readOnly: false },
  ]);
  expect(detail.config.disks).toEqual(detail.disks);
  expect((await vmms.attachDisk('web', { path: c })).disks.map((d) => d.lun)).toEqual([0, 1, 2]);

  // Survives a service restart.
  const again = new Vmms({ dataDir: join(dir, 'data'), runtime: offlineRuntime });
  expect(again.get('web').disks.map((d) => d.path)).toEqual([b, a, c]);

  const after = await vmms.detachDisk('web', 1);
  expect(after.disks.map((d) => d.lun)).toEqual([0, 2]);
  await expect(vmms.detachDisk('web', 1)).rejects.toMatchObject({ code: ErrorCode.NotFound });
  await expect(vmms.detachDisk('web', 99)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  const kinds = vmms.events.query({ vmId: detail.id }).map((e) => e.kind);
  expect(kinds.filter((k) => k === 'disk-attached')).toHaveLength(3);
  expect(kinds).toContain('disk-detached');
});

test('hostile attach requests get typed errors', async () => {
  const a = await makeDisk(join(dir, 'a.vhdx'));
  const garbage = join(dir, 'garbage.vhdx');
  writeFileSync(garbage, Buffer.alloc(8192, 0x5a));
  vmms.create({ name: 'web', image: 'idle' });
  vmms.create({ name: 'db', image: 'idle' });
  const code = async (request: Parameters<Vmms['attachDisk']>[1]) =>
    vmms.attachDisk('web', request).then(
      () => 'ok',
      (error: { code: string; message: string }) => error.code,
    );
  expect(await code({ path: 'relative.vhdx' })).toBe(ErrorCode.InvalidArgument);
  expect(await code({ path: join(dir, 'missing.vhdx') })).toBe(ErrorCode.InvalidArgument);
  expect(await code({ path: garbage })).toBe(ErrorCode.InvalidArgument);
  expect(await code({ path: a, lun: 64 })).toBe(ErrorCode.InvalidArgument);
  expect(await code({ path: a, lun: -1 })).toBe(ErrorCode.InvalidArgument);
  expect(await code({ path: a, readOnly: 'yes' as unknown as boolean })).toBe(ErrorCode.InvalidArgument);
  expect(await code({ path: a, lun: 5 })).toBe('ok');
  const b = await makeDisk(join(dir, 'b.vhdx'));
  expect(await code({ path: b, lun: 5 })).toBe(ErrorCode.Conflict); // LUN taken
  expect(await code({ path: a })).toBe(ErrorCode.Conflict); // same file twice in one VM
  // The same file through a symlink is the same file.
  const link = join(dir, 'link.vhdx');
  symlinkSync(a, link);
  await expect(vmms.attachDisk('db', { path: link })).rejects.toMatchObject({
    code: ErrorCode.Conflict,
    message: expect.stringContaining('VM "web"'),
  });
  await expect(vmms.attachDisk('nobody', { path: b })).rejects.toMatchObject({ code: ErrorCode.NotFound });
});

test('a Saved VM refuses disk changes: its saved state depends on its disks', async () => {
  const a = await makeDisk(join(dir, 'a.vhdx'));
  const created = vmms.create({ name: 'web', image: 'idle' });
  await vmms.attachDisk('web', { path: a });
  writeFileSync(join(dir, 'data', 'saved', `${created.id}.vrss`), 'placeholder');
  const saved = new Vmms({ dataDir: join(dir, 'data'), runtime: offlineRuntime });
  expect(saved.get('web').state).toBe('Saved');
  const b = await makeDisk(join(dir, 'b.vhdx'));
  await expect(saved.attachDisk('web', { path: b })).rejects.toMatchObject({
    code: ErrorCode.InvalidState,
    message: expect.stringContaining('saved state depends on its disks'),
  });
  await expect(saved.detachDisk('web', 0)).rejects.toMatchObject({ code: ErrorCode.InvalidState });
});

test('shared read-only parents are fine; a file that another drive writes or reads through is not', async () => {
  const golden = await makeDisk(join(dir, 'golden.vhdx'), 'G');
  const childA = join(dir, 'a.avhdx');
  const childB = join(dir, 'b.avhdx');
  for (const child of [childA, childB]) {
    const disk = await VirtualDisk.create(child, {
      format: 'vhdx',
      type: 'differencing',
      parentPath: golden,
    });
    await disk.close();
  }
  vmms.create({ name: 'a', image: 'idle' });
  vmms.create({ name: 'b', image: 'idle' });
  await vmms.attachDisk('a', { path: childA });
  // Two differencing disks on one base, in two VMs: the base is only read.
  await vmms.attachDisk('b', { path: childB });
  // Writing the base would change what both children show.
  await expect(vmms.attachDisk('b', { path: golden })).rejects.toMatchObject({
    code: ErrorCode.Conflict,
    message: expect.stringContaining('is a parent of the drive at LUN 0'),
  });
  // Reading it is harmless, and so is sharing a read-only drive.
  await vmms.attachDisk('b', { path: golden, readOnly: true });
  await vmms.attachDisk('a', { path: golden, readOnly: true });
  // A differencing disk of a drive another VM writes would see its parent change under it.
  const onA = join(dir, 'on-a.avhdx');
  const disk = await VirtualDisk.create(onA, { format: 'vhdx', type: 'differencing', parentPath: childA });
  await disk.close();
  await expect(vmms.attachDisk('b', { path: onA })).rejects.toMatchObject({
    code: ErrorCode.Conflict,
    message: expect.stringContaining('differencing disk of the drive at LUN 0 of VM "a"'),
  });
});
