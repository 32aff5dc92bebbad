// Supporting constants of the partition-management hypercalls (spec section 2.3).
import { checkUint } from './errors.js';

/** Never a valid partition ID. */
export const HV_PARTITION_ID_INVALID = 0n;
/** "The calling partition", accepted where the TLFS allows a partition to name itself. */
export const HV_PARTITION_ID_SELF = 0xffff_ffff_ffff_ffffn;
/** Any VP (message ports, interrupt targets). */
export const HV_ANY_VP = 0xffff_ffff;
/** "The calling VP". */
export const HV_VP_INDEX_SELF = 0xffff_fffe;

/**
 * Partition life cycle (TLFS 2.0 §5.2.5). Not a wire value; the strings make logs readable.
 * Uninitialized -> (Initialize) -> Active -> (Finalize) -> Finalizing -> Finalized -> (Delete).
 * A call made in a state that does not allow it fails with INVALID_PARTITION_STATE.
 */
export const HvPartitionState = {
  Uninitialized: 'uninitialized',
  Active: 'active',
  Finalizing: 'finalizing',
  Finalized: 'finalized',
} as const;
export type HvPartitionState = (typeof HvPartitionState)[keyof typeof HvPartitionState];

/** HV_PARTITION_PROPERTY_CODE values of spec section 2.3. */
export const HvPartitionProperty = {
  PrivilegeFlags: 0x0001_0000,
  Suspend: 0x0002_0000,
  CpuReserve: 0x0002_0001,
  CpuCap: 0x0002_0002,
  CpuWeight: 0x0002_0003,
  TimeFreeze: 0x0003_0003,
  ReferenceTime: 0x0003_0005,
  VirtualTlbPageCount: 0x0005_0000,
  ProcessorVendor: 0x0006_0000,
  CompatibilityVersion: 0x0006_0005,
  GuestOsId: 0x0007_0000,
} as const;
export type HvPartitionProperty = number;

/** Values a new partition starts with (TLFS 2.0 partition properties). */
export const HV_PARTITION_PROPERTY_DEFAULTS: ReadonlyMap<number, bigint> = new Map([
  [HvPartitionProperty.CpuReserve, 0n],
  [HvPartitionProperty.CpuCap, 0x10000n],
  [HvPartitionProperty.CpuWeight, 100n],
]);

/** Properties that may be set between CreatePartition and InitializePartition (of those above). */
export const HV_EARLY_PARTITION_PROPERTIES: ReadonlySet<number> = new Set([
  HvPartitionProperty.PrivilegeFlags,
]);

/** HV_PARTITION_CREATION_FLAGS bits (reserved in TLFS 2.0). */
export const HvPartitionCreationFlags = {
  SmtEnabledGuest: 1n << 0n,
  NestedVirtualizationCapable: 1n << 1n,
  LapicEnabled: 1n << 13n,
  X2ApicCapable: 1n << 22n,
} as const;

/** HV_MAP_GPA_FLAGS of MapGpaPages. */
export const HvMapGpaFlags = { Read: 0x1, Write: 0x2, Execute: 0x4 } as const;

/** HV_INTERCEPT_TYPE of InstallIntercept. */
export const HvInterceptType = {
  /** Parameter: the I/O port (u16). */
  X64IoPort: 0x0,
  X64Msr: 0x1,
  /** Parameter: the CPUID leaf. */
  X64Cpuid: 0x2,
  /** Parameter: the exception vector. */
  Exception: 0x3,
  Mmio: 0x5,
  X64GlobalCpuid: 0x6,
  X64ApicSmi: 0x7,
  Hypercall: 0x8,
  X64ApicInitSipi: 0x9,
  X64ApicWrite: 0xb,
  X64MsrIndex: 0xc,
  UnknownSynicConnection: 0xd,
  X64ApicEoi: 0xe,
  X64ExceptionTrap: 0x10,
  X64IoPortRange: 0x11,
} as const;
export type HvInterceptType = number;

/** HV_INTERCEPT_ACCESS_TYPE_MASK of InstallIntercept. */
export const HvInterceptAccessMask = { None: 0x0, Read: 0x1, Write: 0x2, Execute: 0x4 } as const;

/** HV_TRANSLATE_GVA_CONTROL_FLAGS (low bits) of TranslateVirtualAddress. */
export const HvTranslateGvaFlags = {
  ValidateRead: 0x01,
  ValidateWrite: 0x02,
  ValidateExecute: 0x04,
  PrivilegeExempt: 0x08,
  SetPageTableBits: 0x10,
  TlbFlushInhibit: 0x20,
} as const;

/** HV_TRANSLATE_GVA_RESULT_CODE (low 32 bits of the TranslateVirtualAddress result). */
export const HvTranslateGvaResult = {
  Success: 0,
  PageNotPresent: 1,
  PrivilegeViolation: 2,
  InvalidPageTableFlags: 3,
  GpaUnmapped: 4,
  GpaNoReadAccess: 5,
  GpaNoWriteAccess: 6,
  GpaIllegalOverlayAccess: 7,
} as const;
export type HvTranslateGvaResult = number;

/** HV_ACCESS_GPA_RESULT_CODE of ReadGpa / WriteGpa. */
export const HvAccessGpaResult = {
  Success: 0,
  Unmapped: 1,
  ReadIntercept: 2,
  WriteIntercept: 3,
  IllegalOverlayAccess: 4,
} as const;
export type HvAccessGpaResult = number;

/** Flags of Save/RestorePartitionState. */
export const HvSaveRestoreFlags = {
  /** Begin a new save/restore (also aborts one in progress). */
  Start: 0x1,
  Summary: 0x2,
} as const;

/** State returned by Save/RestorePartitionState; loop while SUCCESS + Incomplete. Codes 5+ are mismatches. */
export const HvSaveRestoreState = {
  Complete: 0,
  Incomplete: 1,
  Restorable: 2,
  CorruptData: 3,
  UnsupportedVersion: 4,
} as const;
export type HvSaveRestoreState = number;

/** HV_INTERRUPT_TYPE (low 32 bits of HV_INTERRUPT_CONTROL). */
export const HvInterruptType = {
  Fixed: 0,
  LowestPriority: 1,
  Smi: 2,
  RemoteRead: 3,
  Nmi: 4,
  Init: 5,
  Sipi: 6,
  ExtInt: 7,
  LocalInt0: 8,
  LocalInt1: 9,
} as const;
export type HvInterruptType = number;

/** HV_INTERRUPT_CONTROL (x64): type 31:0, bit 32 level-triggered, bit 33 logical destination, 63:34 reserved. */
export interface HvInterruptControl {
  interruptType: number;
  levelTriggered: boolean;
  logicalDestinationMode: boolean;
}

/** Reserved bits 63:34 of HV_INTERRUPT_CONTROL. */
export const HV_INTERRUPT_CONTROL_RESERVED_MASK = 0xffff_fffc_0000_0000n;

export function encodeInterruptControl(c: HvInterruptControl): bigint {
  const type = checkUint('interruptType', c.interruptType, 0xffff_ffff);
  return BigInt(type) | (c.levelTriggered ? 1n << 32n : 0n) | (c.logicalDestinationMode ? 1n << 33n : 0n);
}

export function decodeInterruptControl(v: bigint): HvInterruptControl & { reservedBitsSet: boolean } {
  const u = BigInt.asUintN(64, v);
  return {
    interruptType: Number(u & 0xffff_ffffn),
    levelTriggered: ((u >> 32n) & 1n) === 1n,
    logicalDestinationMode: ((u >> 33n) & 1n) === 1n,
    reservedBitsSet: (u & HV_INTERRUPT_CONTROL_RESERVED_MASK) !== 0n,
  };
}

/** Get/SetVpRegisters register names of the synthetic registers (Linux hvgdk_mini.h); values are 16 bytes. */
export const HvRegisterName = {
  VpRuntime: 0x0009_0000,
  GuestOsId: 0x0009_0002,
  VpIndex: 0x0009_0003,
  TimeRefCount: 0x0009_0004,
  VpAssistPage: 0x0009_0013,
  ReferenceTsc: 0x0009_0017,
  Sint0: 0x000a_0000,
  Sint15: 0x000a_000f,
  Scontrol: 0x000a_0010,
  Sversion: 0x000a_0011,
  Siefp: 0x000a_0012,
  Simp: 0x000a_0013,
  Eom: 0x000a_0014,
  Stimer0Config: 0x000b_0000,
  Stimer0Count: 0x000b_0001,
} as const;
export type HvRegisterName = number;

/** Register name of SINTn (n = 0..15). */
export function sintRegisterName(n: number): number {
  return HvRegisterName.Sint0 + checkUint('sint', n, 15);
}

/** Register name of STIMERn_CONFIG (n = 0..3); COUNT is the next name. */
export function stimerConfigRegisterName(n: number): number {
  return HvRegisterName.Stimer0Config + 2 * checkUint('timer', n, 3);
}

/** Register name of STIMERn_COUNT (n = 0..3). */
export function stimerCountRegisterName(n: number): number {
  return HvRegisterName.Stimer0Count + 2 * checkUint('timer', n, 3);
}

/** Size of one Get/SetVpRegisters value. */
export const HV_REGISTER_VALUE_SIZE = 16;
