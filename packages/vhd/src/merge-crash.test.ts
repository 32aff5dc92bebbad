import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLayer } from './disk.js';
import { guidToString, randomGuid } from './guid.js';
import { check, createDisk, type DiskFormat, merge, openDisk } from './index.js';
import { mergeJournalPath } from './merge-journal.js';
import { hasQemuImg, pattern, qemuImgStatus, readAll, runAndKill, tempDir } from './test-support.js';
import type { VhdxLayer } from './vhdx.js';

// A real process merging a child with many allocated blocks is killed with SIGKILL at chosen points of
// the merge (it waits there for the kill) and once at whatever point a short delay lands on. After
// each kill the child must open and read byte for byte as before, and a second merge must complete.
const p = tempDir();
const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const fixture = new URL('./merge-crash.test-fixture.ts', import.meta.url);
const qemu = hasQemuImg();
const qemuFormat = { vhd: 'vpc', vhdx: 'vhdx' } as const;
let n = 0;

/**
 * A parent with data in blocks 0–7 and a child over it that overwrites some of those blocks whole,
 * some in part (single sectors, unaligned runs, across block edges), zeroes one, and fills blocks the
 * parent does not have.
 */
async function parentAndChild(format: DiskFormat): Promise<{ parent: string; child: string }> {
  const parent = p(`base-${n}.${format}`);
  const child = p(`child-${n++}.${format}`);
  const base = await createDisk(parent, { format, type: 'dynamic', sizeBytes: SIZE, blockSize: MiB });
  await base.write(0, pattern(8 * MiB, 1));
  await base.close();
  const c = await createDisk(child, { format, type: 'differencing', parentPath: parent, blockSize: MiB });
  await c.write(MiB, pattern(MiB, 2)); // whole block over parent data
  await c.write(3 * MiB + 512, pattern(512, 3)); // one sector
  await c.write(4 * MiB - 700, pattern(5000, 4)); // unaligned, across a block edge
  await c.discard(6 * MiB, MiB); // a whole block of parent data reads zero
  for (let b = 8; b < 16; b++) await c.write(b * MiB + (b % 3) * 4096, pattern(256 * 1024, 10 + b));
  await c.close();
  return { parent, child };
}

function qemuChecks(format: DiskFormat, path: string, expected: Buffer): void {
  if (!qemu) return;
  const fmt = qemuFormat[format];
  const r = qemuImgStatus('check', '-f', fmt, path);
  // qemu has no checker for vpc (exit 63 with that message); its reading of the file is compared below.
  if (fmt === 'vpc') expect(r.status === 0 || /does not support checks/.test(r.out)).toBe(true);
  else expect(r.status, r.out).toBe(0);
  const raw = p(`expected-${n++}.raw`);
  writeFileSync(raw, expected);
  const cmp = qemuImgStatus('compare', '-f', 'raw', '-F', fmt, raw, path);
  expect(cmp.status, cmp.out).toBe(0);
}

// [label, step the merge waits at (none: killed a few ms into it), kill delay]. Step 8 comes after
// 7 of the child's 12 blocks: the in-place rewrites of blocks the parent has and 3 new blocks.
const points = [
  ['before the first parent write', 1, 0],
  ['during the data writes', 8, 0],
  ['just before the child is deleted', 1000, 0],
  ['wherever a short delay lands', undefined, 4],
] as const;

describe.each(['vhd', 'vhdx'] as const)('merge killed mid-way (%s)', (format) => {
  it.each(points)(
    '%s: the child reads as before, a second merge completes it',
    async (_label, stop, delay) => {
      const { parent, child } = await parentAndChild(format);
      const before = await readAll(child);
      const args = stop === undefined ? [child] : [child, String(stop)];
      const last = await runAndKill(fixture, args, stop ?? 1, delay);
      if (stop !== undefined) expect(last).toBe(stop);

      if (last >= 1000 && !existsSync(child)) {
        // Only a kill at a random point can come after the child was deleted (the merge finished).
        expect(stop).toBeUndefined();
      } else {
        expect((await readAll(child)).equals(before)).toBe(true);
        const report = await check(child);
        expect(report.ok).toBe(true);
        // VHD: the journal is written before the parent is touched; VHDX: the parent carries the
        // recorded next identity once it has been written.
        const parentWritten = format === 'vhd' || last > 1;
        if (stop !== undefined) {
          expect(report.issues.map((i) => i.code)).toEqual(parentWritten ? ['MERGE_INTERRUPTED'] : []);
        } else {
          expect(report.issues.every((i) => i.code === 'MERGE_INTERRUPTED')).toBe(true);
        }
        // Still usable as a disk: a writable open works and changes nothing by itself.
        await (await openDisk(child)).close();
        expect((await readAll(child)).equals(before)).toBe(true);
        expect(await merge(child)).toEqual({ parentPath: parent });
        expect(existsSync(child)).toBe(false);
        expect(existsSync(mergeJournalPath(child))).toBe(false);
      }
      expect((await readAll(parent)).equals(before)).toBe(true);
      const report = await check(parent);
      expect(report).toMatchObject({ ok: true, issues: [] });
      qemuChecks(format, parent, before);
    },
  );
});

describe.each(['vhd', 'vhdx'] as const)('merge records (%s)', (format) => {
  it('keepChild: the kept child names the merged parent cleanly and reads the same', async () => {
    const { parent, child } = await parentAndChild(format);
    const before = await readAll(child);
    await merge(child, { keepChild: true });
    expect((await readAll(child)).equals(before)).toBe(true);
    expect((await readAll(parent)).equals(before)).toBe(true);
    expect(await check(child)).toMatchObject({ ok: true, issues: [] });
    expect(existsSync(mergeJournalPath(child))).toBe(false);
  });

  it('a missing file is a typed error', async () => {
    await expect(merge(p(`missing.${format}`))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('refuses a disk that is not differencing, recording nothing', async () => {
    const { parent } = await parentAndChild(format);
    await expect(merge(parent)).rejects.toMatchObject({ code: 'NOT_DIFFERENCING' });
    expect(existsSync(mergeJournalPath(parent))).toBe(false);
    expect(await check(parent)).toMatchObject({ ok: true, issues: [] });
  });
});

describe('merge records: what check makes of them', () => {
  it('VHDX: a parent_linkage2 the parent does not carry is no unfinished merge; a guid in neither is a mismatch', async () => {
    const { parent, child } = await parentAndChild('vhdx');
    const before = await readAll(child);
    const pd = await openDisk(parent, { readOnly: true });
    const parentId = (await pd.info()).identifier;
    await pd.close();
    const w = (await openLayer(child, true)) as VhdxLayer;
    await w.setParentLinkages(parentId, guidToString(randomGuid()));
    await w.closeLayer();
    expect((await readAll(child)).equals(before)).toBe(true);
    expect(await check(child)).toMatchObject({ ok: true, issues: [] });

    const x = (await openLayer(child, true)) as VhdxLayer;
    await x.setParentLinkages(guidToString(randomGuid()), guidToString(randomGuid()));
    await x.closeLayer();
    await expect(openDisk(child)).rejects.toMatchObject({ code: 'PARENT_MISMATCH' });
    expect((await check(child)).issues.map((i) => [i.code, i.severity])).toEqual([
      ['PARENT_MISMATCH', 'error'],
    ]);
  });

  it('VHD: a journal that is cut off or names another disk is ignored', async () => {
    const { child } = await parentAndChild('vhd');
    writeFileSync(mergeJournalPath(child), '{"child":"');
    expect(await check(child)).toMatchObject({ ok: true, issues: [] });
    writeFileSync(
      mergeJournalPath(child),
      JSON.stringify({ child: guidToString(randomGuid()), parentId: 'x', parentPath: '/x' }),
    );
    expect(await check(child)).toMatchObject({ ok: true, issues: [] });
    // Merging replaces and then removes it.
    await merge(child);
    expect(existsSync(mergeJournalPath(child))).toBe(false);
  });
});
