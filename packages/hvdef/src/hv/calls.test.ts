import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeHypercallInput,
  decodeHypercallInputHalves,
  decodeHypercallResult,
  encodeHypercallInput,
  encodeHypercallResult,
  HvCallCode,
  HYPERCALL_INPUT_RESERVED_MASK,
  HYPERCALL_RESULT_RESERVED_MASK,
  type HypercallInput,
  hvCallName,
} from './calls.js';
import { HvFieldRangeError } from './errors.js';

// Sections 2.1 and 2.2 of the spec, copied literally.
const SPEC_CALL_CODES: Record<string, number> = {
  SwitchVirtualAddressSpace: 0x01,
  FlushVirtualAddressSpace: 0x02,
  FlushVirtualAddressList: 0x03,
  GetLogicalProcessorRunTime: 0x04,
  NotifyLongSpinWait: 0x08,
  ParkLogicalProcessors: 0x09,
  InvokeHypervisorDebugger: 0x0a,
  SendSyntheticClusterIpi: 0x0b,
  ModifyVtlProtectionMask: 0x0c,
  EnablePartitionVtl: 0x0d,
  DisablePartitionVtl: 0x0e,
  EnableVpVtl: 0x0f,
  DisableVpVtl: 0x10,
  VtlCall: 0x11,
  VtlReturn: 0x12,
  FlushVirtualAddressSpaceEx: 0x13,
  FlushVirtualAddressListEx: 0x14,
  SendSyntheticClusterIpiEx: 0x15,
  CreatePartition: 0x40,
  InitializePartition: 0x41,
  FinalizePartition: 0x42,
  DeletePartition: 0x43,
  GetPartitionProperty: 0x44,
  SetPartitionProperty: 0x45,
  GetPartitionId: 0x46,
  GetNextChildPartition: 0x47,
  DepositMemory: 0x48,
  WithdrawMemory: 0x49,
  GetMemoryBalance: 0x4a,
  MapGpaPages: 0x4b,
  UnmapGpaPages: 0x4c,
  InstallIntercept: 0x4d,
  CreateVp: 0x4e,
  DeleteVp: 0x4f,
  GetVpRegisters: 0x50,
  SetVpRegisters: 0x51,
  TranslateVirtualAddress: 0x52,
  ReadGpa: 0x53,
  WriteGpa: 0x54,
  AssertVirtualInterruptDeprecated: 0x55,
  ClearVirtualInterrupt: 0x56,
  CreatePortDeprecated: 0x57,
  DeletePort: 0x58,
  ConnectPortDeprecated: 0x59,
  GetPortProperty: 0x5a,
  DisconnectPort: 0x5b,
  PostMessage: 0x5c,
  SignalEvent: 0x5d,
  SavePartitionState: 0x5e,
  RestorePartitionState: 0x5f,
  InitializeEventLogBufferGroup: 0x60,
  FinalizeEventLogBufferGroup: 0x61,
  CreateEventLogBuffer: 0x62,
  DeleteEventLogBuffer: 0x63,
  MapEventLogBuffer: 0x64,
  UnmapEventLogBuffer: 0x65,
  SetEventLogGroupSources: 0x66,
  ReleaseEventLogBuffer: 0x67,
  FlushEventLogBuffer: 0x68,
  PostDebugData: 0x69,
  RetrieveDebugData: 0x6a,
  ResetDebugSession: 0x6b,
  MapStatsPage: 0x6c,
  UnmapStatsPage: 0x6d,
  MapSparseGpaPages: 0x6e,
  SetSystemProperty: 0x6f,
  SetPortProperty: 0x70,
  OutputDebugCharacter: 0x71,
  AddLogicalProcessor: 0x76,
  RemoveLogicalProcessor: 0x77,
  QueryNumaDistance: 0x78,
  SetLogicalProcessorProperty: 0x79,
  GetLogicalProcessorProperty: 0x7a,
  GetSystemProperty: 0x7b,
  MapDeviceInterrupt: 0x7c,
  UnmapDeviceInterrupt: 0x7d,
  RetargetDeviceInterrupt: 0x7e,
  MapDevicePages: 0x80,
  UnmapDevicePages: 0x81,
  AttachDevice: 0x82,
  DetachDevice: 0x83,
  NotifyStandbyTransition: 0x84,
  PrepareForSleep: 0x85,
  PrepareForHibernate: 0x86,
  NotifyPartitionEvent: 0x87,
  GetLogicalProcessorRegisters: 0x88,
  SetLogicalProcessorRegisters: 0x89,
  QueryAssociatedLpsForMca: 0x8a,
  NotifyPortRingEmpty: 0x8b,
  InjectSyntheticMachineCheck: 0x8c,
  ScrubPartition: 0x8d,
  CollectLivedump: 0x8e,
  DisableHypervisor: 0x8f,
  ModifySparseGpaPages: 0x90,
  RegisterInterceptResult: 0x91,
  UnregisterInterceptResult: 0x92,
  AssertVirtualInterrupt: 0x94,
  CreatePort: 0x95,
  ConnectPort: 0x96,
  GetSpaPageList: 0x97,
  StartVirtualProcessor: 0x99,
  GetVpIndexFromApicId: 0x9a,
  FlushGuestPhysicalAddressSpace: 0xaf,
  FlushGuestPhysicalAddressList: 0xb0,
  SignalEventDirect: 0xc0,
  PostMessageDirect: 0xc1,
  ExtQueryCapabilities: 0x8001,
  ExtGetBootZeroedMemory: 0x8002,
  ExtMemoryHeatHint: 0x8003,
  ExtEpfSetup: 0x8004,
  ExtMemoryHeatHintAsync: 0x8006,
};

describe('HvCallCode', () => {
  it('pins every call code', () => {
    expect({ ...HvCallCode }).toEqual(SPEC_CALL_CODES);
  });

  it('has no two names for one code', () => {
    const codes = Object.values(HvCallCode);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('names known codes and returns undefined for unknown ones', () => {
    expect(hvCallName(0x5c)).toBe('PostMessage');
    expect(hvCallName(0x5d)).toBe('SignalEvent');
    expect(hvCallName(0x0000)).toBeUndefined();
    expect(hvCallName(0x0005)).toBeUndefined();
    expect(hvCallName(0xffff)).toBeUndefined();
  });
});

const inputArb: fc.Arbitrary<HypercallInput> = fc.record({
  callCode: fc.integer({ min: 0, max: 0xffff }),
  fast: fc.boolean(),
  variableHeaderSize: fc.integer({ min: 0, max: 0x3ff }),
  isNested: fc.boolean(),
  repCount: fc.integer({ min: 0, max: 0xfff }),
  repStartIndex: fc.integer({ min: 0, max: 0xfff }),
});

describe('hypercall input value', () => {
  it('places each field at the bits of spec section 1.1', () => {
    const base = {
      callCode: 0,
      fast: false,
      variableHeaderSize: 0,
      isNested: false,
      repCount: 0,
      repStartIndex: 0,
    };
    expect(encodeHypercallInput({ ...base, callCode: 0x5c })).toBe(0x5cn);
    expect(encodeHypercallInput({ ...base, callCode: 0xffff })).toBe(0xffffn);
    expect(encodeHypercallInput({ ...base, fast: true })).toBe(1n << 16n);
    expect(encodeHypercallInput({ ...base, variableHeaderSize: 1 })).toBe(1n << 17n);
    expect(encodeHypercallInput({ ...base, variableHeaderSize: 0x3ff })).toBe(0x3ffn << 17n);
    expect(encodeHypercallInput({ ...base, isNested: true })).toBe(1n << 31n);
    expect(encodeHypercallInput({ ...base, repCount: 1 })).toBe(1n << 32n);
    expect(encodeHypercallInput({ ...base, repCount: 0xfff })).toBe(0xfffn << 32n);
    expect(encodeHypercallInput({ ...base, repStartIndex: 1 })).toBe(1n << 48n);
    expect(encodeHypercallInput({ ...base, repStartIndex: 0xfff })).toBe(0xfffn << 48n);
    // A Linux rep call: GetVpRegisters with 3 elements starting at 1.
    expect(encodeHypercallInput({ ...base, callCode: 0x50, repCount: 3, repStartIndex: 1 })).toBe(
      0x0001_0003_0000_0050n,
    );
  });

  it('reserves exactly bits 30:27, 47:44 and 63:60', () => {
    expect(HYPERCALL_INPUT_RESERVED_MASK).toBe((0xfn << 27n) | (0xfn << 44n) | (0xfn << 60n));
    const all = encodeHypercallInput({
      callCode: 0xffff,
      fast: true,
      variableHeaderSize: 0x3ff,
      isNested: true,
      repCount: 0xfff,
      repStartIndex: 0xfff,
    });
    expect(all & HYPERCALL_INPUT_RESERVED_MASK).toBe(0n);
    expect(all | HYPERCALL_INPUT_RESERVED_MASK).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('round-trips encode -> decode for every field combination', () => {
    fc.assert(
      fc.property(inputArb, (i) => {
        expect(decodeHypercallInput(encodeHypercallInput(i))).toEqual({ ...i, reservedBitsSet: false });
      }),
    );
  });

  it('round-trips decode -> encode for any 64-bit value, reporting reserved bits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), (v) => {
        const d = decodeHypercallInput(v);
        expect(d.reservedBitsSet).toBe((v & HYPERCALL_INPUT_RESERVED_MASK) !== 0n);
        const { reservedBitsSet: _, ...fields } = d;
        expect(encodeHypercallInput(fields)).toBe(v & ~HYPERCALL_INPUT_RESERVED_MASK);
        expect(decodeHypercallInputHalves(Number(v & 0xffff_ffffn), Number(v >> 32n))).toEqual(d);
      }),
    );
  });

  it('flags each reserved bit on its own', () => {
    for (let bit = 0n; bit < 64n; bit++) {
      const reserved = (HYPERCALL_INPUT_RESERVED_MASK >> bit) & 1n;
      expect(decodeHypercallInput(1n << bit).reservedBitsSet).toBe(reserved === 1n);
    }
  });

  it('reduces values outside 64 bits instead of throwing', () => {
    expect(decodeHypercallInput(-1n)).toEqual({
      callCode: 0xffff,
      fast: true,
      variableHeaderSize: 0x3ff,
      isNested: true,
      repCount: 0xfff,
      repStartIndex: 0xfff,
      reservedBitsSet: true,
    });
    expect(decodeHypercallInput((1n << 64n) | 0x5cn).callCode).toBe(0x5c);
  });

  it('refuses fields that do not fit', () => {
    const ok = {
      callCode: 0,
      fast: false,
      variableHeaderSize: 0,
      isNested: false,
      repCount: 0,
      repStartIndex: 0,
    };
    expect(() => encodeHypercallInput({ ...ok, callCode: 0x10000 })).toThrow(HvFieldRangeError);
    expect(() => encodeHypercallInput({ ...ok, variableHeaderSize: 0x400 })).toThrow(HvFieldRangeError);
    expect(() => encodeHypercallInput({ ...ok, repCount: 0x1000 })).toThrow(HvFieldRangeError);
    expect(() => encodeHypercallInput({ ...ok, repStartIndex: -1 })).toThrow(HvFieldRangeError);
    expect(() => encodeHypercallInput({ ...ok, callCode: 1.5 })).toThrow(/callCode/);
    expect(() => encodeHypercallInput({ ...ok, repCount: 4096 })).toThrow(
      expect.objectContaining({ code: 'ERR_HV_FIELD_RANGE', field: 'repCount' }),
    );
  });
});

describe('hypercall result value', () => {
  it('places status at 15:0 and reps completed at 43:32', () => {
    expect(encodeHypercallResult({ status: 0, repsCompleted: 0 })).toBe(0n);
    expect(encodeHypercallResult({ status: 0x13, repsCompleted: 0 })).toBe(0x13n);
    expect(encodeHypercallResult({ status: 0, repsCompleted: 5 })).toBe(5n << 32n);
    expect(encodeHypercallResult({ status: 0xffff, repsCompleted: 0xfff })).toBe(0x0000_0fff_0000_ffffn);
    expect(HYPERCALL_RESULT_RESERVED_MASK).toBe(0xffff_f000_ffff_0000n);
  });

  it('round-trips both ways and reports reserved bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xfff }), (status, reps) => {
        const v = encodeHypercallResult({ status, repsCompleted: reps });
        expect(decodeHypercallResult(v)).toEqual({ status, repsCompleted: reps, reservedBitsSet: false });
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), (v) => {
        const d = decodeHypercallResult(v);
        expect(d.reservedBitsSet).toBe((v & HYPERCALL_RESULT_RESERVED_MASK) !== 0n);
        expect(encodeHypercallResult(d)).toBe(v & ~HYPERCALL_RESULT_RESERVED_MASK);
      }),
    );
  });

  it('refuses out-of-range fields', () => {
    expect(() => encodeHypercallResult({ status: 0x10000, repsCompleted: 0 })).toThrow(HvFieldRangeError);
    expect(() => encodeHypercallResult({ status: 0, repsCompleted: 0x1000 })).toThrow(HvFieldRangeError);
  });
});
