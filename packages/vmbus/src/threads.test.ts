// The bus across real threads: the root's VmbusServer in this thread, each guest's VmbusClient in
// its own worker, joined by the thread transport and rings in the guest's SharedArrayBuffer.

import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelEnd } from './channel.js';
import { type VmbusError, VmbusErrorCode } from './errors.js';
import { VmbusServer } from './server.js';
import { createThreadTransport } from './transport.js';
import { VmbusVersion } from './wire.js';

const ECHO = '0c1e0000-aaaa-4bbb-8ccc-000000000001';
const OTHER = '0c1e0000-aaaa-4bbb-8ccc-000000000002';

interface Vm {
  server: VmbusServer;
  errors: VmbusError[];
  closes: string[];
  worker: Worker;
  call(cmd: Record<string, unknown>): Promise<unknown>;
}

const vms: Vm[] = [];
afterEach(async () => {
  for (const vm of vms.splice(0)) {
    vm.server.close();
    await vm.worker.terminate();
  }
});

/** An echo VSP: answers each request with its payload as the completion; other packets are noted. */
function echoDevice(closes: string[], name: string) {
  return {
    open(channel: ChannelEnd) {
      channel.onPacket((p) => {
        if (p.completionRequested) void channel.complete(p.transactionId, p.payload);
        else closes.push(`${name} packet ${p.payload[0]}`);
      });
      return true;
    },
    close(reason: string) {
      closes.push(`${name} ${reason}`);
    },
  };
}

async function startVm(
  options: { versions?: number[]; serverVersions?: number[]; budget?: number } = {},
): Promise<Vm> {
  const memory = new SharedArrayBuffer(256 * 4096);
  const { host, guestHandle } = createThreadTransport();
  const errors: VmbusError[] = [];
  const closes: string[] = [];
  const server = new VmbusServer({
    memory,
    transport: host,
    onError: (e) => errors.push(e),
    ...(options.serverVersions ? { versions: options.serverVersions } : {}),
    ...(options.budget ? { messageBudget: { burst: options.budget, perSecond: options.budget } } : {}),
  });
  server.addDevice({ offer: { interfaceId: ECHO, instanceId: ECHO }, ...echoDevice(closes, 'echo') });
  server.addDevice({ offer: { interfaceId: OTHER, instanceId: OTHER }, ...echoDevice(closes, 'other') });
  const worker = spawnWorker(new URL('./guest-worker.test-fixture.js', import.meta.url), {
    workerData: { handle: guestHandle, memory, ...(options.versions ? { versions: options.versions } : {}) },
    transferList: [guestHandle.port],
  });
  const waiters = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  const ready = new Promise<void>((resolve) => {
    worker.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
      if (m.ready) return resolve();
      const w = waiters.get(m.id!);
      waiters.delete(m.id!);
      if (m.error !== undefined) w?.reject(Object.assign(new Error(m.error), { code: m.error }));
      else w?.resolve(m.result);
    });
  });
  await ready;
  const vm: Vm = {
    server,
    errors,
    closes,
    worker,
    call: (cmd) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        waiters.set(id, { resolve, reject });
        worker.postMessage({ id, cmd });
      }),
  };
  vms.push(vm);
  return vm;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('VMBus across threads', () => {
  it('offers, open, request/response, streaming with back-pressure, close', async () => {
    const vm = await startVm();
    expect(await vm.call({ op: 'connect' })).toBe(VmbusVersion.Win10V5_3);
    expect(await vm.call({ op: 'offers' })).toEqual([1, 2]);
    expect(await vm.call({ op: 'open', relid: 1 })).toBe(1);
    expect(vm.server.core.channelState(1)).toBe('open');
    expect(await vm.call({ op: 'echo', relid: 1, count: 300, size: 200 })).toBe(300);
    // 2000 requests of 1 KiB in flight through 12 KiB rings: both sides fill and wait, nothing is lost.
    expect(await vm.call({ op: 'stream', relid: 1, count: 2000, size: 1024 })).toEqual({
      ok: 2000,
      failed: 0,
    });
    await vm.call({ op: 'close', relid: 1 });
    expect(vm.server.core.channelState(1)).toBe('offered');
    expect(vm.closes).toEqual(['echo guest']);
    expect(vm.errors).toEqual([]);
  });

  it('packets the guest wrote before closing reach the device before its close hook', async () => {
    const vm = await startVm();
    await vm.call({ op: 'connect' });
    await vm.call({ op: 'open', relid: 1 });
    await vm.call({ op: 'sendThenClose', relid: 1, count: 3 });
    await until(() => vm.closes.includes('echo guest'), 'the close');
    expect(vm.closes).toEqual(['echo packet 0', 'echo packet 1', 'echo packet 2', 'echo guest']);
  });

  it('version negotiation failure: the guest is refused every version and stays disconnected', async () => {
    const vm = await startVm({ serverVersions: [VmbusVersion.Win10V6_0] });
    await expect(vm.call({ op: 'connect' })).rejects.toThrow();
    expect(vm.server.core.connection).toBeUndefined();
    expect(vm.errors.every((e) => e.code === VmbusErrorCode.UnexpectedMessage)).toBe(true);
  });

  it('rescind of a device while the guest streams to it; the other channel keeps working', async () => {
    const vm = await startVm();
    await vm.call({ op: 'connect' });
    await vm.call({ op: 'open', relid: 1 });
    await vm.call({ op: 'open', relid: 2 });
    const streaming = vm.call({ op: 'stream', relid: 1, count: 50_000, size: 64 });
    await new Promise((r) => setTimeout(r, 30));
    vm.server.removeDevice(1);
    const result = (await streaming) as { ok: number; failed: number };
    expect(result.failed).toBeGreaterThan(0);
    expect(result.ok + result.failed).toBe(50_000);
    await until(() => vm.server.core.channelState(1) === undefined, 'RELID_RELEASED');
    expect(await vm.call({ op: 'rescinded' })).toEqual([1]);
    expect(vm.closes).toContain('echo rescind');
    expect(await vm.call({ op: 'echo', relid: 2, count: 50, size: 64 })).toBe(50);
  });
});

describe('hostile guests across threads', () => {
  it('corrupt ring indices: that channel is closed with a typed error; other channels and other VMs run on', async () => {
    const bad = await startVm();
    const good = await startVm();
    for (const vm of [bad, good]) {
      await vm.call({ op: 'connect' });
      await vm.call({ op: 'open', relid: 1 });
      await vm.call({ op: 'open', relid: 2 });
    }
    await bad.call({ op: 'corrupt', relid: 1 });
    await until(() => bad.errors.some((e) => e.code === VmbusErrorCode.RingCorrupt), 'RingCorrupt');
    expect(bad.errors.find((e) => e.code === VmbusErrorCode.RingCorrupt)?.relid).toBe(1);
    await until(() => bad.server.core.channelState(1) === undefined, 'rescinded channel released');
    expect(bad.closes).toContain('echo rescind');
    expect(await bad.call({ op: 'echo', relid: 2, count: 20, size: 100 })).toBe(20);
    expect(await good.call({ op: 'echo', relid: 1, count: 20, size: 100 })).toBe(20);
    expect(good.errors).toEqual([]);
  });

  it('a GPADL naming pages outside guest memory is refused with GPADL_CREATED failure', async () => {
    const vm = await startVm();
    await vm.call({ op: 'connect' });
    await vm.call({ op: 'badGpadl', relid: 1 });
    await until(() => vm.errors.length > 0, 'GPADL refusal');
    expect(vm.errors.map((e) => e.code)).toEqual([VmbusErrorCode.GpadlPageOutOfRange]);
    expect(await vm.call({ op: 'open', relid: 1 })).toBe(1);
  });

  it('a message flood is cut off with one typed error; the bus still answers afterwards', async () => {
    const vm = await startVm({ budget: 2000 });
    await vm.call({ op: 'connect' });
    await vm.call({ op: 'flood', count: 50_000 });
    await until(() => vm.server.core.stats.received >= 50_002, 'flood delivered');
    expect(vm.server.core.stats.floodDropped).toBeGreaterThan(40_000);
    expect(vm.errors.filter((e) => e.code === VmbusErrorCode.MessageFlood).length).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await vm.call({ op: 'open', relid: 2 })).toBe(2);
    expect(await vm.call({ op: 'echo', relid: 2, count: 10, size: 64 })).toBe(10);
  });
});
