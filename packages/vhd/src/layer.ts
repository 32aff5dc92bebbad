import type { DiskFile } from './file.js';

export type DiskFormat = 'vhd' | 'vhdx';
export type DiskType = 'fixed' | 'dynamic' | 'differencing';

/**
 * How one block of one file in a chain is mapped:
 * - absent: not in this file (read the parent, or zeros without one)
 * - zero: defined to read as zeros (masks the parent)
 * - present: every sector is in this file at `blockOffset`
 * - partial: sectors in this file where the sector bitmap says so, the rest from the parent
 */
export type BlockState = 'absent' | 'zero' | 'present' | 'partial';

/** The layer's own content of one block, as compact/merge/convert copy it. */
export interface LayerBlock {
  data: Buffer;
  /** One byte per logical sector (1 = present in this layer); null when all are present. */
  present: Uint8Array | null;
}

/** One file of a disk chain. Offsets and lengths given to it are logical-sector aligned. */
export abstract class Layer {
  abstract readonly format: DiskFormat;
  abstract readonly type: DiskType;
  abstract readonly sizeBytes: number;
  abstract readonly blockSize: number;
  abstract readonly sectorSize: number;
  abstract readonly physicalSectorSize: number;
  parent: Layer | null = null;
  closed = false;

  constructor(readonly file: DiskFile) {}

  get blockCount(): number {
    return Math.ceil(this.sizeBytes / this.blockSize);
  }

  abstract blockState(b: number): BlockState;
  /** File offset of the first data byte of block `b` (present or partial blocks only). */
  abstract blockOffset(b: number): number;
  /** Sector bitmap of a partial block, one byte per sector. */
  abstract sectorMap(b: number): Promise<Uint8Array>;
  /** Makes block `b` present (full: all sectors, fresh area reads zero) or partial with no sectors set. */
  abstract allocate(b: number, full: boolean): Promise<void>;
  /** Marks sectors of a partial block as present (after their data is written). */
  abstract markPresent(b: number, firstSector: number, count: number): Promise<void>;
  /** Makes everything written so far durable. */
  abstract flush(): Promise<void>;
  /** Flushes and releases this file only (not the parent). */
  abstract closeLayer(): Promise<void>;
  /** Identity text other disks use to refer to this one (VHD unique id / VHDX DataWriteGuid). */
  abstract identity(): string;
  /** Stable id of the virtual disk itself (VHDX Page 83 data, VHD unique id), e.g. for SCSI VPD page 0x83. */
  abstract diskId(): string;
  /** Called before the first write of a session (VHDX changes its write GUIDs there). */
  async beginWrite(): Promise<void> {}

  allocatedBlocks(): number {
    let n = 0;
    for (let b = 0; b < this.blockCount; b++) {
      const s = this.blockState(b);
      if (s === 'present' || s === 'partial') n++;
    }
    return n;
  }

  /** Reads `buf.length` bytes at virtual `pos` through the chain. Both aligned to the sector size. */
  async readAt(pos: number, buf: Buffer): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const at = pos + done;
      if (at >= this.sizeBytes) {
        buf.fill(0, done);
        return;
      }
      const b = Math.floor(at / this.blockSize);
      const inBlock = at - b * this.blockSize;
      const n = Math.min(buf.length - done, this.blockSize - inBlock, this.sizeBytes - at);
      const part = buf.subarray(done, done + n);
      const state = this.blockState(b);
      if (state === 'present') {
        await this.file.readInto(part, this.blockOffset(b) + inBlock, 'block data');
      } else if (state === 'zero') {
        part.fill(0);
      } else if (state === 'absent') {
        await this.readParent(at, part);
      } else {
        const map = await this.sectorMap(b);
        const ss = this.sectorSize;
        let s = inBlock / ss;
        const end = (inBlock + n) / ss;
        while (s < end) {
          const here = map[s] === 1;
          let e = s + 1;
          while (e < end && (map[e] === 1) === here) e++;
          const sub = part.subarray((s * ss - inBlock) | 0, (e * ss - inBlock) | 0);
          if (here) await this.file.readInto(sub, this.blockOffset(b) + s * ss, 'block data');
          else await this.readParent(b * this.blockSize + s * ss, sub);
          s = e;
        }
      }
      done += n;
    }
  }

  private async readParent(pos: number, part: Buffer): Promise<void> {
    if (this.parent) await this.parent.readAt(pos, part);
    else part.fill(0);
  }

  /** Writes sector-aligned `data` at virtual `pos` into this layer. */
  async writeAt(pos: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const at = pos + done;
      const b = Math.floor(at / this.blockSize);
      const inBlock = at - b * this.blockSize;
      const n = Math.min(data.length - done, this.blockSize - inBlock);
      const part = data.subarray(done, done + n);
      let state = this.blockState(b);
      if (state === 'absent' || state === 'zero') {
        // A differencing block written only in part keeps reading the rest from the parent,
        // unless it was defined as zero (then the untouched sectors must stay zero).
        const whole = n === this.blockSize || this.blockEnd(b) - b * this.blockSize === n;
        const full = this.type !== 'differencing' || state === 'zero' || whole;
        await this.allocate(b, full);
        state = this.blockState(b);
      }
      await this.file.write(this.blockOffset(b) + inBlock, part);
      if (state === 'partial') {
        await this.markPresent(b, inBlock / this.sectorSize, n / this.sectorSize);
      }
      done += n;
    }
  }

  /** Marks a whole block as reading zero without data (VHDX ZERO state); false if the format cannot. */
  zeroBlock(_b: number): boolean {
    return false;
  }

  /** Makes a sector-aligned range read as zeros, dropping whole blocks where the format allows. */
  async discardAt(pos: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const at = pos + done;
      const b = Math.floor(at / this.blockSize);
      const inBlock = at - b * this.blockSize;
      const n = Math.min(length - done, this.blockEnd(b) - at);
      const state = this.blockState(b);
      const alreadyZero = state === 'zero' || (state === 'absent' && !this.parent);
      const whole = inBlock === 0 && n === this.blockEnd(b) - b * this.blockSize;
      if (!alreadyZero && !(whole && this.zeroBlock(b))) {
        for (let o = 0; o < n; o += 1024 * 1024) {
          await this.writeAt(at + o, Buffer.alloc(Math.min(1024 * 1024, n - o)));
        }
      }
      done += n;
    }
  }

  /** End of block `b` in virtual bytes (the last block may be short). */
  blockEnd(b: number): number {
    return Math.min((b + 1) * this.blockSize, this.sizeBytes);
  }

  /** This layer's own content of block `b`, or null when the layer holds nothing there. */
  async readLayerBlock(b: number): Promise<LayerBlock | null> {
    const state = this.blockState(b);
    const len = this.blockEnd(b) - b * this.blockSize;
    if (state === 'absent') return null;
    if (state === 'zero') {
      return this.type === 'differencing' ? { data: Buffer.alloc(len), present: null } : null;
    }
    const data = Buffer.alloc(len);
    await this.file.readInto(data, this.blockOffset(b), 'block data');
    if (state === 'present') return { data, present: null };
    const map = await this.sectorMap(b);
    const present = map.slice(0, len / this.sectorSize);
    if (!present.includes(1)) return null;
    return { data, present };
  }

  async closeChain(): Promise<void> {
    let l: Layer | null = this;
    while (l) {
      if (!l.closed) {
        l.closed = true;
        await l.closeLayer();
      }
      l = l.parent;
    }
  }

  /** Paths of this file and every parent, top first. */
  chainPaths(): string[] {
    const out: string[] = [];
    for (let l: Layer | null = this; l; l = l.parent) out.push(l.file.path);
    return out;
  }
}
