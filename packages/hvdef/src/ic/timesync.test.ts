import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, zeroView } from '../vmbus/test-util.test-fixture.js';
import {
  decodeTimeSync,
  decodeTimeSyncRef,
  encodeTimeSync,
  encodeTimeSyncRef,
  TimeSyncFlags,
  TimeSyncMessage,
  TimeSyncRefMessage,
  unixNanosToWindowsTicks,
  WINDOWS_TICKS_TO_UNIX_EPOCH,
  windowsTicksToUnixNanos,
} from './timesync.js';

describe('time sync bodies (spec 7.4)', () => {
  it('pins both layouts, flags and the epoch', () => {
    expect(TimeSyncMessage).toEqual({
      parentTime: 0,
      childTime: 8,
      roundTripTime: 16,
      flags: 24,
      size: 28,
      sizePacked: 25,
    });
    expect(TimeSyncRefMessage).toEqual({
      parentTime: 0,
      vmReferenceTime: 8,
      flags: 16,
      leapFlags: 17,
      stratum: 18,
      size: 24,
      sizePacked: 22,
    });
    expect(TimeSyncFlags).toEqual({ Probe: 0, Sync: 1, Sample: 2 });
    expect(WINDOWS_TICKS_TO_UNIX_EPOCH).toBe(116444736000000000n);
  });

  it('converts between Unix nanoseconds and 1601-based ticks', () => {
    expect(unixNanosToWindowsTicks(0n)).toBe(116444736000000000n);
    expect(windowsTicksToUnixNanos(116444736000000000n + 10_000_000n)).toBe(1_000_000_000n);
    // 2000-01-01T00:00:00Z
    expect(unixNanosToWindowsTicks(946_684_800_000_000_000n)).toBe(125911584000000000n);
  });

  it('encodes a 4.0 SYNC sample byte for byte and accepts the packed Linux size', () => {
    const { bytes, view } = zeroView(24);
    const f = {
      parentTime: 0x0102030405060708n,
      vmReferenceTime: 0x1122n,
      flags: TimeSyncFlags.Sync,
      leapFlags: 0,
      stratum: 2,
    };
    expect(encodeTimeSyncRef(view, 0, f)).toBe(24);
    expect(toHex(bytes)).toBe('08 07 06 05 04 03 02 01 22 11 00 00 00 00 00 00 01 00 02 00 00 00 00 00');
    expect(decodeTimeSyncRef(view, 0, 22)).toEqual({ ok: true, value: f });
    expect(decodeTimeSyncRef(view, 0, 21).ok).toBe(false);
  });

  it('round-trips the pre-4.0 layout in both sizes', () => {
    const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    fc.assert(
      fc.property(
        u64,
        u64,
        u64,
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(25, 28),
        (p, c, r, flags, size) => {
          const { view } = zeroView(28);
          const f = { parentTime: p, childTime: c, roundTripTime: r, flags };
          expect(encodeTimeSync(view, 0, f, size)).toBe(size);
          expect(decodeTimeSync(view, 0, size)).toEqual({ ok: true, value: f });
        },
      ),
    );
    expect(decodeTimeSync(zeroView(28).view, 0, 24).ok).toBe(false);
  });
});
