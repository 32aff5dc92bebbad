import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  APIC_DEFAULT_BASE,
  APIC_TIMER_DIVIDE_TABLE,
  ApicDeliveryMode,
  ApicDestinationShorthand,
  ApicEsrBits,
  type ApicIcr,
  ApicRegister,
  ApicSvrBits,
  ApicTimerMode,
  apicDivideConfig,
  apicTimerDivisor,
  apicVectorRegisterOffset,
  decodeApicBase,
  decodeApicVersion,
  decodeIcr,
  decodeLvt,
  decodeSvr,
  encodeApicBase,
  encodeApicVersion,
  encodeIcr,
  encodeLvt,
  encodeSvr,
  IA32_APIC_BASE,
  IA32_TSC_DEADLINE,
  ICR_X2APIC_RESERVED_MASK,
  ICR_XAPIC_RESERVED_MASK,
  LVT_IMPLEMENTED_BITS,
  X2APIC_MSR_ACCESS,
  x2apicLdr,
  x2apicMsr,
  x2apicOffsetOfMsr,
} from './apic.js';
import { HvFieldRangeError } from './errors.js';

// Spec 7.1, copied literally: [xAPIC offset, x2APIC MSR, access] (ISR/TMR/IRR expanded).
const SPEC_X2APIC: ReadonlyArray<readonly [number, number, 'R' | 'W' | 'RW']> = [
  [0x020, 0x802, 'R'],
  [0x030, 0x803, 'R'],
  [0x080, 0x808, 'RW'],
  [0x0a0, 0x80a, 'R'],
  [0x0b0, 0x80b, 'W'],
  [0x0d0, 0x80d, 'R'],
  [0x0f0, 0x80f, 'RW'],
  ...Array.from({ length: 8 }, (_, i) => [0x100 + i * 0x10, 0x810 + i, 'R'] as const),
  ...Array.from({ length: 8 }, (_, i) => [0x180 + i * 0x10, 0x818 + i, 'R'] as const),
  ...Array.from({ length: 8 }, (_, i) => [0x200 + i * 0x10, 0x820 + i, 'R'] as const),
  [0x280, 0x828, 'RW'],
  [0x2f0, 0x82f, 'RW'],
  [0x300, 0x830, 'RW'],
  [0x320, 0x832, 'RW'],
  [0x330, 0x833, 'RW'],
  [0x340, 0x834, 'RW'],
  [0x350, 0x835, 'RW'],
  [0x360, 0x836, 'RW'],
  [0x370, 0x837, 'RW'],
  [0x380, 0x838, 'RW'],
  [0x390, 0x839, 'R'],
  [0x3e0, 0x83e, 'RW'],
  [0x3f0, 0x83f, 'W'],
];

describe('APIC register map (spec 7.1)', () => {
  it('pins the register offsets', () => {
    expect({ ...ApicRegister }).toEqual({
      Id: 0x20,
      Version: 0x30,
      Tpr: 0x80,
      Apr: 0x90,
      Ppr: 0xa0,
      Eoi: 0xb0,
      Rrd: 0xc0,
      Ldr: 0xd0,
      Dfr: 0xe0,
      Svr: 0xf0,
      Isr0: 0x100,
      Tmr0: 0x180,
      Irr0: 0x200,
      Esr: 0x280,
      LvtCmci: 0x2f0,
      IcrLow: 0x300,
      IcrHigh: 0x310,
      LvtTimer: 0x320,
      LvtThermal: 0x330,
      LvtPerfmon: 0x340,
      LvtLint0: 0x350,
      LvtLint1: 0x360,
      LvtError: 0x370,
      TimerInitialCount: 0x380,
      TimerCurrentCount: 0x390,
      TimerDivideConfig: 0x3e0,
      SelfIpi: 0x3f0,
    });
    expect(APIC_DEFAULT_BASE).toBe(0xfee00000);
    expect(IA32_APIC_BASE).toBe(0x1b);
    expect(IA32_TSC_DEADLINE).toBe(0x6e0);
    expect(apicVectorRegisterOffset(0)).toBe(0);
    expect(apicVectorRegisterOffset(0x31)).toBe(0x10);
    expect(apicVectorRegisterOffset(0xff)).toBe(0x70);
  });

  it('maps offsets to x2APIC MSRs exactly as the table says', () => {
    expect([...X2APIC_MSR_ACCESS].sort((a, b) => a[0] - b[0])).toEqual(
      SPEC_X2APIC.map(([, msr, a]) => [msr, a]),
    );
    for (const [off, msr] of SPEC_X2APIC) {
      expect(x2apicMsr(off)).toBe(msr);
      expect(x2apicOffsetOfMsr(msr)).toBe(off);
    }
    // xAPIC-only registers have an MSR slot but no x2APIC access.
    for (const off of [ApicRegister.Apr, ApicRegister.Rrd, ApicRegister.Dfr, ApicRegister.IcrHigh]) {
      expect(X2APIC_MSR_ACCESS.has(x2apicMsr(off))).toBe(false);
    }
    expect(x2apicOffsetOfMsr(0x7ff)).toBeUndefined();
    expect(x2apicOffsetOfMsr(0x840)).toBeUndefined();
    expect(() => x2apicMsr(0x308)).toThrow(RangeError);
    expect(() => x2apicMsr(0x400)).toThrow(RangeError);
  });

  it('derives the x2APIC LDR from the APIC ID', () => {
    expect(x2apicLdr(0)).toBe(0x1);
    expect(x2apicLdr(0x23)).toBe(0x0002_0008);
    expect(x2apicLdr(0xf)).toBe(0x8000);
    expect(x2apicLdr(0xffff_ffff)).toBe(0xffff_8000);
  });
});

describe('IA32_APIC_BASE', () => {
  it('places BSP, x2APIC enable, global enable and the base', () => {
    const v = encodeApicBase({
      bsp: true,
      x2apicEnable: false,
      globalEnable: true,
      base: BigInt(APIC_DEFAULT_BASE),
    });
    expect(v).toBe(0xfee0_0900n);
    expect(decodeApicBase(v)).toEqual({
      bsp: true,
      x2apicEnable: false,
      globalEnable: true,
      base: 0xfee0_0000n,
      reservedBitsSet: false,
    });
    expect(decodeApicBase(0xfee0_0d00n).x2apicEnable).toBe(true);
    expect(decodeApicBase(0xfee0_0001n).reservedBitsSet).toBe(true);
    expect(decodeApicBase(0xfee0_0200n).reservedBitsSet).toBe(true);
    expect(() =>
      encodeApicBase({ bsp: false, x2apicEnable: false, globalEnable: false, base: 0x1000_0800n }),
    ).toThrow(RangeError);
  });
});

const icrArb = (format: 'xapic' | 'x2apic'): fc.Arbitrary<ApicIcr> =>
  fc.record({
    vector: fc.integer({ min: 0, max: 255 }),
    deliveryMode: fc.integer({ min: 0, max: 7 }),
    logicalDestination: fc.boolean(),
    deliveryPending: format === 'xapic' ? fc.boolean() : fc.constant(false),
    levelAssert: fc.boolean(),
    levelTriggered: fc.boolean(),
    shorthand: fc.integer({ min: 0, max: 3 }),
    destination: fc.integer({ min: 0, max: format === 'xapic' ? 0xff : 0xffff_ffff }),
  });

describe('ICR (spec 7.2)', () => {
  it('pins delivery modes and shorthands', () => {
    expect({ ...ApicDeliveryMode }).toEqual({
      Fixed: 0,
      LowestPriority: 1,
      Smi: 2,
      RemoteRead: 3,
      Nmi: 4,
      Init: 5,
      StartUp: 6,
      ExtInt: 7,
    });
    expect({ ...ApicDestinationShorthand }).toEqual({
      None: 0,
      Self: 1,
      AllIncludingSelf: 2,
      AllExcludingSelf: 3,
    });
  });

  it('places every field', () => {
    const none: ApicIcr = {
      vector: 0,
      deliveryMode: 0,
      logicalDestination: false,
      deliveryPending: false,
      levelAssert: false,
      levelTriggered: false,
      shorthand: 0,
      destination: 0,
    };
    expect(encodeIcr({ ...none, vector: 0xfd }, 'x2apic')).toBe(0xfdn);
    expect(encodeIcr({ ...none, deliveryMode: ApicDeliveryMode.StartUp }, 'x2apic')).toBe(0x600n);
    expect(encodeIcr({ ...none, logicalDestination: true }, 'x2apic')).toBe(0x800n);
    expect(encodeIcr({ ...none, deliveryPending: true }, 'xapic')).toBe(0x1000n);
    expect(encodeIcr({ ...none, levelAssert: true }, 'x2apic')).toBe(0x4000n);
    expect(encodeIcr({ ...none, levelTriggered: true }, 'x2apic')).toBe(0x8000n);
    expect(encodeIcr({ ...none, shorthand: 3 }, 'x2apic')).toBe(0xc0000n);
    expect(encodeIcr({ ...none, destination: 0xab }, 'xapic')).toBe(0xab00_0000_0000_0000n);
    expect(encodeIcr({ ...none, destination: 0xabcd_ef01 }, 'x2apic')).toBe(0xabcd_ef01_0000_0000n);
    // What Linux writes to HV_X64_MSR_ICR for a fixed IPI, vector 0xfd, to APIC ID 3 (xAPIC format).
    expect(encodeIcr({ ...none, vector: 0xfd, levelAssert: true, destination: 3 }, 'xapic')).toBe(
      0x0300_0000_0000_40fdn,
    );
  });

  it('round-trips both formats and reports reserved bits', () => {
    for (const format of ['xapic', 'x2apic'] as const) {
      const reserved = format === 'xapic' ? ICR_XAPIC_RESERVED_MASK : ICR_X2APIC_RESERVED_MASK;
      fc.assert(
        fc.property(icrArb(format), (icr) => {
          expect(decodeIcr(encodeIcr(icr, format), format)).toEqual({ ...icr, reservedBitsSet: false });
        }),
      );
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), (v) => {
          const d = decodeIcr(v, format);
          expect(d.reservedBitsSet).toBe((v & reserved) !== 0n);
          // Bit 12 is reserved in x2APIC format and dropped; everything else survives.
          expect(encodeIcr(d, format)).toBe(v & ~reserved);
        }),
      );
    }
    expect(ICR_XAPIC_RESERVED_MASK).toBe(0x00ff_ffff_fff3_2000n);
    expect(ICR_X2APIC_RESERVED_MASK).toBe(0x0000_0000_fff3_3000n);
  });

  it('refuses fields wider than the format allows', () => {
    const base = decodeIcr(0n, 'xapic');
    expect(() => encodeIcr({ ...base, destination: 0x100 }, 'xapic')).toThrow(HvFieldRangeError);
    expect(() => encodeIcr({ ...base, deliveryMode: 8 }, 'x2apic')).toThrow(HvFieldRangeError);
    expect(() => encodeIcr({ ...base, shorthand: 4 }, 'x2apic')).toThrow(HvFieldRangeError);
  });
});

describe('LVT, SVR, ESR, version, divide configuration (spec 7.2)', () => {
  it('places LVT fields and knows which bits each LVT implements', () => {
    expect(
      encodeLvt({
        vector: 0xec,
        deliveryMode: 0,
        deliveryPending: false,
        inputPolarityLow: false,
        remoteIrr: false,
        levelTriggered: false,
        masked: true,
        timerMode: ApicTimerMode.TscDeadline,
      }),
    ).toBe(0x5_00ec);
    expect({ ...ApicTimerMode }).toEqual({ OneShot: 0, Periodic: 1, TscDeadline: 2 });
    expect(decodeLvt(0x0000_e700)).toMatchObject({
      deliveryMode: 7,
      inputPolarityLow: true,
      remoteIrr: true,
      levelTriggered: true,
      masked: false,
    });
    expect(decodeLvt(0xfff8_0800).otherBits).toBe(0xfff8_0800);
    expect(LVT_IMPLEMENTED_BITS.get(ApicRegister.LvtTimer)).toBe(0x7_10ff);
    expect(LVT_IMPLEMENTED_BITS.get(ApicRegister.LvtLint0)).toBe(0x1_f7ff);
    expect(LVT_IMPLEMENTED_BITS.get(ApicRegister.LvtError)).toBe(0x1_10ff);
    expect(LVT_IMPLEMENTED_BITS.size).toBe(7);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (v) => {
        const d = decodeLvt(v);
        expect((encodeLvt(d) | d.otherBits) >>> 0).toBe(v >>> 0);
      }),
    );
  });

  it('places SVR bits', () => {
    expect({ ...ApicSvrBits }).toEqual({
      VectorMask: 0xff,
      ApicSoftwareEnable: 0x100,
      FocusCheckDisable: 0x200,
      SuppressEoiBroadcast: 0x1000,
    });
    expect(
      encodeSvr({ vector: 0xff, apicEnabled: true, focusCheckDisabled: false, suppressEoiBroadcast: false }),
    ).toBe(0x1ff);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (v) => {
        const d = decodeSvr(v);
        expect((encodeSvr(d) | d.otherBits) >>> 0).toBe(v >>> 0);
      }),
    );
  });

  it('pins ESR bits and the version register', () => {
    expect(Object.values(ApicEsrBits).map((b) => Math.log2(b))).toEqual([0, 1, 2, 3, 5, 6, 7]);
    const v = { version: 0x14, maxLvtEntry: 6, suppressEoiBroadcastSupported: true };
    expect(encodeApicVersion(v)).toBe(0x0106_0014);
    expect(decodeApicVersion(0x0106_0014)).toEqual(v);
  });

  it('pins the divide-configuration table', () => {
    expect([...APIC_TIMER_DIVIDE_TABLE]).toEqual([
      [0b0000, 2],
      [0b0001, 4],
      [0b0010, 8],
      [0b0011, 16],
      [0b1000, 32],
      [0b1001, 64],
      [0b1010, 128],
      [0b1011, 1],
    ]);
    // Bit 2 and bits above 3 do not select the divisor.
    expect(apicTimerDivisor(0b0100)).toBe(2);
    expect(apicTimerDivisor(0xfffffff0 | 0b1011)).toBe(1);
    for (const [dcr, d] of APIC_TIMER_DIVIDE_TABLE) expect(apicDivideConfig(d)).toBe(dcr);
    expect(() => apicDivideConfig(3)).toThrow(RangeError);
  });
});
