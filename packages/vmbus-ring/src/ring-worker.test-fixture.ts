// Worker side of the two-thread ring tests: plays the writer or the reader of one ring per request.
import { parentPort } from 'node:worker_threads';
import { IncomingRing } from './incoming.js';
import type { RingMemory } from './memory.js';
import { OutgoingRing } from './outgoing.js';
import { type ReaderPlan, runReader, runWriter, type WriterPlan } from './stream.test-fixture.js';

export interface WorkerRequest {
  readonly role: 'writer' | 'reader';
  readonly memory: RingMemory;
  /** [0] the reader's doorbell, [1] the writer's doorbell. */
  readonly doorbells: Int32Array;
  readonly writer?: WriterPlan;
  readonly reader?: ReaderPlan;
  readonly timeoutMs: number;
}

function ring(doorbells: Int32Array, mine: number) {
  const peer = 1 - mine;
  return {
    signal: () => {
      Atomics.add(doorbells, peer, 1);
      Atomics.notify(doorbells, peer);
    },
    doorbell: doorbells,
    doorbellIndex: mine,
  };
}

parentPort!.on('message', (req: WorkerRequest) => {
  if (req.role === 'writer') {
    const out = OutgoingRing.open(req.memory, ring(req.doorbells, 1));
    if (!(out instanceof OutgoingRing)) return parentPort!.postMessage({ count: 0, error: out.message });
    parentPort!.postMessage({ started: true });
    parentPort!.postMessage(runWriter(out, req.writer!, req.timeoutMs));
  } else {
    const inc = IncomingRing.open(req.memory, ring(req.doorbells, 0));
    if (!(inc instanceof IncomingRing)) return parentPort!.postMessage({ count: 0, error: inc.message });
    parentPort!.postMessage({ started: true });
    parentPort!.postMessage(runReader(inc, req.reader!, req.timeoutMs));
  }
});
