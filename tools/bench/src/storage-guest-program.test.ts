import type { BlockDevice } from '@viridian/storage';
import type { GuestContext } from '@viridian/vmwp';
import { expect, test } from 'vitest';
import program, { STORAGE_GUEST } from './storage-guest-program.js';

// The program's own logic, on a disk whose reads each advance the guest clock by a fixed time: the
// figures it publishes follow from that time, independently of how fast this machine is.

interface Read {
  readonly lba: number;
  readonly blocks: number;
}

function fakeDisk(blocks: number, msPerRead: (blocks: number) => number, clock: { now: number }) {
  const reads: Read[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let failWith: string | undefined;
  const disk: BlockDevice = {
    lun: 0,
    blockSize: 512,
    blocks,
    physicalBlockSize: 512,
    serial: 'bench',
    discardSupported: false,
    removed: false,
    async read(lba, count) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await Promise.resolve();
      inFlight--;
      if (failWith !== undefined) throw new Error(failWith);
      clock.now += msPerRead(count);
      reads.push({ lba, blocks: count });
      return new Uint8Array(count * 512);
    },
    write: () => Promise.reject(new Error('read-only')),
    flush: () => Promise.resolve(),
    discard: () => Promise.reject(new Error('read-only')),
  };
  return {
    disk,
    reads,
    maxInFlight: () => maxInFlight,
    fail: (message: string) => {
      failWith = message;
    },
  };
}

function context(clock: { now: number }, disk: () => BlockDevice | undefined) {
  const published = new Map<string, string>();
  const ctx: GuestContext = {
    vmId: '5c5cbe9c-0000-4000-8000-0000000000b1',
    vmName: 'storage-bench',
    memoryMB: 64,
    processorCount: 1,
    get uptimeMs() {
      return clock.now;
    },
    log: () => undefined,
    publish: (key, value) => {
      published.set(key, value);
      return true;
    },
    hostItem: () => undefined,
    get disks() {
      const d = disk();
      return d === undefined ? [] : [d];
    },
    disk: (lun) => (lun === 0 ? disk() : undefined),
  };
  return { ctx, published };
}

const DISK_BLOCKS = (64 << 20) / 512;
const { keys } = STORAGE_GUEST;

test('waits for its disk, then publishes both figures from the reads it completed over each phase', async () => {
  const clock = { now: 0 };
  // 4 KiB reads take 0.25 ms of guest time (4,000/s), 1 MiB reads 2 ms (500/s, 524.288 MB/s).
  const d = fakeDisk(DISK_BLOCKS, (blocks) => (blocks === 8 ? 0.25 : 2), clock);
  let attached = false;
  const { ctx, published } = context(clock, () => (attached ? d.disk : undefined));
  const state = program.boot(ctx);
  expect(await program.step(state, ctx)).toBeGreaterThan(0);
  expect(published.size).toBe(0);
  attached = true;
  let steps = 0;
  while (!published.has(keys.mbps) && steps < 1000) {
    await program.step(state, ctx);
    steps++;
  }
  expect(published.get(keys.error)).toBeUndefined();
  expect(Number(published.get(keys.iops))).toBeCloseTo(4000, -1);
  expect(Number(published.get(keys.mbps))).toBeCloseTo(524.288, 0);
  // Each step ends after about stepMs of guest time, so the VM can pause between them.
  expect(steps).toBeGreaterThanOrEqual((2 * STORAGE_GUEST.runMs) / STORAGE_GUEST.stepMs);

  const random = d.reads.filter((r) => r.blocks === 8);
  const sequential = d.reads.filter((r) => r.blocks === 2048);
  expect(random.length + sequential.length).toBe(d.reads.length);
  // The random phase comes first, its reads 4 KiB-aligned and spread over the disk.
  expect(d.reads.indexOf(sequential[0]!)).toBe(random.length);
  for (const r of random) expect(r.lba % 8 === 0 && r.lba + 8 <= DISK_BLOCKS).toBe(true);
  expect(new Set(random.map((r) => r.lba)).size).toBeGreaterThan(random.length / 2);
  // The sequential phase walks the disk in 1 MiB steps and wraps.
  expect(sequential.slice(0, 3).map((r) => r.lba)).toEqual([0, 2048, 4096]);
  for (const r of sequential) expect(r.lba % 2048 === 0 && r.lba + 2048 <= DISK_BLOCKS).toBe(true);
  expect(sequential.length).toBeGreaterThan(64);
  expect(d.maxInFlight()).toBe(STORAGE_GUEST.randomDepth);

  // Done: it idles and reads nothing more.
  const before = d.reads.length;
  expect(await program.step(state, ctx)).toBeGreaterThan(0);
  expect(d.reads.length).toBe(before);
});

test('a disk smaller than one read is reported, not read', async () => {
  const clock = { now: 0 };
  const d = fakeDisk(4, () => 1, clock);
  const { ctx, published } = context(clock, () => d.disk);
  const state = program.boot(ctx);
  expect(await program.step(state, ctx)).toBeGreaterThan(0);
  expect(published.get(keys.error)).toMatch(/LUN 0 .* is too small/);
  expect(published.has(keys.iops)).toBe(false);
  expect(d.reads).toEqual([]);
  await program.step(state, ctx);
  expect(d.reads).toEqual([]);
});

test('a failing read is published as the error and ends the run', async () => {
  const clock = { now: 0 };
  const d = fakeDisk(DISK_BLOCKS, () => 1, clock);
  const { ctx, published } = context(clock, () => d.disk);
  const state = program.boot(ctx);
  await program.step(state, ctx);
  d.fail('READ(16) failed: sense key 0x3');
  await program.step(state, ctx);
  expect(published.get(keys.error)).toBe('READ(16) failed: sense key 0x3');
  expect(published.has(keys.iops)).toBe(false);
  const before = d.reads.length;
  expect(await program.step(state, ctx)).toBeGreaterThan(0);
  expect(d.reads.length).toBe(before);
});
