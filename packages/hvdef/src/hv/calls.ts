// Hypercall call codes and the 64-bit hypercall input / result values (TLFS "Hypercall Interface").
import { checkUint } from './errors.js';

/**
 * Every hypercall code named by the TLFS (2.0 appendix B, 6.0b appendix A, the current hypercall
 * reference) and Linux. Keys are the TLFS names without the `HvCall` prefix; extended hypercalls
 * (>= 0x8000) keep an `Ext` prefix. The three calls that 6.0b replaced by new codes keep their old
 * codes under a `Deprecated` suffix.
 */
export const HvCallCode = {
  SwitchVirtualAddressSpace: 0x0001,
  FlushVirtualAddressSpace: 0x0002,
  FlushVirtualAddressList: 0x0003,
  GetLogicalProcessorRunTime: 0x0004,
  NotifyLongSpinWait: 0x0008,
  /** TLFS 2.0 name; 6.0b reuses the code as HvCallParkedVirtualProcessors. */
  ParkLogicalProcessors: 0x0009,
  InvokeHypervisorDebugger: 0x000a,
  SendSyntheticClusterIpi: 0x000b,
  ModifyVtlProtectionMask: 0x000c,
  EnablePartitionVtl: 0x000d,
  DisablePartitionVtl: 0x000e,
  EnableVpVtl: 0x000f,
  DisableVpVtl: 0x0010,
  VtlCall: 0x0011,
  VtlReturn: 0x0012,
  FlushVirtualAddressSpaceEx: 0x0013,
  FlushVirtualAddressListEx: 0x0014,
  SendSyntheticClusterIpiEx: 0x0015,

  CreatePartition: 0x0040,
  InitializePartition: 0x0041,
  FinalizePartition: 0x0042,
  DeletePartition: 0x0043,
  GetPartitionProperty: 0x0044,
  SetPartitionProperty: 0x0045,
  GetPartitionId: 0x0046,
  GetNextChildPartition: 0x0047,
  DepositMemory: 0x0048,
  WithdrawMemory: 0x0049,
  GetMemoryBalance: 0x004a,
  MapGpaPages: 0x004b,
  UnmapGpaPages: 0x004c,
  InstallIntercept: 0x004d,
  CreateVp: 0x004e,
  DeleteVp: 0x004f,
  GetVpRegisters: 0x0050,
  SetVpRegisters: 0x0051,
  TranslateVirtualAddress: 0x0052,
  ReadGpa: 0x0053,
  WriteGpa: 0x0054,
  /** TLFS 2.0 HvAssertVirtualInterrupt; superseded by 0x0094. */
  AssertVirtualInterruptDeprecated: 0x0055,
  ClearVirtualInterrupt: 0x0056,
  /** TLFS 2.0 HvCreatePort; superseded by 0x0095. */
  CreatePortDeprecated: 0x0057,
  DeletePort: 0x0058,
  /** TLFS 2.0 HvConnectPort; superseded by 0x0096. */
  ConnectPortDeprecated: 0x0059,
  GetPortProperty: 0x005a,
  DisconnectPort: 0x005b,
  PostMessage: 0x005c,
  SignalEvent: 0x005d,
  SavePartitionState: 0x005e,
  RestorePartitionState: 0x005f,
  InitializeEventLogBufferGroup: 0x0060,
  FinalizeEventLogBufferGroup: 0x0061,
  CreateEventLogBuffer: 0x0062,
  DeleteEventLogBuffer: 0x0063,
  MapEventLogBuffer: 0x0064,
  UnmapEventLogBuffer: 0x0065,
  SetEventLogGroupSources: 0x0066,
  ReleaseEventLogBuffer: 0x0067,
  FlushEventLogBuffer: 0x0068,
  PostDebugData: 0x0069,
  RetrieveDebugData: 0x006a,
  ResetDebugSession: 0x006b,
  MapStatsPage: 0x006c,
  UnmapStatsPage: 0x006d,
  MapSparseGpaPages: 0x006e,
  SetSystemProperty: 0x006f,
  SetPortProperty: 0x0070,
  OutputDebugCharacter: 0x0071,
  AddLogicalProcessor: 0x0076,
  RemoveLogicalProcessor: 0x0077,
  QueryNumaDistance: 0x0078,
  SetLogicalProcessorProperty: 0x0079,
  GetLogicalProcessorProperty: 0x007a,
  GetSystemProperty: 0x007b,
  MapDeviceInterrupt: 0x007c,
  UnmapDeviceInterrupt: 0x007d,
  RetargetDeviceInterrupt: 0x007e,
  MapDevicePages: 0x0080,
  UnmapDevicePages: 0x0081,
  AttachDevice: 0x0082,
  DetachDevice: 0x0083,
  NotifyStandbyTransition: 0x0084,
  PrepareForSleep: 0x0085,
  PrepareForHibernate: 0x0086,
  NotifyPartitionEvent: 0x0087,
  GetLogicalProcessorRegisters: 0x0088,
  SetLogicalProcessorRegisters: 0x0089,
  QueryAssociatedLpsForMca: 0x008a,
  NotifyPortRingEmpty: 0x008b,
  InjectSyntheticMachineCheck: 0x008c,
  ScrubPartition: 0x008d,
  CollectLivedump: 0x008e,
  DisableHypervisor: 0x008f,
  ModifySparseGpaPages: 0x0090,
  RegisterInterceptResult: 0x0091,
  UnregisterInterceptResult: 0x0092,
  AssertVirtualInterrupt: 0x0094,
  CreatePort: 0x0095,
  ConnectPort: 0x0096,
  GetSpaPageList: 0x0097,
  StartVirtualProcessor: 0x0099,
  GetVpIndexFromApicId: 0x009a,
  FlushGuestPhysicalAddressSpace: 0x00af,
  FlushGuestPhysicalAddressList: 0x00b0,
  SignalEventDirect: 0x00c0,
  PostMessageDirect: 0x00c1,

  ExtQueryCapabilities: 0x8001,
  ExtGetBootZeroedMemory: 0x8002,
  ExtMemoryHeatHint: 0x8003,
  ExtEpfSetup: 0x8004,
  ExtMemoryHeatHintAsync: 0x8006,
} as const;
/** A hypercall code; any 16-bit number, known or not. */
export type HvCallCode = number;

/** Call codes at or above this value are extended hypercalls (privilege EnableExtendedHypercalls). */
export const HV_EXTENDED_CALL_CODE_BASE = 0x8000;

const callNames = new Map<number, string>();
for (const [name, code] of Object.entries(HvCallCode)) callNames.set(code, name);

/** The {@link HvCallCode} key of a call code (`PostMessage` for 0x5c), or undefined if unknown. */
export function hvCallName(code: number): string | undefined {
  return callNames.get(code);
}

// ---------------------------------------------------------------------------------------------
// Hypercall input value (x64 RCX): 15:0 code, 16 fast, 26:17 variable header size (qwords),
// 30:27 RsvdZ, 31 nested, 43:32 rep count, 47:44 RsvdZ, 59:48 rep start index, 63:60 RsvdZ.

/** The fields of the 64-bit hypercall input value. */
export interface HypercallInput {
  /** Bits 15:0. */
  callCode: number;
  /** Bit 16: parameters in registers instead of memory blocks. */
  fast: boolean;
  /** Bits 26:17: size of the variable header in 8-byte units. */
  variableHeaderSize: number;
  /** Bit 31: route the call to the L0 hypervisor. */
  isNested: boolean;
  /** Bits 43:32: number of rep elements (0 for simple calls). */
  repCount: number;
  /** Bits 59:48: first rep element to process (0 for simple calls). */
  repStartIndex: number;
}

/** Field geometry of the hypercall input value, for code that works on the two 32-bit halves. */
export const HypercallInputLayout = {
  callCodeMask: 0xffff,
  fastBit: 16,
  variableHeaderShift: 17,
  variableHeaderMask: 0x3ff,
  nestedBit: 31,
  /** The following fields live in the high dword (bit positions relative to bit 32). */
  repCountShiftHigh: 0,
  repCountMask: 0xfff,
  repStartShiftHigh: 16,
  repStartMask: 0xfff,
  /** RsvdZ bits of the low dword (30:27). */
  reservedMaskLow: 0x7800_0000,
  /** RsvdZ bits of the high dword (47:44 and 63:60, relative to bit 32). */
  reservedMaskHigh: 0xf000_f000,
} as const;

/** All RsvdZ bits of the hypercall input value (30:27, 47:44, 63:60). */
export const HYPERCALL_INPUT_RESERVED_MASK = 0xf000_f000_7800_0000n;

/** Largest rep count / rep start index (12-bit fields). */
export const HV_MAX_REP_COUNT = 0xfff;
/** Largest variable header size in qwords (10-bit field). */
export const HV_MAX_VARIABLE_HEADER_QWORDS = 0x3ff;

/** Encodes the hypercall input value. Throws {@link HvFieldRangeError} if a field does not fit. */
export function encodeHypercallInput(i: HypercallInput): bigint {
  const low =
    checkUint('callCode', i.callCode, 0xffff) |
    (i.fast ? 1 << 16 : 0) |
    (checkUint('variableHeaderSize', i.variableHeaderSize, HV_MAX_VARIABLE_HEADER_QWORDS) << 17) |
    (i.isNested ? 0x8000_0000 : 0);
  const high =
    checkUint('repCount', i.repCount, HV_MAX_REP_COUNT) |
    (checkUint('repStartIndex', i.repStartIndex, HV_MAX_REP_COUNT) << 16);
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

/**
 * Decodes a hypercall input value as the guest wrote it. Any bigint is accepted (it is reduced to
 * 64 bits); set RsvdZ bits are reported in `reservedBitsSet`, never dropped silently.
 */
export function decodeHypercallInput(v: bigint): HypercallInput & { reservedBitsSet: boolean } {
  const u = BigInt.asUintN(64, v);
  return decodeHypercallInputHalves(Number(u & 0xffff_ffffn), Number(u >> 32n));
}

/** Same as {@link decodeHypercallInput}, from the low and high 32-bit halves (e.g. EAX and EDX). */
export function decodeHypercallInputHalves(
  low: number,
  high: number,
): HypercallInput & { reservedBitsSet: boolean } {
  const lo = low >>> 0;
  const hi = high >>> 0;
  return {
    callCode: lo & 0xffff,
    fast: ((lo >>> 16) & 1) === 1,
    variableHeaderSize: (lo >>> 17) & 0x3ff,
    isNested: lo >>> 31 === 1,
    repCount: hi & 0xfff,
    repStartIndex: (hi >>> 16) & 0xfff,
    reservedBitsSet:
      (lo & HypercallInputLayout.reservedMaskLow) !== 0 || (hi & HypercallInputLayout.reservedMaskHigh) !== 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Hypercall result value (x64 RAX): 15:0 status, 31:16 reserved, 43:32 reps completed, 63:44 reserved.
// (The current TLFS page prints 63:40 for the last field; the count is 12 bits as in every header.)

/** The fields of the 64-bit hypercall result value. */
export interface HypercallResult {
  /** Bits 15:0: an HV_STATUS. */
  status: number;
  /** Bits 43:32: reps completed, counted from element 0 (includes those before the start index). */
  repsCompleted: number;
}

/** The reserved bits of the result value (31:16 and 63:44). */
export const HYPERCALL_RESULT_RESERVED_MASK = 0xffff_f000_ffff_0000n;

/** Encodes the hypercall result value. Throws {@link HvFieldRangeError} if a field does not fit. */
export function encodeHypercallResult(r: HypercallResult): bigint {
  const status = checkUint('status', r.status, 0xffff);
  const reps = checkUint('repsCompleted', r.repsCompleted, HV_MAX_REP_COUNT);
  return (BigInt(reps) << 32n) | BigInt(status);
}

/** Decodes a hypercall result value; reserved bits are reported, not dropped. */
export function decodeHypercallResult(v: bigint): HypercallResult & { reservedBitsSet: boolean } {
  const u = BigInt.asUintN(64, v);
  const lo = Number(u & 0xffff_ffffn);
  const hi = Number(u >> 32n);
  return {
    status: lo & 0xffff,
    repsCompleted: hi & 0xfff,
    reservedBitsSet: lo >>> 16 !== 0 || hi >>> 12 !== 0,
  };
}
