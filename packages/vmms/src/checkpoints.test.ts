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
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { CheckpointInfo } from './checkpoint-tree.js';
import { ErrorCode } from './errors.js';
import { writeSavedState } from './saved-state.js';
import { chainOf, jobResult, makeDisk, offlineRuntime, readText, writeText } from './storage.test-fixture.js';
import { Vmms } from './vmms.js';

let dir: string;
let data: string;
let vmms: Vmms;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-cp-'));
  data = join(dir, 'data');
  vmms = new Vmms({ dataDir: data, runtime: offlineRuntime });
  mkdirSync(join(dir, 'disks'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ok = <T = unknown>(job: { id: string }): Promise<T> => jobResult<T>(vmms, job);

const current = (vm = 'web') => vmms.get(vm).disks[0]!.path;
const names = (vm = 'web') => vmms.listCheckpoints(vm).map((cp) => cp.name);
const diskFiles = () => readdirSync(join(dir, 'disks')).sort();

async function vmWithDisk(text = 'A'): Promise<string> {
  const base = await makeDisk(join(dir, 'disks', 'web.vhdx'), text);
  vmms.create({ name: 'web', image: 'idle' });
  await vmms.attachDisk('web', { path: base });
  return base;
}

test('create, apply, rename and remove a chain of checkpoints of an Off VM, checking the files', async () => {
  const base = await vmWithDisk('A');
  const one = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 'one' }));
  expect(one).toMatchObject({
    name: 'one',
    parentId: null,
    type: 'Standard',
    hasState: false,
    isCurrent: true,
  });
  expect(one.disks).toEqual([{ lun: 0, path: base }]);
  // The VM now writes to a differencing file named after the checkpoint.
  expect(basename(current())).toBe(`web_${one.id}.avhdx`);
  expect(await chainOf(current())).toEqual([base]);
  await writeText(current(), 'B');

  const two = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 'two', type: 'Production' }));
  expect(two).toMatchObject({ parentId: one.id, type: 'Production', isCurrent: true });
  const twoFile = two.disks[0]!.path;
  await writeText(current(), 'C');
  expect(names()).toEqual(['one', 'two']);
  expect(vmms.listCheckpoints('web').map((cp) => cp.isCurrent)).toEqual([false, true]);

  // Apply "one": a fresh child of the base file; the abandoned current file (no checkpoint owns it) goes.
  const abandoned = current();
  await ok(vmms.applyCheckpoint('web', 'one'));
  expect(vmms.get('web').state).toBe('Off');
  expect(existsSync(abandoned)).toBe(false);
  expect(await chainOf(current())).toEqual([base]);
  expect(await readText(current())).toBe('A');
  await writeText(current(), 'D');

  await ok(vmms.applyCheckpoint('web', two.id));
  expect(await chainOf(current())).toEqual([twoFile, base]);
  expect(await readText(current())).toBe('B');
  await writeText(current(), 'B2');

  expect(vmms.renameCheckpoint('web', 'two', 'second').name).toBe('second');
  expect(() => vmms.renameCheckpoint('web', 'second', 'bad\u0007name')).toThrow(/control characters/);
  expect(() => vmms.renameCheckpoint('web', 'nope', 'x')).toThrow(
    expect.objectContaining({ code: ErrorCode.NotFound }),
  );
  const three = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 'three' }));
  const threeFile = three.disks[0]!.path;
  await writeText(current(), 'E');
  const now = current();

  // Removing "second": its file has one dependent (three's), which is merged into it; Now is re-pointed.
  await ok(vmms.removeCheckpoint('web', 'second'));
  expect(existsSync(threeFile)).toBe(false);
  expect(vmms.listCheckpoints('web').map((cp) => [cp.name, cp.parentId])).toEqual([
    ['one', null],
    ['three', one.id],
  ]);
  expect(vmms.listCheckpoints('web')[1]!.disks[0]!.path).toBe(twoFile);
  expect(current()).toBe(now);
  expect(await chainOf(now)).toEqual([twoFile, base]);
  expect(await readText(now)).toBe('E');
  expect(await readText(twoFile)).toBe('B2');

  // Removing "one" folds three's file into the base file.
  await ok(vmms.removeCheckpoint('web', 'one'));
  expect(existsSync(twoFile)).toBe(false);
  expect(await chainOf(now)).toEqual([base]);
  expect(await readText(base)).toBe('B2');
  expect(await readText(now)).toBe('E');

  // Removing the last one merges Now into the base: the VM is back on its own file, nothing left over.
  await ok(vmms.removeCheckpoint('web', 'three'));
  expect(current()).toBe(base);
  expect(await readText(base)).toBe('E');
  expect(diskFiles()).toEqual(['web.vhdx']);
  expect(existsSync(join(data, 'checkpoints', `${vmms.get('web').id}.json`))).toBe(false);
  const kinds = vmms.events.query({ vmId: vmms.get('web').id }).map((e) => e.kind);
  for (const kind of ['checkpoint-created', 'checkpoint-applied', 'checkpoint-renamed', 'checkpoint-removed'])
    expect(kinds).toContain(kind);
});

test('a file two branches depend on is retained, and folded away once one branch is gone', async () => {
  const base = await vmWithDisk('A');
  await ok(vmms.createCheckpoint('web', { name: 'one' }));
  await writeText(current(), 'B');
  const two = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 'two' }));
  await ok(vmms.applyCheckpoint('web', 'one'));
  await writeText(current(), 'Y');
  // base has two dependents now: two's file and Now.
  await ok(vmms.removeCheckpoint('web', 'one'));
  expect(existsSync(base)).toBe(true);
  expect(names()).toEqual(['two']);
  const tree = JSON.parse(readFileSync(join(data, 'checkpoints', `${vmms.get('web').id}.json`), 'utf8'));
  expect(tree.retained).toEqual([base]);
  expect(await readText(current())).toBe('Y');

  await ok(vmms.removeCheckpoint('web', two.id));
  expect(current()).toBe(base);
  expect(await readText(base)).toBe('Y');
  expect(diskFiles()).toEqual(['web.vhdx']);
});

test('removing a subtree removes its checkpoints children first; memory states go with them', async () => {
  const base = await vmWithDisk('A');
  const id = vmms.get('web').id;
  await ok(vmms.createCheckpoint('web', { name: 'a' }));
  await writeText(current(), 'B');
  await ok(vmms.createCheckpoint('web', { name: 'b' }));
  await writeText(current(), 'C');
  await ok(vmms.createCheckpoint('web', { name: 'c' }));
  await writeText(current(), 'D');
  const result = await ok<{ removed: string[] }>(vmms.removeCheckpoint('web', 'a', { subtree: true }));
  expect(result.removed).toHaveLength(3);
  expect(names()).toEqual([]);
  expect(current()).toBe(base);
  expect(await readText(base)).toBe('D');
  expect(diskFiles()).toEqual(['web.vhdx']);
  expect(existsSync(join(data, 'checkpoints', id))).toBe(false);
});

test('a Saved VM: the checkpoint keeps the saved state; applying it makes the VM Saved again', async () => {
  await vmWithDisk('A');
  const id = vmms.get('web').id;
  writeSavedState(join(data, 'saved', `${id}.vrss`), { vmId: id, image: 'idle', savedAt: 1 }, { n: 42 });
  vmms = new Vmms({ dataDir: data, runtime: offlineRuntime });
  expect(vmms.get('web').state).toBe('Saved');
  const cp = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { type: 'Production' }));
  // A saved VM's checkpoint is Standard: it has the memory state.
  expect(cp).toMatchObject({ type: 'Standard', hasState: true });
  expect(cp.name).toMatch(/^web - \(\d+\/\d+\/\d{4} - \d+:\d\d:\d\d [AP]M\)$/);
  const stateFile = join(data, 'checkpoints', id, `${cp.id}.vrss`);
  expect(readFileSync(stateFile)).toEqual(readFileSync(join(data, 'saved', `${id}.vrss`)));
  expect(vmms.get('web').state).toBe('Saved');

  vmms.discardSavedState('web');
  await writeText(current(), 'changed');
  await ok(vmms.applyCheckpoint('web', cp.name));
  expect(vmms.get('web').state).toBe('Saved');
  expect(vmms.get('web').hasSavedState).toBe(true);
  expect(await readText(current())).toBe('A');
  // The applied state survives a service restart.
  expect(new Vmms({ dataDir: data, runtime: offlineRuntime }).get('web').state).toBe('Saved');

  // Applying to a Saved VM discards its saved state first (as Hyper-V).
  await ok(vmms.removeCheckpoint('web', cp.id));
  expect(existsSync(stateFile)).toBe(false);
  expect(vmms.get('web').state).toBe('Saved');
});

test('hostile checkpoint requests get typed errors; removing the VM forgets its tree but keeps disks', async () => {
  const base = await vmWithDisk('A');
  const id = vmms.get('web').id;
  expect(() => vmms.createCheckpoint('web', { name: '' })).toThrow(/must not be empty/);
  expect(() => vmms.createCheckpoint('web', { name: 'x'.repeat(101) })).toThrow(/at most 100/);
  expect(() => vmms.createCheckpoint('web', { type: 'Fancy' as 'Standard' })).toThrow(
    expect.objectContaining({ code: ErrorCode.InvalidArgument }),
  );
  expect(() => vmms.applyCheckpoint('web', 'ghost')).toThrow(
    expect.objectContaining({ code: ErrorCode.NotFound }),
  );
  expect(() => vmms.removeCheckpoint('web', '')).toThrow(
    expect.objectContaining({ code: ErrorCode.InvalidArgument }),
  );
  expect(() => vmms.listCheckpoints('ghost')).toThrow(expect.objectContaining({ code: ErrorCode.NotFound }));

  await ok(vmms.createCheckpoint('web', { name: 'same' }));
  await ok(vmms.createCheckpoint('web', { name: 'same' }));
  expect(() => vmms.applyCheckpoint('web', 'same')).toThrow(/2 checkpoints are named "same"/);
  // A file the VM's checkpoints hold cannot be attached anywhere else.
  vmms.create({ name: 'other', image: 'idle' });
  await expect(vmms.attachDisk('other', { path: base })).rejects.toMatchObject({ code: ErrorCode.Conflict });

  // While a checkpoint job runs, other disk work on the VM waits its turn.
  const job = vmms.createCheckpoint('web', { name: 'busy' });
  expect(() => vmms.createCheckpoint('web')).toThrow(
    expect.objectContaining({ code: ErrorCode.InvalidState }),
  );
  expect(() => vmms.start('web')).toThrow(/busy/);
  await ok(job);

  const files = diskFiles();
  vmms.remove('web');
  expect(existsSync(join(data, 'checkpoints', `${id}.json`))).toBe(false);
  expect(diskFiles()).toEqual(files);
});

test('a drive detached after a checkpoint keeps its files: removing checkpoints never merges it away', async () => {
  await vmWithDisk('A');
  const second = await makeDisk(join(dir, 'disks', 'data.vhdx'), 'P');
  await vmms.attachDisk('web', { path: second });
  await ok(vmms.createCheckpoint('web', { name: 'one' }));
  const detached = vmms.get('web').disks[1]!.path;
  await writeText(detached, 'Q');
  await vmms.detachDisk('web', 1);
  vmms.create({ name: 'other', image: 'idle' });
  await expect(vmms.attachDisk('other', { path: detached })).rejects.toMatchObject({
    code: ErrorCode.Conflict,
  });

  await ok(vmms.removeCheckpoint('web', 'one'));
  expect(await chainOf(detached)).toEqual([second]);
  expect(await readText(detached)).toBe('Q');
  expect(await readText(second)).toBe('P');
  // It can come back to its own VM.
  expect((await vmms.attachDisk('web', { path: detached })).disks.map((d) => d.path)).toContain(detached);
});

test('an unreadable checkpoint tree is reported, never rewritten', async () => {
  await vmWithDisk('A');
  const id = vmms.get('web').id;
  const file = join(data, 'checkpoints', `${id}.json`);
  for (const [text, code] of [
    ['{ torn', ErrorCode.Corrupt],
    [JSON.stringify({ formatVersion: 9, checkpoints: [] }), ErrorCode.VersionMismatch],
    [JSON.stringify({ formatVersion: 1, current: 'x', checkpoints: [{ id: 'nope' }] }), ErrorCode.Corrupt],
  ] as const) {
    writeFileSync(file, text);
    const fresh = new Vmms({ dataDir: data, runtime: offlineRuntime });
    expect(() => fresh.listCheckpoints('web')).toThrow(expect.objectContaining({ code }));
    expect(() => fresh.createCheckpoint('web')).toThrow(expect.objectContaining({ code }));
    expect(readFileSync(file, 'utf8')).toBe(text);
  }
});

test('the tree survives a service restart: a new service lists, applies and removes the checkpoints', async () => {
  const base = await vmWithDisk('A');
  const one = await ok<CheckpointInfo>(vmms.createCheckpoint('web', { name: 'one' }));
  await writeText(current(), 'B');
  vmms = new Vmms({ dataDir: data, runtime: offlineRuntime });
  expect(vmms.listCheckpoints('web')).toEqual([one]);
  await ok(vmms.applyCheckpoint('web', 'one'));
  expect(await readText(current())).toBe('A');
  await ok(vmms.removeCheckpoint('web', one.id));
  expect(current()).toBe(base);
  expect(diskFiles()).toEqual(['web.vhdx']);
});
