import { type FileHandle, open } from 'node:fs/promises';
import { formatError } from './errors.js';

/** Positional I/O on one file; short reads past EOF are a format error, never a silent zero fill. */
export class DiskFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly writable: boolean,
    public size: number,
  ) {}

  static async open(path: string, writable: boolean): Promise<DiskFile> {
    const fh = await open(path, writable ? 'r+' : 'r');
    try {
      const st = await fh.stat();
      const f = new DiskFile(path, fh, writable, st.size);
      f.realSize = st.size;
      return f;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  static async create(path: string): Promise<DiskFile> {
    const fh = await open(path, 'wx+');
    return new DiskFile(path, fh, true, 0);
  }

  /** Reads exactly `length` bytes at `pos`; throws TRUNCATED when the file ends before. */
  async read(pos: number, length: number, what = 'structure'): Promise<Buffer> {
    // Range first: a hostile length must not turn into a huge allocation.
    if (pos < 0 || length < 0 || pos + length > this.size) {
      throw formatError(
        'TRUNCATED',
        `${this.path}: ${what} at ${pos}+${length} lies beyond EOF (${this.size})`,
      );
    }
    const buf = Buffer.alloc(length);
    await this.readInto(buf, pos, what);
    return buf;
  }

  /**
   * Pages (4 KiB, keyed by file offset) that reads see instead of the file: a VHDX log replayed in
   * memory, so a read-only open (or an open that later fails validation) never writes the file.
   */
  overlay: Map<number, Buffer> | null = null;
  /** Size of the file on the host; `size` may be larger while an overlay extends it. */
  realSize = 0;

  async readInto(buf: Uint8Array, pos: number, what = 'structure'): Promise<void> {
    if (pos < 0 || pos + buf.length > this.size) {
      throw formatError(
        'TRUNCATED',
        `${this.path}: ${what} at ${pos}+${buf.length} lies beyond EOF (${this.size})`,
      );
    }
    if (this.overlay) {
      const realEnd = Math.max(0, Math.min(buf.length, this.realSize - pos));
      if (realEnd > 0) await this.readRaw(buf.subarray(0, realEnd), pos, what);
      buf.fill(0, realEnd);
      const first = Math.floor(pos / 4096) * 4096;
      for (let p = first; p < pos + buf.length; p += 4096) {
        const page = this.overlay.get(p);
        if (!page) continue;
        const from = Math.max(p, pos);
        const to = Math.min(p + 4096, pos + buf.length);
        buf.set(page.subarray(from - p, to - p), from - pos);
      }
      return;
    }
    await this.readRaw(buf, pos, what);
  }

  /** Reads straight from the file, ignoring any overlay. */
  async readRaw(buf: Uint8Array, pos: number, what = 'structure'): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, pos + done);
      if (bytesRead === 0) throw formatError('TRUNCATED', `${this.path}: unexpected EOF reading ${what}`);
      done += bytesRead;
    }
  }

  async write(pos: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, pos + done);
      done += bytesWritten;
    }
    if (pos + data.length > this.size) this.size = pos + data.length;
    if (pos + data.length > this.realSize) this.realSize = pos + data.length;
  }

  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.size = size;
    this.realSize = size;
  }

  async sync(): Promise<void> {
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export function isAllZero(b: Uint8Array): boolean {
  // Compare in 8-byte words where alignment allows; this runs over whole blocks in compact/convert.
  const n = b.length;
  let i = 0;
  if (b.byteOffset % 8 === 0) {
    const words = new BigUint64Array(b.buffer, b.byteOffset, n >>> 3);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0n) return false;
    i = words.length * 8;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}
