import { copyFileSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLayer } from './disk.js';
import { guidFromString } from './guid.js';
import {
  check,
  convert,
  createDisk,
  type DiskFormat,
  merge,
  openDisk,
  setParent,
  VhdError,
  VhdFormatError,
  VhdOperationError,
  VirtualDisk,
} from './index.js';
import { hasQemuImg, pattern, qemuImgStatus, readAll, runAndKill, tempDir } from './test-support.js';
import type { VhdxLayer } from './vhdx.js';

const p = tempDir();
const MiB = 1024 * 1024;
const SIZE = 6 * MiB;
const qemu = hasQemuImg();
const qemuFormat = { vhd: 'vpc', vhdx: 'vhdx' } as const;
let n = 0;

async function create(
  format: DiskFormat,
  writes: [number, Buffer][],
  o: { parentPath?: string; sizeBytes?: number; path?: string; logicalSectorSize?: 512 | 4096 } = {},
): Promise<string> {
  const path = o.path ?? p(`d${n++}.${format}`);
  const d = await createDisk(path, {
    format,
    type: o.parentPath ? 'differencing' : 'dynamic',
    ...(o.parentPath ? { parentPath: o.parentPath } : { sizeBytes: o.sizeBytes ?? SIZE, blockSize: MiB }),
    ...(o.logicalSectorSize ? { logicalSectorSize: o.logicalSectorSize } : {}),
  });
  for (const [at, data] of writes) await d.write(at, data);
  await d.close();
  return path;
}

async function parentOf(path: string): Promise<string | undefined> {
  const d = await openDisk(path, { readOnly: true });
  try {
    return (await d.info()).parentChain[0]?.path;
  } finally {
    await d.close();
  }
}

async function identifierOf(path: string): Promise<string> {
  const d = await openDisk(path, { readOnly: true });
  try {
    return (await d.info()).identifier;
  } finally {
    await d.close();
  }
}

/** base ← X ← Y ← Z, each with its own writes (unaligned, partial sectors, across block boundaries). */
async function checkpointChain(format: DiskFormat) {
  const base = await create(format, [
    [0, pattern(MiB + MiB / 2, 1)],
    [5 * MiB, pattern(4096, 2)],
  ]);
  const x = await create(
    format,
    [
      [MiB + 512, pattern(700, 3)],
      [3 * MiB, pattern(64 * 1024, 4)],
    ],
    { parentPath: base },
  );
  const y = await create(
    format,
    [
      [MiB + 4096, pattern(4096, 5)],
      [4 * MiB - 512, pattern(1024, 6)],
    ],
    { parentPath: x },
  );
  const z = await create(format, [[2 * MiB, pattern(8192, 7)]], { parentPath: y });
  return { base, x, y, z };
}

describe.each(['vhd', 'vhdx'] as const)('setParent %s', (format) => {
  const fmt = qemuFormat[format];

  it('after merging X into base, Y re-pointed at base reads exactly as before, and so does its child Z', async () => {
    const { base, x, y, z } = await checkpointChain(format);
    const yBefore = await readAll(y);
    const zBefore = await readAll(z);
    const identity = await identifierOf(y);
    const flatBefore = p(`flat-before-${format}.${format}`);
    await convert(y, flatBefore, { format, type: 'dynamic' });

    expect(await merge(x)).toEqual({ parentPath: base });
    const orphaned = await openDisk(y, { readOnly: true }).catch((e: unknown) => e);
    expect(orphaned).toBeInstanceOf(VhdFormatError);

    await VirtualDisk.setParent(y, base);
    expect((await readAll(y)).equals(yBefore)).toBe(true);
    expect((await readAll(z)).equals(zBefore)).toBe(true);
    expect(await parentOf(y)).toBe(base);
    const report = await check(y);
    expect(report.ok).toBe(true);
    expect(report.issues).toEqual([]);
    // The child's own identity is kept: Z still finds Y (checked above) and records the same id.
    expect(await identifierOf(y)).toBe(identity);

    if (qemu) {
      // qemu cannot follow Viridian's differencing chains (see README: Limits); it checks the base and
      // compares the flattened child with the copy flattened before the merge.
      const flatAfter = p(`flat-after-${format}.${format}`);
      await convert(y, flatAfter, { format, type: 'dynamic' });
      expect(qemuImgStatus('compare', '-f', fmt, '-F', fmt, flatBefore, flatAfter).status).toBe(0);
      for (const img of [base, flatAfter]) {
        const c = qemuImgStatus('check', '-f', fmt, img);
        if (fmt === 'vpc') expect(c.status === 0 || /does not support checks/.test(c.out)).toBe(true);
        else expect(c.status).toBe(0);
        expect(qemuImgStatus('info', '--backing-chain', '-f', fmt, img).status).toBe(0);
      }
      if (format === 'vhd') {
        // qemu's vpc driver opens a differencing VHD on its own (without the parent).
        const info = qemuImgStatus('info', '--backing-chain', '-f', fmt, y);
        expect(info.status).toBe(0);
        expect(info.out).toContain(`virtual size: 6 MiB (${SIZE} bytes)`);
      }
    }

    // Y stays writable on its new parent.
    const d = await openDisk(y);
    await d.write(MiB, pattern(512, 8));
    await d.close();
    pattern(512, 8).copy(yBefore, MiB);
    expect((await readAll(y)).equals(yBefore)).toBe(true);
  });

  it('records a much longer parent path (locator data moved), and a short one again', async () => {
    const base = await create(format, [[0, pattern(MiB, 9)]]);
    // The child's first block sits right after its locators, so longer ones cannot grow in place.
    const child = await create(format, [[MiB / 2, pattern(MiB, 10)]], { parentPath: base });
    const before = await readAll(child);
    const deep = p(`${'a'.repeat(120)}/${'b'.repeat(120)}`);
    mkdirSync(deep, { recursive: true });
    const far = `${deep}/${'c'.repeat(100)}.${format}`;
    copyFileSync(base, far);
    const sizeBefore = statSync(child).size;

    await setParent(child, far);
    rmSync(base);
    if (format === 'vhd') expect(statSync(child).size).toBeGreaterThan(sizeBefore);
    expect(await parentOf(child)).toBe(far);
    expect((await readAll(child)).equals(before)).toBe(true);
    expect((await check(child)).ok).toBe(true);

    const near = p(`near.${format}`);
    copyFileSync(far, near);
    await setParent(child, near);
    rmSync(far);
    expect(await parentOf(child)).toBe(near);
    expect((await readAll(child)).equals(before)).toBe(true);
    expect((await check(child)).issues).toEqual([]);
  });

  it('refuses (typed error, both files byte for byte unchanged): size, format, cycle, self, not differencing, missing, corrupt', async () => {
    const { base, y, z } = await checkpointChain(format);
    const w = await create(format, [], { parentPath: z });
    const smaller = await create(format, [], { sizeBytes: 4 * MiB });
    const otherFormat = await create(format === 'vhd' ? 'vhdx' : 'vhd', []);
    // A hard link is the same file under another name: Z2 names Y only through it.
    const alias = p(`alias-${format}.${format}`);
    linkSync(y, alias);
    const z2 = await create(format, [], { parentPath: alias });
    const garbage = p(`garbage.${format}`);
    writeFileSync(garbage, pattern(64 * 1024, 11));
    const refusals: [string, string, string][] = [
      [y, smaller, 'PARENT_INCOMPATIBLE'],
      [y, otherFormat, 'PARENT_INCOMPATIBLE'],
      [y, z, 'INVALID_ARGUMENT'], // Z's parent is Y
      [y, w, 'INVALID_ARGUMENT'], // two levels down
      [y, y, 'INVALID_ARGUMENT'],
      [y, alias, 'INVALID_ARGUMENT'],
      [y, z2, 'INVALID_ARGUMENT'],
      [base, smaller, 'NOT_DIFFERENCING'],
      [y, p('missing.vhdx'), 'INVALID_ARGUMENT'],
      [p('missing-child.vhdx'), base, 'INVALID_ARGUMENT'],
      [y, garbage, 'UNKNOWN_FORMAT'],
      [garbage, base, 'UNKNOWN_FORMAT'],
    ];
    if (format === 'vhdx') {
      refusals.push([y, await create('vhdx', [], { logicalSectorSize: 4096 }), 'PARENT_INCOMPATIBLE']);
    }
    for (const [child, parent, code] of refusals) {
      const files = [child, parent].filter((f) => !f.includes('missing'));
      const bytes = files.map((f) => readFileSync(f));
      const err = await setParent(child, parent).catch((e: unknown) => e);
      expect(err, `${child} → ${parent}`).toBeInstanceOf(VhdError);
      expect((err as VhdError).code, `${child} → ${parent}`).toBe(code);
      if (code !== 'UNKNOWN_FORMAT') expect(err).toBeInstanceOf(VhdOperationError);
      for (const [i, f] of files.entries()) expect(readFileSync(f).equals(bytes[i]!), f).toBe(true);
    }
  });
});

describe('setParent vhdx', () => {
  it('moves the locator item past a following metadata item, which is kept', async () => {
    const base = await create('vhdx', [[0, pattern(4096, 12)]]);
    const child = await create('vhdx', [[8192, pattern(4096, 13)]], { parentPath: base });
    const before = await readAll(child);
    // Put a user metadata item right after the parent locator, as another writer might.
    const top = (await openLayer(child, true)) as VhdxLayer;
    const md = top.regions.metadata.offset;
    const table = Buffer.from(readFileSync(child).subarray(md, md + 64 * 1024));
    const count = table.readUInt16LE(10);
    const loc = 32 + (count - 1) * 32;
    const userAt = Math.ceil((table.readUInt32LE(loc + 16) + table.readUInt32LE(loc + 20)) / 8) * 8;
    const userData = pattern(16, 14);
    const entry = 32 + count * 32;
    guidFromString('1B6B3D84-5E0E-4C3A-9A43-0D6E4D1E2F10').copy(table, entry);
    table.writeUInt32LE(userAt, entry + 16);
    table.writeUInt32LE(16, entry + 20);
    table.writeUInt32LE(1, entry + 24);
    table.writeUInt16LE(count + 1, 10);
    await top.file.write(md, table);
    await top.file.write(md + userAt, userData);
    await top.file.close();

    const deep = p('x'.repeat(200));
    mkdirSync(deep);
    const far = `${deep}/${'y'.repeat(200)}.vhdx`;
    copyFileSync(base, far);
    await setParent(child, far);
    const raw = readFileSync(child);
    const newTable = raw.subarray(md, md + 64 * 1024);
    expect(newTable.readUInt32LE(loc + 16)).toBeGreaterThanOrEqual(userAt + 16);
    expect(raw.subarray(md + userAt, md + userAt + 16).equals(userData)).toBe(true);
    expect(await parentOf(child)).toBe(far);
    expect((await readAll(child)).equals(before)).toBe(true);
    expect((await check(child)).issues).toEqual([]);
  });

  it('a child with a pending log: a refusal leaves it unchanged, a re-point replays the log first', async () => {
    const { base, y } = await checkpointChain('vhdx');
    const before = await readAll(y);
    const top = (await openLayer(y, true)) as VhdxLayer;
    const bat = top.regions.bat.offset;
    await top.writeUnappliedLogEntry([[bat, Buffer.from(readFileSync(y).subarray(bat, bat + 4096))]]);
    await top.file.close();
    const raw = readFileSync(y);
    const smaller = await create('vhdx', [], { sizeBytes: 2 * MiB });
    const err = await setParent(y, smaller).catch((e: unknown) => e);
    expect((err as VhdOperationError).code).toBe('PARENT_INCOMPATIBLE');
    expect(readFileSync(y).equals(raw)).toBe(true);

    const copy = p('pending-parent.vhdx');
    copyFileSync(base, copy);
    await setParent(y, copy);
    expect(await parentOf(y)).toBe(copy);
    expect((await check(y)).issues).toEqual([]);
    // Y still reads its own data; what lies under it now comes from the copy of base.
    const now = await readAll(y);
    expect(now.subarray(MiB + 4096, MiB + 8192).equals(before.subarray(MiB + 4096, MiB + 8192))).toBe(true);
  });
});

const fixture = new URL('./set-parent.test-fixture.ts', import.meta.url);

describe.each(['vhd', 'vhdx'] as const)('setParent crash consistency (%s)', (format) => {
  it('killed mid-way, the child refers to the old parent or the new one and reads through it', async () => {
    for (const delay of [4, 9]) {
      const parents: string[] = [];
      const contents: Buffer[] = [];
      for (let k = 0; k < 3; k++) {
        const data = pattern(64 * 1024, 20 + k);
        parents.push(await create(format, [[0, data]], { sizeBytes: 2 * MiB }));
        contents.push(data);
      }
      const own = pattern(8192, 30);
      const child = await create(format, [[32 * 1024, own]], { parentPath: parents[0]! });
      const last = await runAndKill(fixture, [child, ...parents], 3, delay);
      expect(last).toBeGreaterThanOrEqual(3);
      expect((await check(child)).issues.filter((i) => i.severity === 'error')).toEqual([]);
      const parent = await parentOf(child);
      // Step i re-points at parents[i % 3]: the last reported one, or the one in flight at the kill.
      expect([parents[last % 3], parents[(last + 1) % 3]]).toContain(parent);
      const expected = Buffer.from(contents[parents.indexOf(parent!)]!);
      own.copy(expected, 32 * 1024);
      const d = await openDisk(child, { readOnly: true });
      expect((await d.read(0, 64 * 1024)).equals(expected)).toBe(true);
      await d.close();
    }
  });
});
