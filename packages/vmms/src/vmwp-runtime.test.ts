import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmwpRuntime } from '@viridian/vmwp';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { JobState } from './jobs.js';
import { VmState } from './lifecycle.js';
import { Vmms } from './vmms.js';

// VMMS over its default runtime: each VM a child partition of the hypervisor, driven by a VMWP thread
// that hosts the VMBus server and the integration-service VSPs.
let dir: string;
let vmms: Vmms;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-vmwp-'));
  vmms = new Vmms({ dataDir: dir, runtime: new VmwpRuntime({ safePointTimeoutMs: 5000 }) });
});

afterEach(async () => {
  await vmms.stopService();
  rmSync(dir, { recursive: true, force: true });
});

const done = (job: { id: string }) => vmms.jobs.wait(job.id);

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('on partitions: start, heartbeat OK, pause, save -> Saved -> restore, graceful stop through the guest', async () => {
  vmms.create({ name: 'p', image: 'counter', memoryMB: 64 });
  expect((await done(vmms.start('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p').state).toBe(VmState.Running);
  await until(() => vmms.get('p').heartbeat === 'OK', 'heartbeat');
  expect((await done(vmms.pause('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p').heartbeat).toBe('Paused');
  expect((await done(vmms.resume('p'))).state).toBe(JobState.Completed);
  expect((await done(vmms.save('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p')).toMatchObject({ state: VmState.Saved, hasSavedState: true });
  expect((await done(vmms.start('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p')).toMatchObject({ state: VmState.Running, hasSavedState: false });
  // The restored guest reconnects its integration services; the stop waits for them within its timeout.
  expect((await done(vmms.stop('p', { timeoutMs: 20_000 }))).state).toBe(JobState.Completed);
  expect(vmms.get('p').state).toBe(VmState.Off);
});

test('on partitions: with the shutdown service disabled a stop is refused; turn-off works', async () => {
  vmms.create({ name: 'q', image: 'idle', memoryMB: 32, integrationServices: { shutdown: false } });
  expect((await done(vmms.start('q'))).state).toBe(JobState.Completed);
  expect(() => vmms.stop('q')).toThrow(/shutdown integration service is disabled/);
  expect((await done(vmms.stop('q', { turnOff: true }))).state).toBe(JobState.Completed);
  expect(vmms.get('q').state).toBe(VmState.Off);
});
