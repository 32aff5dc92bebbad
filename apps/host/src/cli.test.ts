import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ViridianClient } from '@viridian/client';
import { afterAll, beforeAll, expect, test } from 'vitest';

const appDir = dirname(dirname(fileURLToPath(import.meta.url)));

/** Newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.includes('.test')) continue; // tests are not part of the build
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

// tsx by its URL, so the CLI can run from any working directory.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

// The real CLI: its build when that is newer than every source it is made of (starts fast), otherwise
// the TypeScript sources through tsx, so the suite never runs a stale build.
function cliEntry(): string[] {
  const built = join(appDir, 'dist', 'bin.js');
  const sources = [
    '.',
    '../../packages/client',
    '../../packages/vmms',
    '../../packages/vmwp',
    '../../packages/hypervisor',
    '../../packages/vmbus',
    '../../packages/ic',
    '../../packages/threads',
    '../../packages/storage',
    '../../packages/vhd',
  ].map((p) => join(appDir, p));
  const fresh =
    existsSync(built) &&
    sources.every(
      (pkg) => existsSync(join(pkg, 'dist')) && newest(join(pkg, 'src')) <= newest(join(pkg, 'dist')),
    );
  return fresh ? [built] : ['--import', TSX, '--conditions=@viridian/source', join(appDir, 'src', 'bin.ts')];
}
const NODE_ARGS = cliEntry();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = appDir): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, ...args],
      { cwd, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
let serve: ChildProcess;

async function startServe(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...NODE_ARGS, '--data-dir', dataDir, 'serve'], {
    cwd: appDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const end = Date.now() + 30_000;
  while (!out.includes('listening on') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(out).toContain('listening on');
  return child;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-'));
  serve = await startServe(dir);
});

afterAll(async () => {
  if (serve.exitCode === null) {
    const exited = new Promise((r) => serve.once('exit', r));
    serve.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const v = (...args: string[]) => cli(['--data-dir', dir, ...args]);
const json = async (...args: string[]) => {
  const r = await cli(['--data-dir', dir, '--json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};

test('--help lists the commands with examples; --version prints it; exit 0', async () => {
  const help = await cli(['--help']);
  expect(help.code).toBe(0);
  for (const word of [
    'serve',
    'vm',
    'events',
    'kvp',
    'ic',
    'vss',
    'demo',
    'Examples:',
    '--json',
    '--data-dir',
  ]) {
    expect(help.stdout).toContain(word);
  }
  const vmHelp = await cli(['vm', '--help']);
  for (const word of [
    'new',
    'list',
    'show',
    'set',
    'start',
    'stop',
    'restart',
    'save',
    'pause',
    'resume',
    'remove',
    'disk',
    'checkpoint',
    'backup',
    'restore-backup',
  ]) {
    expect(vmHelp.stdout).toContain(word);
  }
  const version = await cli(['--version']);
  expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
});

test('usage errors exit 2 with one line on stderr', async () => {
  const unknown = await cli(['frobnicate']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr.trim().split('\n')).toEqual(["error: unknown command 'frobnicate'"]);
  const badValue = await cli(['vm', 'new', 'x', '--image', 'idle', '--weight', '0']);
  expect(badValue.code).toBe(2);
  expect(badValue.stderr).toMatch(/--weight must be an integer from 1 to 10000/);
  expect((await cli(['vm', 'new', 'x'])).code).toBe(2); // --image is required
});

test('operation failures exit 1 with the reason: no service, invalid state, unknown VM', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'cli-none-'));
  try {
    const none = await cli(['--data-dir', empty, 'vm', 'list']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no Viridian service is running/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  const missing = await v('vm', 'show', 'ghost');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/no VM named or with id "ghost" \(NotFound\)/);
});

test('a VM end to end through the CLI: create, start, heartbeat, pause/resume, save -> Saved -> start, stop, remove', async () => {
  const created = await json('vm', 'new', 'web', '--image', 'counter', '--memory', '256', '--weight', '300');
  expect(created).toMatchObject({
    name: 'web',
    state: 'Off',
    config: { memoryMB: 256, cpu: { relativeWeight: 300 } },
  });

  const start = await v('vm', 'start', 'web');
  expect(start.code).toBe(0);
  expect(start.stdout).toMatch(/start web: start completed 100%/);
  let shown = await json('vm', 'show', 'web');
  for (let i = 0; i < 50 && shown.heartbeat !== 'OK'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    shown = await json('vm', 'show', 'web');
  }
  expect(shown).toMatchObject({ state: 'Running', heartbeat: 'OK' });

  const table = await v('vm', 'list');
  expect(table.stdout).toMatch(/^Name\s+State\s+CPU %\s+Memory\(M\)\s+Uptime\s+Heartbeat\s+Status/m);
  expect(table.stdout).toMatch(/^web\s+Running\s+\d+\s+256\s+\d\d:\d\d:\d\d\s+OK\s+Operating normally/m);

  const again = await v('vm', 'start', 'web');
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/cannot start while the VM is Running \(InvalidState\)/);

  const paused = await v('vm', 'pause', 'web');
  expect(paused.stderr).toBe('');
  expect(paused.code).toBe(0);
  expect((await json('vm', 'show', 'web')).state).toBe('Paused');
  expect((await v('vm', 'resume', 'web')).code).toBe(0);

  const saved = await json('vm', 'save', 'web');
  expect(saved).toMatchObject({ kind: 'save', state: 'Completed' });
  expect(await json('vm', 'show', 'web')).toMatchObject({ state: 'Saved', hasSavedState: true });
  expect((await v('vm', 'set', 'web', '--memory', '512')).stderr).toMatch(/only change while the VM is Off/);
  expect((await v('vm', 'start', 'web')).code).toBe(0);
  expect(await json('vm', 'show', 'web')).toMatchObject({ state: 'Running', hasSavedState: false });

  const stop = await v('vm', 'stop', 'web', '--timeout', '10');
  expect(stop.code).toBe(0);
  expect((await json('vm', 'show', 'web')).state).toBe('Off');
  expect((await v('vm', 'set', 'web', '--memory', '512', '--notes', 'resized')).code).toBe(0);
  expect((await json('vm', 'show', 'web')).config).toMatchObject({ memoryMB: 512, notes: 'resized' });

  const events = await json('events', '--vm', 'web', '--limit', '200');
  const kinds = events.map((e: { kind: string }) => e.kind);
  for (const kind of ['created', 'started', 'paused', 'resumed', 'saved', 'stopped', 'changed'])
    expect(kinds).toContain(kind);
  expect(events.some((e: { message: string }) => e.message === 'restored from saved state')).toBe(true);

  expect((await v('vm', 'remove', 'web')).code).toBe(0);
  expect(await json('vm', 'list')).toEqual([]);
  // About twenty CLI processes and a VM whose partition boots twice: allow for a loaded 2-core machine.
}, 120_000);

test('a stubborn guest: stop reports the timeout (exit 1) and the VM is not left Stopping; --turn-off works', async () => {
  await json('vm', 'new', 'mule', '--image', 'stubborn');
  expect((await v('vm', 'start', 'mule')).code).toBe(0);
  const stop = await v('vm', 'stop', 'mule', '--timeout', '1');
  expect(stop.code).toBe(1);
  expect(stop.stderr).toMatch(/did not shut down within 1000 ms/);
  expect((await json('vm', 'show', 'mule')).state).toBe('Running');
  expect((await v('vm', 'stop', 'mule', '--turn-off')).code).toBe(0);
  expect((await json('vm', 'show', 'mule')).state).toBe('Off');
});

test('a crashing guest goes Critical while two other VMs keep heartbeat OK', async () => {
  await json('vm', 'new', 'calm-1', '--image', 'idle');
  await json('vm', 'new', 'calm-2', '--image', 'counter');
  await json('vm', 'new', 'boom', '--image', 'crash');
  for (const name of ['calm-1', 'calm-2', 'boom']) expect((await v('vm', 'start', name)).code).toBe(0);
  let boom = await json('vm', 'show', 'boom');
  for (let i = 0; i < 50 && boom.state !== 'Critical'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    boom = await json('vm', 'show', 'boom');
  }
  expect(boom.state).toBe('Critical');
  expect(boom.status).toMatch(/guest crashed/);
  // The others' heartbeat integration services answer over VMBus once their guests have connected them.
  const calm = (vms: { name: string; heartbeat: string }[]) =>
    vms.filter((vm) => vm.name.startsWith('calm-') && vm.heartbeat === 'OK').length;
  let list = await json('vm', 'list');
  for (let i = 0; i < 75 && calm(list) < 2; i++) {
    await new Promise((r) => setTimeout(r, 200));
    list = await json('vm', 'list');
  }
  for (const name of ['calm-1', 'calm-2']) {
    expect(list.find((vm: { name: string }) => vm.name === name)).toMatchObject({
      state: 'Running',
      heartbeat: 'OK',
    });
  }
  for (const name of ['calm-1', 'calm-2', 'boom']) await v('vm', 'stop', name, '--turn-off');
});

test('a viewer token may list but not start; the refusal is logged', async () => {
  const created = await json('token', 'create', 'reader', '--role', 'viewer');
  const asViewer = (...args: string[]) =>
    cli(['--data-dir', dir, ...args], { VIRIDIAN_TOKEN: created.token });
  await json('vm', 'new', 'guarded', '--image', 'idle');
  expect((await asViewer('vm', 'list')).code).toBe(0);
  const refused = await asViewer('vm', 'start', 'guarded');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/reader \(viewer\) may not vm.start; it needs operator \(Unauthorized\)/);
  const hostEvents = await json('events', '--limit', '500');
  expect(hostEvents.some((e: { kind: string }) => e.kind === 'unauthorized')).toBe(true);
  await v('vm', 'remove', 'guarded');
});

test('integration services through the CLI: ic list, kvp set/get/remove, vss freeze/thaw, roles, exit codes', async () => {
  await json('vm', 'new', 'icvm', '--image', 'counter', '--memory', '32');
  expect((await v('kvp', 'get', 'icvm')).code).toBe(1); // Off: no integration services
  expect((await v('vm', 'start', 'icvm')).code).toBe(0);
  const end = Date.now() + 30_000;
  let state: { services: { name: string; status: string }[]; timeSync?: { guestClockOffsetMs?: number } };
  do {
    state = await json('ic', 'list', 'icvm');
    if (state.services.every((s) => s.status === 'ok') && state.timeSync?.guestClockOffsetMs !== undefined)
      break;
    await new Promise((r) => setTimeout(r, 250));
  } while (Date.now() < end);
  expect(state.services.map((s) => `${s.name}:${s.status}`)).toEqual([
    'heartbeat:ok',
    'kvp:ok',
    'timeSync:ok',
    'shutdown:ok',
    'vss:ok',
  ]);
  const table = await v('ic', 'list', 'icvm');
  expect(table.stdout).toMatch(/time sync: guest clock offset -?\d+(\.\d+)? ms/);
  expect((await v('kvp', 'set', 'icvm', 'Role', 'frontend')).code).toBe(0);
  expect(await v('kvp', 'get', 'icvm', 'Role')).toMatchObject({ code: 0, stdout: 'frontend\n' });
  expect(await json('kvp', 'get', 'icvm', 'Role')).toEqual({ key: 'Role', value: 'frontend' });
  const guest = await json('kvp', 'get', 'icvm', '--pool', 'guest');
  expect(guest).toContainEqual({ key: 'VirtualMachineName', value: 'icvm' });
  const missing = await v('kvp', 'get', 'icvm', 'Nope');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/NotFound/);
  expect((await v('kvp', 'get', 'icvm', '--pool', 'nowhere')).code).toBe(2);
  expect((await v('kvp', 'set', 'icvm', 'OnlyKey')).code).toBe(2);
  // The guest saw the host's item arrive (its log line is in the VM's event log).
  const events = await json('events', '--vm', 'icvm', '--limit', '200');
  expect(events.some((e: { message: string }) => e.message.includes('kvp: host set Role=frontend'))).toBe(
    true,
  );
  const reader = await json('token', 'create', 'icreader', '--role', 'viewer');
  const asViewer = (...args: string[]) => cli(['--data-dir', dir, ...args], { VIRIDIAN_TOKEN: reader.token });
  expect((await asViewer('kvp', 'get', 'icvm', 'Role')).code).toBe(0);
  const refused = await asViewer('vss', 'freeze', 'icvm');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/Unauthorized/);
  expect(await json('vss', 'freeze', 'icvm')).toEqual({ vm: 'icvm', outcome: 'ok' });
  expect(await json('vss', 'thaw', 'icvm')).toEqual({ vm: 'icvm', outcome: 'ok' });
  expect((await v('kvp', 'remove', 'icvm', 'Role')).code).toBe(0);
  expect((await v('kvp', 'get', 'icvm', 'Role')).code).toBe(1);
  expect((await v('vm', 'stop', 'icvm', '--turn-off')).code).toBe(0);
  expect((await v('vm', 'remove', 'icvm')).code).toBe(0);
});

test('disks, checkpoints and backup of an Off VM through the CLI, with relative paths and exit codes', async () => {
  const work = join(dir, 'disks');
  mkdirSync(work);
  // Run from `work`, so the relative disk and backup paths are resolved against it.
  const here = (...args: string[]) => cli(['--data-dir', dir, ...args], {}, work);
  const hereJson = async (...args: string[]) => {
    const r = await here('--json', ...args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };
  await json('vm', 'new', 'store', '--image', 'idle', '--memory', '32');
  expect((await here('vhd', 'new', 'data.vhdx', '--size', '8M')).code).toBe(0);
  expect((await here('vhd', 'new', 'base.vhd', '--size', '4M')).code).toBe(0);

  const attached = await hereJson('vm', 'disk', 'add', 'store', 'data.vhdx');
  expect(attached.config.disks).toEqual([{ lun: 0, path: join(work, 'data.vhdx'), readOnly: false }]);
  const second = await here('vm', 'disk', 'add', 'store', 'base.vhd', '--lun', '5', '--read-only');
  expect(second).toMatchObject({ code: 0, stderr: '' });
  expect(second.stdout).toContain(`attached ${join(work, 'base.vhd')} to store at LUN 5 (read-only)`);
  const taken = await here('vm', 'disk', 'add', 'store', 'data.vhdx', '--lun', '5');
  expect(taken.code).toBe(1);
  expect(taken.stderr).toMatch(/^error: .*\((Conflict|InvalidArgument|InvalidState)\)\n$/);
  expect((await here('vm', 'disk', 'add', 'store', 'missing.vhdx')).code).toBe(1);

  expect(await json('vm', 'disk', 'list', 'store')).toEqual([
    {
      lun: 0,
      path: join(work, 'data.vhdx'),
      readOnly: false,
      format: 'vhdx',
      type: 'dynamic',
      virtualSize: 8 * 2 ** 20,
    },
    {
      lun: 5,
      path: join(work, 'base.vhd'),
      readOnly: true,
      format: 'vhd',
      type: 'dynamic',
      virtualSize: 4 * 2 ** 20,
    },
  ]);
  const table = await v('vm', 'disk', 'list', 'store');
  expect(table.stdout).toMatch(/^LUN\s+Path\s+Read-only\s+Format\s+Type\s+Size$/m);
  expect(table.stdout).toMatch(/^5\s+\S+base\.vhd\s+yes\s+VHD\s+dynamic\s+4 MiB$/m);
  expect((await v('vm', 'disk', 'remove', 'store', '5')).code).toBe(0);
  expect((await v('vm', 'disk', 'remove', 'store', '5')).code).toBe(1);
  expect((await json('vm', 'show', 'store')).config.disks).toHaveLength(1);

  const first = await json('vm', 'checkpoint', 'new', 'store', '--name', 'first');
  expect(first).toMatchObject({
    state: 'Completed',
    result: { name: 'first', type: 'Standard', isCurrent: true },
  });
  const made = await v('vm', 'checkpoint', 'new', 'store', '--name', 'second', '--production');
  expect(made.code).toBe(0);
  expect(made.stdout).toMatch(/created checkpoint "second" \(Production, [0-9a-f-]+\)/);
  const listed = await json('vm', 'checkpoint', 'list', 'store');
  expect(
    listed.map((c: { name: string; parentId: string | null; isCurrent: boolean }) => [
      c.name,
      c.parentId,
      c.isCurrent,
    ]),
  ).toEqual([
    ['first', null, false],
    ['second', first.result.id, true],
  ]);
  // The drive now writes to a differencing file made for the checkpoint.
  const [current] = await json('vm', 'disk', 'list', 'store');
  expect(current).toMatchObject({ lun: 0, type: 'differencing' });
  expect((await v('vm', 'checkpoint', 'rename', 'store', 'first', 'base')).code).toBe(0);
  const tree = await v('vm', 'checkpoint', 'list', 'store');
  expect(tree.stdout).toMatch(/^base\s+Standard\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+no$/m);
  expect(tree.stdout).toMatch(/^└─ second \(current\)\s+Production\s/m);
  const unknown = await v('vm', 'checkpoint', 'apply', 'store', 'nope');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/\(NotFound\)/);
  const applied = await v('vm', 'checkpoint', 'apply', 'store', 'base');
  expect(applied).toMatchObject({ code: 0, stderr: '' });
  expect(applied.stdout).toMatch(/^store is Off$/m);
  expect(
    (await json('vm', 'checkpoint', 'list', 'store')).find((c: { name: string }) => c.name === 'base'),
  ).toMatchObject({ isCurrent: true });
  expect((await v('vm', 'checkpoint', 'remove', 'store', 'base', '--subtree')).code).toBe(0);
  expect(await json('vm', 'checkpoint', 'list', 'store')).toEqual([]);
  expect((await v('vm', 'checkpoint', 'list', 'store')).stdout).toBe('(no checkpoints)\n');

  const backup = await here('vm', 'backup', 'store', 'backup');
  expect(backup).toMatchObject({ code: 0, stderr: '' });
  expect(backup.stdout).toContain(`backed up store to ${join(work, 'backup')}`);
  const restored = await hereJson('vm', 'restore-backup', 'backup', '--name', 'store-copy');
  expect(restored).toMatchObject({ state: 'Completed', result: { name: 'store-copy', state: 'Off' } });
  expect(restored.result.id).not.toBe(attached.id);
  const copied = await json('vm', 'disk', 'list', 'store-copy');
  expect(copied).toMatchObject([{ lun: 0, format: 'vhdx', virtualSize: 8 * 2 ** 20 }]);
  expect(copied[0].path).not.toBe(join(work, 'data.vhdx'));
  expect((await v('vm', 'restore-backup', join(work, 'nowhere'))).code).toBe(1);

  for (const name of ['store', 'store-copy']) expect((await v('vm', 'remove', name)).code).toBe(0);
  // Some forty CLI processes: allow for a loaded 2-core machine.
}, 240_000);

test('the demo runs without a terminal: snapshots as plain lines, clean stop, exit 0', async () => {
  const demo = await cli(['demo', '--duration', '2']);
  expect(demo.code).toBe(0);
  expect(demo.stdout).not.toContain('\u001b[');
  expect(demo.stdout).toMatch(/^primes-heavy\s+Running/m);
  expect(demo.stdout).toContain('demo finished: every VM is Off');
  // The table carries what the guests report over KVP and time sync.
  expect(demo.stdout).toMatch(/Clock\s+Guest KVP/);
  // A host-set KVP item, as the guest read it, and a VSS freeze/thaw.
  expect(demo.stdout).toMatch(/guest counter: kvp: host set DemoMessage=hello from the host/);
  expect(demo.stdout).toContain('VSS on counter: freeze ok, thaw ok');
  // The disk VM: a production checkpoint and a backup, the checkpoint applied and the backup restored.
  const frozen = /frozen at transaction (\d+); its disk/.exec(demo.stdout)?.[1];
  const backedUp = /VSS-consistent, guest frozen at transaction (\d+)/.exec(demo.stdout)?.[1];
  expect(frozen).toBeDefined();
  expect(backedUp).toBeDefined();
  expect(demo.stdout).toContain(
    `checkpoint applied; the guest found transaction ${frozen} on its disk (check ok)`,
  );
  expect(demo.stdout).toContain(
    `restored from the backup; the guest found transaction ${backedUp} (check ok)`,
  );
  const host = /host on (\S+)/.exec(demo.stdout)![1]!;
  expect(existsSync(host)).toBe(false);
});

test('kill -9 of the daemon while VMs are created and changed: after restart each is old or new, never torn or lost', async () => {
  const crashDir = mkdtempSync(join(tmpdir(), 'cli-crash-'));
  const acked = new Map<string, string>(); // name -> notes the service confirmed
  const inFlight = new Map<string, string>(); // name -> notes sent but not confirmed
  try {
    for (let round = 0; round < 6; round++) {
      const daemon = await startServe(crashDir);
      const exited = new Promise((r) => daemon.once('exit', r));
      const client = await ViridianClient.connect({ dataDir: crashDir });
      // After a restart, the service must hold exactly one of the two candidate versions.
      const info = await client.hostInfo();
      expect(info.configProblems).toEqual([]);
      const vms = await client.listVms();
      for (const [name, notes] of acked) {
        const found = vms.find((vm) => vm.name === name);
        expect(found, `${name} lost`).toBeDefined();
        const now = (await client.getVm(name)).config.notes;
        expect([notes, inFlight.get(name)]).toContain(now);
        acked.set(name, now);
      }
      for (const vm of vms) {
        if (!acked.has(vm.name)) {
          expect(inFlight.get(vm.name)).toBe((await client.getVm(vm.name)).config.notes);
          acked.set(vm.name, inFlight.get(vm.name)!);
        }
      }
      inFlight.clear();
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          const name = `vm-${round}-${i % 4}`;
          const notes = `round ${round} write ${i} ${'x'.repeat(i % 7 === 0 ? 3000 : 10)}`;
          inFlight.set(name, notes);
          if (acked.has(name)) await client.setVm(name, { notes, memoryMB: 64 + 2 * i });
          else await client.createVm({ name, image: 'idle', notes });
          acked.set(name, notes);
          inFlight.delete(name);
        }
      })().catch(() => undefined); // the connection dies with the daemon
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 250)));
      daemon.kill('SIGKILL');
      await exited;
      stop = true;
      await writer;
      client.close();
    }
    expect(acked.size).toBeGreaterThan(4);
  } finally {
    rmSync(crashDir, { recursive: true, force: true });
  }
});
