// The root's only window into a guest's memory: the pages a GPADL (or a GPA-direct packet) grants,
// seen as one flat byte range. Every access is checked against that range before any byte moves, so a
// device can pass guest-chosen offsets and lengths straight in.

import type { RingMemory } from '@viridian/vmbus-ring';
import { VmbusError, VmbusErrorCode } from './errors.js';
import { type Gpadl, type GpadlRange, PAGE_SIZE, validateRingGpadl } from './gpadl.js';

/** A range as found in a GPA-direct packet: PFNs may be bigint. */
export interface GuestRange {
  readonly byteCount: number;
  readonly byteOffset: number;
  readonly pfns: readonly (number | bigint)[];
}

/**
 * Bounds-checked access to guest memory through a list of ranges. Offsets are into the concatenation
 * of the ranges (range 0's bytes first). Accessors return false (or undefined) when any byte of the
 * request lies outside, and then touch nothing.
 */
export class GpadlView {
  readonly byteLength: number;
  readonly #u8: Uint8Array;
  /** Per segment (a run inside one page): view offset where it starts, buffer address, length. */
  readonly #segStart: Float64Array;
  readonly #segAddr: Float64Array;
  readonly #segLen: Float64Array;

  private constructor(u8: Uint8Array, starts: number[], addrs: number[], lens: number[], total: number) {
    this.#u8 = u8;
    this.#segStart = Float64Array.from(starts);
    this.#segAddr = Float64Array.from(addrs);
    this.#segLen = Float64Array.from(lens);
    this.byteLength = total;
  }

  /**
   * A view over `ranges` of the guest memory `memory` (GPA 0 at byte 0). Refuses, with a typed error,
   * any range whose pages are not inside `memory` or whose page count does not match its length.
   */
  static create(memory: SharedArrayBuffer, ranges: readonly GuestRange[]): GpadlView | VmbusError {
    const pages = Math.floor(memory.byteLength / PAGE_SIZE);
    const starts: number[] = [];
    const addrs: number[] = [];
    const lens: number[] = [];
    let total = 0;
    for (let r = 0; r < ranges.length; r++) {
      const range = ranges[r]!;
      const { byteCount, byteOffset } = range;
      if (
        !Number.isInteger(byteCount) ||
        !Number.isInteger(byteOffset) ||
        byteCount <= 0 ||
        byteOffset < 0 ||
        byteOffset >= PAGE_SIZE ||
        range.pfns.length !== Math.ceil((byteOffset + byteCount) / PAGE_SIZE)
      ) {
        return new VmbusError(
          VmbusErrorCode.MalformedGpadl,
          `range ${r}: ${byteCount} bytes at ${byteOffset} with ${range.pfns.length} pages`,
        );
      }
      let left = byteCount;
      let inPage = byteOffset;
      for (const p of range.pfns) {
        const pfn = typeof p === 'bigint' ? (p < BigInt(pages) ? Number(p) : pages) : p;
        if (!Number.isInteger(pfn) || pfn < 0 || pfn >= pages) {
          return new VmbusError(
            VmbusErrorCode.GpadlPageOutOfRange,
            `range ${r}: page 0x${p.toString(16)} is outside the guest's ${pages} pages`,
          );
        }
        const n = Math.min(left, PAGE_SIZE - inPage);
        const addr = pfn * PAGE_SIZE + inPage;
        const last = addrs.length - 1;
        // Merge physically adjacent runs so contiguous buffers copy in one `set`.
        if (last >= 0 && addrs[last]! + lens[last]! === addr) lens[last]! += n;
        else {
          starts.push(total + (byteCount - left));
          addrs.push(addr);
          lens.push(n);
        }
        left -= n;
        inPage = 0;
      }
      total += byteCount;
    }
    return new GpadlView(new Uint8Array(memory), starts, addrs, lens, total);
  }

  /** A view over a complete GPADL. */
  static forGpadl(memory: SharedArrayBuffer, gpadl: Gpadl): GpadlView | VmbusError {
    return GpadlView.create(memory, gpadl.ranges);
  }

  #inside(offset: number, length: number): boolean {
    return (
      Number.isInteger(offset) &&
      Number.isInteger(length) &&
      offset >= 0 &&
      length >= 0 &&
      offset + length <= this.byteLength
    );
  }

  #segment(offset: number): number {
    // Binary search: the last segment starting at or before `offset`.
    const s = this.#segStart;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #move(offset: number, other: Uint8Array, otherOffset: number, length: number, toGuest: boolean): void {
    let seg = this.#segment(offset);
    let at = offset;
    let done = 0;
    const u8 = this.#u8;
    while (done < length) {
      const within = at - this.#segStart[seg]!;
      const n = Math.min(length - done, this.#segLen[seg]! - within);
      const addr = this.#segAddr[seg]! + within;
      if (toGuest) u8.set(other.subarray(otherOffset + done, otherOffset + done + n), addr);
      else other.set(u8.subarray(addr, addr + n), otherOffset + done);
      done += n;
      at += n;
      seg++;
    }
  }

  /** Copies `length` bytes at `offset` into `dst` at `dstOffset`. False (nothing copied) if out of range. */
  read(offset: number, dst: Uint8Array, dstOffset = 0, length = dst.length - dstOffset): boolean {
    if (!this.#inside(offset, length) || dstOffset < 0 || dstOffset + length > dst.length) return false;
    this.#move(offset, dst, dstOffset, length, false);
    return true;
  }

  /** Copies `length` bytes of `src` from `srcOffset` to `offset`. False (nothing written) if out of range. */
  write(offset: number, src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): boolean {
    if (!this.#inside(offset, length) || srcOffset < 0 || srcOffset + length > src.length) return false;
    this.#move(offset, src, srcOffset, length, true);
    return true;
  }

  /** Copies `length` bytes from this view at `offset` to `target` at `targetOffset`, both checked. */
  copyTo(target: GpadlView, targetOffset: number, offset: number, length: number): boolean {
    if (!this.#inside(offset, length) || !target.#inside(targetOffset, length)) return false;
    // Through a bounce buffer: the two views may overlap in guest memory.
    const tmp = new Uint8Array(length);
    this.#move(offset, tmp, 0, length, false);
    target.#move(targetOffset, tmp, 0, length, true);
    return true;
  }

  /** Reads a little-endian u32, or undefined if out of range. */
  getUint32(offset: number): number | undefined {
    if (!this.#inside(offset, 4)) return undefined;
    const b = SCRATCH;
    this.#move(offset, b, 0, 4, false);
    return SCRATCH_VIEW.getUint32(0, true);
  }

  /** Writes a little-endian u32; false if out of range. */
  setUint32(offset: number, value: number): boolean {
    if (!this.#inside(offset, 4)) return false;
    SCRATCH_VIEW.setUint32(0, value >>> 0, true);
    this.#move(offset, SCRATCH, 0, 4, true);
    return true;
  }

  /** Bytes [offset, offset + length) as a copy, or undefined if out of range. */
  slice(offset: number, length: number): Uint8Array | undefined {
    if (!this.#inside(offset, length)) return undefined;
    const out = new Uint8Array(length);
    this.#move(offset, out, 0, length, false);
    return out;
  }
}

const SCRATCH = new Uint8Array(8);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);

/** The two rings of a channel as seen from the root, built from the channel's ring GPADL. */
export interface HostRingMemory {
  /** Guest-to-host ring: GPADL pages [0, downstreamPageOffset). The host reads it. */
  readonly incoming: RingMemory;
  /** Host-to-guest ring: GPADL pages [downstreamPageOffset, end). The host writes it. */
  readonly outgoing: RingMemory;
}

/**
 * Splits a ring GPADL at `downstreamPageOffset` into the page lists vmbus-ring opens rings over. The
 * pages are checked against `memory`; the ring constructors then check sizes and indices.
 */
export function ringMemoryFromGpadl(
  memory: SharedArrayBuffer,
  gpadl: Gpadl,
  downstreamPageOffset: number,
): HostRingMemory | VmbusError {
  const bad = validateRingGpadl(gpadl, downstreamPageOffset);
  if (bad) return bad;
  const range = gpadl.ranges[0] as GpadlRange;
  const pages = Math.floor(memory.byteLength / PAGE_SIZE);
  const offsets: number[] = [];
  for (const pfn of range.pfns) {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= pages) {
      return new VmbusError(
        VmbusErrorCode.GpadlPageOutOfRange,
        `ring page 0x${pfn.toString(16)} is outside the guest's ${pages} pages`,
        gpadl.relid,
      );
    }
    offsets.push(pfn * PAGE_SIZE);
  }
  return {
    incoming: { buffer: memory, pages: offsets.slice(0, downstreamPageOffset) },
    outgoing: { buffer: memory, pages: offsets.slice(downstreamPageOffset) },
  };
}
