import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HvFieldRangeError } from './errors.js';
import { STIMER_CONFIG_RESERVED_MASK } from './msr.js';
import {
  decodeCrashCtl,
  decodeGuestOsId,
  decodeHypercallMsr,
  decodeOverlayPageMsr,
  decodeScontrol,
  decodeSint,
  decodeStimerConfig,
  decodeUnhaltedTimerConfig,
  encodeCrashCtl,
  encodeGuestOsId,
  encodeHypercallMsr,
  encodeOverlayPageMsr,
  encodeScontrol,
  encodeSint,
  encodeStimerConfig,
  encodeUnhaltedTimerConfig,
  GuestOsMicrosoftId,
  GuestOsOpenSourceType,
  GuestOsVendor,
  HV_MAX_GPA_PAGE_NUMBER,
  HV_SYNIC_FIRST_VALID_VECTOR,
  HV_VP_ASSIST_NO_EOI_REQUIRED,
  type StimerConfig,
  VpAssistPageLayout,
} from './msr-fields.js';

const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
const pfn = fc.bigInt({ min: 0n, max: HV_MAX_GPA_PAGE_NUMBER });

describe('GUEST_OS_ID (spec 4.2)', () => {
  it('pins the vendor, OS ID and OS type tables', () => {
    expect({ ...GuestOsVendor }).toEqual({ Microsoft: 1, Hpe: 2, BlackBerry: 3, Lancom: 0x200 });
    expect(Object.values(GuestOsMicrosoftId)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(GuestOsMicrosoftId.WindowsNt).toBe(4);
    expect({ ...GuestOsOpenSourceType }).toEqual({ Linux: 1, FreeBsd: 2, Xen: 3, Illumos: 4 });
  });

  it('encodes a Windows NT 10.0 build 19041 guest at the documented bits', () => {
    const v = encodeGuestOsId({
      kind: 'proprietary',
      vendor: GuestOsVendor.Microsoft,
      osId: GuestOsMicrosoftId.WindowsNt,
      majorVersion: 10,
      minorVersion: 0,
      serviceVersion: 0,
      buildNumber: 19041,
    });
    expect(v).toBe((1n << 48n) | (4n << 40n) | (10n << 32n) | 19041n);
    expect(v >> 63n).toBe(0n);
  });

  it('encodes an open-source Linux guest with bit 63 set', () => {
    const v = encodeGuestOsId({
      kind: 'open-source',
      osType: GuestOsOpenSourceType.Linux,
      vendorSpecific: 0,
      kernelVersion: 0x060800,
      buildNumber: 0,
    });
    // The value Linux 6.8 writes (hv_generate_guest_id with no distro data).
    expect(v).toBe(0x8100_0006_0800_0000n);
  });

  it('round-trips every 64-bit value through both layouts', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const d = decodeGuestOsId(v);
        expect(d.kind).toBe(v >> 63n === 1n ? 'open-source' : 'proprietary');
        expect(encodeGuestOsId(d)).toBe(v);
      }),
    );
  });

  it('refuses fields wider than their bits', () => {
    const base = {
      kind: 'proprietary',
      vendor: 1,
      osId: 4,
      majorVersion: 10,
      minorVersion: 0,
      serviceVersion: 0,
      buildNumber: 0,
    } as const;
    expect(() => encodeGuestOsId({ ...base, vendor: 0x8000 })).toThrow(HvFieldRangeError);
    expect(() => encodeGuestOsId({ ...base, buildNumber: 0x10000 })).toThrow(HvFieldRangeError);
    expect(() =>
      encodeGuestOsId({
        kind: 'open-source',
        osType: 0x80,
        vendorSpecific: 0,
        kernelVersion: 0,
        buildNumber: 0,
      }),
    ).toThrow(HvFieldRangeError);
  });
});

describe('HYPERCALL and overlay-page MSRs (spec 4.3, 4.4, 5.2, 6.2)', () => {
  it('places enable, locked and the page number', () => {
    expect(encodeHypercallMsr({ enable: true, locked: false, gpaPageNumber: 0x1234n })).toBe(0x1234001n);
    expect(encodeHypercallMsr({ enable: true, locked: true, gpaPageNumber: 0n })).toBe(3n);
    expect(encodeOverlayPageMsr({ enable: true, gpaPageNumber: HV_MAX_GPA_PAGE_NUMBER })).toBe(
      0xffff_ffff_ffff_f001n,
    );
    expect(decodeHypercallMsr(0xabc_dffdn)).toEqual({
      enable: true,
      locked: false,
      gpaPageNumber: 0xabcdn,
      preservedBits: 0xffcn,
    });
    expect(decodeOverlayPageMsr(0xfffn)).toEqual({ enable: true, gpaPageNumber: 0n, preservedBits: 0xffen });
  });

  it('round-trips and keeps RsvdP bits visible', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const h = decodeHypercallMsr(v);
        expect(encodeHypercallMsr(h) | h.preservedBits).toBe(v);
        const o = decodeOverlayPageMsr(v);
        expect(encodeOverlayPageMsr(o) | o.preservedBits).toBe(v);
      }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), pfn, (enable, locked, gpaPageNumber) => {
        expect(decodeHypercallMsr(encodeHypercallMsr({ enable, locked, gpaPageNumber }))).toEqual({
          enable,
          locked,
          gpaPageNumber,
          preservedBits: 0n,
        });
      }),
    );
    expect(() => encodeOverlayPageMsr({ enable: true, gpaPageNumber: 1n << 52n })).toThrow(HvFieldRangeError);
    expect(() => encodeHypercallMsr({ enable: true, locked: false, gpaPageNumber: -1n })).toThrow(
      HvFieldRangeError,
    );
  });
});

describe('SCONTROL and SINTx (spec 5.1)', () => {
  it('places every SINT field', () => {
    const none = {
      vector: 0,
      masked: false,
      autoEoi: false,
      polling: false,
      asIntercept: false,
      proxy: false,
    };
    expect(encodeSint({ ...none, vector: 0xff })).toBe(0xffn);
    expect(encodeSint({ ...none, masked: true })).toBe(0x10000n);
    expect(encodeSint({ ...none, autoEoi: true })).toBe(1n << 17n);
    expect(encodeSint({ ...none, polling: true })).toBe(1n << 18n);
    expect(encodeSint({ ...none, asIntercept: true })).toBe(1n << 19n);
    expect(encodeSint({ ...none, proxy: true })).toBe(1n << 20n);
    expect(decodeSint(0x10000n)).toEqual({ ...none, masked: true, preservedBits: 0n });
    expect(HV_SYNIC_FIRST_VALID_VECTOR).toBe(16);
    expect(() => encodeSint({ ...none, vector: 256 })).toThrow(HvFieldRangeError);
  });

  it('round-trips SINT and SCONTROL values', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const s = decodeSint(v);
        expect(encodeSint(s) | s.preservedBits).toBe(v);
        expect(encodeSint(s) & s.preservedBits).toBe(0n);
        const c = decodeScontrol(v);
        expect(encodeScontrol(c) | c.preservedBits).toBe(v);
      }),
    );
    expect(encodeScontrol({ enable: true })).toBe(1n);
  });
});

const stimerArb: fc.Arbitrary<StimerConfig> = fc.record({
  enable: fc.boolean(),
  periodic: fc.boolean(),
  lazy: fc.boolean(),
  autoEnable: fc.boolean(),
  apicVector: fc.integer({ min: 0, max: 255 }),
  directMode: fc.boolean(),
  sintx: fc.integer({ min: 0, max: 15 }),
});

describe('STIMERn_CONFIG (spec 6.3)', () => {
  it('places every field', () => {
    const off = {
      enable: false,
      periodic: false,
      lazy: false,
      autoEnable: false,
      apicVector: 0,
      directMode: false,
      sintx: 0,
    };
    expect(encodeStimerConfig({ ...off, enable: true })).toBe(1n);
    expect(encodeStimerConfig({ ...off, periodic: true })).toBe(2n);
    expect(encodeStimerConfig({ ...off, lazy: true })).toBe(4n);
    expect(encodeStimerConfig({ ...off, autoEnable: true })).toBe(8n);
    expect(encodeStimerConfig({ ...off, apicVector: 0xff })).toBe(0xff0n);
    expect(encodeStimerConfig({ ...off, directMode: true })).toBe(0x1000n);
    expect(encodeStimerConfig({ ...off, sintx: 0xf })).toBe(0xf0000n);
    // What Linux writes for a periodic timer on SINT 2 (VMBus SINT) with auto-enable.
    expect(encodeStimerConfig({ ...off, enable: true, periodic: true, autoEnable: true, sintx: 2 })).toBe(
      0x2000bn,
    );
  });

  it('round-trips both ways and reports RsvdZ bits', () => {
    fc.assert(
      fc.property(stimerArb, (c) => {
        expect(decodeStimerConfig(encodeStimerConfig(c))).toEqual({ ...c, reservedBitsSet: false });
      }),
    );
    fc.assert(
      fc.property(u64, (v) => {
        const d = decodeStimerConfig(v);
        expect(d.reservedBitsSet).toBe((v & STIMER_CONFIG_RESERVED_MASK) !== 0n);
        expect(encodeStimerConfig(d)).toBe(v & ~STIMER_CONFIG_RESERVED_MASK);
      }),
    );
    for (const b of [13n, 14n, 15n, 20n, 63n]) expect(decodeStimerConfig(1n << b).reservedBitsSet).toBe(true);
    for (const b of [0n, 4n, 11n, 12n, 16n, 19n])
      expect(decodeStimerConfig(1n << b).reservedBitsSet).toBe(false);
  });

  it('refuses out-of-range fields', () => {
    const off = {
      enable: false,
      periodic: false,
      lazy: false,
      autoEnable: false,
      apicVector: 0,
      directMode: false,
      sintx: 0,
    };
    expect(() => encodeStimerConfig({ ...off, sintx: 16 })).toThrow(HvFieldRangeError);
    expect(() => encodeStimerConfig({ ...off, apicVector: 256 })).toThrow(HvFieldRangeError);
  });
});

describe('STIME_UNHALTED_TIMER_CONFIG and CRASH_CTL', () => {
  it('round-trip', () => {
    expect(encodeUnhaltedTimerConfig({ vector: 2, enable: true })).toBe(0x102n);
    expect(decodeUnhaltedTimerConfig(0x1_0102n)).toEqual({ vector: 2, enable: true, otherBits: 0x1_0000n });
    expect(encodeCrashCtl({ crashNotify: true, crashMessage: true, noCrashDump: false, preOsId: 0 })).toBe(
      0xc000_0000_0000_0000n,
    );
    fc.assert(
      fc.property(u64, (v) => {
        const c = decodeCrashCtl(v);
        expect(encodeCrashCtl(c) | c.otherBits).toBe(v);
        const t = decodeUnhaltedTimerConfig(v);
        expect(encodeUnhaltedTimerConfig(t) | t.otherBits).toBe(v);
      }),
    );
    expect(() =>
      encodeCrashCtl({ crashNotify: false, crashMessage: false, noCrashDump: false, preOsId: 8 }),
    ).toThrow(HvFieldRangeError);
  });
});

describe('VP assist page (spec 4.4)', () => {
  it('pins the ApicAssist word and the time-unhalted flag', () => {
    expect(VpAssistPageLayout).toEqual({
      apicAssist: 0,
      syntheticTimeUnhaltedTimerExpired: 0x38,
      size: 4096,
    });
    expect(HV_VP_ASSIST_NO_EOI_REQUIRED).toBe(1);
  });
});
