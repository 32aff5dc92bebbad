// Checks the guest's disks end to end: on every disk (those present at boot and those hot-added later)
// writes a known pattern to the first and last blocks, flushes, reads it back and compares. Results go
// to KVP (`Disk.<lun>`, and `Disks`: the LUNs present) and the console. It overwrites those blocks:
// meant for scratch disks. Then it idles until shut down.
import { type BlockDevice, StorageError, StorageErrorCode } from '@viridian/storage';
import type { Guest } from '../runtime.js';

/** Blocks written at each end of a disk. */
export const PROBE_BLOCKS = 8;

/** The block addresses the probe writes on a disk of `blocks` blocks. */
export function probeLbas(blocks: number): number[] {
  const n = Math.min(PROBE_BLOCKS, blocks);
  return blocks >= 2 * n ? [0, blocks - n] : [0];
}

/** The bytes the probe writes at `lba` of LUN `lun` (the host recomputes them to check the file). */
export function probePattern(lun: number, lba: number, blocks: number, blockSize: number): Uint8Array {
  const out = new Uint8Array(blocks * blockSize);
  for (let b = 0; b < blocks; b++) {
    const seed = (lun * 17 + (lba + b) * 131) & 0xff;
    for (let i = 0; i < blockSize; i++) out[b * blockSize + i] = (seed + i * 31 + (i >> 8)) & 0xff;
  }
  return out;
}

async function probe(disk: BlockDevice): Promise<string> {
  const n = Math.min(PROBE_BLOCKS, disk.blocks);
  const size = `${disk.blocks} x ${disk.blockSize} B`;
  try {
    for (const lba of probeLbas(disk.blocks))
      await disk.write(lba, probePattern(disk.lun, lba, n, disk.blockSize));
    await disk.flush();
  } catch (error) {
    if (!(error instanceof StorageError) || error.code !== StorageErrorCode.WriteProtected) throw error;
    await disk.read(0, n);
    return `read-only ${size}`;
  }
  for (const lba of probeLbas(disk.blocks)) {
    const expected = probePattern(disk.lun, lba, n, disk.blockSize);
    const got = await disk.read(lba, n);
    if (got.length !== expected.length || got.some((byte, i) => byte !== expected[i]))
      return `mismatch at block ${lba}`;
  }
  return `ok ${size}`;
}

export async function main(guest: Guest): Promise<void> {
  guest.setHealth('healthy');
  const report = async (disk: BlockDevice) => {
    const result = await probe(disk).catch(
      (error: unknown) => `failed: ${error instanceof StorageError ? error.code : String(error)}`,
    );
    guest.kvp.set(`Disk.${disk.lun}`, result);
    guest.log(`disk ${disk.lun}: ${result}`);
  };
  const present = () => {
    const luns = guest.disks.map((d) => d.lun).join(',');
    guest.kvp.set('Disks', luns);
    guest.log(`disks: [${luns}]`);
  };
  guest.onDiskChange(({ added, removed }) => {
    for (const disk of removed) {
      guest.kvp.delete(`Disk.${disk.lun}`);
      guest.log(`disk ${disk.lun}: removed`);
    }
    present();
    for (const disk of added) void report(disk);
  });
  for (const disk of guest.disks) await report(disk);
  present();
  while (await guest.sleep(1_000)) {
    // hot-added disks are probed as they arrive
  }
}
