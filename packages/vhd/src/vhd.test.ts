import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDisk, openDisk, VhdFormatError } from './index.js';
import { pattern, tempDir } from './test-support.js';
import { chsGeometry, vhdChecksum } from './vhd.js';

const p = tempDir();
const MiB = 1024 * 1024;

describe('VHD structures', () => {
  it('computes CHS geometry as the specification appendix does', () => {
    // 10 MiB: 20480 sectors, spt 17 → cth 1204, heads 4 → cylinders 301.
    expect(chsGeometry(20480)).toEqual({ cylinders: 301, heads: 4, sectorsPerTrack: 17 });
    // Large disks saturate at 65535/16/255.
    expect(chsGeometry(2 ** 40)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
    // 1 GiB: 2097152 sectors → spt 63, heads 16, cylinders 2080.
    expect(chsGeometry(2097152)).toEqual({ cylinders: 2080, heads: 16, sectorsPerTrack: 63 });
  });

  it('writes footers whose checksum is the ones complement of the byte sum', async () => {
    const path = p('sum.vhd');
    await (await createDisk(path, { format: 'vhd', type: 'dynamic', sizeBytes: 4 * MiB })).close();
    const bytes = readFileSync(path);
    const footer = bytes.subarray(bytes.length - 512);
    expect(footer.readUInt32BE(64)).toBe(vhdChecksum(footer, 64));
    expect(footer.toString('latin1', 28, 32)).toBe('win ');
    expect(bytes.subarray(0, 512).equals(footer)).toBe(true);
    const header = bytes.subarray(512, 1536);
    expect(header.toString('latin1', 0, 8)).toBe('cxsparse');
    expect(header.readUInt32BE(36)).toBe(vhdChecksum(header, 36));
  });
});

describe.each(['fixed', 'dynamic'] as const)('VHD %s', (type) => {
  it('round-trips aligned and unaligned writes across block boundaries, and persists them', async () => {
    const path = p(`rt-${type}.vhd`);
    const disk = await createDisk(path, { format: 'vhd', type, sizeBytes: 5 * MiB, blockSize: MiB });
    const a = pattern(3 * MiB, 1);
    await disk.write(512 * 1000, a);
    const b = pattern(777, 2);
    await disk.write(2 * MiB - 300, b);
    const expected = Buffer.alloc(5 * MiB);
    a.copy(expected, 512 * 1000);
    b.copy(expected, 2 * MiB - 300);
    expect((await disk.read(0, 5 * MiB)).equals(expected)).toBe(true);
    await disk.flush();
    await disk.close();
    const again = await openDisk(path, { readOnly: true });
    expect((await again.read(0, 5 * MiB)).equals(expected)).toBe(true);
    const odd = Buffer.alloc(1001);
    await again.read(12345, odd);
    expect(odd.equals(expected.subarray(12345, 13346))).toBe(true);
    const info = await again.info();
    expect(info).toMatchObject({ format: 'vhd', type, virtualSize: 5 * MiB });
    if (type === 'dynamic') expect(info.allocatedBlocks).toBe(4);
    await expect(again.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'READ_ONLY' });
    await expect(again.read(5 * MiB - 1, 2)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await again.close();
  });
});

describe('VHD differencing', () => {
  it('reads unwritten sectors from the parent and keeps the parent unchanged', async () => {
    const parentPath = p('base.vhd');
    const parent = await createDisk(parentPath, { format: 'vhd', type: 'dynamic', sizeBytes: 4 * MiB });
    const base = pattern(4 * MiB, 3);
    await parent.write(0, base);
    await parent.close();
    const before = readFileSync(parentPath);
    const childPath = p('child.vhd');
    const child = await createDisk(childPath, { format: 'vhd', type: 'differencing', parentPath });
    const patch = pattern(1536, 4);
    await child.write(MiB + 512, patch);
    await child.close();
    const c = await openDisk(childPath);
    const expected = Buffer.from(base);
    patch.copy(expected, MiB + 512);
    expect((await c.read(0, 4 * MiB)).equals(expected)).toBe(true);
    const info = await c.info();
    expect(info.type).toBe('differencing');
    expect(info.parentChain.map((x) => x.path)).toEqual([parentPath]);
    await c.close();
    expect(readFileSync(parentPath).equals(before)).toBe(true);
  });

  it('refuses a parent whose unique id does not match', async () => {
    const parentPath = p('base2.vhd');
    await (await createDisk(parentPath, { format: 'vhd', type: 'dynamic', sizeBytes: MiB })).close();
    const childPath = p('child2.vhd');
    await (await createDisk(childPath, { format: 'vhd', type: 'differencing', parentPath })).close();
    // Replace the parent with a different disk at the same path.
    const { rm } = await import('node:fs/promises');
    await rm(parentPath);
    await (await createDisk(parentPath, { format: 'vhd', type: 'dynamic', sizeBytes: MiB })).close();
    const err = await openDisk(childPath).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VhdFormatError);
    expect((err as VhdFormatError).code).toBe('PARENT_MISMATCH');
  });
});

describe('VirtualDisk arguments', () => {
  it('rejects (not throws) bad ranges, writes after close, and bad create options with typed errors', async () => {
    const path = p('args.vhd');
    const d = await createDisk(path, { format: 'vhd', type: 'dynamic', sizeBytes: MiB });
    await expect(d.write(MiB - 1, Buffer.alloc(2))).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(d.read(-1, 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await d.close();
    await expect(d.write(0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(
      createDisk(p('bad.vhd'), { format: 'vhd', type: 'dynamic', sizeBytes: 1000 }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      createDisk(p('bad2.vhdx'), { format: 'vhdx', type: 'dynamic', sizeBytes: MiB, blockSize: 4096 }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(openDisk(p('args.vhd') + '.missing')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
