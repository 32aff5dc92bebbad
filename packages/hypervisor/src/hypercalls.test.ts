import { HvCallCode, HvPartitionProperty, HvStatus, ROOT_PRIVILEGES } from '@viridian/hvdef';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectRootVp, decodeResult, encodeInput, type GuestVp } from './guest-vp.js';
import { bootChild } from './harness.test-fixture.js';
import { Hypervisor } from './hypervisor.js';

const SELF = 0xffff_ffff_ffff_ffffn;
let hv: Hypervisor;
let root: GuestVp;
const IN = 0x10_0000;
const OUT = 0x10_1000;

beforeAll(async () => {
  hv = await Hypervisor.start({
    rootMemoryBytes: 4 * 1024 * 1024,
    repSliceElements: 4,
    maxVpsPerPartition: 8,
  });
  root = connectRootVp(await hv.attachRootVp());
});
afterAll(async () => {
  const stats = await hv.stats();
  expect(stats.internalErrors).toEqual([]);
  await hv.stop();
});

const raw = (input: bigint, inGpa: number | bigint = IN, outGpa: number | bigint = OUT) =>
  decodeResult(root.hypercall(input, inGpa, outGpa));

describe('common checks (TLFS 1.5)', () => {
  test('unknown call code → INVALID_HYPERCALL_CODE', () => {
    expect(raw(encodeInput(0x7fff)).status).toBe(HvStatus.InvalidHypercallCode);
    expect(raw(encodeInput(0x00)).status).toBe(HvStatus.InvalidHypercallCode);
  });

  test('reserved bits, nested bit, variable header on a call without one → INVALID_HYPERCALL_INPUT', () => {
    const base = encodeInput(HvCallCode.GetPartitionId);
    for (const bit of [27n, 30n, 31n, 44n, 47n, 60n, 63n]) {
      expect(raw(base | (1n << bit)).status, `bit ${bit}`).toBe(HvStatus.InvalidHypercallInput);
    }
    expect(raw(encodeInput(HvCallCode.GetPartitionId, { varHeader: 1 })).status).toBe(
      HvStatus.InvalidHypercallInput,
    );
  });

  test('rep count rules → INVALID_HYPERCALL_INPUT', () => {
    expect(raw(encodeInput(HvCallCode.GetPartitionId, { repCount: 1 })).status).toBe(
      HvStatus.InvalidHypercallInput,
    );
    expect(raw(encodeInput(HvCallCode.GetPartitionId, { repStart: 1 })).status).toBe(
      HvStatus.InvalidHypercallInput,
    );
    expect(raw(encodeInput(HvCallCode.GetVpRegisters)).status).toBe(HvStatus.InvalidHypercallInput);
    expect(raw(encodeInput(HvCallCode.GetVpRegisters, { repCount: 2, repStart: 2 })).status).toBe(
      HvStatus.InvalidHypercallInput,
    );
  });

  test('fast form of a call that is not fast-capable → INVALID_HYPERCALL_INPUT', () => {
    const r = decodeResult(root.fastHypercall(encodeInput(HvCallCode.CreatePartition), 0n, 0n));
    expect(r.status).toBe(HvStatus.InvalidHypercallInput);
  });

  test('misaligned, page-crossing or out-of-space parameter GPAs → INVALID_ALIGNMENT', () => {
    const get = encodeInput(HvCallCode.GetPartitionProperty);
    expect(raw(get, IN + 4).status).toBe(HvStatus.InvalidAlignment);
    expect(raw(get, IN + 0xff8).status).toBe(HvStatus.InvalidAlignment); // 16 bytes cross the page
    expect(raw(get, IN, OUT + 2).status).toBe(HvStatus.InvalidAlignment);
    expect(raw(get, 1n << 40n).status).toBe(HvStatus.InvalidAlignment);
    expect(raw(get, IN, IN).status).toBe(HvStatus.InvalidParameter); // overlapping blocks
  });

  test('NotifyLongSpinWait always succeeds, fast or not', () => {
    expect(decodeResult(root.fastHypercall(encodeInput(HvCallCode.NotifyLongSpinWait), 5n, 0n)).status).toBe(
      0,
    );
    expect(raw(encodeInput(HvCallCode.NotifyLongSpinWait)).status).toBe(0);
  });
});

describe('partition lifecycle', () => {
  test('create → deposit → initialize → finalize → delete with every wrong-state answer', () => {
    const c = root.createPartition();
    expect(c.status).toBe(0);
    const id = c.partitionId;
    expect(root.createPartition(1n << 5n).status).toBe(HvStatus.InvalidParameter); // reserved creation flag
    expect(root.initializePartition(id)).toBe(HvStatus.InsufficientMemory); // empty pool
    expect(root.finalizePartition(id)).toBe(HvStatus.InvalidPartitionState);
    expect(root.createVp(id, 0)).toBe(HvStatus.InvalidPartitionState);
    expect(root.depositMemory(id, 8).status).toBe(0);
    expect(root.initializePartition(id)).toBe(0);
    expect(root.initializePartition(id)).toBe(HvStatus.InvalidPartitionState);
    expect(root.setPartitionProperty(id, HvPartitionProperty.PrivilegeFlags, 0n)).toBe(
      HvStatus.InvalidPartitionState,
    );
    expect(root.deletePartition(id)).toBe(HvStatus.InvalidPartitionState);
    expect(root.finalizePartition(id)).toBe(0);
    expect(root.createVp(id, 0)).toBe(HvStatus.InvalidPartitionState);
    expect(root.deletePartition(id)).toBe(0);
    expect(root.deletePartition(id)).toBe(HvStatus.InvalidPartitionId);
    expect(root.initializePartition(0x7777n)).toBe(HvStatus.InvalidPartitionId);
    expect(root.initializePartition(0n)).toBe(HvStatus.InvalidPartitionId);
    // The root is nobody's child: parent-only calls on SELF are refused.
    expect(root.finalizePartition(SELF)).toBe(HvStatus.AccessDenied);
    expect(root.deletePartition(SELF)).toBe(HvStatus.AccessDenied);
  });

  test('properties: defaults, ranges, unknown codes', () => {
    const id = root.createPartition().partitionId;
    expect(root.getPartitionProperty(id, HvPartitionProperty.CpuWeight).value).toBe(100n);
    expect(root.getPartitionProperty(id, HvPartitionProperty.CpuCap).value).toBe(0x10000n);
    expect(root.setPartitionProperty(id, HvPartitionProperty.CpuWeight, 400n)).toBe(0);
    expect(root.getPartitionProperty(id, HvPartitionProperty.CpuWeight).value).toBe(400n);
    expect(root.setPartitionProperty(id, HvPartitionProperty.CpuWeight, 0n)).toBe(
      HvStatus.PropertyValueOutOfRange,
    );
    expect(root.setPartitionProperty(id, HvPartitionProperty.CpuWeight, 10001n)).toBe(
      HvStatus.PropertyValueOutOfRange,
    );
    expect(root.setPartitionProperty(id, HvPartitionProperty.CpuCap, 0x10001n)).toBe(
      HvStatus.PropertyValueOutOfRange,
    );
    expect(root.getPartitionProperty(id, 0x1234_5678).status).toBe(HvStatus.UnknownProperty);
    expect(root.setPartitionProperty(id, 0x1234_5678, 0n)).toBe(HvStatus.UnknownProperty);
    expect(root.getPartitionProperty(0x9999n, HvPartitionProperty.CpuWeight).status).toBe(
      HvStatus.InvalidPartitionId,
    );
    // The root reads its own properties; it has every privilege.
    expect(root.getPartitionProperty(SELF, HvPartitionProperty.PrivilegeFlags).value).toBe(ROOT_PRIVILEGES);
  });

  test('GetPartitionId and GetNextChildPartition enumerate the children in order', () => {
    expect(root.getPartitionId()).toMatchObject({ status: 0, partitionId: hv.rootPartitionId });
    const a = root.createPartition().partitionId;
    const b = root.createPartition().partitionId;
    const seen: bigint[] = [];
    for (let prev = 0n; ; ) {
      const r = root.getNextChildPartition(SELF, prev);
      expect(r.status).toBe(0);
      if (r.next === 0n) break;
      seen.push(r.next);
      prev = r.next;
    }
    expect(seen).toEqual(expect.arrayContaining([a, b]));
    expect(seen).toEqual([...seen].sort((x, y) => (x < y ? -1 : 1)));
    expect(root.getNextChildPartition(a, 0n).status).toBe(HvStatus.AccessDenied);
    expect(root.getNextChildPartition(SELF, 0x5555n).status).toBe(HvStatus.InvalidParameter);
  });
});

describe('memory', () => {
  test('deposit and map: bad pages, partial completion with reps completed, time-sliced continuation', () => {
    const id = root.createPartition().partitionId;
    const dep = root.depositMemory(id, 16);
    expect(dep).toEqual({ status: 0, repsCompleted: 16 });
    expect(root.continuations).toBeGreaterThan(0); // 16 elements at 4 per slice
    expect(root.initializePartition(id)).toBe(0);
    const before = root.continuations;
    const pages = Array.from({ length: 10 }, (_, i) => BigInt(i));
    expect(root.mapGpaPages(id, 0n, 7, pages)).toEqual({ status: 0, repsCompleted: 10 });
    expect(root.continuations).toBeGreaterThan(before);
    // Element 2 names a pool page that does not exist: two reps done, then INVALID_PARAMETER.
    expect(root.mapGpaPages(id, 0n, 3, [1n, 2n, 99n, 3n])).toEqual({
      status: HvStatus.InvalidParameter,
      repsCompleted: 2,
    });
    expect(root.mapGpaPages(id, 15n, 3, [1n, 2n])).toEqual({
      status: HvStatus.InvalidParameter,
      repsCompleted: 1,
    });
    expect(root.mapGpaPages(id, 0n, 8, [1n]).status).toBe(HvStatus.InvalidParameter); // unknown map flag
    expect(root.unmapGpaPages(id, 0n, 3)).toEqual({ status: 0, repsCompleted: 3 });
    expect(root.unmapGpaPages(id, 14n, 4)).toEqual({ status: HvStatus.InvalidParameter, repsCompleted: 2 });
    expect(root.mapGpaPages(0x4444n, 0n, 3, [1n]).status).toBe(HvStatus.InvalidPartitionId);
  });
});

describe('VPs and registers', () => {
  test('CreateVp / DeleteVp / Get/SetVpRegisters error paths', () => {
    const id = bootChild(root, { pages: 8 });
    expect(root.createVp(id, 8)).toBe(HvStatus.InvalidVpIndex); // beyond maxVpsPerPartition
    expect(root.createVp(id, 0)).toBe(0);
    expect(root.createVp(id, 0)).toBe(HvStatus.InvalidVpIndex);
    expect(root.deleteVp(id, 3)).toBe(HvStatus.InvalidVpIndex);
    const set = root.setVpRegisters(id, 0, [
      { name: 0x2_0010, value: 0xfff0n },
      { name: 0x9_0002, value: 0x1234n }, // GuestOsId through the register interface
      { name: 0x7777, value: 1n },
    ]);
    expect(set).toEqual({ status: HvStatus.InvalidParameter, repsCompleted: 2 });
    const got = root.getVpRegisters(id, 0, [0x2_0010, 0x9_0002, 0x9_0003, 0x5555]);
    expect(got.status).toBe(HvStatus.InvalidParameter);
    expect(got.repsCompleted).toBe(3);
    expect(got.values).toEqual([0xfff0n, 0x1234n, 0n]);
    expect(root.getVpRegisters(id, 5, [0x2_0010]).status).toBe(HvStatus.InvalidVpIndex);
    expect(root.getVpRegisters(0x4444n, 0, [0x2_0010]).status).toBe(HvStatus.InvalidPartitionId);
    // A write that the MSR would #GP on (SINT vector < 16, unmasked) is INVALID_PARAMETER.
    expect(root.setVpRegisters(id, 0, [{ name: 0xa_0002, value: 0x05n }]).status).toBe(
      HvStatus.InvalidParameter,
    );
    expect(root.deleteVp(id, 0)).toBe(0);
    expect(root.getVpRegisters(id, 0, [0x2_0010]).status).toBe(HvStatus.InvalidVpIndex);
  });

  test('StartVirtualProcessor and SendSyntheticClusterIpi validation', () => {
    const id = bootChild(root, { pages: 8 });
    expect(root.createVp(id, 1)).toBe(0);
    expect(root.startVirtualProcessor(id, 4, 0x1000n)).toBe(HvStatus.InvalidVpIndex);
    expect(root.startVirtualProcessor(id, 1, 0x1000n)).toBe(0);
    expect(root.startVirtualProcessor(id, 1, 0x1000n)).toBe(HvStatus.InvalidVpState);
    expect(root.getVpRegisters(id, 1, [0x2_0010]).values).toEqual([0x1000n]);
    expect(root.sendSyntheticClusterIpi(0x0f, 1n)).toBe(HvStatus.InvalidParameter);
    expect(root.sendSyntheticClusterIpi(0x40, 1n << 40n)).toBe(HvStatus.InvalidParameter); // no such root VP
  });
});

describe('ports and messages', () => {
  test('CreatePort / ConnectPort / PostMessage / SignalEvent / Delete / Disconnect error paths', () => {
    const id = bootChild(root, { pages: 8, vps: 1 });
    const msg = { type: 1, sint: 2, vp: 0 };
    expect(root.createPort(id, 1 << 24, hv.rootPartitionId, msg)).toBe(HvStatus.InvalidPortId);
    expect(root.createPort(id, 5, id, msg)).toBe(HvStatus.InvalidParameter); // owner = connector
    expect(root.createPort(id, 5, hv.rootPartitionId, { ...msg, sint: 0 })).toBe(HvStatus.InvalidParameter);
    expect(root.createPort(id, 5, hv.rootPartitionId, { type: 3, sint: 2, vp: 0 })).toBe(
      HvStatus.InvalidParameter,
    );
    expect(
      root.createPort(id, 5, hv.rootPartitionId, { type: 2, sint: 2, vp: 0, baseFlag: 2040, flagCount: 9 }),
    ).toBe(HvStatus.InvalidParameter);
    expect(root.createPort(id, 5, 0x4444n, msg)).toBe(HvStatus.InvalidPartitionId);
    expect(root.createPort(id, 5, hv.rootPartitionId, msg)).toBe(0);
    expect(root.createPort(id, 5, hv.rootPartitionId, msg)).toBe(HvStatus.InvalidPortId); // in use
    expect(
      root.createPort(id, 6, hv.rootPartitionId, { type: 2, sint: 3, vp: 0, baseFlag: 0, flagCount: 4 }),
    ).toBe(0);

    expect(root.connectPort(SELF, 1 << 24, id, 5, 1)).toBe(HvStatus.InvalidConnectionId);
    expect(root.connectPort(SELF, 0x50, id, 99, 1)).toBe(HvStatus.InvalidPortId);
    expect(root.connectPort(SELF, 0x50, id, 5, 2)).toBe(HvStatus.InvalidParameter); // type mismatch
    expect(root.connectPort(SELF, 0x50, id, 5, 1)).toBe(0);
    expect(root.connectPort(SELF, 0x50, id, 5, 1)).toBe(HvStatus.InvalidConnectionId); // id in use
    expect(root.connectPort(SELF, 0x51, id, 5, 1)).toBe(HvStatus.InvalidPortId); // port already connected
    expect(root.connectPort(SELF, 0x60, id, 6, 2)).toBe(0);

    const payload = new Uint8Array([1, 2, 3]);
    expect(root.postMessage(0x99, 1, payload)).toBe(HvStatus.InvalidConnectionId);
    expect(root.postMessage(0x60, 1, payload)).toBe(HvStatus.InvalidPortId); // event port
    expect(root.postMessage(0x50, 0, payload)).toBe(HvStatus.InvalidParameter);
    expect(root.postMessage(0x50, 0x8000_0001, payload)).toBe(HvStatus.InvalidParameter);
    const big = root.hypercall(encodeInput(HvCallCode.PostMessage), 0, 0); // zero page: connection 0
    expect(decodeResult(big).status).toBe(HvStatus.InvalidConnectionId);
    // The guest has not enabled its SynIC: the named VP cannot take messages.
    expect(root.postMessage(0x50, 1, payload)).toBe(HvStatus.InvalidSynicState);
    expect(root.signalEvent(0x60, 4)).toBe(HvStatus.InvalidParameter); // flag >= FlagCount
    expect(root.signalEvent(0x60, 1)).toBe(HvStatus.InvalidSynicState);
    expect(root.signalEvent(0x50, 0)).toBe(HvStatus.InvalidPortId); // message port

    expect(root.disconnectPort(SELF, 0x77)).toBe(HvStatus.InvalidConnectionId);
    expect(root.deletePort(id, 77)).toBe(HvStatus.InvalidPortId);
    expect(root.deletePort(id, 5)).toBe(0);
    expect(root.postMessage(0x50, 1, payload)).toBe(HvStatus.InvalidPortId); // port deleted
    expect(root.disconnectPort(SELF, 0x50)).toBe(0);
    expect(root.postMessage(0x50, 1, payload)).toBe(HvStatus.InvalidConnectionId);
    // DeletePort is fast-capable (hvdef's call table): RDX = port partition, R8 = port id.
    const fastDelete = (port: number) =>
      decodeResult(root.fastHypercall(encodeInput(HvCallCode.DeletePort), id, BigInt(port))).status;
    expect(fastDelete(6)).toBe(0);
    expect(fastDelete(6)).toBe(HvStatus.InvalidPortId);
  });
});
