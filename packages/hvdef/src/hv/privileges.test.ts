import { describe, expect, it } from 'vitest';
import {
  CHILD_DEFAULT_PRIVILEGES,
  HvPartitionPrivilege,
  hasPrivilege,
  privilegeMask,
  privilegeMaskFromCpuid,
  privilegeMaskToCpuid,
  ROOT_PRIVILEGES,
} from './privileges.js';

// Section 3 of the spec (bits 12, 14, 46, 47, 51 from openvmm HvPartitionPrivilege).
const SPEC_BITS: Record<string, number> = {
  AccessVpRunTimeReg: 0,
  AccessPartitionReferenceCounter: 1,
  AccessSynicRegs: 2,
  AccessSyntheticTimerRegs: 3,
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
  AdjustMessageBuffers: 35,
  PostMessages: 36,
  SignalEvents: 37,
  CreatePort: 38,
  ConnectPort: 39,
  AccessStats: 40,
  Debugging: 43,
  CpuManagement: 44,
  ConfigureProfiler: 45,
  AccessVpExitTracing: 46,
  EnableExtendedGvaRangesForFlushVirtualAddressList: 47,
  AccessVsm: 48,
  AccessVpRegisters: 49,
  FastHypercallOutput: 51,
  EnableExtendedHypercalls: 52,
  StartVirtualProcessor: 53,
  Isolation: 54,
};

describe('HvPartitionPrivilege', () => {
  it('pins every bit number', () => {
    expect({ ...HvPartitionPrivilege }).toEqual(SPEC_BITS);
  });

  it('builds masks from bit numbers and rejects bits outside 0..63', () => {
    expect(privilegeMask()).toBe(0n);
    expect(privilegeMask(0, 63)).toBe(0x8000_0000_0000_0001n);
    expect(privilegeMask(36, 36)).toBe(1n << 36n);
    expect(() => privilegeMask(64)).toThrow(RangeError);
    expect(() => privilegeMask(-1)).toThrow(RangeError);
    expect(() => privilegeMask(1.5)).toThrow(RangeError);
  });

  it('answers membership and never grants out-of-range bits', () => {
    const m = privilegeMask(HvPartitionPrivilege.PostMessages);
    expect(hasPrivilege(m, HvPartitionPrivilege.PostMessages)).toBe(true);
    expect(hasPrivilege(m, HvPartitionPrivilege.SignalEvents)).toBe(false);
    expect(hasPrivilege(-1n, 63)).toBe(true);
    expect(hasPrivilege(-1n, 64)).toBe(false);
  });

  it('gives the root every defined privilege and nothing undefined', () => {
    let expected = 0n;
    for (const bit of Object.values(SPEC_BITS)) expected |= 1n << BigInt(bit);
    expect(ROOT_PRIVILEGES).toBe(expected);
    expect(ROOT_PRIVILEGES).toBe(0x007b_f9ff_0000_ffffn);
  });

  it('gives a child the TLFS 2.0 MSR defaults plus PostMessages and SignalEvents', () => {
    // bits 0-8, 10 (MSR access, not 9 = reference TSC) and 36, 37.
    expect(CHILD_DEFAULT_PRIVILEGES).toBe(0x0000_0030_0000_05ffn);
    expect(hasPrivilege(CHILD_DEFAULT_PRIVILEGES, HvPartitionPrivilege.CreatePartitions)).toBe(false);
    expect(hasPrivilege(CHILD_DEFAULT_PRIVILEGES, HvPartitionPrivilege.AccessVpRegisters)).toBe(false);
  });

  it('splits a mask into CPUID 0x40000003 EAX/EBX and back', () => {
    expect(privilegeMaskToCpuid(CHILD_DEFAULT_PRIVILEGES)).toEqual({ eax: 0x5ff, ebx: 0x30 });
    expect(privilegeMaskToCpuid(-1n)).toEqual({ eax: 0xffff_ffff, ebx: 0xffff_ffff });
    expect(privilegeMaskFromCpuid(0x5ff, 0x30)).toBe(CHILD_DEFAULT_PRIVILEGES);
    expect(privilegeMaskFromCpuid(-1, -1)).toBe(0xffff_ffff_ffff_ffffn);
  });
});
