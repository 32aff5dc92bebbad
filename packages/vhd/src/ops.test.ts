import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openChain } from './disk.js';
import {
  check,
  compact,
  convert,
  createDisk,
  type DiskFormat,
  merge,
  openDisk,
  resize,
  VhdOperationError,
} from './index.js';
import { pattern, readAll, tempDir } from './test-support.js';
import type { VhdxLayer } from './vhdx.js';

const p = tempDir();
const MiB = 1024 * 1024;
let n = 0;

async function makeDisk(
  format: DiskFormat,
  type: 'fixed' | 'dynamic',
  size: number,
  writes: [number, Buffer][],
) {
  const path = p(`d${n++}.${format}`);
  const d = await createDisk(path, { format, type, sizeBytes: size, blockSize: MiB });
  const expected = Buffer.alloc(size);
  for (const [at, data] of writes) {
    await d.write(at, data);
    data.copy(expected, at);
  }
  await d.close();
  return { path, expected };
}

const kinds = [
  ['vhd', 'fixed'],
  ['vhd', 'dynamic'],
  ['vhdx', 'fixed'],
  ['vhdx', 'dynamic'],
] as const;

describe.each(kinds)('resize %s %s', (format, type) => {
  it('grows keeping data, new space reads zero', async () => {
    const { path, expected } = await makeDisk(format, type, 4 * MiB, [[MiB - 512, pattern(2 * MiB, 20)]]);
    await resize(path, 7 * MiB);
    const all = await readAll(path);
    expect(all.length).toBe(7 * MiB);
    expect(all.subarray(0, 4 * MiB).equals(expected)).toBe(true);
    expect(all.subarray(4 * MiB).every((x) => x === 0)).toBe(true);
  });

  it('shrinks when the cut area is empty, refuses (file unchanged) when it holds data', async () => {
    const { path, expected } = await makeDisk(format, type, 6 * MiB, [
      [0, pattern(MiB, 21)],
      [5 * MiB, Buffer.alloc(4096)], // allocated but zero: may be cut
    ]);
    await resize(path, 3 * MiB);
    expect((await readAll(path)).equals(expected.subarray(0, 3 * MiB))).toBe(true);
    const before = readFileSync(path);
    const err = await resize(path, MiB / 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VhdOperationError);
    expect((err as VhdOperationError).code).toBe('SHRINK_WOULD_LOSE_DATA');
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});

describe.each(['vhd', 'vhdx'] as const)('compact %s', (format) => {
  it('drops all-zero blocks and keeps the data', async () => {
    const { path, expected } = await makeDisk(format, 'dynamic', 8 * MiB, [
      [0, pattern(4096, 22)],
      [2 * MiB, Buffer.alloc(MiB)],
      [4 * MiB, Buffer.alloc(2 * MiB)],
      [7 * MiB, pattern(100, 23)],
    ]);
    const d0 = await openDisk(path, { readOnly: true });
    const { identifier, diskId } = await d0.info();
    await d0.close();
    const r = await compact(path);
    expect(r).toEqual({ blocksBefore: 5, blocksAfter: 2 });
    expect((await readAll(path)).equals(expected)).toBe(true);
    const d = await openDisk(path, { readOnly: true });
    // Same identity for children and the same disk id for guests after the rewrite.
    expect(await d.info()).toMatchObject({ allocatedBlocks: 2, identifier, diskId });
    await d.close();
  });

  it('in a differencing disk keeps a zero block that hides parent data, and children of a compacted parent still open', async () => {
    const parent = await makeDisk(format, 'dynamic', 4 * MiB, [[0, pattern(4 * MiB, 24)]]);
    const childPath = p(`cc-${format}`);
    const c = await createDisk(childPath, {
      format,
      type: 'differencing',
      parentPath: parent.path,
      blockSize: MiB,
    });
    await c.write(MiB, Buffer.alloc(MiB)); // hides parent data: must stay
    await c.write(2 * MiB, Buffer.alloc(4096, 1));
    await c.close();
    const expected = Buffer.from(parent.expected);
    expected.fill(0, MiB, 2 * MiB);
    expected.fill(1, 2 * MiB, 2 * MiB + 4096);
    await compact(childPath);
    expect((await readAll(childPath)).equals(expected)).toBe(true);
    await compact(parent.path);
    expect((await readAll(childPath)).equals(expected)).toBe(true);
  });
});

describe('convert', () => {
  it('moves data through every format and type unchanged', async () => {
    const { path, expected } = await makeDisk('vhd', 'dynamic', 5 * MiB, [
      [12345, pattern(MiB, 25)],
      [4 * MiB, pattern(MiB, 26)],
    ]);
    let src = path;
    for (const [format, type] of [
      ['vhdx', 'fixed'],
      ['vhd', 'fixed'],
      ['vhdx', 'dynamic'],
      ['vhd', 'dynamic'],
    ] as const) {
      const dst = p(`conv-${n++}.${format}`);
      await convert(src, dst, { format, type });
      const d = await openDisk(dst, { readOnly: true });
      expect(d.format).toBe(format);
      expect(d.type).toBe(type);
      await d.close();
      expect((await readAll(dst)).equals(expected)).toBe(true);
      src = dst;
    }
  });
});

describe.each(['vhd', 'vhdx'] as const)('merge %s', (format) => {
  it('writes the child into the parent and removes the child', async () => {
    const parent = await makeDisk(format, 'dynamic', 4 * MiB, [[0, pattern(3 * MiB, 27)]]);
    const childPath = p(`mc-${n++}.${format}`);
    const c = await createDisk(childPath, {
      format,
      type: 'differencing',
      parentPath: parent.path,
      blockSize: MiB,
    });
    const a = pattern(3000, 28);
    await c.write(MiB + 5, a);
    await c.write(3 * MiB, Buffer.alloc(MiB, 9));
    await c.close();
    const view = await readAll(childPath);
    const r = await merge(childPath);
    expect(r.parentPath).toBe(parent.path);
    expect(existsSync(childPath)).toBe(false);
    expect((await readAll(parent.path)).equals(view)).toBe(true);
  });
});

describe('check', () => {
  it('reports a clean disk as ok', async () => {
    for (const format of ['vhd', 'vhdx'] as const) {
      const { path } = await makeDisk(format, 'dynamic', 2 * MiB, [[0, pattern(4096, 29)]]);
      const r = await check(path);
      expect(r).toMatchObject({ ok: true, issues: [], format, type: 'dynamic' });
    }
  });

  it('VHD: restores a damaged end footer from the copy at offset 0', async () => {
    const { path, expected } = await makeDisk('vhd', 'dynamic', 4 * MiB, [[MiB, pattern(MiB, 30)]]);
    const bytes = readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 512 + 70) ^ 0xff, bytes.length - 512 + 70); // checksum now wrong
    writeFileSync(path, bytes);
    const r = await check(path);
    expect(r.ok).toBe(true);
    expect(r.issues.map((i) => i.code)).toContain('FOOTER_BAD');
    const fixed = await check(path, { repair: true });
    expect(fixed.issues.find((i) => i.code === 'FOOTER_BAD')?.repaired).toBe(true);
    expect((await check(path)).issues).toEqual([]);
    expect((await readAll(path)).equals(expected)).toBe(true);
  });

  it('VHDX: rewrites a damaged header and region table from their valid copies', async () => {
    const { path, expected } = await makeDisk('vhdx', 'dynamic', 4 * MiB, [[0, pattern(MiB, 31)]]);
    const bytes = readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(64 * 1024 + 100) ^ 1, 64 * 1024 + 100); // header 1
    bytes.writeUInt8(bytes.readUInt8(192 * 1024 + 40) ^ 1, 192 * 1024 + 40); // region table 1
    writeFileSync(path, bytes);
    const r = await check(path);
    expect(r.issues.map((i) => i.code).sort()).toEqual(['HEADER_BAD', 'REGION_TABLE_BAD']);
    const fixed = await check(path, { repair: true });
    expect(fixed.issues.every((i) => i.repaired)).toBe(true);
    expect((await check(path)).issues).toEqual([]);
    expect((await readAll(path)).equals(expected)).toBe(true);
  });

  it('reports BAT entries beyond EOF and overlapping blocks as errors', async () => {
    const { path } = await makeDisk('vhd', 'dynamic', 4 * MiB, [
      [0, pattern(4096, 32)],
      [MiB, pattern(4096, 33)],
    ]);
    const bytes = readFileSync(path);
    const bat = 1536;
    bytes.writeUInt32BE(bytes.readUInt32BE(bat), bat + 4); // block 1 -> block 0's place
    writeFileSync(path, bytes);
    expect((await check(path)).issues.map((i) => i.code)).toEqual(['BAT_OVERLAP']);
    bytes.writeUInt32BE(0x00ffffff, bat + 4);
    writeFileSync(path, bytes);
    const r = await check(path);
    expect(r.ok).toBe(false);
    expect(r.issues.map((i) => i.code)).toEqual(['BAT_ENTRY_BEYOND_EOF']);
  });

  it('VHDX: reports a pending log and replays it on repair', async () => {
    const { path, expected } = await makeDisk('vhdx', 'dynamic', 2 * MiB, [[0, pattern(MiB, 34)]]);
    const top = (await openChain(path, true)) as VhdxLayer;
    const batOffset = top.regions.bat.offset;
    await top.writeUnappliedLogEntry([[batOffset, readFileSync(path).subarray(batOffset, batOffset + 4096)]]);
    await top.file.close();
    const r = await check(path, { repair: true });
    expect(r.issues.map((i) => [i.code, i.repaired])).toEqual([['LOG_PENDING', true]]);
    expect((await check(path)).issues).toEqual([]);
    expect((await readAll(path)).equals(expected)).toBe(true);
  });
});

describe.each([...kinds, ['vhd', 'differencing'], ['vhdx', 'differencing']] as const)(
  'discard %s %s',
  (format, type) => {
    it('makes the range read zero (whole blocks dropped where the format allows), data around it kept', async () => {
      let path: string;
      let expected: Buffer;
      if (type === 'differencing') {
        const parent = await makeDisk(format, 'dynamic', 6 * MiB, [[0, pattern(6 * MiB, 35)]]);
        path = p(`disc-${n++}.${format}`);
        await (await createDisk(path, { format, type, parentPath: parent.path, blockSize: MiB })).close();
        expected = Buffer.from(parent.expected);
      } else {
        ({ path, expected } = await makeDisk(format, type, 6 * MiB, [[0, pattern(6 * MiB, 36)]]));
      }
      const d = await openDisk(path);
      const before = (await d.info()).allocatedBlocks;
      await d.discard(MiB - 100, 3 * MiB + 300); // partial edges, blocks 1 and 2 whole, partial block 4
      expected.fill(0, MiB - 100, 4 * MiB + 200);
      expect((await d.read(0, 6 * MiB)).equals(expected)).toBe(true);
      const after = (await d.info()).allocatedBlocks;
      if (format === 'vhdx' && type !== 'fixed') expect(after).toBeLessThan(Math.max(before, 4));
      await d.close();
      expect((await readAll(path)).equals(expected)).toBe(true);
      expect((await check(path)).issues).toEqual([]);
    });
  },
);
