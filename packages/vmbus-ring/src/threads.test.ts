import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { RingMemoryError } from './errors.js';
import { IncomingRing } from './incoming.js';
import type { RingMemory } from './memory.js';
import { OutgoingRing } from './outgoing.js';
import { contiguous, control, scattered } from './ring-test-support.test-fixture.js';
import type { WorkerRequest } from './ring-worker.test-fixture.js';
import { runReader, runWriter, type StreamResult } from './stream.test-fixture.js';

let worker: Worker;
const inbox: unknown[] = [];
let wake: (() => void) | undefined;

beforeAll(() => {
  worker = spawnWorker(new URL('./ring-worker.test-fixture.js', import.meta.url));
  worker.on('message', (m) => {
    inbox.push(m);
    wake?.();
  });
});
afterAll(async () => {
  await worker.terminate();
});

async function nextMessage(): Promise<unknown> {
  while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
  return inbox.shift();
}

/** Signals the peer by bumping its doorbell word; sleeps on its own. */
function ends(doorbells: Int32Array, mine: number) {
  return {
    signal: () => {
      Atomics.add(doorbells, 1 - mine, 1);
      Atomics.notify(doorbells, 1 - mine);
    },
    doorbell: doorbells,
    doorbellIndex: mine,
  };
}

const TIMEOUT = 20_000;

test('a full ring blocks the writer thread; the reader’s pending_send_sz signal releases it', async () => {
  const memory = contiguous(1);
  const doorbells = new Int32Array(new SharedArrayBuffer(8));
  const reader = IncomingRing.open(memory, ends(doorbells, 0));
  if (reader instanceof RingMemoryError) throw reader;
  const sizes = Array.from({ length: 40 }, () => 1000); // footprint 1024: three fit in 4088 bytes
  const req: WorkerRequest = {
    role: 'writer',
    memory,
    doorbells,
    writer: { sizes, batches: [1], pauses: [0] },
    timeoutMs: TIMEOUT,
  };
  worker.postMessage(req);
  expect(await nextMessage()).toEqual({ started: true });
  const ctl = control(memory);
  // The writer fills the ring, then parks with pending_send_sz set to the packet it could not write.
  const t0 = Date.now();
  while (Atomics.load(ctl, 3) === 0 && Date.now() - t0 < TIMEOUT) await new Promise((r) => setTimeout(r, 5));
  expect(Atomics.load(ctl, 3)).toBe(1024);
  const parkedAt = Atomics.load(ctl, 0);
  await new Promise((r) => setTimeout(r, 200));
  expect(Atomics.load(ctl, 0)).toBe(parkedAt);
  expect(inbox).toEqual([]);

  const read = runReader(reader, { count: sizes.length, modes: [2], pauses: [0], maxPayload: 1000 }, TIMEOUT);
  const wrote = (await nextMessage()) as StreamResult;
  expect(read.error).toBeUndefined();
  expect(wrote.error).toBeUndefined();
  expect(read.count).toBe(40);
  expect(wrote.count).toBe(40);
  // Every wake-up the writer got came from a pending_send_sz transition, one per park at most.
  expect(wrote.waits).toBeGreaterThan(0);
  expect(reader.signalCount).toBeGreaterThan(0);
  expect(reader.signalCount).toBeLessThanOrEqual(wrote.waits);
  expect(Atomics.load(ctl, 3)).toBe(0);
});

test('random send/receive interleavings across two threads lose, duplicate and reorder nothing', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        mainWrites: fc.boolean(),
        scatter: fc.boolean(),
        dataPages: fc.integer({ min: 1, max: 4 }),
        sizes: fc.array(fc.integer({ min: 12, max: 3000 }), { minLength: 50, maxLength: 1500, size: 'max' }),
        batches: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
        writerPauses: fc.array(fc.constantFrom(0, 0, 0, 0.05, 1), { minLength: 1, maxLength: 5 }),
        readerPauses: fc.array(fc.constantFrom(0, 0, 0, 0.05, 1), { minLength: 1, maxLength: 5 }),
        modes: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
      }),
      async (p) => {
        const memory: RingMemory = p.scatter ? scattered(p.dataPages) : contiguous(p.dataPages);
        const doorbells = new Int32Array(new SharedArrayBuffer(8));
        const writer = { sizes: p.sizes, batches: p.batches, pauses: p.writerPauses };
        const reader = { count: p.sizes.length, modes: p.modes, pauses: p.readerPauses, maxPayload: 3000 };
        let mine: StreamResult;
        if (p.mainWrites) {
          const out = OutgoingRing.open(memory, ends(doorbells, 1));
          if (out instanceof RingMemoryError) throw out;
          worker.postMessage({
            role: 'reader',
            memory,
            doorbells,
            reader,
            timeoutMs: TIMEOUT,
          } satisfies WorkerRequest);
          expect(await nextMessage()).toEqual({ started: true });
          mine = runWriter(out, writer, TIMEOUT);
        } else {
          const inc = IncomingRing.open(memory, ends(doorbells, 0));
          if (inc instanceof RingMemoryError) throw inc;
          worker.postMessage({
            role: 'writer',
            memory,
            doorbells,
            writer,
            timeoutMs: TIMEOUT,
          } satisfies WorkerRequest);
          expect(await nextMessage()).toEqual({ started: true });
          mine = runReader(inc, reader, TIMEOUT);
        }
        const theirs = (await nextMessage()) as StreamResult;
        expect(mine.error).toBeUndefined();
        expect(theirs.error).toBeUndefined();
        expect(mine.count).toBe(p.sizes.length);
        expect(theirs.count).toBe(p.sizes.length);
      },
    ),
    { numRuns: 40 },
  );
});
