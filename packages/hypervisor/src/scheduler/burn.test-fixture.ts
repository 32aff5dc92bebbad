// A CPU-bound guest for scheduler tests: computes in short bursts and reaches a safe point
// (vp.yield()) between them, as a guest's event loop does. `?chunk=` sets the burst in ms.
// `?mode=runtime`: burns, halts, burns, and reports VP_RUNTIME and wall time to the host.
// `?mode=waiter&wait=ms`: waits outside halt() first, then works and halts in turns, reporting ticks.
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
  if (query.get('mode') === 'waiter') {
    // Waits outside halt() first (invisible to the scheduler), then works and halts in turns.
    const word = new Int32Array(new SharedArrayBuffer(4));
    const keep = setInterval(() => undefined, 1000);
    const ms = Number(query.get('wait') ?? '300');
    parentPort?.postMessage({ waiting: ms });
    const w = (Atomics as unknown as { waitAsync: typeof waitAsyncType }).waitAsync(word, 0, 0, ms);
    if (w.async) await w.value;
    clearInterval(keep);
    for (let tick = 0; ; tick++) {
      await burn(vp, 2);
      parentPort?.postMessage({ tick });
      await vp.haltFor(5);
    }
  }
  for (;;) await burn(vp, 1000);
}

declare function waitAsyncType(
  a: Int32Array,
  i: number,
  v: number,
  t?: number,
): { async: false; value: string } | { async: true; value: Promise<string> };
