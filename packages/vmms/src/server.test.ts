import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, expect, test } from 'vitest';
import {
  encodeFrame,
  FrameDecoder,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from './protocol.js';
import { HostService } from './service.js';

let dir: string;
let host: HostService;
let adminToken: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'api-'));
  host = await HostService.start({ dataDir: dir });
  adminToken = readFileSync(host.adminTokenFile, 'utf8').trim();
});
afterEach(async () => {
  await host.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw client: frames in, frames out, no client library in between. */
class Raw {
  readonly messages: ServerMessage[] = [];
  closed = false;
  readonly #decoder = new FrameDecoder();
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const r of this.#decoder.push(chunk)) if (r.ok) this.messages.push(r.message as ServerMessage);
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }
  static async open(): Promise<Raw> {
    const socket = connect(host.socketPath);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Raw(socket);
  }
  send(message: unknown): void {
    this.socket.write(encodeFrame(message as never));
  }
  async next(): Promise<ServerMessage> {
    const end = Date.now() + 10_000;
    while (this.messages.length === 0) {
      if (this.closed || Date.now() > end) throw new Error('no message');
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.messages.shift()!;
  }
  async waitClosed(): Promise<void> {
    const end = Date.now() + 10_000;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(this.closed).toBe(true);
  }
  async hello(token = adminToken): Promise<ServerMessage> {
    this.send({ t: 'hello', version: PROTOCOL_VERSION, token });
    return this.next();
  }
  async call(id: number, req: unknown): Promise<ServerMessage> {
    this.send({ t: 'req', id, req });
    return this.next();
  }
}

test('the admin token is created at first start with mode 0600 and the socket answers', async () => {
  expect(statSync(host.adminTokenFile).mode & 0o777).toBe(0o600);
  expect(statSync(join(dir, 'auth', 'tokens.json')).mode & 0o777).toBe(0o600);
  const raw = await Raw.open();
  expect(await raw.hello()).toMatchObject({ t: 'welcome', role: 'administrator', version: PROTOCOL_VERSION });
  const created = await raw.call(1, { kind: 'vm.create', spec: { name: 'a', image: 'idle' } });
  expect(created).toMatchObject({ t: 'res', id: 1, ok: true });
  expect(await raw.call(2, { kind: 'vm.list' })).toMatchObject({
    ok: true,
    result: [{ name: 'a', state: 'Off' }],
  });
  raw.socket.destroy();
});

test('a bad token or a wrong protocol version ends the connection with a typed error', async () => {
  const bad = await Raw.open();
  expect(await bad.hello('vrd_nope')).toMatchObject({ t: 'bye', error: { code: 'Unauthorized' } });
  await bad.waitClosed();
  const old = await Raw.open();
  old.send({ t: 'hello', version: 99, token: adminToken });
  const bye = await old.next();
  expect(bye).toMatchObject({ t: 'bye', error: { code: 'VersionMismatch' } });
  expect((bye as { error: { message: string } }).error.message).toMatch(/version 99.*version 1/);
  const skip = await Raw.open();
  skip.send({ t: 'req', id: 1, req: { kind: 'vm.list' } });
  expect(await skip.next()).toMatchObject({ t: 'bye', error: { code: 'Unauthorized' } });
});

test('roles: a viewer may read but not operate, an operator may not create; refusals are logged', async () => {
  const admin = await Raw.open();
  await admin.hello();
  await admin.call(1, { kind: 'vm.create', spec: { name: 'a', image: 'idle' } });
  const v = (await admin.call(2, { kind: 'token.create', name: 'watcher', role: 'viewer' })) as {
    result: { token: string };
  };
  const o = (await admin.call(3, { kind: 'token.create', name: 'ops', role: 'operator' })) as {
    result: { token: string };
  };
  const viewer = await Raw.open();
  expect(await viewer.hello(v.result.token)).toMatchObject({ role: 'viewer' });
  expect(await viewer.call(1, { kind: 'vm.list' })).toMatchObject({ ok: true });
  expect(await viewer.call(2, { kind: 'vm.start', vm: 'a' })).toMatchObject({
    ok: false,
    error: { code: 'Unauthorized' },
  });
  const operator = await Raw.open();
  await operator.hello(o.result.token);
  expect(await operator.call(1, { kind: 'vm.remove', vm: 'a' })).toMatchObject({
    error: { code: 'Unauthorized' },
  });
  expect(await operator.call(2, { kind: 'vm.start', vm: 'a' })).toMatchObject({
    ok: true,
    result: { kind: 'start' },
  });
  const log = (await admin.call(4, { kind: 'events.query' })) as {
    result: Array<{ kind: string; message: string }>;
  };
  const refusals = log.result.filter((e) => e.kind === 'unauthorized').map((e) => e.message);
  expect(refusals).toEqual([
    'watcher (viewer) may not vm.start; it needs operator',
    'ops (operator) may not vm.remove; it needs administrator',
  ]);
  expect(await admin.call(5, { kind: 'token.revoke', name: 'watcher' })).toMatchObject({ ok: true });
  const revoked = await Raw.open();
  expect(await revoked.hello(v.result.token)).toMatchObject({ t: 'bye', error: { code: 'Unauthorized' } });
  for (const raw of [admin, viewer, operator]) raw.socket.destroy();
});

test('hostile requests get typed errors and the service keeps serving', async () => {
  const raw = await Raw.open();
  await raw.hello();
  expect(await raw.call(1, { kind: 'vm.explode' })).toMatchObject({
    id: 1,
    ok: false,
    error: { code: 'InvalidArgument' },
  });
  expect(await raw.call(2, { kind: 'vm.get', vm: 42 })).toMatchObject({
    id: 2,
    error: { code: 'InvalidArgument' },
  });
  expect(await raw.call(3, { kind: 'vm.stop', vm: 'a', turnOff: 'yes' })).toMatchObject({
    error: { code: 'InvalidArgument', message: 'vm.stop: turnOff must be a boolean' },
  });
  expect(await raw.call(4, { kind: 'vm.list', extra: 1 })).toMatchObject({
    error: { code: 'InvalidArgument' },
  });
  expect(await raw.call(5, 'vm.list')).toMatchObject({ error: { code: 'InvalidArgument' } });
  expect(
    await raw.call(6, { kind: 'vm.create', spec: { name: 'x', image: 'idle', memoryMB: -1 } }),
  ).toMatchObject({
    error: { code: 'InvalidArgument' },
  });
  expect(await raw.call(7, { kind: 'vm.get', vm: 'nobody' })).toMatchObject({ error: { code: 'NotFound' } });
  raw.send({ t: 'req', id: 'seven', req: { kind: 'vm.list' } });
  expect(await raw.next()).toMatchObject({ id: null, ok: false, error: { code: 'InvalidArgument' } });
  raw.send([1, 2, 3]);
  expect(await raw.next()).toMatchObject({ ok: false, error: { code: 'InvalidArgument' } });

  // A frame that is not msgpack: reported, and the stream continues at the next frame.
  const garbage = Buffer.from([0xc1, 0xc1, 0xc1]);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(garbage.length);
  raw.socket.write(Buffer.concat([header, garbage]));
  expect(await raw.next()).toMatchObject({ id: null, ok: false, error: { code: 'InvalidArgument' } });
  expect(await raw.call(8, { kind: 'vm.list' })).toMatchObject({ id: 8, ok: true });

  // An oversized frame: typed goodbye and the connection ends.
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(MAX_FRAME_BYTES + 1);
  raw.socket.write(huge);
  expect(await raw.next()).toMatchObject({ t: 'bye', error: { code: 'InvalidArgument' } });
  await raw.waitClosed();

  // Random bytes on a fresh connection never take the service down.
  const noise = await Raw.open();
  noise.socket.write(Buffer.from(Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256))));
  await new Promise((r) => setTimeout(r, 100));
  noise.socket.destroy();

  const after = await Raw.open();
  expect(await after.hello()).toMatchObject({ t: 'welcome' });
  expect(await after.call(1, { kind: 'host.info' })).toMatchObject({
    ok: true,
    result: { protocolVersion: 1 },
  });
  after.socket.destroy();
});

test('jobs can be followed and events streamed over the socket', async () => {
  const raw = await Raw.open();
  await raw.hello();
  await raw.call(1, { kind: 'vm.create', spec: { name: 'a', image: 'idle' } });
  expect(await raw.call(2, { kind: 'events.subscribe', vm: 'a' })).toMatchObject({
    ok: true,
    result: { subscription: 1 },
  });
  const start = (await raw.call(3, { kind: 'vm.start', vm: 'a' })) as { result: { id: string } };
  raw.send({ t: 'req', id: 4, req: { kind: 'job.follow', job: start.result.id } });
  const seen: ServerMessage[] = [];
  const end = Date.now() + 20_000;
  while (!seen.some((m) => m.t === 'job' && m.job.state === 'Completed') && Date.now() < end) {
    seen.push(await raw.next());
  }
  expect(seen.some((m) => m.t === 'res' && m.id === 4 && m.ok)).toBe(true);
  expect(seen.some((m) => m.t === 'job' && m.job.state === 'Completed')).toBe(true);
  const states = seen
    .filter((m) => m.t === 'event' && m.event.kind === 'state')
    .map((m) => (m as never as { event: { message: string } }).event.message);
  expect(states).toContain('Off -> Starting');
  raw.socket.destroy();
});

test('a second service on the same data directory is refused; a stale socket is replaced', async () => {
  await expect(HostService.start({ dataDir: dir })).rejects.toThrow(/already listening/);
  // msgpackr stays plain msgpack: another implementation can decode a reply.
  expect(
    new Packr({ useRecords: false }).unpack(
      encodeFrame({ t: 'bye', error: { code: 'Internal', message: 'x' } }).subarray(4),
    ),
  ).toEqual({
    t: 'bye',
    error: { code: 'Internal', message: 'x' },
  });
});

test('integration services over the API: viewers read KVP and IC state, operators set and freeze', async () => {
  const admin = await Raw.open();
  await admin.hello();
  await admin.call(1, { kind: 'vm.create', spec: { name: 'k', image: 'counter', memoryMB: 32 } });
  // Off: the request is refused with the VM's state, not a crash.
  expect(await admin.call(2, { kind: 'kvp.list', vm: 'k' })).toMatchObject({
    ok: false,
    error: { code: 'InvalidState' },
  });
  const v = (await admin.call(3, { kind: 'token.create', name: 'watcher', role: 'viewer' })) as {
    result: { token: string };
  };
  const o = (await admin.call(4, { kind: 'token.create', name: 'ops', role: 'operator' })) as {
    result: { token: string };
  };
  const started = (await admin.call(5, { kind: 'vm.start', vm: 'k' })) as { result: { id: string } };
  expect((await host.vmms.jobs.wait(started.result.id)).state).toBe('Completed');
  const viewer = await Raw.open();
  await viewer.hello(v.result.token);
  const operator = await Raw.open();
  await operator.hello(o.result.token);
  // Wait for the guest to connect KVP and VSS.
  const end = Date.now() + 20_000;
  let state: unknown;
  for (let id = 10; Date.now() < end; id++) {
    state = await viewer.call(id, { kind: 'ic.list', vm: 'k' });
    const services = (state as { result?: { services: { name: string; status: string }[] } }).result
      ?.services;
    if (services?.every((s) => s.status === 'ok')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(state).toMatchObject({
    ok: true,
    result: {
      services: expect.arrayContaining([{ name: 'kvp', enabled: true, status: 'ok', version: '4.0' }]),
    },
  });
  expect(await viewer.call(100, { kind: 'kvp.set', vm: 'k', key: 'Role', value: 'web' })).toMatchObject({
    ok: false,
    error: { code: 'Unauthorized' },
  });
  expect(await operator.call(101, { kind: 'kvp.set', vm: 'k', key: 'Role', value: 'web' })).toMatchObject({
    ok: true,
    result: null,
  });
  expect(await viewer.call(102, { kind: 'kvp.get', vm: 'k', key: 'Role' })).toMatchObject({
    ok: true,
    result: { key: 'Role', value: 'web' },
  });
  expect(await viewer.call(103, { kind: 'kvp.get', vm: 'k', key: 'Nope' })).toMatchObject({
    ok: false,
    error: { code: 'NotFound' },
  });
  const guest = (await viewer.call(104, { kind: 'kvp.list', vm: 'k', pool: 1 })) as {
    result: { key: string; value: string }[];
  };
  expect(guest.result).toContainEqual({ key: 'GuestProgram', value: 'counter' });
  expect(await viewer.call(105, { kind: 'kvp.get', vm: 'k', key: 'x', pool: 9 })).toMatchObject({
    ok: false,
    error: { code: 'InvalidArgument' },
  });
  expect(await viewer.call(106, { kind: 'vss.freeze', vm: 'k' })).toMatchObject({
    ok: false,
    error: { code: 'Unauthorized' },
  });
  expect(await operator.call(107, { kind: 'vss.freeze', vm: 'k' })).toMatchObject({
    ok: true,
    result: { outcome: 'ok' },
  });
  expect(await operator.call(108, { kind: 'vss.thaw', vm: 'k' })).toMatchObject({ ok: true });
  expect(await operator.call(109, { kind: 'kvp.remove', vm: 'k', key: 'Role' })).toMatchObject({ ok: true });
  const off = (await admin.call(110, { kind: 'vm.stop', vm: 'k', turnOff: true })) as {
    result: { id: string };
  };
  await host.vmms.jobs.wait(off.result.id);
  for (const r of [admin, viewer, operator]) r.socket.destroy();
});
