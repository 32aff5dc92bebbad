import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HvFieldRangeError } from './errors.js';
import {
  CpuidInterceptMessageLayout,
  decodeHvMessage,
  encodeHvMessage,
  eventFlagLocation,
  eventFlagWordIndex,
  eventFlagWordMask,
  HV_EVENT_FLAGS_PER_SINT,
  HV_MESSAGE_PAYLOAD_SIZE,
  HV_MESSAGE_SIZE,
  HV_MESSAGE_TYPE_HYPERVISOR_MASK,
  HV_SYNIC_SINT_COUNT,
  HvInterceptMessageHeaderLayout,
  HvMessageFlags,
  HvMessageHeaderLayout,
  HvMessageType,
  HvX64SegmentRegisterLayout,
  IoPortInterceptMessageLayout,
  isGuestMessageType,
  MemoryInterceptMessageLayout,
  MsrInterceptMessageLayout,
  siefSlotOffset,
  simSlotOffset,
  TimerMessagePayloadLayout,
} from './synic.js';

// Spec 5.2, copied literally (0x80010005/6 as resolved against the TLFS).
const SPEC_MESSAGE_TYPES: Record<string, number> = {
  None: 0x00000000,
  UnmappedGpa: 0x80000000,
  GpaIntercept: 0x80000001,
  UnacceptedGpa: 0x80000003,
  GpaAttributeIntercept: 0x80000004,
  EnablePartitionVtlIntercept: 0x80000005,
  TimerExpired: 0x80000010,
  InvalidVpRegisterValue: 0x80000020,
  UnrecoverableException: 0x80000021,
  UnsupportedFeature: 0x80000022,
  TlbPageSizeMismatch: 0x80000023,
  IommuFault: 0x80000024,
  ApicEoi: 0x80000030,
  FerrAsserted: 0x80000031,
  OpaqueIntercept: 0x8000003f,
  EventLogBufferComplete: 0x80000040,
  HypercallIntercept: 0x80000050,
  SynicEventIntercept: 0x80000060,
  SynicSintIntercept: 0x80000061,
  SynicSintDeliverable: 0x80000062,
  AsyncCallCompletion: 0x80000070,
  InsufficientMemory: 0x80000071,
  SchedulerVpSignalBitset: 0x80000100,
  SchedulerVpSignalPair: 0x80000101,
  X64IoPortIntercept: 0x80010000,
  MsrIntercept: 0x80010001,
  X64CpuidIntercept: 0x80010002,
  ExceptionIntercept: 0x80010003,
  X64ApicEoi: 0x80010004,
  X64LegacyFpError: 0x80010005,
  RegisterIntercept: 0x80010006,
  X64Halt: 0x80010007,
  X64InterruptionDeliverable: 0x80010008,
  X64SipiIntercept: 0x80010009,
  X64RdtscIntercept: 0x8001000a,
  X64ApicSmiIntercept: 0x8001000b,
  X64ApicInitSipiIntercept: 0x8001000d,
  X64ApicWriteIntercept: 0x8001000e,
  X64ProxyInterruptIntercept: 0x8001000f,
  X64IsolationCtrlRegIntercept: 0x80010010,
  X64SnpGuestRequestIntercept: 0x80010011,
  X64ExceptionTrapIntercept: 0x80010012,
  X64SevVmgexitIntercept: 0x80010013,
  X64MsrListIntercept: 0x80010015,
};

describe('HvMessageType (spec 5.2)', () => {
  it('pins every message type', () => {
    expect({ ...HvMessageType }).toEqual(SPEC_MESSAGE_TYPES);
    expect(new Set(Object.values(HvMessageType)).size).toBe(Object.keys(HvMessageType).length);
  });

  it('tells guest message types from hypervisor ones', () => {
    expect(HV_MESSAGE_TYPE_HYPERVISOR_MASK).toBe(0x80000000);
    expect(isGuestMessageType(1)).toBe(true);
    expect(isGuestMessageType(0x7fffffff)).toBe(true);
    expect(isGuestMessageType(0)).toBe(false);
    expect(isGuestMessageType(HvMessageType.TimerExpired)).toBe(false);
    expect(isGuestMessageType(0x1_0000_0001)).toBe(false);
    expect(isGuestMessageType(-1)).toBe(false);
  });
});

const sharedView = (size = 4096) => new DataView(new SharedArrayBuffer(size));

describe('HV_MESSAGE', () => {
  it('pins the header layout (TLFS current / Linux / openvmm, not the 2.0 order)', () => {
    expect(HvMessageHeaderLayout).toEqual({
      messageType: 0,
      payloadSize: 4,
      messageFlags: 5,
      reserved: 6,
      originationId: 8,
      payload: 16,
      size: 16,
    });
    expect(HV_MESSAGE_SIZE).toBe(256);
    expect(HV_MESSAGE_PAYLOAD_SIZE).toBe(240);
    expect(HvMessageFlags.MessagePending).toBe(1);
  });

  it('writes every header byte where the spec puts it and zeroes the unused payload', () => {
    const view = sharedView();
    new Uint8Array(view.buffer).fill(0xcc);
    const payload = Uint8Array.from([1, 2, 3, 4, 5]);
    encodeHvMessage(view, 512, {
      messageType: 0x12345678,
      messageFlags: HvMessageFlags.MessagePending,
      originationId: 0x0102030405060708n,
      payload,
    });
    const b = new Uint8Array(view.buffer, 512, 256);
    expect([...b.subarray(0, 16)]).toEqual([0x78, 0x56, 0x34, 0x12, 5, 1, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect([...b.subarray(16, 21)]).toEqual([1, 2, 3, 4, 5]);
    expect(b.subarray(21).every((x) => x === 0)).toBe(true);
    // Neighbouring slots untouched.
    expect(new Uint8Array(view.buffer, 511, 1)[0]).toBe(0xcc);
    expect(new Uint8Array(view.buffer, 768, 1)[0]).toBe(0xcc);
  });

  it('round-trips any message', () => {
    const view = sharedView();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
        fc.uint8Array({ maxLength: 240 }),
        fc.integer({ min: 0, max: 15 }),
        (messageType, messageFlags, originationId, payload, slot) => {
          const msg = { messageType, messageFlags, originationId, payload };
          encodeHvMessage(view, simSlotOffset(slot), msg);
          expect(decodeHvMessage(view, simSlotOffset(slot))).toEqual({
            ...msg,
            payloadSize: payload.length,
            reserved: 0,
            payloadSizeInvalid: false,
          });
        },
      ),
    );
  });

  it('does not trust a PayloadSize over 240 and copies the payload out', () => {
    const view = sharedView();
    view.setUint32(0, 1, true);
    view.setUint8(4, 255);
    view.setUint16(6, 0xbeef, true);
    const d = decodeHvMessage(view, 0);
    expect(d.payloadSizeInvalid).toBe(true);
    expect(d.payloadSize).toBe(255);
    expect(d.payload.length).toBe(240);
    expect(d.reserved).toBe(0xbeef);
    view.setUint8(16, 9);
    expect(d.payload[0]).toBe(0);
    expect(d.payload.buffer).not.toBe(view.buffer);
  });

  it('refuses slots outside the view and fields that do not fit', () => {
    const view = sharedView(512);
    const msg = { messageType: 1, messageFlags: 0, originationId: 0n, payload: new Uint8Array(0) };
    expect(() => encodeHvMessage(view, 257, msg)).toThrow(RangeError);
    expect(() => decodeHvMessage(view, 300)).toThrow(RangeError);
    expect(() => decodeHvMessage(view, -1)).toThrow(RangeError);
    expect(() => encodeHvMessage(view, 0, { ...msg, payload: new Uint8Array(241) })).toThrow(
      HvFieldRangeError,
    );
    expect(() => encodeHvMessage(view, 0, { ...msg, messageType: 2 ** 32 })).toThrow(HvFieldRangeError);
    expect(() => encodeHvMessage(view, 0, { ...msg, messageFlags: 256 })).toThrow(HvFieldRangeError);
    expect(() => encodeHvMessage(view, 0, { ...msg, originationId: -1n })).toThrow(HvFieldRangeError);
  });
});

describe('SIM and SIEF geometry (spec 5.2, 5.4)', () => {
  it('places slots and bitmaps 256 bytes apart', () => {
    expect(HV_SYNIC_SINT_COUNT).toBe(16);
    expect(HV_EVENT_FLAGS_PER_SINT).toBe(2048);
    expect(simSlotOffset(0)).toBe(0);
    expect(simSlotOffset(15)).toBe(3840);
    expect(siefSlotOffset(2)).toBe(512);
    expect(() => simSlotOffset(16)).toThrow(RangeError);
    expect(() => siefSlotOffset(-1)).toThrow(RangeError);
    expect(eventFlagLocation(2, 0)).toEqual({ byteOffset: 512, bit: 0 });
    expect(eventFlagLocation(2, 13)).toEqual({ byteOffset: 513, bit: 5 });
    expect(eventFlagLocation(15, 2047)).toEqual({ byteOffset: 4095, bit: 7 });
    expect(() => eventFlagLocation(0, 2048)).toThrow(RangeError);
  });

  it('addresses the same bit through 32-bit words as through bytes, for every flag', () => {
    const sab = new SharedArrayBuffer(4096);
    const words = new Int32Array(sab);
    const bytes = new Uint8Array(sab);
    for (let sint = 0; sint < 16; sint++) {
      for (let flag = 0; flag < 2048; flag++) {
        const { byteOffset, bit } = eventFlagLocation(sint, flag);
        const w = eventFlagWordIndex(sint, flag);
        Atomics.or(words, w, eventFlagWordMask(flag));
        if (bytes[byteOffset] !== 1 << bit) throw new Error(`flag ${flag} of SINT ${sint} landed elsewhere`);
        Atomics.store(words, w, 0);
      }
    }
    expect(eventFlagWordMask(31)).toBe(-0x80000000);
  });
});

describe('message payload layouts (spec 5.6, 6.3)', () => {
  it('pins the TimerExpired payload', () => {
    expect(TimerMessagePayloadLayout).toEqual({
      timerIndex: 0,
      reserved: 4,
      expirationTime: 8,
      deliveryTime: 16,
      size: 24,
    });
  });

  it('pins the intercept header and payloads', () => {
    expect(HvInterceptMessageHeaderLayout).toEqual({
      vpIndex: 0,
      instructionLength: 4,
      interceptAccessType: 5,
      executionState: 6,
      csSegment: 8,
      rip: 24,
      rflags: 32,
      size: 40,
    });
    expect(HvX64SegmentRegisterLayout).toEqual({ base: 0, limit: 8, selector: 12, attributes: 14, size: 16 });
    expect(MsrInterceptMessageLayout).toMatchObject({ msrNumber: 40, rdx: 48, rax: 56, size: 64 });
    expect(IoPortInterceptMessageLayout).toMatchObject({
      portNumber: 40,
      accessInfo: 42,
      rax: 48,
      dsSegment: 72,
      esSegment: 88,
      rcx: 104,
      rsi: 112,
      rdi: 120,
      size: 128,
    });
    expect(CpuidInterceptMessageLayout).toMatchObject({ rax: 40, rcx: 48, rdx: 56, rbx: 64, size: 104 });
    // Linux hvhdk.h: cache type, byte count, access info (bit 0 = GVA valid), then GVA and GPA.
    expect(MemoryInterceptMessageLayout).toMatchObject({
      cacheType: 40,
      memoryAccessInfo: 45,
      guestVirtualAddress: 48,
      guestPhysicalAddress: 56,
      size: 80,
    });
    for (const l of [
      MsrInterceptMessageLayout,
      IoPortInterceptMessageLayout,
      CpuidInterceptMessageLayout,
      MemoryInterceptMessageLayout,
    ]) {
      expect(l.size).toBeLessThanOrEqual(HV_MESSAGE_PAYLOAD_SIZE);
    }
  });
});
