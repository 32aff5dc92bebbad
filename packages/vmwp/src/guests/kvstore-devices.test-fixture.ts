// Block devices for the kvstore tests: a real VHDX file seen in blocks, a write-back cache whose
// power can be cut (unflushed writes are lost), and a plain memory image for fuzzing.
import type { VirtualDisk } from '@viridian/vhd';
import type { KvBlockDevice } from './kvstore-store.js';

/** A VirtualDisk (byte offsets) as a block device of its logical sector size. */
export function vhdBlockDevice(disk: VirtualDisk): KvBlockDevice {
  const blockSize = disk.sectorSize;
  return {
    blockSize,
    blocks: Math.floor(disk.sizeBytes / blockSize),
    read: (lba, blocks) => disk.read(lba * blockSize, blocks * blockSize),
    write: (lba, data) => disk.write(lba * blockSize, data),
    flush: () => disk.flush(),
  };
}

/**
 * Holds writes in a cache until flush, as a disk's volatile write cache does. `cutPowerAfter(n)` lets
 * n more operations run, then the power fails: the cached writes are lost (or, with
 * `keepUnflushed`, reach the disk anyway, as a drive may write them early) and every call rejects.
 */
export class PowerCutDevice implements KvBlockDevice {
  readonly #inner: KvBlockDevice;
  readonly #cache = new Map<number, Uint8Array>();
  #budget = Number.POSITIVE_INFINITY;
  #keepUnflushed = false;
  #dead = false;
  operations = 0;

  constructor(inner: KvBlockDevice) {
    this.#inner = inner;
  }
  get blockSize(): number {
    return this.#inner.blockSize;
  }
  get blocks(): number {
    return this.#inner.blocks;
  }
  get dead(): boolean {
    return this.#dead;
  }

  cutPowerAfter(operations: number, keepUnflushed = false): void {
    this.#budget = operations;
    this.#keepUnflushed = keepUnflushed;
  }

  async read(lba: number, blocks: number): Promise<Uint8Array> {
    await this.#tick();
    const data = await this.#inner.read(lba, blocks);
    for (let i = 0; i < blocks; i++) {
      const cached = this.#cache.get(lba + i);
      if (cached !== undefined) data.set(cached, i * this.blockSize);
    }
    return data;
  }

  async write(lba: number, data: Uint8Array): Promise<void> {
    await this.#tick();
    for (let i = 0; i * this.blockSize < data.length; i++)
      this.#cache.set(lba + i, data.slice(i * this.blockSize, (i + 1) * this.blockSize));
  }

  async flush(): Promise<void> {
    await this.#tick();
    await this.#drain();
    await this.#inner.flush();
  }

  async #drain(): Promise<void> {
    for (const [lba, block] of this.#cache) await this.#inner.write(lba, block);
    this.#cache.clear();
  }

  async #tick(): Promise<void> {
    if (this.#dead) throw new Error('the device has no power');
    if (this.#budget <= 0) {
      this.#dead = true;
      if (this.#keepUnflushed) await this.#drain();
      this.#cache.clear();
      await this.#inner.flush();
      throw new Error('the device has no power');
    }
    this.#budget--;
    this.operations++;
  }
}

/** A disk image in memory. */
export class MemoryDevice implements KvBlockDevice {
  readonly image: Uint8Array;
  constructor(
    readonly blockSize: number,
    readonly blocks: number,
    image?: Uint8Array,
  ) {
    this.image = image ?? new Uint8Array(blockSize * blocks);
  }
  async read(lba: number, blocks: number): Promise<Uint8Array> {
    return this.image.slice(lba * this.blockSize, (lba + blocks) * this.blockSize);
  }
  async write(lba: number, data: Uint8Array): Promise<void> {
    this.image.set(data, lba * this.blockSize);
  }
  async flush(): Promise<void> {}
}
