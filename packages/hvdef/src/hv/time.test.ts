import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HvFieldRangeError } from './errors.js';
import {
  decodeReferenceTscPage,
  encodeReferenceTscPage,
  HV_REFERENCE_TIME_HZ,
  HV_REFERENCE_TSC_SEQUENCE_INVALID,
  ReferenceTscPageLayout,
  referenceTimeFromTsc,
  referenceTscScale,
} from './time.js';

describe('reference time (spec 6.1, 6.2)', () => {
  it('pins the page layout and the clock rate', () => {
    expect(ReferenceTscPageLayout).toEqual({
      tscSequence: 0,
      reserved: 4,
      tscScale: 8,
      tscOffset: 16,
      size: 4096,
    });
    expect(HV_REFERENCE_TIME_HZ).toBe(10_000_000);
    expect(HV_REFERENCE_TSC_SEQUENCE_INVALID).toBe(0);
  });

  it('computes the scale as floor(10^7 * 2^64 / f)', () => {
    // 2.5 GHz: 2^64 / 250.
    expect(referenceTscScale(2_500_000_000)).toBe(73_786_976_294_838_206n);
    expect(referenceTscScale(2_500_000_000n)).toBe(73_786_976_294_838_206n);
    // 20 MHz: exactly 2^63.
    expect(referenceTscScale(20_000_000)).toBe(1n << 63n);
    // One second of a 3 GHz TSC is 10^7 reference ticks, give or take the truncation.
    const s = referenceTscScale(3_000_000_000);
    expect(referenceTimeFromTsc(3_000_000_000n, s, 0n)).toBeGreaterThanOrEqual(9_999_999n);
    expect(referenceTimeFromTsc(3_000_000_000n, s, 0n)).toBeLessThanOrEqual(10_000_000n);
  });

  it('refuses frequencies at or below 10 MHz and non-integers', () => {
    expect(() => referenceTscScale(10_000_000)).toThrow(HvFieldRangeError);
    expect(() => referenceTscScale(0)).toThrow(HvFieldRangeError);
    expect(() => referenceTscScale(Number.NaN)).toThrow(HvFieldRangeError);
    expect(() => referenceTscScale(2.5e9 + 0.5)).toThrow(HvFieldRangeError);
  });

  it('scales any TSC reading to within one tick of the exact value', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 10_000_001n, max: 100_000_000_000n }),
        fc.bigInt({ min: 0n, max: (1n << 60n) - 1n }),
        (f, tsc) => {
          const exact = (tsc * 10_000_000n) / f;
          const got = referenceTimeFromTsc(tsc, referenceTscScale(f), 0n);
          expect(got === exact || got === exact - 1n).toBe(true);
        },
      ),
    );
  });

  it('adds the signed offset modulo 2^64', () => {
    expect(referenceTimeFromTsc(0n, 1n << 63n, -1n)).toBe(0xffff_ffff_ffff_ffffn);
    expect(referenceTimeFromTsc(4n, 1n << 63n, 10n)).toBe(12n);
  });

  it('writes and reads the page in shared memory', () => {
    const view = new DataView(new SharedArrayBuffer(4096));
    const page = { tscSequence: 7, tscScale: 0x8000_0000_0000_0001n, tscOffset: -123456789n };
    encodeReferenceTscPage(view, 0, page);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getBigUint64(8, true)).toBe(0x8000_0000_0000_0001n);
    expect(view.getBigInt64(16, true)).toBe(-123456789n);
    expect(decodeReferenceTscPage(view, 0)).toEqual(page);
    expect(() => encodeReferenceTscPage(view, 4080, page)).toThrow(RangeError);
    expect(() => decodeReferenceTscPage(view, -1)).toThrow(RangeError);
    expect(() => encodeReferenceTscPage(view, 0, { ...page, tscSequence: 2 ** 32 })).toThrow(
      HvFieldRangeError,
    );
  });
});
