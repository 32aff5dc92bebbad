import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ErrorCode } from './errors.js';
import { JobState } from './jobs.js';
import { VmState } from './lifecycle.js';
import { ThreadRuntime } from './thread-runtime.js';
import { Vmms } from './vmms.js';

let dir: string;
let vmms: Vmms;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-'));
  vmms = new Vmms({
    dataDir: dir,
    runtime: new ThreadRuntime({ safePointTimeoutMs: 3000 }),
    defaultStopTimeoutMs: 5000,
  });
});

afterEach(async () => {
  await vmms.stopService();
  rmSync(dir, { recursive: true, force: true });
});

async function done(job: { id: string }) {
  return vmms.jobs.wait(job.id);
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('start, pause, resume, save, restore with guest state intact, graceful stop, remove', async () => {
  vmms.create({ name: 'alpha', image: 'counter' });
  expect((await done(vmms.start('alpha'))).state).toBe(JobState.Completed);
  expect(vmms.get('alpha').state).toBe(VmState.Running);
  await until(() => vmms.get('alpha').heartbeat === 'OK', 'heartbeat');

  expect((await done(vmms.pause('alpha'))).state).toBe(JobState.Completed);
  expect(vmms.get('alpha').state).toBe(VmState.Paused);
  expect(vmms.get('alpha').heartbeat).toBe('Paused');
  expect(() => vmms.pause('alpha')).toThrow(/cannot pause while the VM is Paused/);
  expect((await done(vmms.resume('alpha'))).state).toBe(JobState.Completed);
  expect(vmms.get('alpha').state).toBe(VmState.Running);

  await new Promise((r) => setTimeout(r, 300));
  const saved = await done(vmms.save('alpha'));
  expect(saved.state).toBe(JobState.Completed);
  const detail = vmms.get('alpha');
  expect(detail.state).toBe(VmState.Saved);
  expect(detail.hasSavedState).toBe(true);
  expect(() => vmms.set('alpha', { memoryMB: 1024 })).toThrow(
    /memoryMB can only change while the VM is Off \(it is Saved\)/,
  );

  expect((await done(vmms.start('alpha'))).state).toBe(JobState.Completed);
  expect(vmms.get('alpha').hasSavedState).toBe(false);
  const events = vmms.events.query({ vmId: detail.id }).map((e) => e.kind);
  expect(events).toContain('saved');
  expect(vmms.events.query({ vmId: detail.id }).some((e) => e.message === 'restored from saved state')).toBe(
    true,
  );

  const stop = await done(vmms.stop('alpha'));
  expect(stop.state).toBe(JobState.Completed);
  expect(vmms.get('alpha').state).toBe(VmState.Off);
  vmms.remove('alpha');
  expect(() => vmms.get('alpha')).toThrow(expect.objectContaining({ code: ErrorCode.NotFound }));
});

test('guest state survives save and restore: a guest module counts on from where it was saved', async () => {
  const module = join(dir, 'tally.mjs');
  writeFileSync(
    module,
    `export default {
      boot: () => ({ n: 0, boots: 1 }),
      step(s, ctx) { s.n++; if (s.n % 20 === 0) ctx.log('n=' + s.n + ' boots=' + s.boots); return 5; },
    };\n`,
  );
  const vm = vmms.create({ name: 'tally', image: module });
  await done(vmms.start('tally'));
  await until(() => vmms.events.query({ vmId: vm.id }).some((e) => e.message.startsWith('n=40')), 'n=40');
  await done(vmms.save('tally'));
  const seenBefore = Math.max(
    ...vmms.events
      .query({ vmId: vm.id })
      .filter((e) => e.kind === 'guest')
      .map((e) => Number(/n=(\d+)/.exec(e.message)![1])),
  );
  await done(vmms.start('tally'));
  await until(
    () => vmms.events.query({ vmId: vm.id }).some((e) => e.message === `n=${seenBefore + 20} boots=1`),
    'counting on after restore',
  );
});

test('a stubborn guest: stop times out, reports, and leaves the VM Running; turn-off then works', async () => {
  vmms.create({ name: 'mule', image: 'stubborn' });
  await done(vmms.start('mule'));
  const stop = await done(vmms.stop('mule', { timeoutMs: 500 }));
  expect(stop.state).toBe(JobState.Failed);
  expect(stop.error?.message).toMatch(/did not shut down|still running/);
  expect(vmms.get('mule').state).toBe(VmState.Running);
  const off = await done(vmms.stop('mule', { turnOff: true }));
  expect(off.state).toBe(JobState.Completed);
  expect(vmms.get('mule').state).toBe(VmState.Off);
});

test('a guest that throws goes Critical while another VM keeps its heartbeat', async () => {
  vmms.create({ name: 'steady', image: 'counter' });
  vmms.create({ name: 'faulty', image: 'crash' });
  await done(vmms.start('steady'));
  await done(vmms.start('faulty'));
  await until(() => vmms.get('faulty').state === VmState.Critical, 'Critical');
  expect(vmms.get('faulty').status).toMatch(/guest crashed: .*guest fault/);
  expect(vmms.get('steady').state).toBe(VmState.Running);
  await until(() => vmms.get('steady').heartbeat === 'OK', 'steady heartbeat');
  // Critical -> turn off -> Off
  await done(vmms.stop('faulty', { turnOff: true }));
  expect(vmms.get('faulty').state).toBe(VmState.Off);
});

test('recovery action Restart starts a crashed VM again, up to the restart limit', async () => {
  const local = new Vmms({ dataDir: join(dir, 'r'), runtime: new ThreadRuntime(), maxRestarts: 1 });
  try {
    const vm = local.create({ name: 'phoenix', image: 'crash', recoveryAction: 'Restart' });
    await local.jobs.wait(local.start('phoenix').id);
    await until(
      () => local.events.query({ vmId: vm.id }).some((e) => e.kind === 'recovery-gave-up'),
      'second crash',
      20_000,
    );
    const kinds = local.events.query({ vmId: vm.id }).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'guestCrashed')).toHaveLength(2);
    expect(kinds).toContain('recovery-restart');
    expect(local.get('phoenix').state).toBe(VmState.Critical);
  } finally {
    await local.stopService();
  }
});

test('graceful stop is refused when the shutdown integration service is off', async () => {
  vmms.create({ name: 'noic', image: 'idle', integrationServices: { shutdown: false } });
  await done(vmms.start('noic'));
  expect(() => vmms.stop('noic')).toThrow(/shutdown integration service is disabled/);
  expect(vmms.get('noic').state).toBe(VmState.Running);
});

test('CPU budgets follow relative weights, reserves and limits', async () => {
  vmms.create({ name: 'heavy', image: 'idle', cpu: { relativeWeight: 300 } });
  vmms.create({ name: 'light', image: 'idle', cpu: { relativeWeight: 100 } });
  vmms.create({ name: 'capped', image: 'idle', cpu: { relativeWeight: 1000, limitPercent: 10 } });
  await Promise.all(['heavy', 'light', 'capped'].map((n) => done(vmms.start(n))));
  expect(vmms.get('heavy').cpuBudgetPercent).toBeCloseTo(21.4, 1);
  expect(vmms.get('light').cpuBudgetPercent).toBeCloseTo(7.1, 1);
  expect(vmms.get('capped').cpuBudgetPercent).toBe(10);
});

test('automatic actions: a VM running at service stop is saved, and started again at the next service start', async () => {
  vmms.create({ name: 'auto', image: 'counter' });
  vmms.create({
    name: 'manual',
    image: 'counter',
    automaticStartAction: 'Nothing',
    automaticStopAction: 'TurnOff',
  });
  await done(vmms.start('auto'));
  await done(vmms.start('manual'));
  await vmms.stopService();
  expect(vmms.get('auto').state).toBe(VmState.Saved);
  expect(vmms.get('manual').state).toBe(VmState.Off);

  vmms = new Vmms({ dataDir: dir, runtime: new ThreadRuntime() });
  expect(vmms.get('auto').state).toBe(VmState.Saved);
  await vmms.startService();
  await until(() => vmms.get('auto').state === VmState.Running, 'automatic start');
  expect(vmms.get('manual').state).toBe(VmState.Off);
});

test('names are unique regardless of case, and hostile specs are refused with clear messages', () => {
  vmms.create({ name: 'One', image: 'idle' });
  expect(() => vmms.create({ name: 'one', image: 'idle' })).toThrow(
    expect.objectContaining({ code: 'Conflict' }),
  );
  expect(() => vmms.create({ name: 'x', image: 'no-such-image' })).toThrow(/unknown built-in image/);
  expect(() => vmms.create({ name: 'x', image: 'idle', memoryMB: '1' })).toThrow(
    /memoryMB must be an integer/,
  );
  expect(() => vmms.start('nobody')).toThrow(expect.objectContaining({ code: 'NotFound' }));
});

test('a saved-state file of an unknown version fails the start naming both versions; the VM stays Saved', async () => {
  const vm = vmms.create({ name: 'old', image: 'counter' });
  await done(vmms.start('old'));
  await done(vmms.save('old'));
  const file = join(dir, 'saved', `${vm.id}.vrss`);
  const bytes = readFileSync(file);
  bytes.writeUInt32LE(2, 8);
  writeFileSync(file, bytes);
  const job = await done(vmms.start('old'));
  expect(job.state).toBe(JobState.Failed);
  expect(job.error).toMatchObject({ code: 'VersionMismatch' });
  expect(job.error?.message).toMatch(/version 2 is not supported \(this host reads version 1\)/);
  expect(vmms.get('old')).toMatchObject({ state: VmState.Saved, hasSavedState: true });
  vmms.discardSavedState('old');
  expect(vmms.get('old').state).toBe(VmState.Off);
});
