import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ViridianClient } from '@viridian/client';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  cli,
  type Daemon,
  isRunning,
  killAllDaemons,
  processTree,
  startServe,
} from './cli-process.test-fixture.js';

// The kvstore guest verifies the whole store from its disk every this many commits.
const VERIFY_EVERY = 50;
const DEADLINE_MS = 30_000;

let dir: string;
const clients = new Set<ViridianClient>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'storage-e2e-'));
});

afterAll(async () => {
  for (const client of clients) client.close();
  await killAllDaemons();
  rmSync(dir, { recursive: true, force: true });
});

const v = (...args: string[]) => cli(['--data-dir', dir, ...args]);

/** Runs a command that must succeed; returns its stdout. */
async function ok(...args: string[]): Promise<string> {
  const result = await v(...args);
  expect(result, `viridian ${args.join(' ')}`).toMatchObject({ code: 0, stderr: '' });
  return result.stdout;
}

async function connect(): Promise<ViridianClient> {
  const client = await ViridianClient.connect({ dataDir: dir });
  clients.add(client);
  return client;
}

/** What the guest's kvstore last published; -1 and `none` for an item not published (yet). */
interface KvStatus {
  committed: number;
  bootCommitted: number;
  check: string;
}

/** The kvstore's items, or undefined while the VM is not running (no integration services). */
async function kvStatus(client: ViridianClient, vm: string): Promise<KvStatus | undefined> {
  let items: { key: string; value: string }[];
  try {
    items = await client.listKvp(vm, { pool: 'guest' });
  } catch {
    return undefined;
  }
  const item = (key: string) => items.find((i) => i.key === key)?.value;
  const number = (key: string) => Number(item(key) ?? -1);
  return {
    committed: number('kvstore.committed'),
    bootCommitted: number('kvstore.bootCommitted'),
    check: item('kvstore.check') ?? 'none',
  };
}

/**
 * Polls the kvstore's items until `done` holds, the store reports a failure (it stops writing then),
 * or the deadline passes; resolves with the last status seen, for the caller to assert on.
 */
async function waitKv(
  client: ViridianClient,
  vm: string,
  done: (status: KvStatus) => boolean,
): Promise<KvStatus> {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const status = await kvStatus(client, vm);
    if (status !== undefined && (done(status) || /^(corrupt|error)/.test(status.check))) return status;
    if (Date.now() > end) {
      expect(status, `${vm} is not running`).toBeDefined();
      return status!;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits for a boot that found at least `atLeast` committed on the disk and has since verified the
 * whole store from the disk (every VERIFY_EVERY commits; `ok` at open only means the log replayed).
 */
async function expectVerifiedBoot(client: ViridianClient, vm: string, atLeast: number): Promise<KvStatus> {
  const status = await waitKv(
    client,
    vm,
    (s) => s.bootCommitted >= atLeast && s.committed >= s.bootCommitted + VERIFY_EVERY,
  );
  const seen = JSON.stringify(status);
  expect(status.check, seen).toBe('ok');
  expect(
    status.bootCommitted,
    `committed sequence found on the disk at boot: ${seen}`,
  ).toBeGreaterThanOrEqual(atLeast);
  expect(status.committed, `verified since boot: ${seen}`).toBeGreaterThanOrEqual(
    status.bootCommitted + VERIFY_EVERY,
  );
  return status;
}

async function vmState(client: ViridianClient, vm: string): Promise<string> {
  return (await client.getVm(vm)).state;
}

async function waitState(client: ViridianClient, vm: string, wanted: string): Promise<string> {
  const end = Date.now() + DEADLINE_MS;
  let state = await vmState(client, vm);
  while (state !== wanted && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    state = await vmState(client, vm);
  }
  return state;
}

test('a kvstore disk survives kill -9 of the host, a graceful restart, and save/start', async () => {
  const disk = join(dir, 'kv.vhdx');
  await ok('vhd', 'new', disk, '--size', '16M');
  let daemon: Daemon = await startServe(dir);
  await ok('vm', 'new', 'kv', '--image', 'kvstore', '--memory', '64');
  await ok('vm', 'disk', 'add', 'kv', disk, '--lun', '0');
  await ok('vm', 'start', 'kv');
  let client = await connect();
  const before = await waitKv(client, 'kv', (s) => s.committed >= 20);
  expect(before).toMatchObject({ check: 'ok', bootCommitted: 0 });
  expect(before.committed).toBeGreaterThanOrEqual(20);
  const n = before.committed;

  // SIGKILL: the daemon and the VM worker threads inside it die at once, mid-write.
  const tree = processTree(daemon.pid);
  expect(tree.map((p) => p.pid)).toContain(daemon.pid);
  daemon.child.kill('SIGKILL');
  expect(await daemon.exited).toBe('SIGKILL');
  const end = Date.now() + DEADLINE_MS;
  while (tree.some(isRunning) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  expect(tree.filter(isRunning)).toEqual([]);
  client.close();

  // The VM's default automatic start action (StartIfRunning) starts it again with the new host,
  // as a fresh boot (no saved state): the store is opened from what reached the disk.
  daemon = await startServe(dir);
  client = await connect();
  expect(await waitState(client, 'kv', 'Running')).toBe('Running');
  expect((await client.getVm('kv')).hasSavedState).toBe(false);
  const events = await client.queryEvents({ vm: 'kv', limit: 200 });
  expect(events.map((e) => e.kind)).toContain('automatic-start');
  await expectVerifiedBoot(client, 'kv', n);
  const shown = await v('kvp', 'get', 'kv', 'kvstore.check', '--pool', 'guest');
  expect(shown).toMatchObject({ code: 0, stdout: 'ok\n' });

  // A graceful restart through the shutdown integration service: the next boot finds at least what
  // was committed before it.
  const beforeRestart = (await kvStatus(client, 'kv'))!;
  await ok('vm', 'restart', 'kv', '--timeout', '30');
  await expectVerifiedBoot(client, 'kv', beforeRestart.committed);

  // Save and start: the same boot goes on (no reopen), past what it had committed, still verified.
  const beforeSave = (await kvStatus(client, 'kv'))!;
  await ok('vm', 'save', 'kv');
  expect(await client.getVm('kv')).toMatchObject({ state: 'Saved', hasSavedState: true });
  await ok('vm', 'start', 'kv');
  const resumed = await waitKv(client, 'kv', (s) => s.committed >= beforeSave.committed + VERIFY_EVERY);
  expect(resumed).toMatchObject({ check: 'ok', bootCommitted: beforeSave.bootCommitted });
  expect(resumed.committed).toBeGreaterThanOrEqual(beforeSave.committed + VERIFY_EVERY);

  await ok('vm', 'stop', 'kv', '--timeout', '30');
  expect(await vmState(client, 'kv')).toBe('Off');
  client.close();
  daemon.child.kill('SIGTERM');
  expect(await daemon.exited).toBe(0);
  // Closed cleanly, the file's structures are consistent.
  await ok('vhd', 'check', disk);
}, 180_000);
