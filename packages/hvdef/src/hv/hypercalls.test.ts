import { describe, expect, it } from 'vitest';
import * as L from './call-layouts.js';
import { HvCallCode } from './calls.js';
import { HYPERCALLS } from './hypercalls.js';
import { HvPartitionPrivilege as P } from './privileges.js';

// Spec section 2.1, copied literally: [code, kind, fast, privilege bit or undefined, input size, output size].
// Sizes are the Layout column's last field end, rounded up to 8 bytes.
type Row = readonly [
  number,
  'simple' | 'rep',
  boolean,
  number | undefined,
  number | undefined,
  number | undefined,
];
const SPEC_2_1: readonly Row[] = [
  [0x40, 'simple', false, 32, 56, 8],
  [0x41, 'simple', true, undefined, 8, 0],
  [0x42, 'simple', true, undefined, 8, 0],
  [0x43, 'simple', true, undefined, 8, 0],
  [0x44, 'simple', false, undefined, 16, 8],
  [0x45, 'simple', false, undefined, 24, 0],
  [0x46, 'simple', false, 33, 0, 8],
  [0x47, 'simple', false, undefined, 16, 8],
  [0x48, 'rep', false, 34, 8, 0],
  [0x49, 'rep', false, 34, 16, 0],
  [0x4a, 'simple', false, 34, 16, 16],
  [0x4b, 'rep', false, undefined, 24, 0],
  [0x4c, 'rep', false, undefined, 24, 0],
  [0x4d, 'simple', false, undefined, 24, 0],
  [0x4e, 'simple', false, undefined, 40, 0],
  [0x4f, 'simple', true, undefined, 16, 0],
  [0x50, 'rep', false, 49, 16, 0],
  [0x51, 'rep', false, 49, 16, 0],
  [0x52, 'simple', false, undefined, 32, 16],
  [0x53, 'simple', false, undefined, 32, 24],
  [0x54, 'simple', false, undefined, 48, 8],
  [0x55, 'simple', false, undefined, 32, 0],
  [0x56, 'simple', true, undefined, 8, 0],
  [0x57, 'simple', false, 38, 48, 0],
  // DeletePort: fast per the TLFS 6.0b call table (the 2.0 column has no tag).
  [0x58, 'simple', true, 38, 16, 0],
  [0x59, 'simple', false, 39, 40, 0],
  [0x5a, 'simple', false, undefined, 24, 8],
  [0x5b, 'simple', true, undefined, 16, 0],
  [0x5c, 'simple', false, 36, 256, 0],
  [0x5d, 'simple', true, 37, 8, 0],
  [0x5e, 'simple', false, undefined, 16, 4088],
  [0x5f, 'simple', false, 32, 4096, 8],
  [0x70, 'simple', false, 38, undefined, undefined],
  [0x94, 'simple', false, undefined, 32, 0],
  [0x95, 'simple', false, 38, 56, 0],
  [0x96, 'simple', false, 39, 72, 0],
];

// Rep element sizes (input, output) of the rep calls of 2.1 and 2.2.
const SPEC_REP_ELEMENTS: Record<number, readonly [number, number]> = {
  3: [8, 0],
  20: [8, 0],
  72: [8, 0],
  73: [0, 8],
  75: [8, 0],
  76: [0, 0],
  80: [4, 16],
  81: [32, 0],
  154: [4, 4],
};

describe('HYPERCALLS', () => {
  it('describes every call of spec section 2.1 as the table says', () => {
    for (const [code, kind, fast, privilege, input, output] of SPEC_2_1) {
      const info = HYPERCALLS.get(code);
      expect(info, `0x${code.toString(16)}`).toBeDefined();
      expect([
        code,
        info?.kind,
        info?.fastCapable,
        info?.privilege,
        info?.inputSize,
        info?.outputSize,
      ]).toEqual([code, kind, fast, privilege, input, output]);
    }
  });

  it('covers the published 2.2 calls and nothing without a published layout except SetPortProperty', () => {
    expect([...HYPERCALLS.keys()].sort((a, b) => a - b)).toEqual(
      [...SPEC_2_1.map((r) => r[0]), 0x01, 0x02, 0x03, 0x08, 0x0b, 0x13, 0x14, 0x15, 0x99, 0x9a].sort(
        (a, b) => a - b,
      ),
    );
    for (const [code, info] of HYPERCALLS) {
      expect(HvCallCode[info.name as keyof typeof HvCallCode]).toBe(code);
      if (code !== HvCallCode.SetPortProperty) {
        expect(info.inputSize! % 8).toBe(0);
        expect(info.outputSize).toBeDefined();
      }
    }
  });

  it('gives rep calls their element sizes and simple calls none', () => {
    for (const [code, info] of HYPERCALLS) {
      const el = SPEC_REP_ELEMENTS[code];
      if (el) {
        expect(info.kind).toBe('rep');
        expect([info.repInputElementSize, info.repOutputElementSize]).toEqual(el);
      } else {
        expect(info.kind).toBe('simple');
        expect(info.repInputElementSize).toBeUndefined();
        expect(info.repOutputElementSize).toBeUndefined();
      }
    }
  });

  it('marks only the HV_VP_SET calls as taking a variable header', () => {
    const variable = [...HYPERCALLS].filter(([, i]) => i.variableHeader).map(([c]) => c);
    expect(variable.sort()).toEqual([0x13, 0x14, 0x15]);
  });

  it('records the callers of the current TLFS', () => {
    const caller = (c: number) => HYPERCALLS.get(c)?.caller;
    expect(caller(HvCallCode.PostMessage)).toBe('any');
    expect(caller(HvCallCode.SignalEvent)).toBe('any');
    expect(caller(HvCallCode.CreatePartition)).toBe('any');
    expect(caller(HvCallCode.InitializePartition)).toBe('parent');
    expect(caller(HvCallCode.DepositMemory)).toBe('parent-or-root');
    expect(caller(HvCallCode.GetPartitionProperty)).toBe('parent-or-root');
    expect(caller(HvCallCode.GetPortProperty)).toBe('parent-or-self');
    expect(caller(HvCallCode.CreatePort)).toBe('root');
    expect(caller(HvCallCode.ConnectPort)).toBe('root');
    expect(HYPERCALLS.get(HvCallCode.SendSyntheticClusterIpi)?.fastCapable).toBe(true);
    expect(HYPERCALLS.get(HvCallCode.StartVirtualProcessor)?.privilege).toBe(P.StartVirtualProcessor);
  });
});

/** Offsets of every field, checked against the spec's Layout column ("field@offset:bytes"). */
describe('hypercall block layouts', () => {
  it('pins the offsets of section 2.1', () => {
    expect(L.CreatePartitionInput).toEqual({
      flags: 0,
      proximityDomainInfo: 8,
      compatibilityVersion: 16,
      disabledProcessorFeatures: 24,
      disabledProcessorXsaveFeatures: 40,
      reserved: 48,
      size: 56,
    });
    expect(L.GetPartitionPropertyInput).toEqual({ partitionId: 0, propertyCode: 8, size: 16 });
    expect(L.SetPartitionPropertyInput).toEqual({
      partitionId: 0,
      propertyCode: 8,
      propertyValue: 16,
      size: 24,
    });
    expect(L.GetNextChildPartitionInput).toEqual({ parentId: 0, previousChildId: 8, size: 16 });
    expect(L.WithdrawMemoryInput).toEqual({ partitionId: 0, proximityDomainInfo: 8, size: 16 });
    expect(L.GetMemoryBalanceOutput).toEqual({ pagesAvailable: 0, pagesInUse: 8, size: 16 });
    expect(L.MapGpaPagesInput).toEqual({ targetPartitionId: 0, targetGpaBase: 8, mapFlags: 16, size: 24 });
    expect(L.InstallInterceptInput).toEqual({
      partitionId: 0,
      accessType: 8,
      interceptType: 12,
      interceptParameter: 16,
      size: 24,
    });
    expect(L.CreateVpInput).toEqual({
      partitionId: 0,
      vpIndex: 8,
      subnodeType: 15,
      subnodeId: 16,
      proximityDomainInfo: 24,
      flags: 32,
      size: 40,
    });
    expect(L.VpRegistersInput).toEqual({ partitionId: 0, vpIndex: 8, inputVtl: 12, size: 16 });
    expect(L.SetVpRegistersInputElement).toEqual({ name: 0, reserved: 4, value: 16, size: 32 });
    expect(L.GetVpRegistersOutputElement.size).toBe(16);
    expect(L.TranslateVirtualAddressInput).toEqual({
      partitionId: 0,
      vpIndex: 8,
      controlFlags: 16,
      gvaPage: 24,
      size: 32,
    });
    expect(L.TranslateVirtualAddressOutput).toEqual({ translationResult: 0, gpaPage: 8, size: 16 });
    expect(L.ReadGpaInput).toEqual({
      partitionId: 0,
      vpIndex: 8,
      byteCount: 12,
      baseGpa: 16,
      controlFlags: 24,
      size: 32,
    });
    expect(L.ReadGpaOutput).toEqual({ accessResult: 0, data: 8, size: 24 });
    expect(L.WriteGpaInput.data).toBe(32);
    expect(L.WriteGpaInput.size).toBe(48);
    expect(L.AssertVirtualInterruptInput).toEqual({
      destinationPartition: 0,
      interruptControl: 8,
      destinationAddress: 16,
      requestedVector: 24,
      targetVtl: 28,
      size: 32,
    });
    expect(L.CreatePortInput).toEqual({
      portPartition: 0,
      portId: 8,
      portVtl: 12,
      minConnectionVtl: 13,
      connectionPartition: 16,
      portInfo: 24,
      proximityDomainInfo: 48,
      size: 56,
    });
    expect(L.ConnectPortInput).toEqual({
      connectionPartition: 0,
      connectionId: 8,
      connectionVtl: 12,
      portPartition: 16,
      portId: 24,
      connectionInfo: 32,
      proximityDomainInfo: 64,
      size: 72,
    });
    expect(L.ConnectPortDeprecatedInput.connectionInfo).toBe(32);
    expect(L.GetPortPropertyInput).toEqual({ portPartition: 0, portId: 8, propertyCode: 16, size: 24 });
    expect(L.PostMessageInput).toEqual({
      connectionId: 0,
      messageType: 8,
      payloadSize: 12,
      payload: 16,
      size: 256,
    });
    expect(L.SignalEventInput).toEqual({ connectionId: 0, flagNumber: 4, size: 8 });
    expect(L.SavePartitionStateOutput).toEqual({ saveState: 0, dataCount: 4, data: 8, size: 8 + 4080 });
    expect(L.RestorePartitionStateInput).toEqual({
      partitionId: 0,
      flags: 8,
      dataCount: 12,
      data: 16,
      size: 16 + 4080,
    });
    expect(L.RestorePartitionStateOutput).toEqual({ restoreState: 0, bytesConsumed: 4, size: 8 });
  });

  it('pins the offsets of section 2.2', () => {
    expect(L.FlushVirtualAddressSpaceInput).toEqual({
      addressSpace: 0,
      flags: 8,
      processorMask: 16,
      size: 24,
    });
    expect(L.SendSyntheticClusterIpiInput).toEqual({ vector: 0, targetVtl: 4, processorMask: 8, size: 16 });
    expect(L.SendSyntheticClusterIpiExInput.vpSetFormat).toBe(8);
    expect(L.StartVirtualProcessorInput).toEqual({
      partitionId: 0,
      vpIndex: 8,
      targetVtl: 12,
      vpContext: 16,
      size: 16 + 224,
    });
    expect(L.GetVpIndexFromApicIdInput).toEqual({ partitionId: 0, targetVtl: 8, size: 16 });
    expect(L.HvFlushFlags).toEqual({
      AllProcessors: 1,
      AllVirtualAddressSpaces: 2,
      NonGlobalMappingsOnly: 4,
      UseExtendedRangeFormat: 8,
    });
    expect(L.HvVpSetLayout).toEqual({ format: 0, validBanksMask: 8, bankContents: 16 });
    expect(L.HvVpSetFormat).toEqual({ Sparse4k: 0, All: 1 });
  });

  it('keeps every field inside its block and every block 8-byte padded', () => {
    for (const [name, layout] of Object.entries(L)) {
      if (typeof layout !== 'object' || !('size' in layout)) continue;
      const { size, ...fields } = layout as Record<string, number>;
      expect(size! % 8, name).toBe(name.endsWith('Element') && size === 4 ? 4 : 0);
      const offsets = Object.values(fields);
      // The HV_VP_SET banks start the variable header, right after the fixed one.
      const { vpSetBanks, ...fixed } = fields;
      if (vpSetBanks !== undefined) expect(vpSetBanks, name).toBe(size);
      for (const off of Object.values(fixed)) expect(off, `${name}`).toBeLessThan(Math.max(size!, 1));
      expect(
        [...offsets].sort((a, b) => a - b),
        name,
      ).toEqual(offsets);
    }
  });
});
