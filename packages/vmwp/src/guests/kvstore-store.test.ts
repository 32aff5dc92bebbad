import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { crc32c, VirtualDisk } from '@viridian/vhd';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryDevice, PowerCutDevice, vhdBlockDevice } from './kvstore-devices.test-fixture.js';
import { commitKv, type KvBlockDevice, type KvState, openKvStore, verifyKv } from './kvstore-store.js';
import { transactionPuts, workloadProblem } from './kvstore-workload.js';

const MiB = 1024 * 1024;
const SECTOR = 512;
// Small regions so that a few dozen transactions fill one and compaction runs.
const SMALL_REGIONS = { regionBytes: 16 * SECTOR };

let dir: string;
let path: string;
let open: VirtualDisk[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvstore-'));
  path = join(dir, 'data.vhdx');
  const disk = await VirtualDisk.create(path, {
    format: 'vhdx',
    type: 'dynamic',
    sizeBytes: 4 * MiB,
    blockSize: MiB,
  });
  await disk.close();
});

afterEach(async () => {
  for (const disk of open) await disk.close().catch(() => undefined);
  open = [];
  await rm(dir, { recursive: true, force: true });
});

/** Opens the VHDX file afresh (everything not flushed before is gone) as a block device. */
async function device(): Promise<KvBlockDevice> {
  for (const disk of open) await disk.close();
  const disk = await VirtualDisk.open(path);
  open = [disk];
  return vhdBlockDevice(disk);
}

async function opened(dev: KvBlockDevice, options = SMALL_REGIONS): Promise<KvState> {
  const result = await openKvStore(dev, options);
  if (!result.ok) throw new Error(`open failed: ${result.code}: ${result.reason}`);
  return result.state;
}

async function commitWorkload(dev: KvBlockDevice, state: KvState, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const result = await commitKv(dev, state, transactionPuts(state.header.committed + 1));
    if (!result.ok) throw new Error(`commit failed: ${result.code}: ${result.reason}`);
  }
}

/** Writes raw bytes into the file at a block address, behind the store's back. */
async function poke(lba: number, at: number, bytes: Uint8Array): Promise<void> {
  const dev = await device();
  const block = await dev.read(lba, 1);
  block.set(bytes, at);
  await dev.write(lba, block);
  await dev.flush();
}

describe('kvstore store on a VHDX file', () => {
  it('formats a blank disk, commits, and reopens at the last commit', async () => {
    const first = await openKvStore(await device());
    expect(first).toMatchObject({ ok: true, formatted: true, fellBack: false });
    if (!first.ok) return;
    const dev = await device();
    const state = first.state;
    expect(
      await commitKv(dev, state, [
        ['a', '1'],
        ['b', 'two'],
        ['a', 'one'],
      ]),
    ).toEqual({
      ok: true,
      sequence: 1,
      compacted: false,
    });
    expect(await commitKv(dev, state, [['ключ', 'значение ✓']])).toMatchObject({ ok: true, sequence: 2 });
    const again = await openKvStore(await device());
    expect(again).toMatchObject({ ok: true, formatted: false, fellBack: false });
    if (!again.ok) return;
    expect(again.state.header.committed).toBe(2);
    expect([...again.state.entries]).toEqual([
      ['a', 'one'],
      ['b', 'two'],
      ['ключ', 'значение ✓'],
    ]);
    expect(await verifyKv(await device(), again.state)).toEqual({ ok: true, committed: 2, keys: 3 });
  });

  it('keeps the region size it was formatted with, whatever a later open asks for', async () => {
    const state = await opened(await device(), SMALL_REGIONS);
    const reopened = await opened(await device(), { regionBytes: MiB });
    expect(reopened.header.regionBlocks).toBe(state.header.regionBlocks);
    expect(state.header.regionBlocks).toBe(16);
  });

  it('compaction keeps every key and the store runs on in alternating regions', async () => {
    const dev = await device();
    const state = await opened(dev);
    const regions: number[] = [];
    let compactions = 0;
    for (let i = 0; i < 120; i++) {
      const result = await commitKv(dev, state, transactionPuts(state.header.committed + 1));
      expect(result.ok).toBe(true);
      if (result.ok && result.compacted) {
        compactions++;
        regions.push(state.header.region);
      }
    }
    expect(compactions).toBeGreaterThanOrEqual(4);
    expect(regions.slice(0, 4)).toEqual([1, 0, 1, 0]);
    expect(workloadProblem(state.entries, 120)).toBeUndefined();
    expect(await verifyKv(dev, state)).toEqual({ ok: true, committed: 120, keys: 97 });
    const reopened = await opened(await device());
    expect(reopened.header.committed).toBe(120);
    expect(workloadProblem(reopened.entries, 120)).toBeUndefined();
  });

  it('reports a store too full for one region instead of writing it', async () => {
    const dev = await device();
    const state = await opened(dev, { regionBytes: 2 * SECTOR });
    const big = 'x'.repeat(600);
    expect((await commitKv(dev, state, [['a', big]])).ok).toBe(true);
    const result = await commitKv(dev, state, [['b', big]]);
    expect(result).toMatchObject({ ok: false, code: 'full' });
    expect(state.header.committed).toBe(1);
    expect((await opened(await device())).header.committed).toBe(1);
  });

  it('the state survives v8 serialization and goes on committing', async () => {
    const dev = await device();
    const state = await opened(dev);
    await commitWorkload(dev, state, 5);
    const copy = deserialize(serialize(state)) as KvState;
    await commitWorkload(dev, copy, 30);
    expect(await verifyKv(await device(), copy)).toMatchObject({ ok: true, committed: 35 });
  });
});

describe('kvstore crash consistency', () => {
  // Cut the power after each operation of a commit in turn, with the unflushed writes lost or kept.
  for (const keepUnflushed of [false, true]) {
    for (const compacting of [false, true]) {
      it(`a crash anywhere in a ${compacting ? 'compacting ' : ''}commit leaves the last or the new commit (unflushed writes ${keepUnflushed ? 'kept' : 'lost'})`, async () => {
        const setup = await device();
        const state = await opened(setup);
        // 15 one-block transactions after the one-block snapshot fill the 16-block region exactly.
        await commitWorkload(setup, state, compacting ? 15 : 3);
        const before = state.header.committed;
        const seen = new Set<number>();
        for (let cut = 0; ; cut++) {
          const dev = new PowerCutDevice(await device());
          const mine = await opened(dev);
          expect(mine.header.committed).toBe(before);
          dev.cutPowerAfter(cut, keepUnflushed);
          const result = await commitKv(dev, mine, transactionPuts(before + 1));
          const reopened = await opened(await device());
          const committed = reopened.header.committed;
          expect([before, before + 1]).toContain(committed);
          expect(workloadProblem(reopened.entries, committed)).toBeUndefined();
          seen.add(committed);
          if (result.ok) {
            expect(result.compacted).toBe(compacting);
            expect(committed).toBe(before + 1);
            break;
          }
          expect(result.code).toBe('io');
          expect(mine.header.committed).toBe(before);
          // Roll the file back to `before` for the next cut (a crash after the header reached the disk).
          if (committed !== before) await rollBack(before);
        }
        expect([...seen].sort((a, b) => a - b)).toEqual([before, before + 1]);
      });
    }
  }

  async function rollBack(to: number): Promise<void> {
    // Damage the newest header: the older one (committed `to`) takes over, and the next commit
    // overwrites the damaged slot.
    const state = await opened(await device());
    await poke(state.header.sequence % 2, 0, new Uint8Array([0xff]));
    expect((await opened(await device())).header.committed).toBe(to);
  }
});

describe('kvstore damage on disk', () => {
  it('a torn newest header falls back to the older one, and the next commit repairs its slot', async () => {
    const dev = await device();
    const state = await opened(dev);
    await commitWorkload(dev, state, 3);
    await poke(state.header.sequence % 2, 20, new Uint8Array([0x5a, 0xa5]));
    const fallen = await openKvStore(await device(), SMALL_REGIONS);
    expect(fallen).toMatchObject({ ok: true, fellBack: true, formatted: false });
    if (!fallen.ok) return;
    expect(fallen.state.header.committed).toBe(2);
    expect(workloadProblem(fallen.state.entries, 2)).toBeUndefined();
    const next = await device();
    await commitWorkload(next, fallen.state, 1);
    const repaired = await openKvStore(await device());
    expect(repaired).toMatchObject({ ok: true, fellBack: false });
    if (repaired.ok) expect(repaired.state.header.committed).toBe(3);
  });

  it('a corrupted record is reported by open and by verify', async () => {
    const dev = await device();
    const state = await opened(dev);
    await commitWorkload(dev, state, 4);
    // Block 2 is the snapshot; the transactions follow, one block each.
    await poke(2 + 3, 40, new Uint8Array([0x21]));
    expect(await verifyKv(await device(), state)).toMatchObject({
      ok: false,
      code: 'corrupt',
      reason: expect.stringContaining('checksum mismatch'),
    });
    expect(await openKvStore(await device())).toMatchObject({
      ok: false,
      code: 'corrupt',
      reason: 'batch at block 5: checksum mismatch',
    });
  });

  it('verify reports a disk that moved on without this view', async () => {
    const dev = await device();
    const state = await opened(dev);
    await commitWorkload(dev, state, 2);
    const stale = deserialize(serialize(state)) as KvState;
    await commitWorkload(dev, state, 1);
    expect(await verifyKv(dev, stale)).toMatchObject({
      ok: false,
      code: 'corrupt',
      reason: 'header sequence is 4 on disk, 3 in memory',
    });
  });

  it('garbage in the header slots is corruption, never reformatted', async () => {
    await opened(await device());
    await poke(0, 0, new TextEncoder().encode('not a store'));
    await poke(1, 0, new TextEncoder().encode('nor this'));
    const result = await openKvStore(await device());
    expect(result).toMatchObject({
      ok: false,
      code: 'corrupt',
      reason: expect.stringMatching(/^no valid header/),
    });
    expect(await openKvStore(await device())).toMatchObject({ ok: false, code: 'corrupt' });
  });

  it('hostile lengths in headers and records come back as corruption', async () => {
    const dev = await device();
    const state = await opened(dev);
    await commitWorkload(dev, state, 2);
    const image = await dev.read(0, 40);
    const cases: [string, (image: Uint8Array) => void][] = [
      ['huge payload length', (img) => view(img, 3 * SECTOR).setUint32(20, 0xffff_ffff, true)],
      ['huge entry count', (img) => sealBatch(img, 3, (v) => v.setUint32(16, 0xffff_ffff, true))],
      ['huge value length', (img) => sealBatch(img, 3, (v) => v.setUint32(32 + 2, 0xffff_fff0, true))],
      ['huge key length', (img) => sealBatch(img, 3, (v) => v.setUint16(32, 0xffff, true))],
      ['sequence out of range', (img) => sealBatch(img, 3, (v) => v.setBigUint64(8, 2n ** 63n, true))],
      ['sequence gap', (img) => sealBatch(img, 3, (v) => v.setBigUint64(8, 7n, true))],
      ['huge regions (both headers)', (img) => sealHeaders(img, (v) => v.setUint32(24, 0x7fff_ffff, true))],
      ['huge tail (both headers)', (img) => sealHeaders(img, (v) => v.setUint32(48, 0xffff_ffff, true))],
      [
        'committed past 2^53 (both headers)',
        (img) => sealHeaders(img, (v) => v.setBigUint64(40, 2n ** 64n - 1n, true)),
      ],
      [
        'committed past the log (both headers)',
        (img) => sealHeaders(img, (v) => v.setBigUint64(40, 9n, true)),
      ],
    ];
    for (const [name, damage] of cases) {
      const copy = image.slice();
      damage(copy);
      const result = await openKvStore(new MemoryDevice(SECTOR, dev.blocks, padded(copy, dev.blocks)));
      expect({ name, result }).toMatchObject({ name, result: { ok: false, code: 'corrupt' } });
    }
  });

  it('random damage to a store image never makes open or verify throw', async () => {
    const dev = await device();
    const state = await opened(dev);
    await commitWorkload(dev, state, 20);
    const image = padded(await dev.read(0, 40), dev.blocks);
    let random = 0x2545f491;
    const next = (n: number) => {
      random ^= random << 13;
      random ^= random >>> 17;
      random ^= random << 5;
      return (random >>> 0) % n;
    };
    const outcomes = new Set<string>();
    for (let round = 0; round < 300; round++) {
      const copy = image.slice();
      for (let flips = 1 + next(4); flips > 0; flips--) copy[next(40 * SECTOR)] = next(256);
      const memory = new MemoryDevice(SECTOR, dev.blocks, copy);
      const result = await openKvStore(memory);
      outcomes.add(result.ok ? 'ok' : result.code);
      if (result.ok) expect(await verifyKv(memory, result.state)).toMatchObject({ ok: true });
      const check = await verifyKv(memory, state);
      expect(typeof check.ok).toBe('boolean');
    }
    expect(outcomes).toContain('corrupt');
  });
});

describe('kvstore misuse', () => {
  it('refuses bad puts and unusable devices without touching the disk', async () => {
    const dev = await device();
    const state = await opened(dev);
    const bad: unknown[] = [
      [],
      [['', 'x']],
      [['k', 'x'.repeat(20_000)]],
      [['k'.repeat(300), 'x']],
      [['k', 5]],
      [7],
    ];
    for (const puts of bad) {
      expect(await commitKv(dev, state, puts as [string, string][])).toMatchObject({
        ok: false,
        code: 'invalid',
      });
    }
    expect(await commitKv(dev, state, [['\ud800', 'x']])).toMatchObject({ ok: false, code: 'invalid' });
    expect(state.header.committed).toBe(0);
    expect(await openKvStore(new MemoryDevice(SECTOR, 5))).toMatchObject({ ok: false, code: 'invalid' });
    expect(await openKvStore(new MemoryDevice(100, 64))).toMatchObject({ ok: false, code: 'invalid' });
    expect(await openKvStore(new MemoryDevice(SECTOR, 64), { regionBytes: -1 })).toMatchObject({
      ok: false,
      code: 'invalid',
    });
  });

  it('reports device failures as io and leaves the view as it was', async () => {
    const dev = new PowerCutDevice(await device());
    const state = await opened(dev);
    dev.cutPowerAfter(0);
    expect(await commitKv(dev, state, [['a', 'b']])).toMatchObject({
      ok: false,
      code: 'io',
      reason: 'log write failed: the device has no power',
    });
    expect(await verifyKv(dev, state)).toMatchObject({ ok: false, code: 'io' });
    expect(await openKvStore(dev)).toMatchObject({ ok: false, code: 'io' });
    expect(state.header.committed).toBe(0);
  });
});

function view(image: Uint8Array, at: number): DataView {
  return new DataView(image.buffer, image.byteOffset + at);
}

/** Changes a batch's fields and recomputes its checksum, so only the length checks stand in the way. */
function sealBatch(image: Uint8Array, lba: number, change: (view: DataView) => void): void {
  const v = view(image, lba * SECTOR);
  const total = 32 + v.getUint32(20, true);
  change(v);
  v.setUint32(24, 0, true);
  v.setUint32(24, crc32c(image.subarray(lba * SECTOR, lba * SECTOR + Math.min(total, SECTOR))), true);
}

/** Changes both headers' fields and recomputes their checksums. */
function sealHeaders(image: Uint8Array, change: (view: DataView) => void): void {
  for (const slot of [0, 1]) {
    const v = view(image, slot * SECTOR);
    change(v);
    v.setUint32(60, crc32c(image.subarray(slot * SECTOR, slot * SECTOR + 60)), true);
  }
}

function padded(image: Uint8Array, blocks: number): Uint8Array {
  const out = new Uint8Array(blocks * SECTOR);
  out.set(image);
  return out;
}
