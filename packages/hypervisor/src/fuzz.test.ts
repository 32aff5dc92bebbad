// A hostile guest throws thousands of random hypercalls and MSR accesses at the hypervisor.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { connectRootVp, decodeResult, encodeInput, type GuestVp } from './guest-vp.js';
import { bootChild, guestMessages, waitGuest } from './harness.test-fixture.js';
import { Hypervisor } from './hypervisor.js';

let hv: Hypervisor;
let root: GuestVp;

beforeAll(async () => {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
  root = connectRootVp(await hv.attachRootVp());
});
afterAll(async () => hv.stop());

test('random hypercalls and MSR writes never crash the hypervisor; every answer is a TLFS status or a guest fault', async () => {
  const bystander = bootChild(root, { scenario: 'heartbeat', vps: 1 });
  await waitGuest(hv, bystander, (d) => d.beat === 1);
  const attacker = bootChild(root, { scenario: 'fuzz', vps: 1, pages: 32 });
  const result = (await waitGuest(hv, attacker, (d) => 'runs' in d, 60_000)) as {
    runs: number;
    answers: Record<string, number>;
    bad: string[];
  };
  expect(result.bad).toEqual([]);
  const total = Object.values(result.answers).reduce((a, b) => a + b, 0);
  expect(total).toBe(result.runs);
  expect(result.runs).toBeGreaterThanOrEqual(4000);
  // The inputs reached deep: successes, validation failures and faults all occurred.
  expect(result.answers['status:0']).toBeGreaterThan(0);
  expect(result.answers['status:3']).toBeGreaterThan(0);
  expect(result.answers['fault:GP']).toBeGreaterThan(0);

  // The hypervisor still answers the root, and the other partition kept running throughout.
  expect(decodeResult(root.fastHypercall(encodeInput(0x08), 0n, 0n)).status).toBe(0);
  const beatsBefore = guestMessages(hv, bystander).length;
  await waitGuest(hv, bystander, (d) => typeof d.beat === 'number' && d.beat >= beatsBefore + 3);
  expect(guestMessages(hv, bystander).every((d) => (d as { status: number }).status === 0)).toBe(true);
  const stats = await hv.stats();
  expect(stats.internalErrors).toEqual([]);
  expect(stats.partitions).toEqual(expect.arrayContaining([bystander, attacker]));
});
