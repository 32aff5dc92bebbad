import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeInterruptControl,
  encodeInterruptControl,
  HV_ANY_VP,
  HV_EARLY_PARTITION_PROPERTIES,
  HV_PARTITION_ID_INVALID,
  HV_PARTITION_ID_SELF,
  HV_PARTITION_PROPERTY_DEFAULTS,
  HV_VP_INDEX_SELF,
  HvAccessGpaResult,
  HvInterceptAccessMask,
  HvInterceptType,
  HvInterruptType,
  HvMapGpaFlags,
  HvPartitionCreationFlags,
  HvPartitionProperty,
  HvPartitionState,
  HvRegisterName,
  HvSaveRestoreFlags,
  HvSaveRestoreState,
  HvTranslateGvaFlags,
  HvTranslateGvaResult,
  sintRegisterName,
  stimerConfigRegisterName,
  stimerCountRegisterName,
} from './partition.js';

describe('partition constants (spec 2.3)', () => {
  it('pins IDs and VP indexes', () => {
    expect(HV_PARTITION_ID_INVALID).toBe(0n);
    expect(HV_PARTITION_ID_SELF).toBe(0xffff_ffff_ffff_ffffn);
    expect(HV_ANY_VP).toBe(0xffff_ffff);
    expect(HV_VP_INDEX_SELF).toBe(0xffff_fffe);
    expect(Object.values(HvPartitionState)).toEqual(['uninitialized', 'active', 'finalizing', 'finalized']);
  });

  it('pins property codes and defaults', () => {
    expect({ ...HvPartitionProperty }).toEqual({
      PrivilegeFlags: 0x00010000,
      Suspend: 0x00020000,
      CpuReserve: 0x00020001,
      CpuCap: 0x00020002,
      CpuWeight: 0x00020003,
      TimeFreeze: 0x00030003,
      ReferenceTime: 0x00030005,
      VirtualTlbPageCount: 0x00050000,
      ProcessorVendor: 0x00060000,
      CompatibilityVersion: 0x00060005,
      GuestOsId: 0x00070000,
    });
    expect([...HV_PARTITION_PROPERTY_DEFAULTS]).toEqual([
      [0x00020001, 0n],
      [0x00020002, 0x10000n],
      [0x00020003, 100n],
    ]);
    expect([...HV_EARLY_PARTITION_PROPERTIES]).toEqual([0x00010000]);
  });

  it('pins creation, mapping, intercept and translation flags', () => {
    expect({ ...HvPartitionCreationFlags }).toEqual({
      SmtEnabledGuest: 1n,
      NestedVirtualizationCapable: 2n,
      LapicEnabled: 1n << 13n,
      X2ApicCapable: 1n << 22n,
    });
    expect({ ...HvMapGpaFlags }).toEqual({ Read: 1, Write: 2, Execute: 4 });
    expect({ ...HvInterceptAccessMask }).toEqual({ None: 0, Read: 1, Write: 2, Execute: 4 });
    expect(HvInterceptType).toMatchObject({
      X64IoPort: 0,
      X64Msr: 1,
      X64Cpuid: 2,
      Exception: 3,
      Mmio: 5,
      X64GlobalCpuid: 6,
      X64ApicSmi: 7,
      Hypercall: 8,
      X64ApicInitSipi: 9,
      X64ApicWrite: 0xb,
      X64MsrIndex: 0xc,
    });
    expect({ ...HvTranslateGvaFlags }).toEqual({
      ValidateRead: 1,
      ValidateWrite: 2,
      ValidateExecute: 4,
      PrivilegeExempt: 8,
      SetPageTableBits: 0x10,
      TlbFlushInhibit: 0x20,
    });
    expect(Object.values(HvTranslateGvaResult)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(HvTranslateGvaResult.GpaIllegalOverlayAccess).toBe(7);
    expect({ ...HvAccessGpaResult }).toEqual({
      Success: 0,
      Unmapped: 1,
      ReadIntercept: 2,
      WriteIntercept: 3,
      IllegalOverlayAccess: 4,
    });
    expect({ ...HvSaveRestoreFlags }).toEqual({ Start: 1, Summary: 2 });
    expect({ ...HvSaveRestoreState }).toEqual({
      Complete: 0,
      Incomplete: 1,
      Restorable: 2,
      CorruptData: 3,
      UnsupportedVersion: 4,
    });
  });

  it('pins register names', () => {
    expect(HvRegisterName).toMatchObject({
      GuestOsId: 0x00090002,
      VpIndex: 0x00090003,
      TimeRefCount: 0x00090004,
      ReferenceTsc: 0x00090017,
      Sint0: 0x000a0000,
      Sint15: 0x000a000f,
      Scontrol: 0x000a0010,
      Sversion: 0x000a0011,
      Siefp: 0x000a0012,
      Simp: 0x000a0013,
      Eom: 0x000a0014,
      Stimer0Config: 0x000b0000,
      Stimer0Count: 0x000b0001,
    });
    expect(sintRegisterName(5)).toBe(0x000a0005);
    expect(stimerConfigRegisterName(3)).toBe(0x000b0006);
    expect(stimerCountRegisterName(3)).toBe(0x000b0007);
    expect(() => sintRegisterName(16)).toThrow(RangeError);
    expect(() => stimerCountRegisterName(4)).toThrow(RangeError);
  });
});

describe('HV_INTERRUPT_CONTROL', () => {
  it('pins the interrupt types and bit positions', () => {
    expect(Object.entries(HvInterruptType)).toEqual([
      ['Fixed', 0],
      ['LowestPriority', 1],
      ['Smi', 2],
      ['RemoteRead', 3],
      ['Nmi', 4],
      ['Init', 5],
      ['Sipi', 6],
      ['ExtInt', 7],
      ['LocalInt0', 8],
      ['LocalInt1', 9],
    ]);
    expect(
      encodeInterruptControl({ interruptType: 4, levelTriggered: true, logicalDestinationMode: false }),
    ).toBe((1n << 32n) | 4n);
    expect(
      encodeInterruptControl({ interruptType: 0, levelTriggered: false, logicalDestinationMode: true }),
    ).toBe(1n << 33n);
  });

  it('round-trips and reports reserved bits 63:34', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), (v) => {
        const d = decodeInterruptControl(v);
        expect(d.reservedBitsSet).toBe(v >> 34n !== 0n);
        expect(encodeInterruptControl(d)).toBe(v & ((1n << 34n) - 1n));
      }),
    );
    expect(() =>
      encodeInterruptControl({ interruptType: -1, levelTriggered: false, logicalDestinationMode: false }),
    ).toThrow(RangeError);
  });
});
