// Test transport: an IC channel over a real VMBus ring pair in a SharedArrayBuffer, shared by two threads.
// Each side drains its incoming ring when its doorbell moves (Atomics.waitAsync keeps the event loop free).
import { contiguousRingMemory, IncomingRing, OutgoingRing, ReadStatus } from '@viridian/vmbus-ring';
import type { IcChannel } from './channel.js';

const PAGE = 4096;
const DATA_PAGES = 3;
const RING_BYTES = (1 + DATA_PAGES) * PAGE;

export interface RingChannelHandle {
  readonly memory: SharedArrayBuffer;
  readonly doorbells: SharedArrayBuffer;
}

export function createRingChannel(): RingChannelHandle {
  return { memory: new SharedArrayBuffer(2 * RING_BYTES), doorbells: new SharedArrayBuffer(8) };
}

/** side 0 = host (writes ring 0, reads ring 1), side 1 = guest. */
export function openRingChannel(
  handle: RingChannelHandle,
  side: 0 | 1,
): IcChannel & { readonly closed: boolean } {
  const db = new Int32Array(handle.doorbells);
  const peer = 1 - side;
  const signal = () => {
    Atomics.add(db, peer, 1);
    Atomics.notify(db, peer);
  };
  const opts = { signal, doorbell: db, doorbellIndex: side };
  const out = OutgoingRing.open(contiguousRingMemory(handle.memory, side * RING_BYTES, DATA_PAGES), opts);
  const inc = IncomingRing.open(contiguousRingMemory(handle.memory, peer * RING_BYTES, DATA_PAGES), opts);
  if (out instanceof Error || inc instanceof Error) throw new Error('ring memory');
  let handler: ((p: Uint8Array) => void) | undefined;
  let closed = false;
  const backlog: Uint8Array[] = [];

  const flushBacklog = () => {
    while (backlog.length > 0) {
      const status = out.tryWriteInband(backlog[0]!, 0, 0);
      if (status > 0) {
        setTimeout(flushBacklog, 1);
        return;
      }
      backlog.shift();
    }
  };

  const drain = () => {
    do {
      inc.beginRead();
      while (inc.peek() === ReadStatus.Packet) {
        const copy = new Uint8Array(inc.packet.payloadLength);
        inc.packet.copyPayload(copy);
        inc.advance();
        handler?.(copy);
      }
    } while (inc.endRead());
  };

  const pump = async () => {
    while (!closed) {
      const seen = Atomics.load(db, side);
      drain();
      if (inc.error) return;
      const w = Atomics.waitAsync(db, side, seen);
      if (w.async) await w.value;
    }
  };

  return {
    get closed() {
      return closed;
    },
    send(payload) {
      if (closed) return;
      backlog.push(payload);
      if (backlog.length === 1) flushBacklog();
    },
    onPacket(h) {
      handler = h;
      void pump();
    },
    close() {
      closed = true;
      Atomics.add(db, side, 1);
      Atomics.notify(db, side);
    },
  };
}
