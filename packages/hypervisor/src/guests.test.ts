// Child partitions running guest images on their own VP threads.
import { HvMsr, HvStatus } from '@viridian/hvdef';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SYNIC_BURST } from './guest.test-fixture.js';
import { connectRootVp, type GuestVp } from './guest-vp.js';
import { bootChild, guestMessages, waitGuest } from './harness.test-fixture.js';
import { Hypervisor } from './hypervisor.js';

const SELF = 0xffff_ffff_ffff_ffffn;
let hv: Hypervisor;
let root: GuestVp;
const ROOT_SIMP = 0x20_0000;

beforeAll(async () => {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
  root = connectRootVp(await hv.attachRootVp());
  // The root takes intercept messages on SINT0 like a parent partition does.
  root.wrmsr(HvMsr.Simp, BigInt(ROOT_SIMP) | 1n);
  root.wrmsr(HvMsr.Sint0, 0x30n);
  root.wrmsr(HvMsr.Scontrol, 1n);
});
afterAll(async () => {
  expect((await hv.stats()).internalErrors).toEqual([]);
  await hv.stop();
});

test('a child gets ACCESS_DENIED for management calls, #GP for MSRs it may not touch, #UD before enabling hypercalls', async () => {
  const id = bootChild(root, { scenario: 'denied', vps: 1 });
  const r = await waitGuest(hv, id, (d) => 'before' in d);
  expect(r).toMatchObject({
    before: 'UD',
    createPartition: HvStatus.AccessDenied,
    getPartitionId: HvStatus.AccessDenied,
    createPort: HvStatus.AccessDenied,
    depositMemory: HvStatus.AccessDenied,
    selfRegisters: HvStatus.AccessDenied,
    postUnconnected: HvStatus.InvalidConnectionId,
    signalUnconnected: HvStatus.InvalidConnectionId,
    referenceTscMsr: 0, // readable by default: guests use the reference TSC page
    unknownMsr: 'GP',
    writeVpIndex: 'GP',
    vpIndex: 0,
    eoiReserved: 'GP',
    stimerReserved: 'GP',
    sintLowVector: 'GP',
    x2apicEoiNonZero: 'GP',
    cpuidVendor: { eax: 0x4000_0006, ebx: 0x7263_694d, ecx: 0x666f_736f, edx: 0x7648_2074 },
    cpuidInterface: 0x3123_7648,
    // The TLFS-2.0 child MSR bits plus AccessPartitionReferenceTsc (bit 9) in EAX; PostMessages and
    // SignalEvents in EBX.
    cpuidPrivileges: { eax: 0x7ff, ebx: 0x30 },
  });
});

test('partitions are isolated: separate RAM, unmapped and out-of-space GPAs become intercepts to the root', async () => {
  const a = bootChild(root, { pages: 32 });
  expect(root.unmapGpaPages(a, 31n, 1).status).toBe(0);
  root.setPartitionImage(a, new URL('./guest.test-fixture.ts?scenario=memory', import.meta.url));
  expect(root.createVp(a, 0)).toBe(0);
  const ra = await waitGuest(hv, a, (d) => 'own' in d);
  expect(ra).toMatchObject({
    before: 0,
    own: 0xc0ffee,
    faults: { beyond: 'MEMORY_INTERCEPT', unmapped: 'MEMORY_INTERCEPT' },
  });

  // B runs after A wrote its page: B's GPA 0x5000 is B's own memory and still zero.
  const b = bootChild(root, { scenario: 'memory', pages: 16, vps: 1 });
  const rb = await waitGuest(hv, b, (d) => 'own' in d);
  expect(rb).toMatchObject({ before: 0, own: 0xc0ffee });

  // The root received A's first intercept in its SINT0 slot, the next one after EOM.
  const slot = new DataView(root.memory.ram, ROOT_SIMP, 256);
  const intercepts: { type: number; origin: bigint; gpa: bigint }[] = [];
  for (let i = 0; i < 50 && intercepts.length < 2; i++) {
    if (slot.getUint32(0, true) !== 0) {
      intercepts.push({
        type: slot.getUint32(0, true),
        origin: slot.getBigUint64(8, true),
        gpa: slot.getBigUint64(16 + 56, true),
      });
      slot.setUint32(0, 0, true);
      root.wrmsr(HvMsr.Eom, 0n);
    } else await new Promise((r) => setTimeout(r, 20));
  }
  expect(intercepts.slice(0, 2)).toEqual([
    { type: 0x8000_0000, origin: a, gpa: 0x10_0000n },
    { type: 0x8000_0000, origin: a, gpa: 0x1f000n },
  ]);
});

test('INIT/SIPI from the BSP starts the second VP at the startup vector', async () => {
  const id = bootChild(root, { scenario: 'smp', vps: 2 });
  const ap = await waitGuest(hv, id, (d) => 'ap' in d);
  expect(ap).toEqual({ ap: 1, sipiVector: 0x10, rip: 0x10000n });
  const order = guestMessages(hv, id).map((d) => Object.keys(d as object)[0]);
  expect(order).toEqual(['bsp', 'ap']);
});

test('SynIC: a burst queued behind a busy slot is delivered whole with EOM only on MessagePending', async () => {
  const id = bootChild(root, { scenario: 'synic-burst', vps: 1 });
  expect(root.createPort(id, 5, hv.rootPartitionId, { type: 1, sint: 2, vp: 0 })).toBe(0);
  expect(
    root.createPort(id, 6, hv.rootPartitionId, { type: 2, sint: 3, vp: 0, baseFlag: 0, flagCount: 1 }),
  ).toBe(0);
  expect(root.connectPort(SELF, 0x51, id, 5, 1)).toBe(0);
  expect(root.connectPort(SELF, 0x61, id, 6, 2)).toBe(0);
  await waitGuest(hv, id, (d) => d.ready === true);
  // Back to back: the first lands in the slot, the rest wait in the hypervisor's queue.
  for (let i = 1; i <= SYNIC_BURST; i++) expect(root.postMessage(0x51, 0x42, new Uint8Array([i]))).toBe(0);
  expect(root.signalEvent(0x61, 0)).toBe(0);
  const r = await waitGuest(hv, id, (d) => 'got' in d);
  // Every message but the last went out with MessagePending: the guest's EOM fetched the next.
  expect(r.got).toEqual(
    Array.from({ length: SYNIC_BURST }, (_, i) => ({ first: i + 1, pending: i < SYNIC_BURST - 1 })),
  );
});

test('SynIC: a busy slot gets MessagePending, EOM delivers the next message; event flags interrupt on 0→1', async () => {
  const id = bootChild(root, { scenario: 'synic', vps: 1 });
  expect(root.createPort(id, 5, hv.rootPartitionId, { type: 1, sint: 2, vp: 0 })).toBe(0);
  expect(
    root.createPort(id, 6, hv.rootPartitionId, { type: 2, sint: 2, vp: 0, baseFlag: 0, flagCount: 8 }),
  ).toBe(0);
  expect(root.connectPort(SELF, 0x50, id, 5, 1)).toBe(0);
  expect(root.connectPort(SELF, 0x60, id, 6, 2)).toBe(0);
  await waitGuest(hv, id, (d) => d.ready === true);
  expect(root.postMessage(0x50, 0x42, new Uint8Array([1]))).toBe(0);
  await waitGuest(hv, id, (d) => d.got === 1);
  // The slot is still occupied: this one waits in the queue.
  expect(root.postMessage(0x50, 0x42, new Uint8Array([2]))).toBe(0);
  const r = await waitGuest(hv, id, (d) => 'pendingSeen' in d);
  expect(r).toEqual({
    pendingSeen: true,
    seen: [
      { type: 0x42, first: 1, pending: false },
      { type: 0x42, first: 2, pending: false },
    ],
  });
  expect(root.signalEvent(0x60, 3)).toBe(0);
  expect(await waitGuest(hv, id, (d) => 'events' in d)).toEqual({ events: 1 << 3 });

  // The guest stopped consuming: one message lands in the slot, 16 fill the port's buffers.
  for (let i = 0; i < 17; i++) expect(root.postMessage(0x50, 0x43, new Uint8Array([i]))).toBe(0);
  expect(root.postMessage(0x50, 0x43, new Uint8Array([99]))).toBe(HvStatus.InsufficientBuffers);
});
