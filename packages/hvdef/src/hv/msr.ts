// Synthetic MSR numbers (x64) and the per-MSR facts the hypervisor needs to answer RDMSR/WRMSR.
import { HvPartitionPrivilege as P } from './privileges.js';

/** Synthetic MSR numbers. SINTn = `HvMsr.Sint0 + n`; STIMERn: {@link stimerConfigMsr}, {@link stimerCountMsr}. */
export const HvMsr = {
  GuestOsId: 0x4000_0000,
  Hypercall: 0x4000_0001,
  VpIndex: 0x4000_0002,
  Reset: 0x4000_0003,
  VpRuntime: 0x4000_0010,
  TimeRefCount: 0x4000_0020,
  ReferenceTsc: 0x4000_0021,
  TscFrequency: 0x4000_0022,
  ApicFrequency: 0x4000_0023,
  Eoi: 0x4000_0070,
  Icr: 0x4000_0071,
  Tpr: 0x4000_0072,
  VpAssistPage: 0x4000_0073,
  Scontrol: 0x4000_0080,
  Sversion: 0x4000_0081,
  Siefp: 0x4000_0082,
  Simp: 0x4000_0083,
  Eom: 0x4000_0084,
  Sint0: 0x4000_0090,
  Sint1: 0x4000_0091,
  Sint2: 0x4000_0092,
  Sint3: 0x4000_0093,
  Sint4: 0x4000_0094,
  Sint5: 0x4000_0095,
  Sint6: 0x4000_0096,
  Sint7: 0x4000_0097,
  Sint8: 0x4000_0098,
  Sint9: 0x4000_0099,
  Sint10: 0x4000_009a,
  Sint11: 0x4000_009b,
  Sint12: 0x4000_009c,
  Sint13: 0x4000_009d,
  Sint14: 0x4000_009e,
  Sint15: 0x4000_009f,
  Stimer0Config: 0x4000_00b0,
  Stimer0Count: 0x4000_00b1,
  Stimer1Config: 0x4000_00b2,
  Stimer1Count: 0x4000_00b3,
  Stimer2Config: 0x4000_00b4,
  Stimer2Count: 0x4000_00b5,
  Stimer3Config: 0x4000_00b6,
  Stimer3Count: 0x4000_00b7,
  GuestIdle: 0x4000_00f0,
  CrashP0: 0x4000_0100,
  CrashP1: 0x4000_0101,
  CrashP2: 0x4000_0102,
  CrashP3: 0x4000_0103,
  CrashP4: 0x4000_0104,
  CrashCtl: 0x4000_0105,
  ReenlightenmentControl: 0x4000_0106,
  TscEmulationControl: 0x4000_0107,
  TscEmulationStatus: 0x4000_0108,
  StimeUnhaltedTimerConfig: 0x4000_0114,
  StimeUnhaltedTimerCount: 0x4000_0115,
  TscInvariantControl: 0x4000_0118,
} as const;
export type HvMsr = number;

/** Synthetic timers per VP. */
export const HV_STIMER_COUNT = 4;

/** MSR number of STIMERn_CONFIG (n = 0..3). */
export function stimerConfigMsr(n: number): number {
  checkTimer(n);
  return HvMsr.Stimer0Config + 2 * n;
}

/** MSR number of STIMERn_COUNT (n = 0..3). */
export function stimerCountMsr(n: number): number {
  checkTimer(n);
  return HvMsr.Stimer0Count + 2 * n;
}

/** MSR number of SINTn (n = 0..15). */
export function sintMsr(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 15) throw new RangeError(`SINT index ${n} is not 0..15`);
  return HvMsr.Sint0 + n;
}

/** The SINT index of a SINTx MSR, or undefined if `msr` is not one. */
export function sintIndexOfMsr(msr: number): number | undefined {
  return msr >= HvMsr.Sint0 && msr <= HvMsr.Sint15 ? msr - HvMsr.Sint0 : undefined;
}

/** The timer index and register of a STIMER MSR, or undefined if `msr` is not one. */
export function stimerOfMsr(msr: number): { timer: number; register: 'config' | 'count' } | undefined {
  if (msr < HvMsr.Stimer0Config || msr > HvMsr.Stimer3Count) return undefined;
  const off = msr - HvMsr.Stimer0Config;
  return { timer: off >> 1, register: (off & 1) === 0 ? 'config' : 'count' };
}

function checkTimer(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n >= HV_STIMER_COUNT)
    throw new RangeError(`STIMER index ${n} is not 0..3`);
}

/** What a synthetic MSR is, who may touch it, and which bits a write must leave clear. */
export interface SyntheticMsrInfo {
  /** TLFS name without the HV_X64_MSR_ prefix. */
  readonly name: string;
  /** R: write -> #GP; W: read -> #GP (EOI, or reads as 0 where noted by the caller); RW. */
  readonly access: 'R' | 'W' | 'RW';
  /** The HV_PARTITION_PRIVILEGE_MASK bit that gates access, or null when a CPUID feature bit gates it. */
  readonly privilegeBit: number | null;
  /** Feature bit in CPUID 0x40000003 EDX that gates access when `privilegeBit` is null. */
  readonly featureBit?: number;
  /** Partition-wide (one value for every VP) or per VP. */
  readonly scope: 'partition' | 'vp';
  /** Value after partition creation / VP reset. */
  readonly resetValue: bigint;
  /** RsvdZ bits: a write with any of them set raises #GP. */
  readonly reservedMask: bigint;
  /** RsvdP bits: ignored on write, the hypervisor keeps their previous value. */
  readonly preservedMask: bigint;
}

/** RsvdP bits 11:1 of the overlay-page MSRs (REFERENCE_TSC, VP_ASSIST_PAGE, SIEFP, SIMP). */
export const OVERLAY_PAGE_MSR_PRESERVED_MASK = 0xffen;
/** RsvdP bits of the HYPERCALL MSR (11:2). */
export const HYPERCALL_MSR_PRESERVED_MASK = 0xffcn;
/** RsvdP bits of a SINTx MSR (15:8 and 63:21). */
export const SINT_MSR_PRESERVED_MASK = 0xffff_ffff_ffe0_ff00n;
/** RsvdZ bits of STIMERn_CONFIG (15:13 and 63:20). */
export const STIMER_CONFIG_RESERVED_MASK = 0xffff_ffff_fff0_e000n;
/** RsvdZ bits of the EOI MSR (63:32). */
export const EOI_MSR_RESERVED_MASK = 0xffff_ffff_0000_0000n;
/** Bits 63:8 of the TPR MSR: the architectural x2APIC TPR rule (reserved bits set -> #GP). */
export const TPR_MSR_RESERVED_MASK = 0xffff_ffff_ffff_ff00n;
/** RsvdP bits of SCONTROL (63:1). */
export const SCONTROL_MSR_PRESERVED_MASK = 0xffff_ffff_ffff_fffen;
/** Value of SINTx after reset: masked, vector 0. */
export const SINT_RESET_VALUE = 0x10000n;
/** The SynIC version SVERSION reports. */
export const HV_SYNIC_VERSION = 1;

function info(
  name: string,
  access: 'R' | 'W' | 'RW',
  privilegeBit: number,
  scope: 'partition' | 'vp',
  extra: { resetValue?: bigint; reservedMask?: bigint; preservedMask?: bigint } = {},
): SyntheticMsrInfo {
  return {
    name,
    access,
    privilegeBit,
    scope,
    resetValue: extra.resetValue ?? 0n,
    reservedMask: extra.reservedMask ?? 0n,
    preservedMask: extra.preservedMask ?? 0n,
  };
}

function crash(name: string): SyntheticMsrInfo {
  return {
    name,
    access: 'RW',
    privilegeBit: null,
    featureBit: 10,
    scope: 'partition',
    resetValue: 0n,
    reservedMask: 0n,
    preservedMask: 0n,
  };
}

function buildTable(): Map<number, SyntheticMsrInfo> {
  const t = new Map<number, SyntheticMsrInfo>();
  t.set(HvMsr.GuestOsId, info('GUEST_OS_ID', 'RW', P.AccessHypercallMsrs, 'partition'));
  t.set(
    HvMsr.Hypercall,
    info('HYPERCALL', 'RW', P.AccessHypercallMsrs, 'partition', {
      preservedMask: HYPERCALL_MSR_PRESERVED_MASK,
    }),
  );
  t.set(HvMsr.VpIndex, info('VP_INDEX', 'R', P.AccessVpIndex, 'vp'));
  t.set(HvMsr.Reset, info('RESET', 'RW', P.AccessResetReg, 'partition'));
  t.set(HvMsr.VpRuntime, info('VP_RUNTIME', 'R', P.AccessVpRunTimeReg, 'vp'));
  t.set(HvMsr.TimeRefCount, info('TIME_REF_COUNT', 'R', P.AccessPartitionReferenceCounter, 'partition'));
  t.set(
    HvMsr.ReferenceTsc,
    info('REFERENCE_TSC', 'RW', P.AccessPartitionReferenceTsc, 'partition', {
      preservedMask: OVERLAY_PAGE_MSR_PRESERVED_MASK,
    }),
  );
  t.set(HvMsr.TscFrequency, info('TSC_FREQUENCY', 'R', P.AccessFrequencyRegs, 'partition'));
  t.set(HvMsr.ApicFrequency, info('APIC_FREQUENCY', 'R', P.AccessFrequencyRegs, 'partition'));
  t.set(HvMsr.Eoi, info('EOI', 'W', P.AccessIntrCtrlRegs, 'vp', { reservedMask: EOI_MSR_RESERVED_MASK }));
  t.set(HvMsr.Icr, info('ICR', 'RW', P.AccessIntrCtrlRegs, 'vp'));
  t.set(HvMsr.Tpr, info('TPR', 'RW', P.AccessIntrCtrlRegs, 'vp', { reservedMask: TPR_MSR_RESERVED_MASK }));
  t.set(
    HvMsr.VpAssistPage,
    info('VP_ASSIST_PAGE', 'RW', P.AccessIntrCtrlRegs, 'vp', {
      preservedMask: OVERLAY_PAGE_MSR_PRESERVED_MASK,
    }),
  );
  t.set(
    HvMsr.Scontrol,
    info('SCONTROL', 'RW', P.AccessSynicRegs, 'vp', { preservedMask: SCONTROL_MSR_PRESERVED_MASK }),
  );
  t.set(
    HvMsr.Sversion,
    info('SVERSION', 'R', P.AccessSynicRegs, 'vp', { resetValue: BigInt(HV_SYNIC_VERSION) }),
  );
  t.set(
    HvMsr.Siefp,
    info('SIEFP', 'RW', P.AccessSynicRegs, 'vp', { preservedMask: OVERLAY_PAGE_MSR_PRESERVED_MASK }),
  );
  t.set(
    HvMsr.Simp,
    info('SIMP', 'RW', P.AccessSynicRegs, 'vp', { preservedMask: OVERLAY_PAGE_MSR_PRESERVED_MASK }),
  );
  t.set(HvMsr.Eom, info('EOM', 'W', P.AccessSynicRegs, 'vp'));
  for (let n = 0; n < 16; n++) {
    t.set(
      HvMsr.Sint0 + n,
      info(`SINT${n}`, 'RW', P.AccessSynicRegs, 'vp', {
        resetValue: SINT_RESET_VALUE,
        preservedMask: SINT_MSR_PRESERVED_MASK,
      }),
    );
  }
  for (let n = 0; n < HV_STIMER_COUNT; n++) {
    t.set(
      HvMsr.Stimer0Config + 2 * n,
      info(`STIMER${n}_CONFIG`, 'RW', P.AccessSyntheticTimerRegs, 'vp', {
        reservedMask: STIMER_CONFIG_RESERVED_MASK,
      }),
    );
    t.set(HvMsr.Stimer0Count + 2 * n, info(`STIMER${n}_COUNT`, 'RW', P.AccessSyntheticTimerRegs, 'vp'));
  }
  t.set(HvMsr.GuestIdle, info('GUEST_IDLE', 'R', P.AccessGuestIdleReg, 'vp'));
  for (let n = 0; n < 5; n++) t.set(HvMsr.CrashP0 + n, crash(`CRASH_P${n}`));
  t.set(HvMsr.CrashCtl, crash('CRASH_CTL'));
  t.set(
    HvMsr.ReenlightenmentControl,
    info('REENLIGHTENMENT_CONTROL', 'RW', P.AccessReenlightenmentControls, 'partition'),
  );
  t.set(
    HvMsr.TscEmulationControl,
    info('TSC_EMULATION_CONTROL', 'RW', P.AccessReenlightenmentControls, 'partition'),
  );
  t.set(
    HvMsr.TscEmulationStatus,
    info('TSC_EMULATION_STATUS', 'RW', P.AccessReenlightenmentControls, 'partition'),
  );
  t.set(
    HvMsr.StimeUnhaltedTimerConfig,
    info('STIME_UNHALTED_TIMER_CONFIG', 'RW', P.AccessSyntheticTimerRegs, 'vp'),
  );
  t.set(
    HvMsr.StimeUnhaltedTimerCount,
    info('STIME_UNHALTED_TIMER_COUNT', 'RW', P.AccessSyntheticTimerRegs, 'vp'),
  );
  t.set(
    HvMsr.TscInvariantControl,
    info('TSC_INVARIANT_CONTROL', 'RW', P.AccessTscInvariantControls, 'partition'),
  );
  return t;
}

/** Every synthetic MSR of {@link HvMsr}, keyed by MSR number. An MSR not in the table raises #GP. */
export const SYNTHETIC_MSRS: ReadonlyMap<number, SyntheticMsrInfo> = buildTable();

/** The RsvdZ mask of each writable synthetic MSR that has one (a write with these bits set -> #GP). */
export const HV_MSR_RESERVED_MASK: ReadonlyMap<number, bigint> = new Map(
  [...SYNTHETIC_MSRS]
    .filter(([, i]) => i.access !== 'R' && i.reservedMask !== 0n)
    .map(([m, i]) => [m, i.reservedMask]),
);
