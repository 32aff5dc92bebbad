// A guest thread for the cross-thread tests: a VmbusClient over the thread transport, driven by
// commands from the test. Some commands behave like a hostile guest on purpose.

import { parentPort, workerData } from 'node:worker_threads';
import { OutgoingRing, RingMemoryError } from '@viridian/vmbus-ring';
import type { GuestChannel } from './client.js';
import { VmbusClient } from './client.js';
import { connectThreadTransport, type ThreadTransportHandle } from './transport.js';
import { encodeMessage, MessageType } from './wire.js';

interface Data {
  readonly handle: ThreadTransportHandle;
  readonly memory: SharedArrayBuffer;
  readonly versions?: number[];
}

const data = workerData as Data;
const port = parentPort!;
let nextPage = 16;
const transport = connectThreadTransport(data.handle);
const rescinded: number[] = [];
const client = new VmbusClient({
  memory: data.memory,
  transport,
  allocatePages: (n) => {
    const first = nextPage;
    nextPage += n;
    return first;
  },
  ...(data.versions ? { versions: data.versions } : {}),
  onRescind: (relid) => rescinded.push(relid),
});
const channels = new Map<number, GuestChannel>();

type Command =
  | { op: 'connect' }
  | { op: 'offers' }
  | { op: 'open'; relid: number }
  | { op: 'echo'; relid: number; count: number; size: number }
  | { op: 'stream'; relid: number; count: number; size: number }
  | { op: 'close'; relid: number }
  | { op: 'sendThenClose'; relid: number; count: number }
  | { op: 'rescinded' }
  | { op: 'corrupt'; relid: number }
  | { op: 'flood'; count: number }
  | { op: 'badGpadl'; relid: number };

async function run(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'connect':
      return client.connect();
    case 'offers':
      return client.offers.map((o) => o.relid);
    case 'open': {
      const offer = client.offers.find((o) => o.relid === cmd.relid)!;
      const ch = await client.open(offer, { ringPages: 4 });
      channels.set(cmd.relid, ch);
      return ch.relid;
    }
    case 'echo': {
      const ch = channels.get(cmd.relid)!;
      let ok = 0;
      for (let i = 0; i < cmd.count; i++) {
        const payload = new Uint8Array(cmd.size);
        for (let j = 0; j < payload.length; j++) payload[j] = (i * 31 + j) & 0xff;
        const reply = await ch.end.request(payload);
        if (Buffer.from(reply.payload.subarray(0, cmd.size)).equals(Buffer.from(payload))) ok++;
      }
      return ok;
    }
    case 'stream': {
      // Many requests in flight at once: back-pressure in both directions, completions matched by id.
      const ch = channels.get(cmd.relid)!;
      const all: Promise<boolean>[] = [];
      for (let i = 0; i < cmd.count; i++) {
        const payload = new Uint8Array(cmd.size).fill(i & 0xff);
        all.push(
          ch.end.request(payload).then(
            (r) => r.payload[0] === (i & 0xff),
            () => false,
          ),
        );
      }
      const results = await Promise.all(all);
      return { ok: results.filter(Boolean).length, failed: results.filter((x) => !x).length };
    }
    case 'close':
      await client.close(cmd.relid);
      channels.delete(cmd.relid);
      return true;
    case 'sendThenClose': {
      // Packets into the ring without a signal, then CLOSECHANNEL (as a guest replying and unloading
      // before the host looked): only the close tells the host there is anything to read.
      const first = findRingPage(cmd.relid);
      const ring = OutgoingRing.open(
        { buffer: data.memory, pages: Array.from({ length: 4 }, (_, i) => (first + i) * 4096) },
        { signal: () => undefined, doorbell: new Int32Array(new SharedArrayBuffer(4)), doorbellIndex: 0 },
      );
      if (ring instanceof RingMemoryError) throw ring;
      for (let i = 0; i < cmd.count; i++) ring.tryWriteInband(new Uint8Array(8).fill(i & 0xff));
      await client.close(cmd.relid);
      channels.delete(cmd.relid);
      return true;
    }
    case 'rescinded':
      return rescinded;
    case 'corrupt': {
      // Write a misaligned write_index into the guest->host ring's control page and signal.
      const firstPage = findRingPage(cmd.relid);
      new Int32Array(data.memory, firstPage * 4096, 4)[0] = 13;
      transport.signalHost(cmd.relid, 0);
      return true;
    }
    case 'flood': {
      const bogus = encodeMessage({ type: MessageType.CloseChannel, relid: 999 });
      for (let i = 0; i < cmd.count; i++) transport.sendMessage(bogus, 1);
      return true;
    }
    case 'badGpadl': {
      // A GPADL naming pages past the end of guest memory.
      const pages = data.memory.byteLength / 4096;
      const pfns = Array.from({ length: 8 }, (_, i) => pages - 4 + i);
      return client.core.createGpadl(cmd.relid, [{ byteCount: 8 * 4096, byteOffset: 0, pfns }]);
    }
  }
}

const ringPages = new Map<number, number>();
function findRingPage(relid: number): number {
  return ringPages.get(relid) ?? 16;
}

port.on('message', (msg: { id: number; cmd: Command }) => {
  if (msg.cmd.op === 'open') ringPages.set(msg.cmd.relid, nextPage);
  run(msg.cmd).then(
    (result) => port.postMessage({ id: msg.id, result }),
    (e: unknown) => port.postMessage({ id: msg.id, error: (e as { code?: string }).code ?? String(e) }),
  );
});
port.postMessage({ ready: true });
