import { expect, test } from 'vitest';
import { contiguousRingMemory, IncomingRing, OutgoingRing, ReadStatus, WaitStatus } from './index.js';

test('the README example runs as documented', () => {
  const seen: unknown[][] = [];
  const push = seen.push.bind(seen);
  const record = { push: (...args: unknown[]) => push(args) };

  const buffer = new SharedArrayBuffer(5 * 4096);
  const memory = contiguousRingMemory(buffer, 0, 4); // control page + 16 KiB of data
  const doorbells = new Int32Array(new SharedArrayBuffer(8)); // [0] reader, [1] writer
  const ring = (mine: number) => ({
    signal: () => {
      Atomics.add(doorbells, 1 - mine, 1);
      Atomics.notify(doorbells, 1 - mine);
    },
    doorbell: doorbells,
    doorbellIndex: mine,
  });

  const out = OutgoingRing.open(memory, ring(1));
  const inc = IncomingRing.open(memory, ring(0));
  if (out instanceof Error || inc instanceof Error) throw new Error('bad ring memory');

  const hello = new TextEncoder().encode('hello');
  let status = out.tryWriteInband(hello, 42, 1); // completion requested
  if (status > 0 && out.waitForSpace(status, 1000) === WaitStatus.Ready)
    status = out.tryWriteInband(hello, 42, 1);

  inc.beginRead();
  while (inc.peek() === ReadStatus.Packet) {
    const p = inc.packet; // decoded in place; p.payloadLength is 8 (padded)
    const text = new Uint8Array(5);
    p.copyPayload(text, 0, 0, 5);
    record.push(p.type, p.transactionIdNumber, p.completionRequested, new TextDecoder().decode(text));
    inc.advance(); // a device would now answer with tryWriteCompletion on its opposite ring
  }
  if (inc.endRead()) {
    /* more arrived while masked: drain again */
  }
  if (inc.error) record.push(inc.error.code); // close the channel
  expect(seen).toEqual([[6, 42, true, 'hello']]);
});
