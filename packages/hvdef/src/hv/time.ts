// Partition reference time and the reference TSC page (spec sections 6.1 and 6.2).
import { HvFieldRangeError } from './errors.js';

/** Reference time ticks per second: 100 ns units. */
export const HV_REFERENCE_TIME_HZ = 10_000_000;
/** Reference time units (100 ns) per millisecond, for readable conversions. */
export const HV_REFERENCE_TICKS_PER_MS = 10_000;

/** HV_REFERENCE_TSC_PAGE: the rest of the 4096-byte overlay page is reserved. */
export const ReferenceTscPageLayout = {
  /** u32; 0 = page invalid, fall back to the TIME_REF_COUNT MSR. */
  tscSequence: 0,
  reserved: 4,
  /** u64: 64.64 fixed-point multiplier from TSC ticks to 100 ns units. */
  tscScale: 8,
  /** i64 added after scaling. */
  tscOffset: 16,
  size: 4096,
} as const;

/** TscSequence value that tells the guest not to use the page. */
export const HV_REFERENCE_TSC_SEQUENCE_INVALID = 0;

const TWO_64 = 1n << 64n;

/**
 * TscScale for a TSC running at `frequencyHz`: floor(10^7 * 2^64 / f). The frequency must be
 * above 10 MHz, or the scale would not fit 64 bits.
 */
export function referenceTscScale(frequencyHz: number | bigint): bigint {
  if (typeof frequencyHz === 'number' && !Number.isSafeInteger(frequencyHz)) {
    throw new HvFieldRangeError('frequencyHz', frequencyHz, 'integers above 10 MHz');
  }
  const f = BigInt(frequencyHz);
  if (f <= BigInt(HV_REFERENCE_TIME_HZ))
    throw new HvFieldRangeError('frequencyHz', frequencyHz, 'above 10 MHz');
  return (BigInt(HV_REFERENCE_TIME_HZ) * TWO_64) / f;
}

/**
 * Reference time the guest computes from the page: ((tsc * scale) >> 64) + offset, modulo 2^64
 * (what the 64-bit guest arithmetic yields).
 */
export function referenceTimeFromTsc(tsc: bigint, scale: bigint, offset: bigint): bigint {
  const t = BigInt.asUintN(64, tsc);
  const s = BigInt.asUintN(64, scale);
  return BigInt.asUintN(64, ((t * s) >> 64n) + BigInt.asIntN(64, offset));
}

/** The page fields, as the hypervisor publishes them. */
export interface ReferenceTscPage {
  tscSequence: number;
  tscScale: bigint;
  tscOffset: bigint;
}

/** Writes the page fields. Writers must bump `tscSequence` whenever scale or offset change. */
export function encodeReferenceTscPage(view: DataView, offset: number, page: ReferenceTscPage): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + 24 > view.byteLength) {
    throw new RangeError(`reference TSC page at ${offset} does not fit a ${view.byteLength}-byte view`);
  }
  if (!Number.isInteger(page.tscSequence) || page.tscSequence < 0 || page.tscSequence > 0xffff_ffff) {
    throw new HvFieldRangeError('tscSequence', page.tscSequence, '0..0xffffffff');
  }
  view.setBigUint64(offset + ReferenceTscPageLayout.tscScale, BigInt.asUintN(64, page.tscScale), true);
  view.setBigInt64(offset + ReferenceTscPageLayout.tscOffset, BigInt.asIntN(64, page.tscOffset), true);
  view.setUint32(offset + ReferenceTscPageLayout.tscSequence, page.tscSequence, true);
}

export function decodeReferenceTscPage(view: DataView, offset: number): ReferenceTscPage {
  if (!Number.isInteger(offset) || offset < 0 || offset + 24 > view.byteLength) {
    throw new RangeError(`reference TSC page at ${offset} does not fit a ${view.byteLength}-byte view`);
  }
  return {
    tscSequence: view.getUint32(offset + ReferenceTscPageLayout.tscSequence, true),
    tscScale: view.getBigUint64(offset + ReferenceTscPageLayout.tscScale, true),
    tscOffset: view.getBigInt64(offset + ReferenceTscPageLayout.tscOffset, true),
  };
}
