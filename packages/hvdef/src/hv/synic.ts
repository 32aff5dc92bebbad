// SynIC: message types, the 256-byte HV_MESSAGE, SIM/SIEF page geometry, intercept and timer payloads.
import { checkUint, checkUint64, HvFieldRangeError, U64_MAX } from './errors.js';

/** Synthetic interrupt sources per VP. SINT0 carries intercept messages; ports use 1..15. */
export const HV_SYNIC_SINT_COUNT = 16;
/** Bytes of a hypervisor page (SIM, SIEF, monitor, reference TSC, hypercall page). */
export const HV_PAGE_SIZE = 4096;
export const HV_PAGE_SHIFT = 12;

/**
 * HV_MESSAGE_TYPE values. Bit 31 set = hypervisor-only (PostMessage rejects them).
 * 0x80010005/0x80010006 follow the TLFS (Linux names 0x80010006 X64IommuPrq; openvmm uses
 * 0x80010005 for it); unknown values stay representable through {@link HvMessageType} = number.
 */
export const HvMessageType = {
  None: 0x0000_0000,
  UnmappedGpa: 0x8000_0000,
  GpaIntercept: 0x8000_0001,
  UnacceptedGpa: 0x8000_0003,
  GpaAttributeIntercept: 0x8000_0004,
  EnablePartitionVtlIntercept: 0x8000_0005,
  TimerExpired: 0x8000_0010,
  InvalidVpRegisterValue: 0x8000_0020,
  UnrecoverableException: 0x8000_0021,
  UnsupportedFeature: 0x8000_0022,
  TlbPageSizeMismatch: 0x8000_0023,
  IommuFault: 0x8000_0024,
  /** TLFS 2.0 only. */
  ApicEoi: 0x8000_0030,
  /** TLFS 2.0 only. */
  FerrAsserted: 0x8000_0031,
  OpaqueIntercept: 0x8000_003f,
  EventLogBufferComplete: 0x8000_0040,
  HypercallIntercept: 0x8000_0050,
  SynicEventIntercept: 0x8000_0060,
  SynicSintIntercept: 0x8000_0061,
  SynicSintDeliverable: 0x8000_0062,
  AsyncCallCompletion: 0x8000_0070,
  InsufficientMemory: 0x8000_0071,
  SchedulerVpSignalBitset: 0x8000_0100,
  SchedulerVpSignalPair: 0x8000_0101,
  X64IoPortIntercept: 0x8001_0000,
  MsrIntercept: 0x8001_0001,
  X64CpuidIntercept: 0x8001_0002,
  ExceptionIntercept: 0x8001_0003,
  X64ApicEoi: 0x8001_0004,
  X64LegacyFpError: 0x8001_0005,
  RegisterIntercept: 0x8001_0006,
  X64Halt: 0x8001_0007,
  X64InterruptionDeliverable: 0x8001_0008,
  X64SipiIntercept: 0x8001_0009,
  X64RdtscIntercept: 0x8001_000a,
  X64ApicSmiIntercept: 0x8001_000b,
  X64ApicInitSipiIntercept: 0x8001_000d,
  X64ApicWriteIntercept: 0x8001_000e,
  X64ProxyInterruptIntercept: 0x8001_000f,
  X64IsolationCtrlRegIntercept: 0x8001_0010,
  X64SnpGuestRequestIntercept: 0x8001_0011,
  X64ExceptionTrapIntercept: 0x8001_0012,
  X64SevVmgexitIntercept: 0x8001_0013,
  X64MsrListIntercept: 0x8001_0015,
} as const;
export type HvMessageType = number;

/** Message types with this bit set belong to the hypervisor. */
export const HV_MESSAGE_TYPE_HYPERVISOR_MASK = 0x8000_0000;

/** True for a type a guest may send with PostMessage (non-zero, bit 31 clear). */
export function isGuestMessageType(type: number): boolean {
  return Number.isInteger(type) && type > 0 && type < HV_MESSAGE_TYPE_HYPERVISOR_MASK;
}

// --- HV_MESSAGE ---------------------------------------------------------------------------------

export const HV_MESSAGE_SIZE = 256;
export const HV_MESSAGE_PAYLOAD_SIZE = 240;

/** Byte offsets inside an HV_MESSAGE (TLFS current / Linux / openvmm layout). */
export const HvMessageHeaderLayout = {
  messageType: 0,
  payloadSize: 4,
  messageFlags: 5,
  reserved: 6,
  /** Sender partition (intercepts), port ID (guest messages) or 0 (timers). */
  originationId: 8,
  payload: 16,
  size: 16,
} as const;

/** MessageFlags bits. */
export const HvMessageFlags = {
  /** Another message is queued behind this one: the guest must write EOM after freeing the slot. */
  MessagePending: 0x01,
} as const;

/** A message as the encoder takes it; PayloadSize is `payload.length`. */
export interface HvMessage {
  messageType: number;
  messageFlags: number;
  originationId: bigint;
  payload: Uint8Array;
}

/** A message as read back: the header as stored, and the payload clamped to 240 bytes. */
export interface HvMessageDecoded extends HvMessage {
  payloadSize: number;
  reserved: number;
  /** PayloadSize was > 240 (the payload returned is the full 240-byte area). */
  payloadSizeInvalid: boolean;
}

function checkSlot(view: DataView, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + HV_MESSAGE_SIZE > view.byteLength) {
    throw new RangeError(`HV_MESSAGE at ${offset} does not fit a ${view.byteLength}-byte view`);
  }
}

/**
 * Writes a whole 256-byte message (payload area past PayloadSize is zeroed). MessageType is
 * written last, so a reader that polls it never sees a half-written message from this thread.
 * Throws RangeError if the slot does not fit the view, HvFieldRangeError for a bad field.
 */
export function encodeHvMessage(view: DataView, offset: number, msg: HvMessage): void {
  checkSlot(view, offset);
  const type = checkUint('messageType', msg.messageType, 0xffff_ffff);
  const flags = checkUint('messageFlags', msg.messageFlags, 0xff);
  const origin = checkUint64('originationId', msg.originationId, U64_MAX);
  const size = msg.payload.length;
  if (size > HV_MESSAGE_PAYLOAD_SIZE)
    throw new HvFieldRangeError('payload.length', size, `0..${HV_MESSAGE_PAYLOAD_SIZE}`);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, HV_MESSAGE_SIZE);
  bytes.set(msg.payload, HvMessageHeaderLayout.payload);
  bytes.fill(0, HvMessageHeaderLayout.payload + size);
  view.setUint8(offset + HvMessageHeaderLayout.payloadSize, size);
  view.setUint8(offset + HvMessageHeaderLayout.messageFlags, flags);
  view.setUint16(offset + HvMessageHeaderLayout.reserved, 0, true);
  view.setBigUint64(offset + HvMessageHeaderLayout.originationId, origin, true);
  view.setUint32(offset + HvMessageHeaderLayout.messageType, type, true);
}

/**
 * Reads a message. The payload is a copy (the slot may change under the reader); a PayloadSize
 * over 240 is reported, not trusted. Throws RangeError only if the slot does not fit the view.
 */
export function decodeHvMessage(view: DataView, offset: number): HvMessageDecoded {
  checkSlot(view, offset);
  const payloadSize = view.getUint8(offset + HvMessageHeaderLayout.payloadSize);
  const payloadSizeInvalid = payloadSize > HV_MESSAGE_PAYLOAD_SIZE;
  const start = view.byteOffset + offset + HvMessageHeaderLayout.payload;
  const length = payloadSizeInvalid ? HV_MESSAGE_PAYLOAD_SIZE : payloadSize;
  return {
    messageType: view.getUint32(offset + HvMessageHeaderLayout.messageType, true),
    payloadSize,
    messageFlags: view.getUint8(offset + HvMessageHeaderLayout.messageFlags),
    reserved: view.getUint16(offset + HvMessageHeaderLayout.reserved, true),
    originationId: view.getBigUint64(offset + HvMessageHeaderLayout.originationId, true),
    payload: new Uint8Array(view.buffer, start, length).slice(),
    payloadSizeInvalid,
  };
}

// --- SIM and SIEF pages ---------------------------------------------------------------------------

/** Byte offset of SINT `sint`'s message slot in the SIM page. */
export function simSlotOffset(sint: number): number {
  return checkUint('sint', sint, HV_SYNIC_SINT_COUNT - 1) * HV_MESSAGE_SIZE;
}

/** Event flags per SINT in the SIEF page (a 256-byte bitmap each). */
export const HV_EVENT_FLAGS_PER_SINT = 2048;
export const HV_EVENT_FLAGS_BYTES_PER_SINT = 256;

/** Byte offset of SINT `sint`'s flag bitmap in the SIEF page. */
export function siefSlotOffset(sint: number): number {
  return checkUint('sint', sint, HV_SYNIC_SINT_COUNT - 1) * HV_EVENT_FLAGS_BYTES_PER_SINT;
}

/** Where flag `flag` of SINT `sint` lives: byte sint*256 + flag/8, bit flag%8. */
export function eventFlagLocation(sint: number, flag: number): { byteOffset: number; bit: number } {
  const f = checkUint('flag', flag, HV_EVENT_FLAGS_PER_SINT - 1);
  return { byteOffset: siefSlotOffset(sint) + (f >>> 3), bit: f & 7 };
}

/**
 * Index of the 32-bit word holding flag `flag` of SINT `sint`, for Atomics on an Int32Array over
 * the SIEF page; the flag is bit `flag % 32` of that word ({@link eventFlagWordMask}). This matches
 * the byte/bit layout on little-endian hosts, which is every host Node runs the hypervisor on.
 */
export function eventFlagWordIndex(sint: number, flag: number): number {
  const f = checkUint('flag', flag, HV_EVENT_FLAGS_PER_SINT - 1);
  return checkUint('sint', sint, HV_SYNIC_SINT_COUNT - 1) * (HV_EVENT_FLAGS_BYTES_PER_SINT / 4) + (f >>> 5);
}

/** Bit mask of flag `flag` within its 32-bit word. */
export function eventFlagWordMask(flag: number): number {
  return (1 << (checkUint('flag', flag, HV_EVENT_FLAGS_PER_SINT - 1) & 31)) | 0;
}

// --- Message payloads --------------------------------------------------------------------------------

/** HvMessageTypeTimerExpired payload (PayloadSize 24, OriginationId 0). */
export const TimerMessagePayloadLayout = {
  timerIndex: 0,
  reserved: 4,
  /** Scheduled expiration time (reference time, 100 ns). */
  expirationTime: 8,
  /** Time the message was placed in the SIM slot. */
  deliveryTime: 16,
  size: 24,
} as const;

/** HV_X64_SEGMENT_REGISTER (16 bytes). */
export const HvX64SegmentRegisterLayout = {
  base: 0,
  limit: 8,
  selector: 12,
  attributes: 14,
  size: 16,
} as const;

/** HV_X64_INTERCEPT_MESSAGE_HEADER: the first 40 bytes of every x64 intercept payload. */
export const HvInterceptMessageHeaderLayout = {
  vpIndex: 0,
  /** Bits 3:0 instruction length (0 = unknown); bits 7:4 CR8 in newer headers. */
  instructionLength: 4,
  /** HV_INTERCEPT_ACCESS_TYPE: 0 read, 1 write, 2 execute. */
  interceptAccessType: 5,
  executionState: 6,
  csSegment: 8,
  rip: 24,
  rflags: 32,
  size: 40,
} as const;

/** HV_X64_VP_EXECUTION_STATE bits (u16 at header offset 6). */
export const HvVpExecutionState = {
  CplMask: 0x0003,
  Cr0Pe: 1 << 2,
  Cr0Am: 1 << 3,
  EferLma: 1 << 4,
  DebugActive: 1 << 5,
  InterruptionPending: 1 << 6,
} as const;

/** HV_INTERCEPT_ACCESS_TYPE values in the header. */
export const HvInterceptAccessType = { Read: 0, Write: 1, Execute: 2 } as const;

/** HvMessageTypeMsrIntercept payload. */
export const MsrInterceptMessageLayout = {
  header: 0,
  msrNumber: 40,
  reserved: 44,
  rdx: 48,
  rax: 56,
  size: 64,
} as const;

/** HvMessageTypeX64IoPortIntercept payload (string-op fields after RAX). */
export const IoPortInterceptMessageLayout = {
  header: 0,
  portNumber: 40,
  accessInfo: 42,
  instructionByteCount: 43,
  reserved: 44,
  rax: 48,
  instructionBytes: 56,
  dsSegment: 72,
  esSegment: 88,
  rcx: 104,
  rsi: 112,
  rdi: 120,
  size: 128,
} as const;

/** AccessInfo byte of the I/O intercept: 2:0 access size (1, 2 or 4 bytes), 3 string op, 4 REP prefix. */
export const HvIoPortAccessInfo = { AccessSizeMask: 0x07, StringOp: 0x08, RepPrefix: 0x10 } as const;

/** HvMessageTypeX64CpuidIntercept payload: the guest's registers, then the results the hypervisor would return. */
export const CpuidInterceptMessageLayout = {
  header: 0,
  rax: 40,
  rcx: 48,
  rdx: 56,
  rbx: 64,
  defaultResultRax: 72,
  defaultResultRcx: 80,
  defaultResultRdx: 88,
  defaultResultRbx: 96,
  size: 104,
} as const;

/** HvMessageTypeUnmappedGpa / GpaIntercept payload. */
export const MemoryInterceptMessageLayout = {
  header: 0,
  cacheType: 40,
  instructionByteCount: 44,
  /** Bit 0 GVA valid, bit 1 GVA->GPA valid. */
  memoryAccessInfo: 45,
  tprPriority: 46,
  reserved: 47,
  guestVirtualAddress: 48,
  guestPhysicalAddress: 56,
  instructionBytes: 64,
  size: 80,
} as const;

/** MemoryAccessInfo bits of the memory intercept. */
export const HvMemoryAccessInfo = { GvaValid: 0x01, GvaGpaValid: 0x02 } as const;
