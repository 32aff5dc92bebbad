import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { Connection } from './in-process.js';
import type { JobInfo } from './jobs.js';
import type { ServerMessage } from './protocol.js';
import { HostService } from './service.js';
import { makeDisk, offlineRuntime } from './storage.test-fixture.js';

let dir: string;
let host: HostService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmms-api-'));
  mkdirSync(join(dir, 'disks'));
  host = await HostService.start({ dataDir: join(dir, 'data'), runtime: offlineRuntime, listen: false });
});

afterEach(async () => {
  await host.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A connected client with one token; `call` answers `{ ok, result | error }`. */
async function client(token: string) {
  const connection: Connection = host.connectInProcess();
  const inbox: ServerMessage[] = [];
  connection.onMessage((m) => inbox.push(m));
  connection.send({ t: 'hello', version: 1, token });
  let id = 0;
  const next = async (match: (m: ServerMessage) => boolean): Promise<ServerMessage> => {
    for (let i = 0; i < 2000; i++) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0]!;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('no answer');
  };
  await next((m) => m.t === 'welcome');
  return {
    async call(
      req: Record<string, unknown>,
      // biome-ignore lint/suspicious/noExplicitAny: replies are checked by value in the assertions
    ): Promise<{ ok: boolean; result?: any; error?: { code: string } }> {
      const mine = ++id;
      connection.send({ t: 'req', id: mine, req: req as never });
      return (await next((m) => m.t === 'res' && m.id === mine)) as never;
    },
    close: () => connection.close(),
  };
}

async function finished(api: Awaited<ReturnType<typeof client>>, job: JobInfo): Promise<JobInfo> {
  for (let i = 0; i < 400; i++) {
    const now = (await api.call({ kind: 'job.get', job: job.id })).result as JobInfo;
    if (now.state !== 'Running') return now;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('job did not finish');
}

test('disk, checkpoint and backup commands over the API, with their roles and hostile fields', async () => {
  const admin = await client(readFileSync(host.adminTokenFile, 'utf8').trim());
  const viewer = await client(host.tokens.create('v', 'viewer'));
  const operator = await client(host.tokens.create('o', 'operator'));
  await admin.call({ kind: 'vm.create', spec: { name: 'web', image: 'idle' } });
  const disk = await makeDisk(join(dir, 'disks', 'web.vhdx'), 'A');

  expect((await operator.call({ kind: 'vm.disk.attach', vm: 'web', path: disk })).error?.code).toBe(
    'Unauthorized',
  );
  expect((await admin.call({ kind: 'vm.disk.attach', vm: 'web', path: 7 })).error?.code).toBe(
    'InvalidArgument',
  );
  expect((await admin.call({ kind: 'vm.disk.attach', vm: 'web', path: disk, lun: '0' })).error?.code).toBe(
    'InvalidArgument',
  );
  const attached = await admin.call({ kind: 'vm.disk.attach', vm: 'web', path: disk, readOnly: false });
  expect(attached.result.disks).toEqual([{ lun: 0, path: disk, readOnly: false }]);

  expect((await viewer.call({ kind: 'checkpoint.create', vm: 'web' })).error?.code).toBe('Unauthorized');
  const created = await operator.call({
    kind: 'checkpoint.create',
    vm: 'web',
    name: 'one',
    type: 'Production',
  });
  const job = await finished(operator, created.result);
  expect(job.state).toBe('Completed');
  expect(job.result).toMatchObject({ name: 'one', type: 'Production', isCurrent: true });

  const list = await viewer.call({ kind: 'checkpoint.list', vm: 'web' });
  expect(list.result.map((cp: { name: string }) => cp.name)).toEqual(['one']);
  expect(
    (await operator.call({ kind: 'checkpoint.rename', vm: 'web', checkpoint: 'one', name: 'first' })).result
      .name,
  ).toBe('first');
  expect(
    (await operator.call({ kind: 'checkpoint.apply', vm: 'web', checkpoint: 'ghost' })).error?.code,
  ).toBe('NotFound');
  expect(
    (await operator.call({ kind: 'checkpoint.remove', vm: 'web', checkpoint: 'first', extra: 1 })).error
      ?.code,
  ).toBe('InvalidArgument');
  const applied = await operator.call({ kind: 'checkpoint.apply', vm: 'web', checkpoint: 'first' });
  expect((await finished(operator, applied.result)).state).toBe('Completed');

  expect((await operator.call({ kind: 'vm.backup', vm: 'web', destination: 'rel' })).error?.code).toBe(
    'InvalidArgument',
  );
  const backup = await operator.call({ kind: 'vm.backup', vm: 'web', destination: join(dir, 'backup') });
  expect((await finished(operator, backup.result)).state).toBe('Completed');
  expect((await operator.call({ kind: 'vm.restoreBackup', source: join(dir, 'backup') })).error?.code).toBe(
    'Unauthorized',
  );
  const restore = await admin.call({ kind: 'vm.restoreBackup', source: join(dir, 'backup'), name: 'web2' });
  const restored = await finished(admin, restore.result);
  expect(restored.result).toMatchObject({ name: 'web2', state: 'Off' });

  const removed = await operator.call({
    kind: 'checkpoint.remove',
    vm: 'web',
    checkpoint: 'first',
    subtree: true,
  });
  expect((await finished(operator, removed.result)).result).toEqual({
    removed: [(job.result as { id: string }).id],
  });
  const detached = await admin.call({ kind: 'vm.disk.detach', vm: 'web', lun: 0 });
  expect(detached.result.disks).toEqual([]);
  for (const c of [admin, viewer, operator]) c.close();
});
