import { once } from 'node:events';
import { DeviceHost, type VmbusError } from '@viridian/device-sdk';
import { spawnWorker } from '@viridian/threads';
import { describe, expect, it } from 'vitest';
import { EchoVersion } from './protocol.js';
import { echoDevice } from './vsp.js';

async function start() {
  const memory = new SharedArrayBuffer(512 * 4096);
  const errors: VmbusError[] = [];
  const host = new DeviceHost({ memory, onError: (e) => errors.push(e) });
  const device = echoDevice('5a5a0000-0000-4000-8000-000000000001');
  const relid = host.add(device);
  const worker = spawnWorker(new URL('./guest.test-fixture.js', import.meta.url), {
    workerData: { handle: host.guestHandle, memory },
    transferList: [host.guestHandle!.port],
  });
  await once(worker, 'message');
  const ask = async (cmd: object) => {
    worker.postMessage(cmd);
    const [reply] = await once(worker, 'message');
    return reply as Record<string, number | string>;
  };
  return { host, device, relid, worker, ask, errors };
}

describe('echo device across threads', () => {
  it('negotiates versions and echoes thousands of messages of many sizes, in flight together', async () => {
    const { host, device, worker, ask, errors } = await start();
    expect(await ask({ op: 'start' })).toEqual({ busVersion: 0x50003, echoVersion: EchoVersion.V2 });
    for (const size of [1, 64, 1000, 4000]) {
      expect(await ask({ op: 'echo', count: 500, size })).toEqual({ ok: 500, failed: 0, removed: 0 });
    }
    expect(device.echoed).toBe(2000);
    expect((await host.save()).size).toBe(1);
    expect(errors).toEqual([]);
    host.close();
    await worker.terminate();
  });

  it('hot-removing the device while the guest echoes fails the in-flight requests and tells the driver', async () => {
    const { host, relid, worker, ask } = await start();
    await ask({ op: 'start' });
    const running = ask({ op: 'echo', count: 20_000, size: 64 });
    await new Promise((r) => setTimeout(r, 20));
    host.remove(relid);
    const result = await running;
    expect(result.failed).toBeGreaterThan(0);
    expect(Number(result.ok) + Number(result.failed)).toBe(20_000);
    expect(result.removed).toBe(1);
    host.close();
    await worker.terminate();
  });
});
