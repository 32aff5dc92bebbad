import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostService, type VmEvent } from '@viridian/vmms';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiError, ViridianClient } from './client.js';

let dir: string;
let host: HostService;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'client-'));
  host = await HostService.start({ dataDir: dir, defaultStopTimeoutMs: 5000 });
});
afterAll(async () => {
  await host.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('drives a VM through its life over the socket, following jobs and streaming events', async () => {
  const client = await ViridianClient.connect({ dataDir: dir });
  expect(client.role).toBe('administrator');
  const vm = await client.createVm({ name: 'web', image: 'counter', cpu: { relativeWeight: 200 } });
  expect(vm).toMatchObject({ name: 'web', state: 'Off', config: { cpu: { relativeWeight: 200 } } });

  const events: VmEvent[] = [];
  const unsubscribe = await client.subscribeEvents((event) => events.push(event), 'web');
  const progress: number[] = [];
  const started = await client.followJob((await client.startVm('web')).id, (job) =>
    progress.push(job.percent),
  );
  expect(started.state).toBe('Completed');
  expect(progress.at(-1)).toBe(100);
  expect((await client.getVm('web')).state).toBe('Running');

  expect((await client.followJob((await client.saveVm('web')).id)).state).toBe('Completed');
  expect((await client.getVm('web')).state).toBe('Saved');
  expect((await client.followJob((await client.startVm('web')).id)).state).toBe('Completed');
  expect((await client.followJob((await client.stopVm('web')).id)).state).toBe('Completed');
  await unsubscribe();
  expect(events.filter((e) => e.kind === 'state').map((e) => e.message)).toEqual([
    'Off -> Starting',
    'Starting -> Running',
    'Running -> Saving',
    'Saving -> Saved',
    'Saved -> Starting',
    'Starting -> Running',
    'Running -> Stopping',
    'Stopping -> Off',
  ]);
  await client.removeVm('web');
  await expect(client.getVm('web')).rejects.toMatchObject({ name: 'ApiError', code: 'NotFound' });
  client.close();
});

test('errors arrive typed: invalid state, bad token, insufficient role', async () => {
  const admin = await ViridianClient.connect({ dataDir: dir });
  await admin.createVm({ name: 'idle', image: 'idle' });
  await expect(admin.pauseVm('idle')).rejects.toThrow('cannot pause while the VM is Off');
  await expect(ViridianClient.connect({ dataDir: dir, token: 'vrd_wrong' })).rejects.toBeInstanceOf(ApiError);
  const { token } = await admin.createToken('reader', 'viewer');
  const viewer = await ViridianClient.connect({ dataDir: dir, token });
  expect((await viewer.listVms()).map((v) => v.name)).toContain('idle');
  await expect(viewer.startVm('idle')).rejects.toMatchObject({ code: 'Unauthorized' });
  viewer.close();
  admin.close();
});

test('the in-process transport serves the same dispatcher', async () => {
  const client = await ViridianClient.over(
    host.connectInProcess(),
    (await import('node:fs')).readFileSync(host.adminTokenFile, 'utf8').trim(),
  );
  await client.createVm({ name: 'local', image: 'idle' });
  const job = await client.followJob((await client.startVm('local')).id);
  expect(job.state).toBe('Completed');
  const list = await client.listVms();
  expect(list.find((v) => v.name === 'local')).toMatchObject({ state: 'Running', memoryMB: 512 });
  expect((await client.followJob((await client.stopVm('local', { turnOff: true })).id)).state).toBe(
    'Completed',
  );
  client.close();
});
