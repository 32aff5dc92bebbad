// GPADL range lists (spec vmbus.md 4): accumulation of the u64 values a guest sends over one
// GPADL_HEADER and any number of GPADL_BODY messages, and their parse into page ranges.

import { VmbusError, VmbusErrorCode } from './errors.js';

export const PAGE_SIZE = 4096;
/** u64 values (range headers + PFNs) a GPADL_HEADER carries: (240 - 20) / 8. */
export const GPADL_HEADER_VALUES = 27;
/** u64 values a GPADL_BODY carries: (240 - 16) / 8. */
export const GPADL_BODY_VALUES = 28;

/** One gpa_range: `byteCount` bytes starting `byteOffset` into the first of `pfns`. */
export interface GpadlRange {
  readonly byteCount: number;
  readonly byteOffset: number;
  /** Guest page frame numbers (GPA >> 12). */
  readonly pfns: readonly number[];
}

/** A complete GPADL: the guest's handle, the channel it was created for, and its ranges. */
export interface Gpadl {
  readonly handle: number;
  readonly relid: number;
  readonly ranges: readonly GpadlRange[];
}

/** Pages a range of `byteCount` bytes at `byteOffset` into its first page spans. */
export function rangePageCount(byteOffset: number, byteCount: number): number {
  return Math.ceil((byteOffset + byteCount) / PAGE_SIZE);
}

/** The u64 stream a range list travels as: per range `byteCount | byteOffset << 32`, then its PFNs. */
export function encodeRanges(ranges: readonly GpadlRange[]): bigint[] {
  const out: bigint[] = [];
  for (const r of ranges) {
    out.push(BigInt(r.byteCount >>> 0) | (BigInt(r.byteOffset >>> 0) << 32n));
    for (const pfn of r.pfns) out.push(BigInt(pfn));
  }
  return out;
}

function gpadlError(code: VmbusErrorCode, message: string, relid: number): VmbusError {
  return new VmbusError(code, message, relid);
}

/**
 * Collects a GPADL's u64 values across messages. Completion is reached when `rangeBufLen / 8` values
 * have arrived; more than that is malformed. `finish` then parses and validates the ranges.
 */
export class GpadlBuilder {
  private readonly values: bigint[] = [];
  readonly expected: number;

  constructor(
    readonly handle: number,
    readonly relid: number,
    readonly rangeCount: number,
    rangeBufLen: number,
  ) {
    this.expected = Math.floor(rangeBufLen / 8);
  }

  /** Checks the header fields before any value is accepted; null when they are usable. */
  static validateHeader(relid: number, rangeCount: number, rangeBufLen: number): VmbusError | null {
    if (rangeCount === 0) return gpadlError(VmbusErrorCode.MalformedGpadl, 'GPADL with no ranges', relid);
    if (rangeBufLen % 8 !== 0 || rangeBufLen < 16 * rangeCount) {
      return gpadlError(
        VmbusErrorCode.MalformedGpadl,
        `range_buflen ${rangeBufLen} cannot hold ${rangeCount} range(s)`,
        relid,
      );
    }
    return null;
  }

  get complete(): boolean {
    return this.values.length === this.expected;
  }

  /** Adds values; returns an error if they overrun the announced length. */
  append(values: readonly bigint[]): VmbusError | null {
    if (this.values.length + values.length > this.expected) {
      return gpadlError(
        VmbusErrorCode.MalformedGpadl,
        `GPADL ${this.handle}: ${this.values.length + values.length} values for a ${this.expected}-value range list`,
        this.relid,
      );
    }
    for (const x of values) this.values.push(x);
    return null;
  }

  /** Appends only as many values as are still missing (header messages may carry padding). */
  appendUpTo(values: readonly bigint[]): void {
    const room = this.expected - this.values.length;
    for (let i = 0; i < values.length && i < room; i++) this.values.push(values[i]!);
  }

  /** Parses the complete value list into ranges, checking every PFN against `guestPageCount`. */
  finish(guestPageCount: number): Gpadl | VmbusError {
    const ranges: GpadlRange[] = [];
    let at = 0;
    for (let r = 0; r < this.rangeCount; r++) {
      const header = this.values[at++];
      if (header === undefined) {
        return gpadlError(
          VmbusErrorCode.MalformedGpadl,
          `GPADL ${this.handle}: range ${r} missing`,
          this.relid,
        );
      }
      const byteCount = Number(header & 0xffff_ffffn);
      const byteOffset = Number(header >> 32n);
      if (byteCount === 0 || byteOffset >= PAGE_SIZE) {
        return gpadlError(
          VmbusErrorCode.MalformedGpadl,
          `GPADL ${this.handle}: range ${r} has byte_count ${byteCount}, byte_offset ${byteOffset}`,
          this.relid,
        );
      }
      const n = rangePageCount(byteOffset, byteCount);
      if (at + n > this.values.length) {
        return gpadlError(
          VmbusErrorCode.MalformedGpadl,
          `GPADL ${this.handle}: range ${r} needs ${n} PFNs, the list ends first`,
          this.relid,
        );
      }
      const pfns: number[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const pfn = this.values[at + i]!;
        if (pfn >= BigInt(guestPageCount)) {
          return gpadlError(
            VmbusErrorCode.GpadlPageOutOfRange,
            `GPADL ${this.handle}: PFN 0x${pfn.toString(16)} is outside the guest's ${guestPageCount} pages`,
            this.relid,
          );
        }
        pfns[i] = Number(pfn);
      }
      at += n;
      ranges.push({ byteCount, byteOffset, pfns });
    }
    if (at !== this.values.length) {
      return gpadlError(
        VmbusErrorCode.MalformedGpadl,
        `GPADL ${this.handle}: ${this.values.length - at} values left after ${this.rangeCount} range(s)`,
        this.relid,
      );
    }
    return { handle: this.handle, relid: this.relid, ranges };
  }
}

/**
 * Checks that `gpadl` can carry a channel's two rings split at `downstreamPageOffset`: one range at byte
 * offset 0 covering whole pages, and each ring at least a control page plus one data page.
 */
export function validateRingGpadl(gpadl: Gpadl, downstreamPageOffset: number): VmbusError | null {
  const range = gpadl.ranges[0];
  if (
    gpadl.ranges.length !== 1 ||
    range === undefined ||
    range.byteOffset !== 0 ||
    range.byteCount % PAGE_SIZE !== 0
  ) {
    return gpadlError(
      VmbusErrorCode.BadRingGpadl,
      `GPADL ${gpadl.handle} is not one page-aligned range and cannot hold rings`,
      gpadl.relid,
    );
  }
  const pages = range.pfns.length;
  if (downstreamPageOffset < 2 || pages - downstreamPageOffset < 2) {
    return gpadlError(
      VmbusErrorCode.BadRingGpadl,
      `downstream offset ${downstreamPageOffset} does not split ${pages} pages into two rings`,
      gpadl.relid,
    );
  }
  return null;
}
