import { describe, expect, it } from 'vitest';
import {
  HV_MSR_RESERVED_MASK,
  HvMsr,
  SYNTHETIC_MSRS,
  sintIndexOfMsr,
  sintMsr,
  stimerConfigMsr,
  stimerCountMsr,
  stimerOfMsr,
} from './msr.js';

// Section 4.1 of the spec, copied literally: [MSR, name, access, privilege bit (null = CPUID EDX bit 10), reset].
const SPEC_MSRS: ReadonlyArray<readonly [number, string, 'R' | 'W' | 'RW', number | null, bigint]> = [
  [0x40000000, 'GUEST_OS_ID', 'RW', 5, 0n],
  [0x40000001, 'HYPERCALL', 'RW', 5, 0n],
  [0x40000002, 'VP_INDEX', 'R', 6, 0n],
  [0x40000003, 'RESET', 'RW', 7, 0n],
  [0x40000010, 'VP_RUNTIME', 'R', 0, 0n],
  [0x40000020, 'TIME_REF_COUNT', 'R', 1, 0n],
  [0x40000021, 'REFERENCE_TSC', 'RW', 9, 0n],
  [0x40000022, 'TSC_FREQUENCY', 'R', 11, 0n],
  [0x40000023, 'APIC_FREQUENCY', 'R', 11, 0n],
  [0x40000070, 'EOI', 'W', 4, 0n],
  [0x40000071, 'ICR', 'RW', 4, 0n],
  [0x40000072, 'TPR', 'RW', 4, 0n],
  [0x40000073, 'VP_ASSIST_PAGE', 'RW', 4, 0n],
  [0x40000080, 'SCONTROL', 'RW', 2, 0n],
  [0x40000081, 'SVERSION', 'R', 2, 1n],
  [0x40000082, 'SIEFP', 'RW', 2, 0n],
  [0x40000083, 'SIMP', 'RW', 2, 0n],
  [0x40000084, 'EOM', 'W', 2, 0n],
  ...Array.from({ length: 16 }, (_, n) => [0x40000090 + n, `SINT${n}`, 'RW', 2, 0x10000n] as const),
  ...Array.from({ length: 4 }, (_, n) => [0x400000b0 + 2 * n, `STIMER${n}_CONFIG`, 'RW', 3, 0n] as const),
  ...Array.from({ length: 4 }, (_, n) => [0x400000b1 + 2 * n, `STIMER${n}_COUNT`, 'RW', 3, 0n] as const),
  [0x400000f0, 'GUEST_IDLE', 'R', 10, 0n],
  ...Array.from({ length: 5 }, (_, n) => [0x40000100 + n, `CRASH_P${n}`, 'RW', null, 0n] as const),
  [0x40000105, 'CRASH_CTL', 'RW', null, 0n],
  [0x40000106, 'REENLIGHTENMENT_CONTROL', 'RW', 13, 0n],
  [0x40000107, 'TSC_EMULATION_CONTROL', 'RW', 13, 0n],
  [0x40000108, 'TSC_EMULATION_STATUS', 'RW', 13, 0n],
  [0x40000114, 'STIME_UNHALTED_TIMER_CONFIG', 'RW', 3, 0n],
  [0x40000115, 'STIME_UNHALTED_TIMER_COUNT', 'RW', 3, 0n],
  [0x40000118, 'TSC_INVARIANT_CONTROL', 'RW', 15, 0n],
];

describe('HvMsr', () => {
  it('pins the named MSR numbers', () => {
    expect(HvMsr.GuestOsId).toBe(0x40000000);
    expect(HvMsr.Hypercall).toBe(0x40000001);
    expect(HvMsr.VpIndex).toBe(0x40000002);
    expect(HvMsr.TimeRefCount).toBe(0x40000020);
    expect(HvMsr.ReferenceTsc).toBe(0x40000021);
    expect(HvMsr.Eoi).toBe(0x40000070);
    expect(HvMsr.Icr).toBe(0x40000071);
    expect(HvMsr.Tpr).toBe(0x40000072);
    expect(HvMsr.VpAssistPage).toBe(0x40000073);
    expect(HvMsr.Scontrol).toBe(0x40000080);
    expect(HvMsr.Simp).toBe(0x40000083);
    expect(HvMsr.Eom).toBe(0x40000084);
    expect(HvMsr.Sint0).toBe(0x40000090);
    expect(HvMsr.Sint15).toBe(0x4000009f);
    expect(HvMsr.Stimer3Count).toBe(0x400000b7);
    expect(HvMsr.CrashCtl).toBe(0x40000105);
  });

  it('lists exactly the MSRs of the spec table with their access, privilege and reset value', () => {
    const actual = [...SYNTHETIC_MSRS]
      .map(([msr, i]) => [msr, i.name, i.access, i.privilegeBit, i.resetValue] as const)
      .sort((a, b) => a[0] - b[0]);
    expect(actual).toEqual([...SPEC_MSRS].sort((a, b) => a[0] - b[0]));
    expect(new Set(Object.values(HvMsr))).toEqual(new Set(SYNTHETIC_MSRS.keys()));
  });

  it('gates the crash MSRs by CPUID 0x40000003 EDX bit 10', () => {
    expect(SYNTHETIC_MSRS.get(HvMsr.CrashCtl)?.featureBit).toBe(10);
    expect(SYNTHETIC_MSRS.get(HvMsr.CrashP3)?.featureBit).toBe(10);
    expect(SYNTHETIC_MSRS.get(HvMsr.Simp)?.featureBit).toBeUndefined();
  });

  it('computes SINT and STIMER MSR numbers and inverts them', () => {
    for (let n = 0; n < 16; n++) {
      expect(sintMsr(n)).toBe(0x40000090 + n);
      expect(HvMsr.Sint0 + n).toBe(sintMsr(n));
      expect(sintIndexOfMsr(sintMsr(n))).toBe(n);
    }
    expect(sintIndexOfMsr(0x4000008f)).toBeUndefined();
    expect(sintIndexOfMsr(0x400000a0)).toBeUndefined();
    expect(() => sintMsr(16)).toThrow(RangeError);
    const timers = [
      [0x400000b0, 0x400000b1],
      [0x400000b2, 0x400000b3],
      [0x400000b4, 0x400000b5],
      [0x400000b6, 0x400000b7],
    ];
    timers.forEach(([config, count], n) => {
      expect(stimerConfigMsr(n)).toBe(config);
      expect(stimerCountMsr(n)).toBe(count);
      expect(stimerOfMsr(config as number)).toEqual({ timer: n, register: 'config' });
      expect(stimerOfMsr(count as number)).toEqual({ timer: n, register: 'count' });
    });
    expect(stimerOfMsr(0x400000af)).toBeUndefined();
    expect(stimerOfMsr(0x400000b8)).toBeUndefined();
    expect(() => stimerConfigMsr(4)).toThrow(RangeError);
    expect(() => stimerCountMsr(-1)).toThrow(RangeError);
  });

  it('marks RsvdZ and RsvdP bits as the spec lays them out', () => {
    const get = (m: number) => SYNTHETIC_MSRS.get(m)!;
    expect(get(HvMsr.Eoi).reservedMask).toBe(0xffff_ffff_0000_0000n);
    expect(get(HvMsr.Stimer0Config).reservedMask).toBe((0x7n << 13n) | (((1n << 44n) - 1n) << 20n));
    expect(get(HvMsr.Tpr).reservedMask).toBe(~0xffn & 0xffff_ffff_ffff_ffffn);
    expect(get(HvMsr.Hypercall).preservedMask).toBe(0x3ffn << 2n);
    for (const m of [HvMsr.ReferenceTsc, HvMsr.VpAssistPage, HvMsr.Simp, HvMsr.Siefp]) {
      expect(get(m).preservedMask).toBe(0x7ffn << 1n);
      expect(get(m).reservedMask).toBe(0n);
    }
    expect(get(HvMsr.Sint7).preservedMask).toBe((0xffn << 8n) | (((1n << 43n) - 1n) << 21n));
    expect(get(HvMsr.Scontrol).preservedMask).toBe(0xffff_ffff_ffff_fffen);
    // The exported map lists every writable MSR with a non-zero RsvdZ mask and nothing else.
    expect([...HV_MSR_RESERVED_MASK.keys()].sort()).toEqual(
      [
        HvMsr.Eoi,
        HvMsr.Tpr,
        HvMsr.Stimer0Config,
        HvMsr.Stimer1Config,
        HvMsr.Stimer2Config,
        HvMsr.Stimer3Config,
      ].sort(),
    );
    for (const [, i] of SYNTHETIC_MSRS) expect(i.reservedMask & i.preservedMask).toBe(0n);
  });

  it('scopes partition-wide MSRs', () => {
    const partitionWide = [...SYNTHETIC_MSRS].filter(([, i]) => i.scope === 'partition').map(([m]) => m);
    expect(partitionWide).toContain(HvMsr.GuestOsId);
    expect(partitionWide).toContain(HvMsr.Hypercall);
    expect(partitionWide).toContain(HvMsr.ReferenceTsc);
    expect(partitionWide).toContain(HvMsr.TimeRefCount);
    expect(partitionWide).not.toContain(HvMsr.VpIndex);
    expect(partitionWide).not.toContain(HvMsr.Simp);
    expect(partitionWide).not.toContain(HvMsr.Sint0);
  });
});
