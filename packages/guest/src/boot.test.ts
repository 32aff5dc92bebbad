import { CHILD_DEFAULT_PRIVILEGES, HvPartitionPrivilege, HvStatus, privilegeMask } from '@viridian/hvdef';
import { connectRootVp, type GuestVp, Hypervisor, type HypervisorEvent } from '@viridian/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIRIDIAN_GUEST_OS_ID } from './enlighten.js';

const IMAGE = new URL('./image.test-fixture.ts', import.meta.url);
const PAGES = 512;
const PRIVILEGES_PROPERTY = 0x0001_0000;

let hv: Hypervisor;
/** One root VP for every test: each VM's VMBus server takes its own SINT on it. */
let root: GuestVp;

beforeAll(async () => {
  hv = await Hypervisor.start();
  root = connectRootVp(await hv.attachRootVp());
});
afterAll(async () => {
  await hv?.stop();
});

function createChild(root: GuestVp, image: string, privileges: bigint = CHILD_DEFAULT_PRIVILEGES): bigint {
  const c = root.createPartition();
  expect(c.status).toBe(0);
  const id = c.partitionId;
  expect(root.setPartitionProperty(id, PRIVILEGES_PROPERTY, privileges)).toBe(0);
  // One parameter page holds 511 deposit elements: deposit in chunks.
  for (let n = 0; n < PAGES; n += 256)
    expect(root.depositMemory(id, Math.min(256, PAGES - n)).status).toBe(0);
  expect(root.initializePartition(id)).toBe(0);
  const all = Array.from({ length: PAGES }, (_, i) => BigInt(i));
  for (let n = 0; n < PAGES; n += 256)
    expect(root.mapGpaPages(id, BigInt(n), 7, all.slice(n, n + 256)).status).toBe(0);
  root.setPartitionImage(id, image);
  return id;
}

/** The first `guest` event of partition `id` matching, past or future; on timeout, says what was seen. */
function guestEvent(id: bigint, match: (d: Record<string, unknown>) => boolean, timeoutMs = 20_000) {
  const mine = (e: HypervisorEvent) =>
    e.type === 'guest' && e.partitionId === id && match(e.data as Record<string, unknown>);
  const past = hv.events.find(mine);
  if (past) return Promise.resolve((past as { data: Record<string, unknown> }).data);
  return hv
    .waitForEvent(mine, timeoutMs)
    .then((e) => (e as Extract<HypervisorEvent, { type: 'guest' }>).data as Record<string, unknown>)
    .catch((error: unknown) => {
      const seen = hv.events.filter((e) => 'partitionId' in e && e.partitionId === id).slice(-8);
      throw new Error(
        `${String(error)}; last events: ${JSON.stringify(seen, (_, v) => (typeof v === 'bigint' ? `${v}` : v instanceof SharedArrayBuffer ? 'SAB' : v))}`,
      );
    });
}

/** Tears a child down (its VPs stop holding processors the scheduler hands out). */
function destroy(root: GuestVp, id: bigint): void {
  root.finalizePartition(id);
  root.deletePartition(id);
}

describe('boot on the hypervisor', () => {
  it('enlightens with the default child privileges: GUEST_OS_ID, hypercall page, TIME_REF_COUNT clock, SynIC pages', async () => {
    const id = createChild(root, `${IMAGE.href}?scenario=enlighten`);
    const report = guestEvent(id, (d) => d.test === 'enlighten');
    expect(root.createVp(id, 0)).toBe(0);
    const r = await report;
    destroy(root, id);
    expect(BigInt(`0x${r.guestOsId}`)).toBe(VIRIDIAN_GUEST_OS_ID);
    expect(VIRIDIAN_GUEST_OS_ID >> 56n).toBe(0x80n | 0x56n); // open-source bit + OS type 0x56
    const gpa = r.hypercallPageGpa as number;
    expect(gpa % 4096).toBe(0);
    expect(gpa).toBeGreaterThan(0);
    expect(BigInt(`0x${r.hypercall}`)).toBe(BigInt(gpa) | 1n);
    expect(r.clock).toBe('msr'); // a default child has no AccessPartitionReferenceTsc
    expect(Number(r.elapsed100ns)).toBeGreaterThan(100_000); // ≥ 10 ms of the 30 ms halt
    expect(BigInt(`0x${r.simp}`)).toBe(BigInt(r.simpGpa as number) | 1n);
    expect(BigInt(`0x${r.siefp}`)).toBe(BigInt(r.siefpGpa as number) | 1n);
    expect(BigInt(`0x${r.scontrol}`) & 1n).toBe(1n);
    expect(r.signal).toBe(HvStatus.InvalidConnectionId); // the call went through the page
    expect(r.freePages).toBe(PAGES - 1 - 1 - 2 - 2); // page 0, hypercall page, parameter pages, SIMP + SIEFP
  });

  it('uses the reference TSC page when the privilege is granted, agreeing with TIME_REF_COUNT', async () => {
    const privileges =
      CHILD_DEFAULT_PRIVILEGES | privilegeMask(HvPartitionPrivilege.AccessPartitionReferenceTsc);
    const id = createChild(root, `${IMAGE.href}?scenario=enlighten`, privileges);
    const report = guestEvent(id, (d) => d.test === 'enlighten');
    expect(root.createVp(id, 0)).toBe(0);
    const r = await report;
    destroy(root, id);
    expect(r.clock).toBe('tsc-page');
    expect(BigInt(`0x${r.referenceTsc}`) & 1n).toBe(1n);
    // The page clock read after the MSR must not be behind it, and not far ahead (generous: noisy CI).
    const skew = Number(BigInt(r.clockNow as string) - BigInt(r.msrNow as string));
    expect(skew).toBeGreaterThanOrEqual(-10_000);
    expect(skew).toBeLessThan(5_000_000);
  });
});
