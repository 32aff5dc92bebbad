import { spawn } from 'node:child_process';
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
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import type { CheckpointInfo } from './checkpoint-tree.js';
import type { VmConfig } from './config.js';
import type { RunningVm, VmStartOptions } from './runtime.js';
import {
  chainOf,
  FileRuntime,
  jobResult,
  makeDisk,
  offlineRuntime,
  readText,
  writeText,
} from './storage.test-fixture.js';
import { Vmms } from './vmms.js';

// A crash is simulated at every durable write of an operation: from the chosen write on, every write
// of the service's files fails, as if the process had died there (what the operation still does to
// disk files in its failure paths is something a dying process could also have done). A fresh
// service on the same data directory then recovers.
const crash = vi.hoisted(() => ({ writes: 0, dieAt: Number.POSITIVE_INFINITY, died: false }));

vi.mock('./atomic-file.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('./atomic-file.js')>();
  return {
    ...real,
    writeFileAtomic: (path: string, data: string | Uint8Array, mode?: number) => {
      if (!/[/\\]events[/\\]/.test(path)) {
        crash.writes++;
        if (crash.writes >= crash.dieAt) {
          crash.died = true;
          throw new Error('killed');
        }
      }
      real.writeFileAtomic(path, data, mode);
    },
  };
});

let dir: string;
let data: string;
let disks: string;
let vmms: Vmms | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-recovery-'));
  data = join(dir, 'data');
  disks = join(dir, 'disks');
  mkdirSync(disks);
  disarm();
});

afterEach(async () => {
  disarm();
  await vmms?.stopService().catch(() => undefined);
  vmms = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function arm(at: number): void {
  crash.writes = 0;
  crash.dieAt = at;
  crash.died = false;
}

function disarm(): void {
  crash.dieAt = Number.POSITIVE_INFINITY;
}

/** Waits for the job; its outcome does not matter (it may have died half-way). */
async function settle(service: Vmms, job: { id: string }): Promise<void> {
  await service.jobs.wait(job.id);
}

/** A fresh service on the same data directory, after its recovery pass. */
async function restarted(): Promise<Vmms> {
  disarm();
  vmms = new Vmms({ dataDir: data, runtime: offlineRuntime });
  await vmms.startService();
  return vmms;
}

function treeDoc(service: Vmms): Record<string, unknown> | undefined {
  const file = join(data, 'checkpoints', `${service.get('web').id}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined;
}

/** What must hold after any recovery: nothing pending, no problems, every file named exists, no stray file. */
async function expectHealthy(service: Vmms): Promise<void> {
  const detail = service.get('web');
  expect(detail.problems).toEqual([]);
  const tree = treeDoc(service);
  expect(tree?.['pending']).toBeUndefined();
  expect(tree?.['fold']).toBeUndefined();
  const named = new Set<string>(detail.disks.map((d) => d.path));
  for (const cp of service.listCheckpoints('web')) for (const d of cp.disks) named.add(d.path);
  for (const path of named) expect(existsSync(path), path).toBe(true);
  for (const d of detail.disks) for (const parent of await chainOf(d.path)) named.add(parent);
  // Every disk file in the directory is used by the VM or its checkpoints.
  for (const name of readdirSync(disks)) expect(named.has(join(disks, name)), name).toBe(true);
}

async function offVmWithDisk(service: Vmms, text: string): Promise<string> {
  const base = await makeDisk(join(disks, 'web.vhdx'), text);
  service.create({ name: 'web', image: 'idle', automaticStartAction: 'Nothing' });
  await service.attachDisk('web', { path: base });
  return base;
}

/** Runs `scenario` with a crash at write 1, 2, … until it completes without reaching the crash. */
async function everyCrashPoint(
  scenario: (at: number) => Promise<void>,
  check: (service: Vmms, at: number) => Promise<void>,
): Promise<number> {
  for (let at = 1; at < 40; at++) {
    rmSync(data, { recursive: true, force: true });
    rmSync(disks, { recursive: true, force: true });
    mkdirSync(disks);
    await scenario(at);
    const died = crash.died;
    const service = await restarted();
    await check(service, at);
    await expectHealthy(service);
    await service.stopService();
    vmms = undefined;
    if (!died) return at;
  }
  throw new Error('the operation never completed');
}

test('checkpoint create of an Off VM cut off at every write: afterwards it exists or it never did', async () => {
  const outcomes = new Set<string>();
  const points = await everyCrashPoint(
    async (at) => {
      const service = new Vmms({ dataDir: data, runtime: offlineRuntime });
      await offVmWithDisk(service, 'A');
      arm(at);
      await settle(service, service.createCheckpoint('web', { name: 'one' }));
    },
    async (service) => {
      const cps = service.listCheckpoints('web');
      const drive = service.get('web').disks[0]!.path;
      expect(await readText(drive)).toBe('A');
      if (cps.length === 1) {
        expect(basename(drive)).toBe(`web_${cps[0]!.id}.avhdx`);
        outcomes.add('created');
      } else {
        expect(cps).toEqual([]);
        expect(drive).toBe(join(disks, 'web.vhdx'));
        outcomes.add('undone');
      }
    },
  );
  expect(points).toBeGreaterThan(2);
  expect(outcomes).toEqual(new Set(['created', 'undone']));
});

test('checkpoint apply cut off at every write: the VM has the data of before or after, and can be used', async () => {
  const seen = new Set<string>();
  await everyCrashPoint(
    async (at) => {
      const service = new Vmms({ dataDir: data, runtime: offlineRuntime });
      await offVmWithDisk(service, 'A');
      await jobResult(service, service.createCheckpoint('web', { name: 'one' }));
      await writeText(service.get('web').disks[0]!.path, 'B');
      arm(at);
      await settle(service, service.applyCheckpoint('web', 'one'));
    },
    async (service) => {
      const text = await readText(service.get('web').disks[0]!.path);
      expect(['A', 'B']).toContain(text);
      seen.add(text);
      // Still usable: the checkpoint can be applied again and removed.
      await jobResult(service, service.applyCheckpoint('web', 'one'));
      expect(await readText(service.get('web').disks[0]!.path)).toBe('A');
    },
  );
  expect(seen).toEqual(new Set(['A', 'B']));
});

test('checkpoint remove cut off at every write (the merge included): the data stays, the tree matches the files', async () => {
  await everyCrashPoint(
    async (at) => {
      const service = new Vmms({ dataDir: data, runtime: offlineRuntime });
      await offVmWithDisk(service, 'A');
      await jobResult(service, service.createCheckpoint('web', { name: 'one' }));
      await writeText(service.get('web').disks[0]!.path, 'B');
      await jobResult(service, service.createCheckpoint('web', { name: 'two' }));
      await writeText(service.get('web').disks[0]!.path, 'C', 4096);
      arm(at);
      await settle(service, service.removeCheckpoint('web', 'one'));
    },
    async (service) => {
      const drive = service.get('web').disks[0]!.path;
      expect(await readText(drive)).toBe('B');
      expect(await readText(drive, 4096)).toBe('C');
      const names = service.listCheckpoints('web').map((cp) => cp.name);
      expect([['one', 'two'], ['two']]).toContainEqual(names);
      const two = service.listCheckpoints('web').find((cp) => cp.name === 'two')!;
      expect(await readText(two.disks[0]!.path)).toBe('B');
    },
  );
});

/** A runtime whose guest writes "C" to each new file right after a snapshot (the VM keeps running). */
class WritingRuntime extends FileRuntime {
  static snapshots = 0;

  override async start(config: VmConfig, options: VmStartOptions): Promise<RunningVm> {
    const vm = await super.start(config, options);
    const snapshot = vm.snapshotDisks!;
    vm.snapshotDisks = async (request) => {
      const result = await snapshot(request);
      for (const d of request.disks) await writeText(d.path, 'C');
      WritingRuntime.snapshots++;
      return result;
    };
    return vm;
  }
}

/** What the guest last wrote: "C" once a snapshot happened. */
const newest = () => (WritingRuntime.snapshots > 0 ? 'C' : 'A');

async function runningVm(): Promise<Vmms> {
  WritingRuntime.snapshots = 0;
  const service = new Vmms({ dataDir: data, runtime: new WritingRuntime() });
  await offVmWithDisk(service, 'A');
  await jobResult(service, service.start('web'));
  return service;
}

test('a backup of a running VM cut off at every write: the drive is back on its file with the newest data', async () => {
  await everyCrashPoint(
    async (at) => {
      const service = await runningVm();
      arm(at);
      await settle(service, service.backup('web', join(dir, `backup-${at}`)));
    },
    async (service) => {
      const drive = service.get('web').disks[0]!.path;
      expect(drive).toBe(join(disks, 'web.vhdx'));
      expect(await chainOf(drive)).toEqual([]);
      expect(await readText(drive)).toBe(newest());
    },
  );
});

test('a backup cut off while its temporary file was being created: the partial file is removed, the drive keeps its data', async () => {
  const service0 = await runningVm();
  // The intent record lands; everything the service writes after it fails, as if it had died.
  arm(2);
  await settle(service0, service0.backup('web', join(dir, 'backup')));
  expect(treeDoc(service0)?.['pending']).toBeDefined();
  // The kill came while the differencing file was half written: a header and nothing else.
  const temporary = join(disks, 'web_backup.avhdx');
  writeFileSync(temporary, Buffer.from('vhdxfile'));
  const service = await restarted();
  await expectHealthy(service);
  expect(existsSync(temporary)).toBe(false);
  expect(service.get('web').disks[0]!.path).toBe(join(disks, 'web.vhdx'));
  expect(await readText(join(disks, 'web.vhdx'))).toBe(newest());
  const logged = service.events.query({ vmId: service.get('web').id }).map((e) => e.message);
  expect(logged.some((m) => m.includes(`removed ${temporary}: its creation was cut off`))).toBe(true);
});

test('a checkpoint of a running VM cut off at every write: what the guest wrote after the snapshot is kept', async () => {
  await everyCrashPoint(
    async (at) => {
      const service = await runningVm();
      arm(at);
      await settle(service, service.createCheckpoint('web', { name: 'live' }));
    },
    async (service) => {
      expect(await readText(service.get('web').disks[0]!.path)).toBe(newest());
      const cps = service.listCheckpoints('web');
      if (cps.length === 1) expect(await readText(cps[0]!.disks[0]!.path)).toBe('A');
    },
  );
});

test('a drive left on a backup temporary file by an older service is merged back; a Saved VM stays Saved', async () => {
  let service = new Vmms({ dataDir: data, runtime: offlineRuntime });
  const base = await offVmWithDisk(service, 'A');
  await service.detachDisk('web', 0);
  // As an interrupted backup leaves it: the drive on `<base>_backup.avhdx`, holding the newest data.
  const { VirtualDisk } = await import('@viridian/vhd');
  const temporary = join(disks, 'web_backup.avhdx');
  await (
    await VirtualDisk.create(temporary, { format: 'vhdx', type: 'differencing', parentPath: base })
  ).close();
  await writeText(temporary, 'newest');
  const config = JSON.parse(readFileSync(join(data, 'vms', `${service.get('web').id}.json`), 'utf8'));
  config.config.disks = [{ lun: 0, path: temporary, readOnly: false }];
  writeFileSync(join(data, 'vms', `${service.get('web').id}.json`), JSON.stringify(config));
  writeFileSync(join(data, 'saved', `${service.get('web').id}.vrss`), 'x');
  service = await restarted();
  expect(service.get('web')).toMatchObject({ state: 'Saved', disks: [{ lun: 0, path: base }] });
  expect(existsSync(temporary)).toBe(false);
  expect(await readText(base)).toBe('newest');
  const recovery = service.events.query({ vmId: service.get('web').id }).filter((e) => e.kind === 'recovery');
  expect(recovery.map((e) => e.message)).toEqual([
    `merged ${temporary}, left by a backup cut off, back into ${base}`,
  ]);
});

test('stray differencing files are reported and kept; a missing drive fails the start with NotFound naming it', async () => {
  const service0 = new Vmms({ dataDir: data, runtime: offlineRuntime });
  const base = await offVmWithDisk(service0, 'A');
  const cp = await jobResult<CheckpointInfo>(service0, service0.createCheckpoint('web', { name: 'one' }));
  const { VirtualDisk } = await import('@viridian/vhd');
  const stray = join(disks, 'web_0f0f0f0f-0000-4000-8000-000000000001.avhdx');
  await (await VirtualDisk.create(stray, { format: 'vhdx', type: 'differencing', parentPath: base })).close();
  const drive = service0.get('web').disks[0]!.path;
  rmSync(drive);
  const service = await restarted();
  const { problems, status } = service.get('web');
  expect(problems).toHaveLength(2);
  expect(problems[0]).toMatch(new RegExp(`LUN 0 \\(${drive}\\) does not exist`));
  expect(problems[1]).toContain(stray);
  expect(status).toContain('does not exist');
  const logged = service.events
    .query({ vmId: service.get('web').id })
    .filter((e) => e.kind === 'storage-problem');
  expect(logged.map((e) => e.message)).toEqual(problems);
  expect(existsSync(stray)).toBe(true);
  expect(existsSync(cp.disks[0]!.path)).toBe(true);
  const job = await service.jobs.wait(service.start('web').id);
  expect(job.state).toBe('Failed');
  expect(job.error).toMatchObject({ code: 'NotFound' });
  expect(job.error?.message).toContain(drive);
});

test('kill -9 of a service during backups, checkpoints and removals: after recovery the newest data is on the drive', async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const fixture = join(here, 'recovery-worker.test-fixture.ts');
  const backups = join(dir, 'backups');
  mkdirSync(backups);
  let committed = 0;
  for (let run = 0; run < 3; run++) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@viridian/source', fixture, data, disks, backups, String(committed)],
      { cwd: dirname(here), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!out.includes('ready\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(out).toContain('ready\n');
    await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 400)));
    child.kill('SIGKILL');
    await exited;
    let begun = committed;
    for (const line of out.split('\n')) {
      const [what, gen] = line.split(' ');
      if (what === 'begin') begun = Number(gen);
      if (what === 'commit') committed = Number(gen);
    }
    const service = await restarted();
    await expectHealthy(service);
    const text = await readText(service.get('web').disks[0]!.path);
    expect([`gen ${committed}`, `gen ${begun}`]).toContain(text);
    committed = Number(text.slice(4));
    await service.stopService();
    vmms = undefined;
  }
  expect(committed).toBeGreaterThan(0);
}, 120_000);

test('a checkpoint file gone under the drive: reported, and the start fails with NotFound naming it', async () => {
  const service0 = new Vmms({ dataDir: data, runtime: offlineRuntime });
  const base = await offVmWithDisk(service0, 'A');
  await jobResult(service0, service0.createCheckpoint('web', { name: 'one' }));
  rmSync(base);
  const service = await restarted();
  expect(service.get('web').problems).toEqual([`${base}, a file of the VM's checkpoints, does not exist`]);
  const job = await service.jobs.wait(service.start('web').id);
  expect(job.error).toMatchObject({ code: 'NotFound' });
  expect(job.error?.message).toContain(base);
  expect(service.get('web').state).toBe('Off');
});

test('an intent record that makes no sense is reported as a corrupt tree and left untouched', async () => {
  const service0 = new Vmms({ dataDir: data, runtime: offlineRuntime });
  await offVmWithDisk(service0, 'A');
  await jobResult(service0, service0.createCheckpoint('web', { name: 'one' }));
  const file = join(data, 'checkpoints', `${service0.get('web').id}.json`);
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  doc.pending = {
    kind: 'format-everything',
    created: [{ lun: 0, path: 'relative.vhdx', parent: '/x.vhdx' }],
  };
  const text = JSON.stringify(doc);
  writeFileSync(file, text);
  const service = await restarted();
  expect(service.get('web').problems).toEqual([
    expect.stringMatching(/recovery of its disks failed: .*pending names no known operation/),
  ]);
  expect(readFileSync(file, 'utf8')).toBe(text);
  doc.pending = { kind: 'vm.backup', created: [{ lun: 0, path: 'relative.vhdx', parent: '/x.vhdx' }] };
  writeFileSync(file, JSON.stringify(doc));
  const again = await restarted();
  expect(again.get('web').problems).toEqual([expect.stringMatching(/Corrupt|absolute|path/i)]);
});
