import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmwpRuntime } from '@viridian/vmwp';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { JobState } from './jobs.js';
import { VmState } from './lifecycle.js';
import { Vmms } from './vmms.js';

// VMMS over its default runtime: each VM a child partition of the hypervisor, driven by a VMWP thread.
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

test('on partitions: start, pause, save -> Saved -> restore, no heartbeat contact, graceful stop refused, turn-off', async () => {
  vmms.create({ name: 'p', image: 'counter', memoryMB: 32 });
  expect((await done(vmms.start('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p')).toMatchObject({ state: VmState.Running, heartbeat: 'NoContact' });
  expect((await done(vmms.pause('p'))).state).toBe(JobState.Completed);
  expect((await done(vmms.resume('p'))).state).toBe(JobState.Completed);
  expect((await done(vmms.save('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p')).toMatchObject({ state: VmState.Saved, hasSavedState: true });
  expect((await done(vmms.start('p'))).state).toBe(JobState.Completed);
  expect(vmms.get('p')).toMatchObject({ state: VmState.Running, hasSavedState: false });
  // Without a shutdown integration service in the guest, Hyper-V refuses a graceful stop.
  expect(() => vmms.stop('p')).toThrow(/runs no shutdown integration service/);
  expect(vmms.get('p').state).toBe(VmState.Running);
  expect((await done(vmms.stop('p', { turnOff: true }))).state).toBe(JobState.Completed);
  expect(vmms.get('p').state).toBe(VmState.Off);
});
