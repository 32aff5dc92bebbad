import { join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
import { describe, expect, it } from 'vitest';
import { harness } from './harness.test-fixture.js';
import type { ScsiBackend } from './target.js';

/** A backend that counts the writes running on it and records their offsets. */
function watched(disk: ScsiBackend) {
  const seen = { active: 0, offsets: [] as number[] };
  const backend: ScsiBackend = {
    get sizeBytes() {
      return disk.sizeBytes;
    },
    get sectorSize() {
      return disk.sectorSize;
    },
    get readOnly() {
      return disk.readOnly;
    },
    read: (offset, buffer) => disk.read(offset, buffer),
    async write(offset, data) {
      seen.active++;
      seen.offsets.push(offset);
      try {
        // Keep the write running a little, so a swap has something to wait for.
        await new Promise((resolve) => setTimeout(resolve, 5));
        await disk.write(offset, data);
      } finally {
        seen.active--;
      }
    },
    discard: (offset, length) => disk.discard(offset, length),
    flush: () => disk.flush(),
  };
  return { backend, seen };
}

const block = (size: number, fill: number) => new Uint8Array(size).fill(fill);

describe('controller.replace', () => {
  it('swaps a LUN onto a differencing child without a rescan; the guest sees the same disk', async () => {
    const t = await harness([{ format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 }]);
    try {
      const base = t.disks[0]!;
      await t.controller.detach(0);
      const old = watched(base);
      await t.controller.attach(0, old.backend);
      const scsi = await t.bind();
      const changes: unknown[] = [];
      scsi.onChange((c) => changes.push(c));
      const dev = scsi.device(0)!;
      const serial = dev.serial;
      await dev.write(0, block(dev.blockSize, 1));
      await dev.flush();

      const childPath = join(t.dir, 'child.avhdx');
      let child: VirtualDisk | undefined;
      let activeAtSwap = -1;
      const next = { current: undefined as ReturnType<typeof watched> | undefined };
      // Writes in flight when the swap starts, and more issued while it runs.
      const before = [1, 2, 3].map((lba) => dev.write(lba, block(dev.blockSize, 2)));
      // Until all three are running on the old backend (each takes 5 ms there).
      while (old.seen.offsets.length < 4) await new Promise((resolve) => setTimeout(resolve, 0));
      const swap = t.controller.replace(0, async () => {
        activeAtSwap = old.seen.active;
        await base.close();
        child = await VirtualDisk.create(childPath, {
          format: 'vhdx',
          type: 'differencing',
          parentPath: base.path,
        });
        next.current = watched(child);
        return next.current.backend;
      });
      const during = [4, 5].map((lba) => dev.write(lba, block(dev.blockSize, 3)));
      await swap;
      await Promise.all([...before, ...during]);
      await dev.flush();
      expect(activeAtSwap).toBe(0);
      // Commands issued during the swap ran on the new backend; the old one saw only those before it.
      expect(next.current?.seen.offsets.sort((a, b) => a - b)).toEqual([4, 5].map((l) => l * dev.blockSize));
      expect(old.seen.offsets.every((o) => o < 4 * dev.blockSize)).toBe(true);
      expect(changes).toEqual([]);
      expect(dev.removed).toBe(false);
      // Reads see the parent's data through the child.
      expect((await dev.read(0, 1))[0]).toBe(1);
      expect((await dev.read(2, 1))[0]).toBe(2);
      expect((await dev.read(5, 1))[0]).toBe(3);
      expect(serial).toBe(dev.serial);
      await child?.close();
      // The parent kept only what was written before the swap.
      const parent = await VirtualDisk.open(base.path, { readOnly: true });
      expect((await parent.read(5 * dev.blockSize, dev.blockSize))[0]).toBe(0);
      expect((await parent.read(1 * dev.blockSize, dev.blockSize))[0]).toBe(2);
      await parent.close();
    } finally {
      await t.close();
    }
  });

  it('keeps the old backend when the new one cannot be made or does not fit', async () => {
    const t = await harness([{ format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 }]);
    try {
      const scsi = await t.bind();
      const dev = scsi.device(0)!;
      await expect(
        t.controller.replace(0, async () => {
          throw new Error('no space');
        }),
      ).rejects.toThrow('no space');
      const small = await VirtualDisk.create(join(t.dir, 'small.vhdx'), {
        format: 'vhdx',
        type: 'dynamic',
        sizeBytes: 8 << 20,
      });
      await expect(t.controller.replace(0, small)).rejects.toThrow(/size or sector size differs/);
      await small.close();
      await expect(t.controller.replace(7, small)).rejects.toThrow(/LUN 7 is not attached/);
      // The LUN still works on its old backend.
      await dev.write(9, block(dev.blockSize, 9));
      expect((await t.disks[0]!.read(9 * dev.blockSize, 1))[0]).toBe(9);
    } finally {
      await t.close();
    }
  });
});
