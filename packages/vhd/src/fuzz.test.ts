import { closeSync, copyFileSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { openChain } from './disk.js';
import { createDisk, openDisk, VhdError } from './index.js';
import { pattern, tempDir } from './test-support.js';
import type { VhdxLayer } from './vhdx.js';

// Hostile files: byte flips in the structures and truncations must give a VhdError (or a disk that
// opens and reads consistently), never another exception, and never a change to the file.
const p = tempDir();
const KiB = 1024;
const MiB = 1024 * KiB;

interface Base {
  name: string;
  path: string;
  /** [start, end) byte ranges holding structures worth mutating. */
  regions: [number, number][];
  /** Writable opens replay a pending log (an intended write), so only read-only opens are compared. */
  readOnlyOnly?: boolean;
}

const bases: Base[] = [];

beforeAll(async () => {
  const fill = async (path: string, opts: Parameters<typeof createDisk>[1]) => {
    const d = await createDisk(path, opts);
    await d.write(0, pattern(256 * KiB, 40));
    await d.write(d.sizeBytes - 4096, pattern(4096, 41));
    await d.close();
  };
  const vhdFixed = p('f.vhd');
  await fill(vhdFixed, { format: 'vhd', type: 'fixed', sizeBytes: MiB });
  const size = statSync(vhdFixed).size;
  bases.push({ name: 'vhd fixed', path: vhdFixed, regions: [[size - 512, size]] });
  const vhdDyn = p('d.vhd');
  await fill(vhdDyn, { format: 'vhd', type: 'dynamic', sizeBytes: 2 * MiB, blockSize: 256 * KiB });
  const dsize = statSync(vhdDyn).size;
  bases.push({
    name: 'vhd dynamic',
    path: vhdDyn,
    regions: [
      [0, 1536 + 512],
      [dsize - 512, dsize],
    ],
  });
  const vhdDiff = p('c.vhd');
  const c = await createDisk(vhdDiff, {
    format: 'vhd',
    type: 'differencing',
    parentPath: vhdDyn,
    blockSize: 256 * KiB,
  });
  await c.write(4096, pattern(8192, 42));
  await c.close();
  const csize = statSync(vhdDiff).size;
  bases.push({
    name: 'vhd differencing',
    path: vhdDiff,
    regions: [
      [0, 3 * 1024 + 512],
      [csize - 512, csize],
    ],
  });
  const vhdx = p('d.vhdx');
  await fill(vhdx, { format: 'vhdx', type: 'dynamic', sizeBytes: 2 * MiB, blockSize: MiB });
  const xRegions: [number, number][] = [
    [0, 16],
    [64 * KiB, 64 * KiB + 96],
    [128 * KiB, 128 * KiB + 96],
    [192 * KiB, 192 * KiB + 96],
    [256 * KiB, 256 * KiB + 96],
    [2 * MiB, 2 * MiB + 256],
    [2 * MiB + 64 * KiB, 2 * MiB + 64 * KiB + 64],
    [3 * MiB, 3 * MiB + 64],
  ];
  bases.push({ name: 'vhdx dynamic', path: vhdx, regions: xRegions });
  const logged = p('log.vhdx');
  copyFileSync(vhdx, logged);
  const top = (await openChain(logged, true)) as VhdxLayer;
  const batPage = readFileSync(logged).subarray(3 * MiB, 3 * MiB + 4096);
  await top.writeUnappliedLogEntry([[3 * MiB, Buffer.from(batPage)]]);
  await top.file.close();
  bases.push({
    name: 'vhdx with pending log',
    path: logged,
    regions: [...xRegions, [MiB, MiB + 64], [MiB + 4096, MiB + 4096 + 16]],
    readOnlyOnly: true,
  });
});

async function probe(path: string, readOnly: boolean): Promise<void> {
  let disk: Awaited<ReturnType<typeof openDisk>>;
  try {
    disk = await openDisk(path, { readOnly });
  } catch (e) {
    if (!(e instanceof VhdError)) throw e;
    return;
  }
  try {
    // Opened: every byte must be readable consistently (or fail with a typed error).
    // A flipped size field can make the disk huge: read the start and the end, not all of it.
    const n = Math.min(disk.sizeBytes, 4 * MiB);
    const first = await disk.read(0, n);
    const second = await disk.read(0, n);
    expect(first.equals(second)).toBe(true);
    await disk.read(disk.sizeBytes - Math.min(disk.sizeBytes, 64 * KiB), Math.min(disk.sizeBytes, 64 * KiB));
    await disk.info();
  } catch (e) {
    if (!(e instanceof VhdError)) throw e;
  } finally {
    await disk.close();
  }
}

let run = 0;
describe('fuzzed structures', () => {
  for (const kind of ['flips', 'smash', 'truncation'] as const) {
    it(`${kind}: typed error or consistent open, file never modified`, async () => {
      for (const base of bases) {
        const size = statSync(base.path).size;
        const flip = fc.record({
          region: fc.nat(base.regions.length - 1),
          at: fc.nat(),
          xor: fc.integer({ min: 1, max: 255 }),
        });
        // smash: whole structures (often both copies of one) overwritten with random bytes.
        const smash = fc.record({
          region: fc.nat(base.regions.length - 1),
          at: fc.constant(-1),
          xor: fc.nat(255),
        });
        const arb =
          kind === 'truncation'
            ? fc.nat(size - 1)
            : fc.array(kind === 'flips' ? flip : smash, {
                minLength: 1,
                maxLength: kind === 'flips' ? 6 : 3,
              });
        await fc.assert(
          fc.asyncProperty(arb, fc.boolean(), async (m, readOnly) => {
            if (base.readOnlyOnly) readOnly = true;
            const path = p(`fz-${run++}`);
            copyFileSync(base.path, path);
            if (typeof m === 'number') truncateSync(path, m);
            else {
              const fd = openSync(path, 'r+');
              const bytes = readFileSync(path);
              for (const f of m) {
                const [s, e] = base.regions[f.region]!;
                if (f.at < 0) {
                  writeSync(fd, pattern(e - s, f.xor + 1), 0, e - s, s);
                  continue;
                }
                const pos = s + (f.at % (e - s));
                writeSync(fd, Buffer.from([bytes[pos]! ^ f.xor]), 0, 1, pos);
              }
              closeSync(fd);
            }
            const before = readFileSync(path);
            await probe(path, readOnly);
            expect(readFileSync(path).equals(before)).toBe(true);
          }),
          { numRuns: 25 },
        );
      }
    });
  }
});
