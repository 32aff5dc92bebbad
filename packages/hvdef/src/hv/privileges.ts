// HV_PARTITION_PRIVILEGE_MASK: bit numbers, mask helpers and the two masks Viridian hands out.

/**
 * Bit numbers of HV_PARTITION_PRIVILEGE_MASK (bits 0-15: synthetic MSR groups, 32+: hypercalls).
 * Names follow the TLFS; bits the public TLFS leaves unnamed take openvmm's names.
 */
export const HvPartitionPrivilege = {
  AccessVpRunTimeReg: 0,
  AccessPartitionReferenceCounter: 1,
  AccessSynicRegs: 2,
  AccessSyntheticTimerRegs: 3,
  /** EOI / ICR / TPR MSRs (TLFS 2.0 calls it AccessApicMsrs). */
  AccessIntrCtrlRegs: 4,
  AccessHypercallMsrs: 5,
  AccessVpIndex: 6,
  AccessResetReg: 7,
  AccessStatsReg: 8,
  AccessPartitionReferenceTsc: 9,
  AccessGuestIdleReg: 10,
  AccessFrequencyRegs: 11,
  AccessDebugRegs: 12,
  AccessReenlightenmentControls: 13,
  AccessRootSchedulerReg: 14,
  AccessTscInvariantControls: 15,

  CreatePartitions: 32,
  AccessPartitionId: 33,
  AccessMemoryPool: 34,
  /** Named in TLFS 2.0 and Linux; "reserved" in the current TLFS. */
  AdjustMessageBuffers: 35,
  PostMessages: 36,
  SignalEvents: 37,
  CreatePort: 38,
  ConnectPort: 39,
  AccessStats: 40,
  Debugging: 43,
  CpuManagement: 44,
  /** TLFS 2.0 only. */
  ConfigureProfiler: 45,
  AccessVpExitTracing: 46,
  EnableExtendedGvaRangesForFlushVirtualAddressList: 47,
  AccessVsm: 48,
  AccessVpRegisters: 49,
  FastHypercallOutput: 51,
  EnableExtendedHypercalls: 52,
  StartVirtualProcessor: 53,
  Isolation: 54,
} as const;
export type HvPartitionPrivilege = number;

/** A mask with the given privilege bits set. Throws RangeError for a bit outside 0..63. */
export function privilegeMask(...bits: number[]): bigint {
  let mask = 0n;
  for (const bit of bits) {
    if (!Number.isInteger(bit) || bit < 0 || bit > 63)
      throw new RangeError(`privilege bit ${bit} is not 0..63`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** True if `mask` grants privilege `bit`. A bit outside 0..63 is never granted. */
export function hasPrivilege(mask: bigint, bit: number): boolean {
  if (!Number.isInteger(bit) || bit < 0 || bit > 63) return false;
  return ((BigInt.asUintN(64, mask) >> BigInt(bit)) & 1n) === 1n;
}

/** The root partition holds every privilege the TLFS defines. */
export const ROOT_PRIVILEGES: bigint = privilegeMask(...Object.values(HvPartitionPrivilege));

/**
 * The default mask of a child partition: the synthetic-MSR bits a TLFS 2.0 child gets by default
 * (0-8 and 10; not 9 AccessPartitionReferenceTsc) plus PostMessages and SignalEvents, which VMBus needs.
 */
export const CHILD_DEFAULT_PRIVILEGES: bigint = privilegeMask(
  HvPartitionPrivilege.AccessVpRunTimeReg,
  HvPartitionPrivilege.AccessPartitionReferenceCounter,
  HvPartitionPrivilege.AccessSynicRegs,
  HvPartitionPrivilege.AccessSyntheticTimerRegs,
  HvPartitionPrivilege.AccessIntrCtrlRegs,
  HvPartitionPrivilege.AccessHypercallMsrs,
  HvPartitionPrivilege.AccessVpIndex,
  HvPartitionPrivilege.AccessResetReg,
  HvPartitionPrivilege.AccessStatsReg,
  HvPartitionPrivilege.AccessGuestIdleReg,
  HvPartitionPrivilege.PostMessages,
  HvPartitionPrivilege.SignalEvents,
);

/** The mask as CPUID leaf 0x40000003 reports it: EAX = bits 31:0, EBX = bits 63:32. */
export function privilegeMaskToCpuid(mask: bigint): { eax: number; ebx: number } {
  const u = BigInt.asUintN(64, mask);
  return { eax: Number(u & 0xffff_ffffn), ebx: Number(u >> 32n) };
}

/** Inverse of {@link privilegeMaskToCpuid}. */
export function privilegeMaskFromCpuid(eax: number, ebx: number): bigint {
  return (BigInt(ebx >>> 0) << 32n) | BigInt(eax >>> 0);
}
