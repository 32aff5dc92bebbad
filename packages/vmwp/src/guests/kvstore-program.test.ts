import { deserialize, serialize } from 'node:v8';
import type { BlockDevice } from '@viridian/storage';
import { describe, expect, it } from 'vitest';
import type { GuestContext } from '../guest.js';
import kvstore from './kvstore.js';
import { MemoryDevice } from './kvstore-devices.test-fixture.js';

/** A guest context with one optional disk at LUN 0 and the published items in a map. */
function context(device: MemoryDevice | undefined, serial = 'disk-a') {
  const items = new Map<string, string>();
  const logs: string[] = [];
  let disk: BlockDevice | undefined;
  const attach = (next: MemoryDevice | undefined, nextSerial = serial) => {
    disk =
      next === undefined
        ? undefined
        : (Object.assign(next, {
            lun: 0,
            serial: nextSerial,
            removed: false,
            physicalBlockSize: 512,
          }) as unknown as BlockDevice);
  };
  attach(device);
  const ctx: GuestContext = {
    vmId: 'vm',
    vmName: 'vm',
    memoryMB: 32,
    processorCount: 1,
    uptimeMs: 0,
    log: (line) => logs.push(line),
    publish: (key, value) => {
      items.set(key, value);
      return true;
    },
    hostItem: () => undefined,
    get disks() {
      return disk === undefined ? [] : [disk];
    },
    disk: (lun) => (lun === 0 ? disk : undefined),
  };
  return { ctx, items, logs, attach };
}

async function steps(state: unknown, ctx: GuestContext, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await kvstore.step(state as never, ctx);
}

describe('kvstore program', () => {
  it('formats, commits a transaction per step, verifies, and reopens at the last commit', async () => {
    const device = new MemoryDevice(512, 2048);
    const { ctx, items, logs } = context(device);
    const state = kvstore.boot(ctx);
    await steps(state, ctx, 61);
    expect(Object.fromEntries(items)).toEqual({
      'kvstore.bootCommitted': '0',
      'kvstore.check': 'ok',
      'kvstore.committed': '60',
      'kvstore.keys': '97',
    });
    expect(logs[0]).toBe('kvstore: opened at sequence 0, 0 keys (formatted a blank disk)');

    const again = context(device);
    const fresh = kvstore.boot(again.ctx);
    await steps(fresh, again.ctx, 3);
    expect(again.items.get('kvstore.bootCommitted')).toBe('60');
    expect(again.items.get('kvstore.committed')).toBe('62');
  });

  it('carries on from a v8 copy of its state (save and restore) and republishes its items', async () => {
    const device = new MemoryDevice(512, 2048);
    const first = context(device);
    const state = kvstore.boot(first.ctx);
    await steps(state, first.ctx, 10);
    const restored = context(device);
    const copy = deserialize(serialize(state));
    await steps(copy, restored.ctx, 60);
    expect(Object.fromEntries(restored.items)).toMatchObject({
      'kvstore.bootCommitted': '0',
      'kvstore.committed': '69',
      'kvstore.check': 'ok',
    });
  });

  it('without a disk publishes no-disk and idles, and opens a disk that appears', async () => {
    const { ctx, items, logs, attach } = context(undefined);
    const state = kvstore.boot(ctx);
    expect(await kvstore.step(state, ctx)).toBeGreaterThan(100);
    await steps(state, ctx, 2);
    expect(items.get('kvstore.check')).toBe('no-disk');
    expect(logs).toEqual(['kvstore: no disk at LUN 0']);
    attach(new MemoryDevice(512, 2048));
    await steps(state, ctx, 3);
    expect(items.get('kvstore.committed')).toBe('2');
    expect(items.get('kvstore.check')).toBe('ok');
  });

  it('reports corruption found by the periodic verify and stops writing', async () => {
    const device = new MemoryDevice(512, 2048);
    const { ctx, items } = context(device);
    const state = kvstore.boot(ctx);
    await steps(state, ctx, 5);
    device.image[3 * 512 + 40]! ^= 0xff; // inside the first transaction's batch
    await steps(state, ctx, 60);
    expect(items.get('kvstore.check')).toBe('corrupt: batch at block 3: checksum mismatch');
    const frozen = device.image.slice();
    await steps(state, ctx, 5);
    expect(device.image).toEqual(frozen);
  });

  it('freeze publishes the committed sequence', async () => {
    const { ctx, items } = context(new MemoryDevice(512, 2048));
    const state = kvstore.boot(ctx);
    await steps(state, ctx, 8);
    await kvstore.freeze?.(state, ctx);
    expect(items.get('kvstore.frozenAt')).toBe('7');
    await kvstore.thaw?.(state, ctx);
    await steps(state, ctx, 1);
    expect(items.get('kvstore.committed')).toBe('8');
  });

  it('checks a disk it has not seen before writing: a matching copy keeps the view, another disk is opened', async () => {
    const device = new MemoryDevice(512, 2048);
    const { ctx, items, logs, attach } = context(device);
    const state = kvstore.boot(ctx);
    await steps(state, ctx, 8);
    // The same content under another identity (a new differencing child of a checkpoint's parent).
    attach(new MemoryDevice(512, 2048, device.image.slice()), 'disk-b');
    await steps(state, ctx, 1);
    expect(logs).toContain('kvstore: disk disk-b at LUN 0 matches memory');
    expect(items.get('kvstore.bootCommitted')).toBe('0');
    expect(items.get('kvstore.committed')).toBe('8');
    // A disk that holds an older commit is not written with the newer view: it is opened.
    attach(new MemoryDevice(512, 2048, device.image.slice()), 'disk-c');
    await steps(state, ctx, 2);
    expect(logs.at(-2)).toBe(
      'kvstore: the disk at LUN 0 does not match memory (header sequence is 8 on disk, 9 in memory); opening it',
    );
    expect(items.get('kvstore.bootCommitted')).toBe('7');
    expect(items.get('kvstore.committed')).toBe('8');
  });
});
