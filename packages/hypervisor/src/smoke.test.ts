import { afterAll, beforeAll, expect, test } from 'vitest';
import { HvCallCode, HvStatus } from './defs.js';
import { connectRootVp, decodeResult, encodeInput, type GuestVp } from './guest-vp.js';
import { Hypervisor } from './hypervisor.js';

let hv: Hypervisor;
let root: GuestVp;
beforeAll(async () => {
  hv = await Hypervisor.start();
  root = connectRootVp(await hv.attachRootVp());
});
afterAll(async () => hv.stop());

test('a null hypercall traps to the hypervisor thread and returns SUCCESS', () => {
  const r = decodeResult(root.fastHypercall(encodeInput(HvCallCode.NotifyLongSpinWait), 0n, 0n));
  expect(r.status).toBe(HvStatus.Success);
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) root.fastHypercall(encodeInput(HvCallCode.NotifyLongSpinWait), 0n, 0n);
  console.log('1000 null hypercalls ms', performance.now() - t0);
});

test('root creates a child', () => {
  const c = root.createPartition();
  expect(c.status).toBe(0);
  expect(c.partitionId).toBe(2n);
});
