import { describe, expect, it } from 'vitest';
import {
  CPUID_1_ECX_HYPERVISOR_PRESENT,
  cpuidRegisterFromAscii,
  cpuidRegisterToAscii,
  decodeHvVersionLeaf,
  encodeHvVersionLeaf,
  HV_CPUID_HYPERVISOR_LEVEL_SHIFT,
  HV_CPUID_INTERFACE_EAX,
  HV_CPUID_INTERFACE_SIGNATURE,
  HV_CPUID_MIN_MAX_LEAF,
  HV_CPUID_PHYSICAL_ADDRESS_BITS_MASK,
  HV_CPUID_VENDOR_EBX,
  HV_CPUID_VENDOR_ECX,
  HV_CPUID_VENDOR_EDX,
  HV_CPUID_VENDOR_SIGNATURE,
  HV_SPIN_WAIT_NEVER_NOTIFY,
  HvCpuidFeaturesEcx,
  HvCpuidFeaturesEdx,
  HvCpuidHardwareFeaturesEax,
  HvCpuidLeaf,
  HvCpuidRecommendationsEax,
} from './cpuid.js';

const bits = (o: Record<string, number>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.log2(v >>> 0)]));

describe('hypervisor CPUID leaves (spec 4.5)', () => {
  it('pins the leaf numbers', () => {
    expect(Object.values(HvCpuidLeaf)).toEqual([
      0x40000000, 0x40000001, 0x40000002, 0x40000003, 0x40000004, 0x40000005, 0x40000006, 0x40000007,
      0x40000008, 0x40000009, 0x4000000a,
    ]);
    expect(HV_CPUID_MIN_MAX_LEAF).toBe(0x40000005);
    expect(CPUID_1_ECX_HYPERVISOR_PRESENT).toBe(2 ** 31);
  });

  it('spells "Microsoft Hv" and "Hv#1" in the registers', () => {
    expect(HV_CPUID_VENDOR_EBX).toBe(0x7263694d);
    expect(HV_CPUID_VENDOR_ECX).toBe(0x666f736f);
    expect(HV_CPUID_VENDOR_EDX).toBe(0x76482074);
    expect(HV_CPUID_INTERFACE_EAX).toBe(0x31237648);
    const vendor = [HV_CPUID_VENDOR_EBX, HV_CPUID_VENDOR_ECX, HV_CPUID_VENDOR_EDX]
      .map(cpuidRegisterToAscii)
      .join('');
    expect(vendor).toBe(HV_CPUID_VENDOR_SIGNATURE);
    expect(cpuidRegisterToAscii(HV_CPUID_INTERFACE_EAX)).toBe(HV_CPUID_INTERFACE_SIGNATURE);
    expect(cpuidRegisterFromAscii('Micr')).toBe(HV_CPUID_VENDOR_EBX);
    expect(cpuidRegisterFromAscii('Hv#1')).toBe(HV_CPUID_INTERFACE_EAX);
    expect(cpuidRegisterToAscii(0x00_41_00_42)).toBe('B?A?');
    expect(() => cpuidRegisterFromAscii('Hv#')).toThrow(RangeError);
    expect(() => cpuidRegisterFromAscii('Hv#\u00e9')).toThrow(RangeError);
  });

  it('packs the version leaf', () => {
    const v = {
      buildNumber: 26100,
      majorVersion: 10,
      minorVersion: 0,
      servicePack: 0,
      serviceBranch: 0xab,
      serviceNumber: 0x123456,
    };
    const r = encodeHvVersionLeaf(v);
    expect(r).toEqual({ eax: 26100, ebx: 0x000a_0000, ecx: 0, edx: 0xab12_3456 });
    expect(decodeHvVersionLeaf(r.eax, r.ebx, r.ecx, r.edx)).toEqual(v);
  });

  it('pins the feature bits of leaf 0x40000003', () => {
    expect(bits(HvCpuidFeaturesEcx)).toEqual({
      InvariantMperfAvailable: 5,
      SupervisorShadowStackAvailable: 6,
      ArchitecturalPmuAvailable: 7,
      ExceptionTrapInterceptAvailable: 8,
    });
    expect(bits(HvCpuidFeaturesEdx)).toEqual({
      MwaitAvailable: 0,
      GuestDebuggingAvailable: 1,
      PerformanceMonitorsAvailable: 2,
      CpuDynamicPartitioningAvailable: 3,
      XmmRegistersForFastHypercallAvailable: 4,
      GuestIdleAvailable: 5,
      HypervisorSleepStateAvailable: 6,
      NumaDistanceQueryAvailable: 7,
      FrequencyRegsAvailable: 8,
      SyntheticMachineCheckAvailable: 9,
      GuestCrashRegsAvailable: 10,
      DebugRegsAvailable: 11,
      Npiep1Available: 12,
      DisableHypervisorAvailable: 13,
      ExtendedGvaRangesForFlushVirtualAddressListAvailable: 14,
      FastHypercallOutputAvailable: 15,
      SintPollingModeAvailable: 17,
      HypercallMsrLockAvailable: 18,
      DirectSyntheticTimers: 19,
      RegisterPatAvailable: 20,
      RegisterBndcfgsAvailable: 21,
      SyntheticTimeUnhaltedTimerAvailable: 23,
      LbrAvailable: 26,
    });
  });

  it('pins the recommendation bits of leaf 0x40000004', () => {
    expect(bits(HvCpuidRecommendationsEax)).toEqual({
      UseHypercallForAddressSpaceSwitch: 0,
      UseHypercallForLocalFlush: 1,
      UseHypercallForRemoteFlush: 2,
      UseApicMsrs: 3,
      UseHvRegisterForReset: 4,
      UseRelaxedTiming: 5,
      UseDmaRemapping: 6,
      UseInterruptRemapping: 7,
      UseX2ApicMsrs: 8,
      DeprecateAutoEoi: 9,
      UseSyntheticClusterIpi: 10,
      UseExProcessorMasks: 11,
      NestedUnderHyperV: 12,
      UseIntForMbecSystemCalls: 13,
      UseEnlightenedVmcs: 14,
      UseSyncedTimeline: 15,
      UseDirectLocalFlushEntire: 17,
      NoNonArchitecturalCoreSharing: 18,
      UseHypercallForMmioAccess: 21,
    });
    expect(HV_SPIN_WAIT_NEVER_NOTIFY).toBe(0xffffffff);
    expect(HV_CPUID_PHYSICAL_ADDRESS_BITS_MASK).toBe(0x7f);
  });

  it('pins the hardware-feature bits of leaf 0x40000006', () => {
    expect(bits(HvCpuidHardwareFeaturesEax)).toEqual({
      ApicOverlayAssistInUse: 0,
      MsrBitmapsInUse: 1,
      ArchitecturalPerformanceCountersInUse: 2,
      SecondLevelAddressTranslationInUse: 3,
      DmaRemappingInUse: 4,
      InterruptRemappingInUse: 5,
      MemoryPatrolScrubberPresent: 6,
      DmaProtectionInUse: 7,
      HpetRequested: 8,
      SyntheticTimersVolatile: 9,
      PhysicalDestinationModeRequired: 14,
    });
    expect(HV_CPUID_HYPERVISOR_LEVEL_SHIFT).toBe(10);
  });
});
