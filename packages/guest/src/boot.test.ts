// A child partition on the real hypervisor boots the guest runtime's enlightenment: CPUID discovery,
// GUEST_OS_ID, hypercall page, clock source and SynIC pages, as the guest reports them.
import { CHILD_DEFAULT_PRIVILEGES, HvPartitionPrivilege, HvStatus, privilegeMask } from '@viridian/hvdef';
import { describe, expect, it } from 'vitest';
import { VIRIDIAN_GUEST_OS_ID } from './enlighten.js';
import { createChild, destroy, guestEvent, IMAGE, PAGES, rootVp } from './vm-harness.test-fixture.js';

describe('boot on the hypervisor', () => {
  it('enlightens with the default child privileges: GUEST_OS_ID, hypercall page, TIME_REF_COUNT clock, SynIC pages', async () => {
    const id = createChild(rootVp(), `${IMAGE.href}?scenario=enlighten`);
    const report = guestEvent(id, (d) => d.test === 'enlighten');
    expect(rootVp().createVp(id, 0)).toBe(0);
    const r = await report;
    destroy(rootVp(), id);
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
    const id = createChild(rootVp(), `${IMAGE.href}?scenario=enlighten`, privileges);
    const report = guestEvent(id, (d) => d.test === 'enlighten');
    expect(rootVp().createVp(id, 0)).toBe(0);
    const r = await report;
    destroy(rootVp(), id);
    expect(r.clock).toBe('tsc-page');
    expect(BigInt(`0x${r.referenceTsc}`) & 1n).toBe(1n);
    // The page clock read after the MSR must not be behind it, and not far ahead (generous: noisy CI).
    const skew = Number(BigInt(r.clockNow as string) - BigInt(r.msrNow as string));
    expect(skew).toBeGreaterThanOrEqual(-10_000);
    expect(skew).toBeLessThan(5_000_000);
  });
});
