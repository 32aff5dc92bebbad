// Ring memory builders for the tests.
import { contiguousRingMemory, type RingMemory } from './memory.js';

export const PAGE = 4096;

/** A ring of `dataPages` data pages laid out contiguously after its control page. */
export function contiguous(dataPages: number): RingMemory {
  return contiguousRingMemory(new SharedArrayBuffer((dataPages + 1) * PAGE), 0, dataPages);
}

/**
 * The same ring scattered over a buffer twice as large: pages in reverse order with gaps, as a
 * GPADL may hand them to the host.
 */
export function scattered(dataPages: number): RingMemory {
  const slots = (dataPages + 1) * 2;
  const pages: number[] = [];
  for (let i = 0; i <= dataPages; i++) pages.push((slots - 1 - 2 * i) * PAGE);
  return { buffer: new SharedArrayBuffer(slots * PAGE), pages };
}

/** Counts signals. */
export function counter(): { signal: () => void; readonly count: number } {
  const c = {
    count: 0,
    signal: () => {
      c.count++;
    },
  };
  return c;
}

/** Sets both indices of a fresh ring so the next packet starts at `offset`. */
export function placeIndices(memory: RingMemory, offset: number): void {
  const ctl = new Int32Array(memory.buffer, memory.pages[0]!, 32);
  ctl[0] = offset;
  ctl[1] = offset;
}

/** The data area as one array in ring order (copies). */
export function dataBytes(memory: RingMemory): Uint8Array {
  const n = memory.pages.length - 1;
  const out = new Uint8Array(n * PAGE);
  for (let i = 0; i < n; i++) out.set(new Uint8Array(memory.buffer, memory.pages[i + 1]!, PAGE), i * PAGE);
  return out;
}

export function control(memory: RingMemory): Int32Array {
  return new Int32Array(memory.buffer, memory.pages[0]!, 32);
}
