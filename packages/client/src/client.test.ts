import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
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

test('disks, checkpoints and backup of an Off VM through the named methods', async () => {
  const client = await ViridianClient.connect({ dataDir: dir });
  const disks = join(dir, 'disks');
  mkdirSync(disks);
  const data = join(disks, 'data.vhdx');
  await (await VirtualDisk.create(data, { format: 'vhdx', type: 'dynamic', sizeBytes: 4 * 2 ** 20 })).close();
  await client.createVm({ name: 'store', image: 'idle', memoryMB: 32 });

  const attached = await client.attachDisk('store', data, { lun: 2 });
  expect(attached.config.disks).toEqual([{ lun: 2, path: data, readOnly: false }]);
  await expect(client.attachDisk('store', 'relative.vhdx')).rejects.toMatchObject({
    code: 'InvalidArgument',
  });

  const first = await client.followJob((await client.createCheckpoint('store', { name: 'first' })).id);
  expect(first).toMatchObject({ state: 'Completed', result: { name: 'first', type: 'Standard' } });
  const firstId = (first.result as { id: string }).id;
  const second = await client.followJob(
    (await client.createCheckpoint('store', { name: 'second', type: 'Production' })).id,
  );
  expect(second.result).toMatchObject({ name: 'second', type: 'Production', parentId: firstId });
  const listed = await client.listCheckpoints('store');
  expect(listed.map((c) => [c.name, c.isCurrent])).toEqual([
    ['first', false],
    ['second', true],
  ]);
  expect(listed[0]!.disks).toEqual([{ lun: 2, path: data }]);
  expect(await client.renameCheckpoint('store', firstId, 'base')).toMatchObject({
    id: firstId,
    name: 'base',
  });
  expect((await client.followJob((await client.applyCheckpoint('store', 'base')).id)).state).toBe(
    'Completed',
  );
  expect((await client.listCheckpoints('store')).find((c) => c.isCurrent)?.id).toBe(firstId);
  await expect(client.applyCheckpoint('store', 'nope')).rejects.toMatchObject({ code: 'NotFound' });
  const removed = await client.followJob(
    (await client.removeCheckpoint('store', 'base', { subtree: true })).id,
  );
  expect(removed.state).toBe('Completed');
  expect(await client.listCheckpoints('store')).toEqual([]);
  expect((await client.getVm('store')).config.disks).toEqual([{ lun: 2, path: data, readOnly: false }]);

  const backupDir = join(dir, 'backup');
  expect((await client.followJob((await client.backupVm('store', backupDir)).id)).state).toBe('Completed');
  const restored = await client.followJob((await client.restoreBackup(backupDir, { name: 'store-copy' })).id);
  expect(restored).toMatchObject({ state: 'Completed', result: { name: 'store-copy' } });
  const copy = await client.getVm('store-copy');
  expect(copy.id).not.toBe(attached.id);
  expect(copy.config.disks).toHaveLength(1);
  expect(copy.config.disks[0]).toMatchObject({ lun: 2, readOnly: false });

  expect((await client.detachDisk('store', 2)).config.disks).toEqual([]);
  await expect(client.detachDisk('store', 2)).rejects.toBeInstanceOf(ApiError);
  for (const name of ['store', 'store-copy']) await client.removeVm(name);
  client.close();
});

test('integration services through the named methods; an unknown KVP pool name is refused before sending', async () => {
  const client = await ViridianClient.connect({ dataDir: dir });
  await expect(client.getKvp('any', 'Key', { pool: 'nowhere' as never })).rejects.toMatchObject({
    name: 'ApiError',
    code: 'InvalidArgument',
  });
  await client.createVm({ name: 'ics', image: 'counter', memoryMB: 32 });
  await expect(client.listIntegrationServices('ics')).rejects.toMatchObject({ code: 'InvalidState' });
  expect((await client.followJob((await client.startVm('ics')).id)).state).toBe('Completed');
  const end = Date.now() + 30_000;
  let ready = false;
  while (!ready && Date.now() < end) {
    const state = await client.listIntegrationServices('ics');
    ready = state.services.every((s) => s.status === 'ok');
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  expect(ready).toBe(true);
  await client.setKvp('ics', 'Role', 'frontend');
  expect(await client.getKvp('ics', 'Role', { pool: 'external' })).toEqual({
    key: 'Role',
    value: 'frontend',
  });
  expect(await client.listKvp('ics', { pool: 0 })).toContainEqual({ key: 'Role', value: 'frontend' });
  expect(await client.listKvp('ics', { pool: 'guest' })).toContainEqual({
    key: 'VirtualMachineName',
    value: 'ics',
  });
  await client.removeKvp('ics', 'Role');
  await expect(client.getKvp('ics', 'Role')).rejects.toMatchObject({ code: 'NotFound' });
  expect(await client.freezeVss('ics')).toEqual({ outcome: 'ok' });
  expect(await client.thawVss('ics')).toEqual({ outcome: 'ok' });
  expect((await client.followJob((await client.stopVm('ics', { turnOff: true })).id)).state).toBe(
    'Completed',
  );
  await client.removeVm('ics');
  client.close();
});
