import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { convert, createDisk, openDisk } from './index.js';
import { hasQemuImg, pattern, qemuImg, qemuImgStatus, tempDir } from './test-support.js';

// Round trips through qemu-img (Debian qemu-utils). qemu 7.x cannot create or open differencing
// VHD/VHDX files, so chains are tested with a qemu-made parent and a flattened result qemu reads.
const p = tempDir();
const MiB = 1024 * 1024;
const qemu = hasQemuImg();

/** qemu-img check passes, or (vpc) the format has no checker: exit 63 with that message. */
function expectQemuCheckClean(path: string, fmt: string): void {
  const r = qemuImgStatus('check', '-f', fmt, path);
  if (fmt === 'vpc') expect(r.status === 0 || /does not support checks/.test(r.out)).toBe(true);
  else {
    expect(r.out).toContain('No errors were found');
    expect(r.status).toBe(0);
  }
}

function qemuInfo(path: string, fmt: string): { 'virtual-size': number } {
  return JSON.parse(qemuImg('info', '--output=json', '-f', fmt, path));
}

const cases = [
  {
    name: 'VHD fixed',
    fmt: 'vpc',
    opts: ['-o', 'subformat=fixed'],
    format: 'vhd',
    type: 'fixed',
    ext: 'vhd',
  },
  {
    name: 'VHD dynamic',
    fmt: 'vpc',
    opts: ['-o', 'subformat=dynamic'],
    format: 'vhd',
    type: 'dynamic',
    ext: 'vhd',
  },
  {
    name: 'VHDX fixed',
    fmt: 'vhdx',
    opts: ['-o', 'subformat=fixed'],
    format: 'vhdx',
    type: 'fixed',
    ext: 'vhdx',
  },
  {
    name: 'VHDX dynamic',
    fmt: 'vhdx',
    opts: ['-o', 'subformat=dynamic,block_size=1M'],
    format: 'vhdx',
    type: 'dynamic',
    ext: 'vhdx',
  },
] as const;

describe.skipIf(!qemu).each(cases)('qemu-img interop: $name', (c) => {
  it('qemu-made image: Viridian reads the data, writes more, qemu checks and compares it', async () => {
    // Start from a raw image with data in a few places and let qemu-img convert it.
    const size = 12 * MiB;
    const raw = Buffer.alloc(size);
    pattern(MiB + 512, 11).copy(raw, 3 * MiB - 512);
    pattern(4096, 12).copy(raw, 9 * MiB);
    const rawPath = p(`src-${c.name}.raw`);
    writeFileSync(rawPath, raw);
    const img = p(`qemu-${c.name}.${c.ext}`);
    qemuImg('convert', '-f', 'raw', '-O', c.fmt, ...c.opts, rawPath, img);
    const qsize = qemuInfo(img, c.fmt)['virtual-size'];

    const disk = await openDisk(img);
    // qemu's vpc rounds the size up to CHS geometry and records it as current_size: both agree.
    expect(disk.sizeBytes).toBe(qsize);
    expect(disk.format).toBe(c.format);
    expect(disk.type).toBe(c.type);
    const expected = Buffer.alloc(qsize);
    raw.copy(expected);
    expect((await disk.read(0, qsize)).equals(expected)).toBe(true);
    const w1 = pattern(2 * MiB, 13);
    await disk.write(6 * MiB + 512, w1); // unallocated blocks
    const w2 = pattern(700, 14);
    await disk.write(3 * MiB + 100, w2); // inside qemu's data, unaligned
    await disk.close();
    w1.copy(expected, 6 * MiB + 512);
    w2.copy(expected, 3 * MiB + 100);

    expectQemuCheckClean(img, c.fmt);
    const out = p(`back-${c.name}.raw`);
    qemuImg('convert', '-f', c.fmt, '-O', 'raw', img, out);
    expect(readFileSync(out).equals(expected)).toBe(true);
    const exp = p(`exp-${c.name}.raw`);
    writeFileSync(exp, expected);
    expect(qemuImgStatus('compare', '-f', 'raw', '-F', c.fmt, exp, img).status).toBe(0);
  });

  it('Viridian-made image: qemu reports the size, checks it and converts it to the same bytes', async () => {
    const size = 10 * MiB + 512 * 3; // deliberately not a CHS multiple
    const img = p(`viridian-${c.name}.${c.ext}`);
    const disk = await createDisk(img, {
      format: c.format,
      type: c.type,
      sizeBytes: size,
      ...(c.format === 'vhdx' ? { blockSize: MiB } : {}),
    });
    const expected = Buffer.alloc(size);
    const a = pattern(3 * MiB, 15);
    await disk.write(MiB + 1000, a);
    a.copy(expected, MiB + 1000);
    await disk.discard(2 * MiB, MiB); // a whole VHDX block becomes a ZERO block
    expected.fill(0, 2 * MiB, 3 * MiB);
    const tail = pattern(1536, 16);
    await disk.write(size - 1536, tail);
    tail.copy(expected, size - 1536);
    await disk.close();

    expect(qemuInfo(img, c.fmt)['virtual-size']).toBe(size);
    expectQemuCheckClean(img, c.fmt);
    const out = p(`viridian-${c.name}.raw`);
    qemuImg('convert', '-f', c.fmt, '-O', 'raw', img, out);
    expect(readFileSync(out).equals(expected)).toBe(true);
  });
});

describe.skipIf(!qemu).each([
  ['vhd', 'vpc'],
  ['vhdx', 'vhdx'],
] as const)('qemu-img interop: %s differencing chain', (format, fmt) => {
  it('child on a qemu-made parent reads through, and its flattened form matches in qemu', async () => {
    const size = 8 * MiB;
    const raw = pattern(size, 17);
    const rawPath = p(`chain-${format}.raw`);
    writeFileSync(rawPath, raw);
    const parent = p(`chain-parent.${format}`);
    qemuImg('convert', '-f', 'raw', '-O', fmt, '-o', 'subformat=dynamic', rawPath, parent);
    const psize = qemuInfo(parent, fmt)['virtual-size'];
    const child = p(`chain-child.${format}`);
    const d = await createDisk(child, { format, type: 'differencing', parentPath: parent });
    const patch = pattern(5000, 18);
    await d.write(4 * MiB - 77, patch);
    await d.close();
    const expected = Buffer.alloc(psize);
    raw.copy(expected);
    patch.copy(expected, 4 * MiB - 77);
    const r = await openDisk(child, { readOnly: true });
    expect((await r.read(0, psize)).equals(expected)).toBe(true);
    await r.close();
    const flat = p(`chain-flat.${format}`);
    await convert(child, flat, { format, type: 'dynamic' });
    expectQemuCheckClean(flat, fmt);
    const exp = p(`chain-exp-${format}.raw`);
    writeFileSync(exp, expected);
    expect(qemuImgStatus('compare', '-f', 'raw', '-F', fmt, exp, flat).status).toBe(0);
    // The parent is untouched and still passes qemu's own check.
    expectQemuCheckClean(parent, fmt);
  });
});
