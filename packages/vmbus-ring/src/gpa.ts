import { PAGE_SIZE } from './layout.js';

/**
 * One gpa_range of a GPA-direct packet: `byteCount` bytes starting `byteOffset` into the first of
 * `pfns` (guest page frame numbers, GPA >> 12). The range spans ceil((byteOffset + byteCount) / 4096) pages.
 */
export interface GpaRange {
  readonly byteCount: number;
  readonly byteOffset: number;
  readonly pfns: readonly (number | bigint)[];
}

/** Pages a range of `byteCount` bytes at `byteOffset` into its first page spans. */
export function gpaRangePageCount(byteOffset: number, byteCount: number): number {
  return Math.ceil((byteOffset + byteCount) / PAGE_SIZE);
}

/** Encoded bytes of `ranges` (8 per range header plus 8 per PFN), or -1 if a range is malformed. */
export function gpaRangesSize(ranges: readonly GpaRange[]): number {
  let size = 0;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (
      !isU32(r.byteCount) ||
      !isU32(r.byteOffset) ||
      r.pfns.length === 0 ||
      r.pfns.length !== gpaRangePageCount(r.byteOffset, r.byteCount)
    ) {
      return -1;
    }
    for (let j = 0; j < r.pfns.length; j++) if (!isU64(r.pfns[j]!)) return -1;
    size += 8 + 8 * r.pfns.length;
  }
  return size;
}

function isU64(n: number | bigint): boolean {
  return typeof n === 'bigint' ? n >= 0n && n <= 0xffff_ffff_ffff_ffffn : Number.isSafeInteger(n) && n >= 0;
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}
