// Hypervisor CPUID leaves 0x40000000..0x4000000A (TLFS "Feature and Interface Discovery").

/** The hypervisor CPUID leaves. */
export const HvCpuidLeaf = {
  /** EAX max leaf, EBX:ECX:EDX vendor signature "Microsoft Hv". */
  VendorAndMaxFunction: 0x4000_0000,
  /** EAX interface signature "Hv#1". */
  Interface: 0x4000_0001,
  /** Hypervisor version (build, major.minor, service pack, service branch/number). */
  Version: 0x4000_0002,
  /** EAX/EBX privilege mask, ECX/EDX feature bits. */
  Features: 0x4000_0003,
  /** EAX recommendations, EBX spin-wait retries, ECX physical address bits. */
  EnlightenmentInfo: 0x4000_0004,
  /** EAX max VPs, EBX max LPs, ECX max interrupt-remapping vectors. */
  ImplementationLimits: 0x4000_0005,
  /** EAX hardware features in use. */
  HardwareFeatures: 0x4000_0006,
  /** CPU management features (root partition). */
  CpuManagementFeatures: 0x4000_0007,
  /** SVM features. */
  SvmFeatures: 0x4000_0008,
  /** Features exposed when running nested. */
  NestedHypervisorFeatures: 0x4000_0009,
  /** Nested virtualization features (enlightened VMCS etc.). */
  NestedVirtualizationFeatures: 0x4000_000a,
} as const;
export type HvCpuidLeaf = number;

/** CPUID.1:ECX bit 31: a hypervisor is present. */
export const CPUID_1_ECX_HYPERVISOR_PRESENT = 0x8000_0000;
/** The smallest max-leaf value a Microsoft hypervisor reports in leaf 0x40000000 EAX. */
export const HV_CPUID_MIN_MAX_LEAF = 0x4000_0005;

/** "Microsoft Hv" as leaf 0x40000000 EBX, ECX, EDX. */
export const HV_CPUID_VENDOR_EBX = 0x7263_694d; // "Micr"
export const HV_CPUID_VENDOR_ECX = 0x666f_736f; // "osof"
export const HV_CPUID_VENDOR_EDX = 0x7648_2074; // "t Hv"
export const HV_CPUID_VENDOR_SIGNATURE = 'Microsoft Hv';
/** "Hv#1" as leaf 0x40000001 EAX. */
export const HV_CPUID_INTERFACE_EAX = 0x3123_7648;
export const HV_CPUID_INTERFACE_SIGNATURE = 'Hv#1';

/** Four ASCII characters packed little-endian into a register, as CPUID returns them. */
export function cpuidRegisterFromAscii(text: string): number {
  if (text.length !== 4 || !/^[\x20-\x7e]{4}$/.test(text))
    throw new RangeError('need exactly 4 printable ASCII characters');
  return (
    (text.charCodeAt(0) |
      (text.charCodeAt(1) << 8) |
      (text.charCodeAt(2) << 16) |
      (text.charCodeAt(3) << 24)) >>>
    0
  );
}

/** The four bytes of a register as ASCII (non-printable bytes become '?'). */
export function cpuidRegisterToAscii(reg: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = (reg >>> (8 * i)) & 0xff;
    s += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : '?';
  }
  return s;
}

/** Leaf 0x40000002. */
export interface HvVersionInfo {
  buildNumber: number;
  majorVersion: number;
  minorVersion: number;
  servicePack: number;
  serviceBranch: number;
  serviceNumber: number;
}

export function encodeHvVersionLeaf(v: HvVersionInfo): {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
} {
  return {
    eax: v.buildNumber >>> 0,
    ebx: (((v.majorVersion & 0xffff) << 16) | (v.minorVersion & 0xffff)) >>> 0,
    ecx: v.servicePack >>> 0,
    edx: (((v.serviceBranch & 0xff) << 24) | (v.serviceNumber & 0xff_ffff)) >>> 0,
  };
}

export function decodeHvVersionLeaf(eax: number, ebx: number, ecx: number, edx: number): HvVersionInfo {
  return {
    buildNumber: eax >>> 0,
    majorVersion: ebx >>> 16,
    minorVersion: ebx & 0xffff,
    servicePack: ecx >>> 0,
    serviceBranch: edx >>> 24,
    serviceNumber: edx & 0xff_ffff,
  };
}

/** Leaf 0x40000003 ECX bits (bit masks). */
export const HvCpuidFeaturesEcx = {
  InvariantMperfAvailable: 1 << 5,
  SupervisorShadowStackAvailable: 1 << 6,
  ArchitecturalPmuAvailable: 1 << 7,
  ExceptionTrapInterceptAvailable: 1 << 8,
} as const;

/** Leaf 0x40000003 EDX bits (bit masks). */
export const HvCpuidFeaturesEdx = {
  /** Deprecated: MWAIT available. */
  MwaitAvailable: 1 << 0,
  GuestDebuggingAvailable: 1 << 1,
  PerformanceMonitorsAvailable: 1 << 2,
  CpuDynamicPartitioningAvailable: 1 << 3,
  XmmRegistersForFastHypercallAvailable: 1 << 4,
  GuestIdleAvailable: 1 << 5,
  HypervisorSleepStateAvailable: 1 << 6,
  NumaDistanceQueryAvailable: 1 << 7,
  FrequencyRegsAvailable: 1 << 8,
  SyntheticMachineCheckAvailable: 1 << 9,
  GuestCrashRegsAvailable: 1 << 10,
  DebugRegsAvailable: 1 << 11,
  Npiep1Available: 1 << 12,
  DisableHypervisorAvailable: 1 << 13,
  ExtendedGvaRangesForFlushVirtualAddressListAvailable: 1 << 14,
  FastHypercallOutputAvailable: 1 << 15,
  SintPollingModeAvailable: 1 << 17,
  HypercallMsrLockAvailable: 1 << 18,
  DirectSyntheticTimers: 1 << 19,
  RegisterPatAvailable: 1 << 20,
  RegisterBndcfgsAvailable: 1 << 21,
  SyntheticTimeUnhaltedTimerAvailable: 1 << 23,
  LbrAvailable: 1 << 26,
} as const;

/** Leaf 0x40000004 EAX recommendation bits (bit masks). */
export const HvCpuidRecommendationsEax = {
  UseHypercallForAddressSpaceSwitch: 1 << 0,
  UseHypercallForLocalFlush: 1 << 1,
  UseHypercallForRemoteFlush: 1 << 2,
  /** Use the EOI / ICR / TPR MSRs instead of the APIC page. */
  UseApicMsrs: 1 << 3,
  UseHvRegisterForReset: 1 << 4,
  UseRelaxedTiming: 1 << 5,
  UseDmaRemapping: 1 << 6,
  UseInterruptRemapping: 1 << 7,
  /** "Reserved" in the rendered TLFS table; openvmm and the TLFS source table name it. */
  UseX2ApicMsrs: 1 << 8,
  DeprecateAutoEoi: 1 << 9,
  UseSyntheticClusterIpi: 1 << 10,
  UseExProcessorMasks: 1 << 11,
  NestedUnderHyperV: 1 << 12,
  UseIntForMbecSystemCalls: 1 << 13,
  UseEnlightenedVmcs: 1 << 14,
  UseSyncedTimeline: 1 << 15,
  UseDirectLocalFlushEntire: 1 << 17,
  NoNonArchitecturalCoreSharing: 1 << 18,
  UseHypercallForMmioAccess: 1 << 21,
} as const;

/** Leaf 0x40000004 EBX value meaning "never notify the hypervisor of long spin waits". */
export const HV_SPIN_WAIT_NEVER_NOTIFY = 0xffff_ffff;
/** Leaf 0x40000004 ECX bits 6:0: implemented physical address bits (0 = not reported). */
export const HV_CPUID_PHYSICAL_ADDRESS_BITS_MASK = 0x7f;

/** Leaf 0x40000006 EAX bits (bit masks) and the nesting-level field. */
export const HvCpuidHardwareFeaturesEax = {
  ApicOverlayAssistInUse: 1 << 0,
  MsrBitmapsInUse: 1 << 1,
  ArchitecturalPerformanceCountersInUse: 1 << 2,
  SecondLevelAddressTranslationInUse: 1 << 3,
  DmaRemappingInUse: 1 << 4,
  InterruptRemappingInUse: 1 << 5,
  MemoryPatrolScrubberPresent: 1 << 6,
  DmaProtectionInUse: 1 << 7,
  HpetRequested: 1 << 8,
  SyntheticTimersVolatile: 1 << 9,
  PhysicalDestinationModeRequired: 1 << 14,
} as const;
/** Leaf 0x40000006 EAX bits 13:10: hypervisor nesting level. */
export const HV_CPUID_HYPERVISOR_LEVEL_SHIFT = 10;
export const HV_CPUID_HYPERVISOR_LEVEL_MASK = 0xf;
