// A CPU-bound guest for scheduler tests: computes in short bursts and reaches a safe point
// (vp.yield()) between them, as a guest's event loop does. `?chunk=` sets the burst in ms.
// `?mode=runtime`: burns, halts, burns, and reports VP_RUNTIME and wall time to the host.
import { parentPort } from 'node:worker_threads';
import { HvMsr } from '@viridian/hvdef';
import type { GuestVp } from '../guest-vp.js';

const query = new URL(import.meta.url).searchParams;
const chunkMs = Number(query.get('chunk') ?? '0.2');
let x = 1;

async function burn(vp: GuestVp, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const end = performance.now() + chunkMs;
    while (performance.now() < end) x = (x * 1.000001 + 1) % 1e9;
    await vp.yield();
  }
}

export async function main(vp: GuestVp): Promise<void> {
  if (query.get('mode') === 'runtime') {
    const t0 = performance.now();
    const r0 = vp.rdmsr(HvMsr.VpRuntime);
    await burn(vp, 200);
    await vp.haltFor(400); // nothing interrupts it: 400 ms idle
    await burn(vp, 200);
    const r1 = vp.rdmsr(HvMsr.VpRuntime);
    parentPort?.postMessage({ runtimeMs: Number(r1 - r0) / 1e4, wallMs: performance.now() - t0 });
    return;
  }
  for (;;) await burn(vp, 1000);
}
