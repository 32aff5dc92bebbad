import { RingMemoryError, RingMemoryErrorCode } from './errors.js';
import { CTL_WORDS, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE } from './layout.js';

/**
 * Where one ring lives: a partition's SharedArrayBuffer and the byte offsets of its 4 KiB pages,
 * control page first, then the data pages in ring order. The guest sees its rings contiguously;
 * the host gets them through a GPADL whose pages may be anywhere in the buffer.
 */
export interface RingMemory {
  readonly buffer: SharedArrayBuffer;
  /** Byte offsets into `buffer`: [control page, data page 0, data page 1, ...]. */
  readonly pages: readonly number[];
}

/** Largest distance from a ring's lowest to the end of its highest page (32-bit word indices). */
const MAX_RING_SPAN = 0x8000_0000;

/** Largest data area accepted: keeps every index a u32 and every address a small integer. */
export const MAX_RING_DATA_SIZE = 0x4000_0000;

// Reads of at most this many bytes copy 32-bit words instead of creating a subarray view for `set`
// (measured: about twice as fast at 64 bytes, slower from 128). Writes always use `set`, which
// beats element stores into a SharedArrayBuffer at every size.
const SMALL_READ = 64;

/** A page list for `dataPages` contiguous data pages right after a control page at `byteOffset`. */
export function contiguousRingMemory(
  buffer: SharedArrayBuffer,
  byteOffset: number,
  dataPages: number,
): RingMemory {
  const pages: number[] = [];
  for (let i = 0; i <= dataPages; i++) pages.push(byteOffset + i * PAGE_SIZE);
  return { buffer, pages };
}

/**
 * The validated, precomputed mapping from data offsets to buffer addresses that both ring ends
 * share. Data words at 8-byte aligned offsets never straddle a page, so only byte runs need the
 * piecewise path.
 */
export class RingMap {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly dv: DataView;
  /** One-entry cache of a word view over the caller's buffer, for small aligned copies. */
  #userBuffer: ArrayBufferLike | undefined;
  #userWords: Int32Array = new Int32Array(0);
  readonly control: Int32Array;
  /** D: bytes in the data area. */
  readonly dataSize: number;
  /** Address of data offset 0 when the data pages are contiguous, else -1. */
  readonly base: number;
  /** Address of each data page. */
  readonly pageAddr: Float64Array;

  private constructor(
    buffer: SharedArrayBuffer,
    pages: readonly number[],
    contiguous: boolean,
    low: number,
    span: number,
  ) {
    // Views cover only the span holding the ring's pages, so addresses stay small integers even
    // in a partition buffer larger than one typed array can index.
    this.u8 = new Uint8Array(buffer, low, span);
    this.i32 = new Int32Array(buffer, low, span >>> 2);
    this.dv = new DataView(buffer, low, span);
    this.control = new Int32Array(buffer, pages[0]!, CTL_WORDS);
    this.dataSize = (pages.length - 1) * PAGE_SIZE;
    this.pageAddr = new Float64Array(pages.length - 1);
    for (let i = 1; i < pages.length; i++) this.pageAddr[i - 1] = pages[i]! - low;
    this.base = contiguous ? pages[1]! - low : -1;
  }

  /** Validates `memory` as hostile input: every page in range and aligned, no page twice. */
  static from(memory: RingMemory): RingMap | RingMemoryError {
    const { buffer, pages } = memory;
    if (!(buffer instanceof SharedArrayBuffer)) {
      return new RingMemoryError(RingMemoryErrorCode.NotShared, 'ring memory must be a SharedArrayBuffer');
    }
    if (!Array.isArray(pages) || pages.length < 2) {
      return new RingMemoryError(
        RingMemoryErrorCode.TooFewPages,
        'a ring needs a control page and at least one data page',
      );
    }
    if ((pages.length - 1) * PAGE_SIZE > MAX_RING_DATA_SIZE) {
      return new RingMemoryError(
        RingMemoryErrorCode.TooLarge,
        `ring data area exceeds ${MAX_RING_DATA_SIZE} bytes`,
      );
    }
    const seen = new Set<number>();
    let contiguous = true;
    for (let i = 0; i < pages.length; i++) {
      const page = pages[i];
      if (typeof page !== 'number' || !Number.isSafeInteger(page) || page < 0) {
        return new RingMemoryError(
          RingMemoryErrorCode.PageOutOfRange,
          `page ${i} (${String(page)}) is not a buffer offset`,
        );
      }
      if (page % PAGE_SIZE !== 0) {
        return new RingMemoryError(
          RingMemoryErrorCode.PageUnaligned,
          `page ${i} at ${page} is not 4 KiB aligned`,
        );
      }
      const p = page as number;
      if (p + PAGE_SIZE > buffer.byteLength) {
        return new RingMemoryError(
          RingMemoryErrorCode.PageOutOfRange,
          `page ${i} at ${p} lies outside the ${buffer.byteLength}-byte buffer`,
        );
      }
      if (seen.has(p)) {
        return new RingMemoryError(RingMemoryErrorCode.PageDuplicate, `page ${i} at ${p} appears twice`);
      }
      seen.add(p);
      if (i >= 2 && p !== (pages[1] as number) + (i - 1) * PAGE_SIZE) contiguous = false;
    }
    let low = Number.POSITIVE_INFINITY;
    let high = 0;
    for (const p of seen) {
      if (p < low) low = p;
      if (p > high) high = p;
    }
    const span = high + PAGE_SIZE - low;
    if (span > MAX_RING_SPAN) {
      return new RingMemoryError(
        RingMemoryErrorCode.TooLarge,
        `ring pages spread over ${span} bytes; at most ${MAX_RING_SPAN} are supported`,
      );
    }
    return new RingMap(buffer, pages, contiguous, low, span);
  }

  /** Buffer address of data offset `d` (0 <= d < D). */
  addr(d: number): number {
    return this.base >= 0 ? this.base + d : this.pageAddr[d >>> PAGE_SHIFT]! + (d & PAGE_MASK);
  }

  /** Copies `len` bytes of `src` from `srcOff` into the ring at data offset `d`, wrapping at D. */
  write(d: number, src: Uint8Array, srcOff: number, len: number): void {
    const size = this.dataSize;
    while (len > 0) {
      // One run: to the end of the data area when contiguous, else to the end of the page.
      let a: number;
      let run: number;
      if (this.base >= 0) {
        a = this.base + d;
        run = size - d;
      } else {
        a = this.pageAddr[d >>> PAGE_SHIFT]! + (d & PAGE_MASK);
        run = PAGE_SIZE - (d & PAGE_MASK);
      }
      const n = Math.min(len, run);
      this.u8.set(srcOff === 0 && n === src.length ? src : src.subarray(srcOff, srcOff + n), a);
      srcOff += n;
      len -= n;
      d += n;
      if (d >= size) d -= size;
    }
  }

  /** Copies `len` bytes from the ring at data offset `d` into `dst` at `dstOff`, wrapping at D. */
  read(d: number, dst: Uint8Array, dstOff: number, len: number): void {
    const size = this.dataSize;
    while (len > 0) {
      let a: number;
      let run: number;
      if (this.base >= 0) {
        a = this.base + d;
        run = size - d;
      } else {
        a = this.pageAddr[d >>> PAGE_SHIFT]! + (d & PAGE_MASK);
        run = PAGE_SIZE - (d & PAGE_MASK);
      }
      const n = Math.min(len, run);
      if (n <= SMALL_READ) {
        this.#readSmall(a, dst, dstOff, n);
      } else {
        dst.set(this.u8.subarray(a, a + n), dstOff);
      }
      dstOff += n;
      len -= n;
      d += n;
      if (d >= size) d -= size;
    }
  }

  /**
   * A small read from ring address `a` into `dst[dstOff..]` without creating a view per call:
   * 32-bit words when both sides are 4-byte aligned (ring packets always are), bytes otherwise.
   */
  #readSmall(a: number, dst: Uint8Array, dstOff: number, n: number): void {
    const u8 = this.u8;
    const u = dst.byteOffset + dstOff;
    let i = 0;
    if (((a | u) & 3) === 0 && u < 0x8000_0000) {
      const buffer = dst.buffer;
      if (buffer !== this.#userBuffer) {
        this.#userBuffer = buffer;
        this.#userWords = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
      }
      const words = this.#userWords;
      const i32 = this.i32;
      const ra = a >>> 2;
      const ua = u >>> 2;
      const n4 = n >>> 2;
      for (let k = 0; k < n4; k++) words[ua + k] = i32[ra + k]!;
      i = n4 << 2;
    }
    for (; i < n; i++) dst[dstOff + i] = u8[a + i]!;
  }

  /** Zeroes `len` (< 8) padding bytes at data offset `d`. */
  zero(d: number, len: number): void {
    const size = this.dataSize;
    for (let i = 0; i < len; i++) {
      this.u8[this.addr(d)] = 0;
      d += 1;
      if (d >= size) d = 0;
    }
  }

  /** Stores a u64 as two u32 halves at 8-byte aligned data offset `d`. */
  setWord(d: number, lo: number, hi: number): void {
    const a = this.addr(d);
    this.dv.setUint32(a, lo, true);
    this.dv.setUint32(a + 4, hi, true);
  }
}

/** Data offset `d + n` modulo `size` (n <= size). */
export function advance(d: number, n: number, size: number): number {
  const r = d + n;
  return r >= size ? r - size : r;
}
