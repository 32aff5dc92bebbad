import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.js';
import { openChain } from './disk.js';
import { createDisk, openDisk } from './index.js';
import { pattern, tempDir } from './test-support.js';
import type { VhdxLayer } from './vhdx.js';

const p = tempDir();
const MiB = 1024 * 1024;

describe('CRC-32C', () => {
  it('matches the standard check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});

describe.each([
  ['fixed', 512],
  ['dynamic', 512],
  ['dynamic', 4096],
] as const)('VHDX %s (logical sector %i)', (type, lss) => {
  it('round-trips data and reopens it', async () => {
    const path = p(`rt-${type}-${lss}.vhdx`);
    const disk = await createDisk(path, {
      format: 'vhdx',
      type,
      sizeBytes: 6 * MiB,
      blockSize: MiB,
      logicalSectorSize: lss,
    });
    const a = pattern(2 * MiB + 4096, 5);
    await disk.write(MiB - 4096, a);
    const b = pattern(100, 6);
    await disk.write(5 * MiB + 3, b);
    await disk.close();
    const expected = Buffer.alloc(6 * MiB);
    a.copy(expected, MiB - 4096);
    b.copy(expected, 5 * MiB + 3);
    const again = await openDisk(path, { readOnly: true });
    expect((await again.read(0, 6 * MiB)).equals(expected)).toBe(true);
    const info = await again.info();
    expect(info).toMatchObject({
      format: 'vhdx',
      type,
      virtualSize: 6 * MiB,
      logicalSectorSize: lss,
      blockSize: MiB,
    });
    expect(info.allocatedBlocks).toBe(type === 'fixed' ? 6 : 4);
    await again.close();
  });
});

describe('VHDX differencing', () => {
  it('keeps sector-granular data in the child and the rest from the parent', async () => {
    const parentPath = p('base.vhdx');
    const parent = await createDisk(parentPath, {
      format: 'vhdx',
      type: 'dynamic',
      sizeBytes: 4 * MiB,
      blockSize: MiB,
    });
    const base = pattern(4 * MiB, 7);
    await parent.write(0, base);
    await parent.close();
    const before = readFileSync(parentPath);
    const childPath = p('child.vhdx');
    const child = await createDisk(childPath, {
      format: 'vhdx',
      type: 'differencing',
      parentPath,
      blockSize: MiB,
    });
    const patch = pattern(1024, 8);
    await child.write(2 * MiB + 512, patch);
    await child.write(0, Buffer.alloc(MiB, 0x5a)); // a whole block: fully present
    await child.close();
    const expected = Buffer.from(base);
    patch.copy(expected, 2 * MiB + 512);
    expected.fill(0x5a, 0, MiB);
    const c = await openDisk(childPath, { readOnly: true });
    expect((await c.read(0, 4 * MiB)).equals(expected)).toBe(true);
    expect((await c.info()).allocatedBlocks).toBe(2);
    await c.close();
    expect(readFileSync(parentPath).equals(before)).toBe(true);
  });
});

describe('VHDX log', () => {
  it('replays a pending log on open (writable): data right, LogGuid cleared', async () => {
    const path = p('pending.vhdx');
    const disk = await createDisk(path, {
      format: 'vhdx',
      type: 'dynamic',
      sizeBytes: 4 * MiB,
      blockSize: MiB,
    });
    const data = pattern(MiB, 9);
    await disk.write(MiB, data);
    await disk.close();
    // Simulate a crash between logging a BAT update and applying it: the log holds the current BAT page
    // (block 1 present) while the BAT region itself is reset to "not present".
    const top = (await openChain(path, true)) as VhdxLayer;
    const batOffset = top.regions.bat.offset;
    const batPage = readFileSync(path).subarray(batOffset, batOffset + 4096);
    await top.writeUnappliedLogEntry([[batOffset, Buffer.from(batPage)]]);
    await top.file.write(batOffset, Buffer.alloc(4096));
    await top.file.sync();
    await top.file.close();
    const raw = readFileSync(path);
    expect(raw.subarray(batOffset, batOffset + 4096).every((x) => x === 0)).toBe(true);

    // A read-only open replays in memory and leaves the file untouched.
    const ro = await openDisk(path, { readOnly: true });
    expect((await ro.read(MiB, MiB)).equals(data)).toBe(true);
    await ro.close();
    expect(readFileSync(path).equals(raw)).toBe(true);

    const rw = await openDisk(path);
    expect((await rw.read(MiB, MiB)).equals(data)).toBe(true);
    await rw.close();
    const after = readFileSync(path);
    expect(after.subarray(batOffset, batOffset + 4096).equals(batPage)).toBe(true);
    const again = (await openChain(path, false)) as VhdxLayer;
    expect(again.logReplayed).toBe(false);
    expect(again.currentHeader.logGuid.every((x) => x === 0)).toBe(true);
    await again.closeChain();
  });

  it('commits allocations through the log so a torn BAT write is recovered', async () => {
    const path = p('torn.vhdx');
    const disk = await createDisk(path, {
      format: 'vhdx',
      type: 'dynamic',
      sizeBytes: 4 * MiB,
      blockSize: MiB,
    });
    const data = pattern(4096, 10);
    await disk.write(3 * MiB, data);
    await disk.flush();
    // Copy the file as it stands after the flush (LogGuid still set while open), then tear the BAT.
    const snapshot = readFileSync(path);
    await disk.close();
    const top = (await openChain(path, false)) as VhdxLayer;
    const batOffset = top.regions.bat.offset;
    await top.closeChain();
    snapshot.fill(0, batOffset, batOffset + 4096);
    const crashed = p('torn-copy.vhdx');
    writeFileSync(crashed, snapshot);
    const rw = await openDisk(crashed);
    expect((await rw.read(3 * MiB, 4096)).equals(data)).toBe(true);
    await rw.close();
  });
});
