import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { CheckpointInfo } from './checkpoint-tree.js';
import { ErrorCode } from './errors.js';
import { JobState } from './jobs.js';
import { chainOf, FileRuntime, jobResult, makeDisk, readText, writeText } from './storage.test-fixture.js';
import type { VmDetail } from './vmms.js';
import { Vmms } from './vmms.js';

// The running-VM paths of disks, checkpoints and backup, against a runtime that only holds disk
// files (snapshot and merge on the real files): the order of the calls and the files are checked.

let dir: string;
let runtime: FileRuntime;
let vmms: Vmms;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-run-'));
  mkdirSync(join(dir, 'disks'));
  runtime = new FileRuntime();
  vmms = new Vmms({ dataDir: join(dir, 'data'), runtime });
  const base = await makeDisk(join(dir, 'disks', 'web.vhdx'), 'A');
  vmms.create({ name: 'web', image: 'idle' });
  await vmms.attachDisk('web', { path: base });
  await ok(vmms.start('web'));
});

afterEach(async () => {
  await vmms.stopService();
  rmSync(dir, { recursive: true, force: true });
});

const ok = <T = unknown>(job: { id: string }): Promise<T> => jobResult<T>(vmms, job);

const current = () => vmms.get('web').disks[0]!.path;
const base = () => join(dir, 'disks', 'web.vhdx');

test('hot add and remove go through the running VM', async () => {
  const extra = await makeDisk(join(dir, 'disks', 'extra.vhdx'));
  const detail = await vmms.attachDisk('web', { path: extra });
  expect(detail.disks.map((d) => d.lun)).toEqual([0, 1]);
  expect(runtime.disks.get(1)).toBe(extra);
  await vmms.detachDisk('web', 1);
  expect(runtime.calls).toEqual(['attach 1', 'detach 1']);
  expect(runtime.disks.has(1)).toBe(false);
});

test('production checkpoint freezes, snapshots, thaws; a guest that cannot freeze gets a standard one', async () => {
  const production = await ok<CheckpointInfo>(
    vmms.createCheckpoint('web', { name: 'p', type: 'Production' }),
  );
  expect(production).toMatchObject({ type: 'Production', hasState: false });
  expect(runtime.calls).toEqual(['vssFreeze', 'snapshot', 'vssThaw']);
  expect(runtime.disks.get(0)).toBe(current());
  expect(await chainOf(current())).toEqual([base()]);
  await writeText(current(), 'B');

  runtime.freezeFails = true;
  runtime.calls.length = 0;
  const fallback = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 's', type: 'Production' }));
  expect(fallback).toMatchObject({ type: 'Standard', hasState: true });
  expect(runtime.calls).toEqual(['vssFreeze', 'snapshot+state']);
  const id = vmms.get('web').id;
  expect(existsSync(join(dir, 'data', 'checkpoints', id, `${fallback.id}.vrss`))).toBe(true);
  const warning = vmms.events
    .query({ vmId: id })
    .find((e) => e.level === 'Warning' && e.kind === 'checkpoint');
  expect(warning?.message).toMatch(/could not freeze.*standard checkpoint instead/);
  await writeText(current(), 'C');

  // Running: apply is refused; off: the standard checkpoint comes back Saved and resumes its state.
  expect(() => vmms.applyCheckpoint('web', 's')).toThrow(/turn off or save the VM first/);
  await ok(vmms.stop('web', { turnOff: true }));
  await ok(vmms.applyCheckpoint('web', 's'));
  expect(vmms.get('web').state).toBe('Saved');
  expect(await readText(current())).toBe('B');
  await ok(vmms.start('web'));
  // The first boot was fresh; this start resumed the state captured with the checkpoint.
  expect(runtime.restores[0]).toBeUndefined();
  expect(runtime.restores.at(-1)).toEqual({ bootedAt: expect.any(Number) });
});

test('removing the checkpoint under a running VM merges its current file through the runtime', async () => {
  await ok(vmms.createCheckpoint('web', { name: 'one' }));
  await writeText(current(), 'B');
  runtime.calls.length = 0;
  await ok(vmms.removeCheckpoint('web', 'one'));
  expect(runtime.calls).toEqual(['merge 0']);
  expect(current()).toBe(base());
  expect(runtime.disks.get(0)).toBe(base());
  expect(await readText(base())).toBe('B');
  expect(readdirSync(join(dir, 'disks'))).toEqual(['web.vhdx']);
});

test('backup of a running VM: frozen copy, temporary files merged back; restore makes a new VM', async () => {
  await writeText(current(), 'X');
  const destination = join(dir, 'backup');
  const result = await ok<{ files: string[]; consistent: boolean }>(vmms.backup('web', destination));
  expect(result.consistent).toBe(true);
  expect(runtime.calls).toEqual(['vssFreeze', 'snapshot', 'vssThaw', 'merge 0']);
  expect(current()).toBe(base());
  expect(readdirSync(join(dir, 'disks'))).toEqual(['web.vhdx']);
  expect(readdirSync(destination).sort()).toEqual(['lun0-web.vhdx', 'vm.json']);
  expect(await chainOf(join(destination, 'lun0-web.vhdx'))).toEqual([]);
  expect(await readText(join(destination, 'lun0-web.vhdx'))).toBe('X');
  const events = vmms.events.query({ vmId: vmms.get('web').id }).map((e) => e.kind);
  expect(events).toContain('backup');

  expect(() => vmms.restoreBackup(destination)).toThrow(
    expect.objectContaining({ code: ErrorCode.Conflict }),
  );
  const restored = await ok<VmDetail>(vmms.restoreBackup(destination, { name: 'web-copy' }));
  expect(restored.id).not.toBe(vmms.get('web').id);
  expect(restored.state).toBe('Off');
  const copy = restored.disks[0]!.path;
  expect(copy).toBe(join(dir, 'data', 'disks', restored.id, 'lun0-web.vhdx'));
  expect(await readText(copy)).toBe('X');
  await ok(vmms.start('web-copy'));
  expect(runtime.disks.get(0)).toBe(copy);
});

test('a backup fails when the guest cannot freeze, and leaves the VM as it was', async () => {
  runtime.freezeFails = true;
  const destination = join(dir, 'backup');
  const job = await vmms.jobs.wait(vmms.backup('web', destination).id);
  expect(job.state).toBe(JobState.Failed);
  expect(job.error?.message).toMatch(/could not freeze/);
  expect(runtime.calls).toEqual(['vssFreeze']);
  expect(current()).toBe(base());
  expect(existsSync(destination)).toBe(false);
});

test('a backup fails when the guest does not confirm the thaw; the temporary files are merged back', async () => {
  runtime.thawFails = true;
  const destination = join(dir, 'backup');
  const job = await vmms.jobs.wait(vmms.backup('web', destination).id);
  expect(job.state).toBe(JobState.Failed);
  expect(job.error?.code).toBe(ErrorCode.Timeout);
  expect(job.error?.message).toMatch(/not known to be consistent/);
  expect(runtime.calls.slice(0, 3)).toEqual(['vssFreeze', expect.stringMatching(/^snapshot/), 'vssThaw']);
  expect(runtime.calls.some((c) => c.startsWith('merge'))).toBe(true);
  expect(current()).toBe(base());
  expect(existsSync(destination)).toBe(false);
});

test('hostile backup and restore requests get typed errors', async () => {
  const full = join(dir, 'full');
  mkdirSync(full);
  writeFileSync(join(full, 'x'), 'x');
  const code = (fn: () => unknown) => {
    try {
      fn();
      return 'ok';
    } catch (error) {
      return (error as { code: string }).code;
    }
  };
  expect(code(() => vmms.backup('web', 'relative/dir'))).toBe(ErrorCode.InvalidArgument);
  expect(code(() => vmms.backup('web', full))).toBe(ErrorCode.InvalidArgument);
  expect(code(() => vmms.backup('web', join(full, 'x')))).toBe(ErrorCode.InvalidArgument);
  expect(code(() => vmms.backup('ghost', join(dir, 'b')))).toBe(ErrorCode.NotFound);
  await ok(vmms.pause('web'));
  expect(code(() => vmms.backup('web', join(dir, 'b')))).toBe(ErrorCode.InvalidState);
  await ok(vmms.resume('web'));

  expect(code(() => vmms.restoreBackup('relative'))).toBe(ErrorCode.InvalidArgument);
  expect(code(() => vmms.restoreBackup(join(dir, 'nothing-here')))).toBe(ErrorCode.NotFound);
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'vm.json'), '{ not json');
  expect(code(() => vmms.restoreBackup(bad))).toBe(ErrorCode.InvalidArgument);
  const manifest = {
    formatVersion: 1,
    createdAt: 0,
    config: { ...withoutIdAndDisks(vmms.get('web')), name: 'evil' },
    disks: [{ lun: 0, file: '../web.vhdx', readOnly: false }],
  };
  writeFileSync(join(bad, 'vm.json'), JSON.stringify(manifest));
  expect(code(() => vmms.restoreBackup(bad))).toBe(ErrorCode.InvalidArgument);
  writeFileSync(join(bad, 'vm.json'), JSON.stringify({ ...manifest, formatVersion: 9 }));
  expect(code(() => vmms.restoreBackup(bad))).toBe(ErrorCode.VersionMismatch);
  writeFileSync(
    join(bad, 'vm.json'),
    JSON.stringify({ ...manifest, disks: [{ lun: 0, file: 'gone.vhdx' }] }),
  );
  const job = await vmms.jobs.wait(vmms.restoreBackup(bad).id);
  expect(job.state).toBe(JobState.Failed);
  expect(job.error?.code).toBe(ErrorCode.NotFound);
  expect(() => vmms.get('evil')).toThrow();
  // A differencing disk in a backup would read through a file of this host (here another VM's disk).
  const sneaky = await VirtualDisk.create(join(bad, 'sneaky.vhdx'), {
    format: 'vhdx',
    type: 'differencing',
    parentPath: base(),
  });
  await sneaky.close();
  writeFileSync(
    join(bad, 'vm.json'),
    JSON.stringify({ ...manifest, disks: [{ lun: 0, file: 'sneaky.vhdx' }] }),
  );
  const refused = await vmms.jobs.wait(vmms.restoreBackup(bad).id);
  expect(refused.error).toMatchObject({
    code: ErrorCode.InvalidArgument,
    message: expect.stringContaining('differencing'),
  });
  expect(() => vmms.get('evil')).toThrow();
  expect(readdirSync(join(dir, 'data', 'disks'))).toEqual([]);
});

function withoutIdAndDisks(detail: VmDetail): Record<string, unknown> {
  const { id: _id, disks: _disks, ...rest } = detail.config;
  return rest;
}

test('a snapshot that fails part-way is undone: moved LUNs are merged back, no checkpoint is recorded', async () => {
  const second = await makeDisk(join(dir, 'disks', 'data.vhdx'), 'P');
  await vmms.attachDisk('web', { path: second });
  runtime.failSnapshotAfter = 1;
  runtime.calls.length = 0;
  const job = await vmms.jobs.wait(vmms.createCheckpoint('web', { name: 'x' }).id);
  expect(job.state).toBe(JobState.Failed);
  expect(job.error?.message).toMatch(/cannot create/);
  expect(runtime.calls).toEqual(['snapshot+state', 'merge 0']);
  expect(vmms.get('web').disks.map((d) => d.path)).toEqual([base(), second]);
  expect(runtime.disks.get(0)).toBe(base());
  expect(vmms.listCheckpoints('web')).toEqual([]);
  expect(readdirSync(join(dir, 'disks')).sort()).toEqual(['data.vhdx', 'web.vhdx']);
  // The VM is not left busy.
  runtime.failSnapshotAfter = undefined;
  await ok(vmms.createCheckpoint('web', { name: 'y' }));
});

test("a merge that would re-point the running VM's own file waits until the VM is off", async () => {
  await ok(vmms.createCheckpoint('web', { name: 'one' }));
  await writeText(current(), 'B');
  const two = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 'two' }));
  await writeText(current(), 'C');
  const now = current();
  runtime.calls.length = 0;
  // base's only dependent is two's file, whose child is the file the running VM writes: base stays.
  await ok(vmms.removeCheckpoint('web', 'one'));
  expect(runtime.calls).toEqual([]);
  expect(existsSync(two.disks[0]!.path)).toBe(true);
  expect(await chainOf(now)).toEqual([two.disks[0]!.path, base()]);
  const id = vmms.get('web').id;
  const tree = () => JSON.parse(readFileSync(join(dir, 'data', 'checkpoints', `${id}.json`), 'utf8'));
  expect(tree().retained).toEqual([base()]);

  // Off, the next removal folds everything back into the base file.
  await ok(vmms.stop('web', { turnOff: true }));
  await ok(vmms.removeCheckpoint('web', 'two'));
  expect(current()).toBe(base());
  expect(await readText(base())).toBe('C');
  expect(readdirSync(join(dir, 'disks'))).toEqual(['web.vhdx']);
  expect(existsSync(join(dir, 'data', 'checkpoints', `${id}.json`))).toBe(false);
});
