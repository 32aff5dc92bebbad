// A CPU-bound guest for scheduler tests: computes in short bursts and reaches a safe point
// (vp.yield()) between them, as a guest's event loop does. `?chunk=` sets the burst in ms.
import type { GuestVp } from '../guest-vp.js';

const chunkMs = Number(new URL(import.meta.url).searchParams.get('chunk') ?? '0.2');

export async function main(vp: GuestVp): Promise<void> {
  let x = 1;
  for (;;) {
    const end = performance.now() + chunkMs;
    while (performance.now() < end) x = (x * 1.000001 + 1) % 1e9;
    await vp.yield();
    if (x < 0) return; // never: keeps the computation observable
  }
}
