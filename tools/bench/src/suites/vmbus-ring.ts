import { isMainThread, MessageChannel, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import {
  contiguousRingMemory,
  IncomingRing,
  OutgoingRing,
  type RingMemory,
  RingMemoryError,
  WaitStatus,
  WriteStatus,
} from '@viridian/vmbus-ring';
import { RingBuffer } from 'ringbuf.js';
import { compared, median, opsPerSecond } from '../stats.js';
import type { BenchRecord, BenchSuite } from '../types.js';

/**
 * Two threads move packets through one VMBus ring (writer here, reader in a worker, real signalling
 * through doorbell words), beside the same payloads posted through a MessagePort and a one-thread
 * typed-array copy. This module is also the worker's entry.
 */

const RING_PAGES = 256; // 1 MiB data area
const RUN_MS = 300;
const ROUNDS = 3;
const WARMUP_MS = 200;
const SIZES = [64, 1024, 16384, 65536];
const WORKER_FLAG = 'vmbus-ring-bench';
const BATCH = 16;
const SPIN = 256;
const SPSC_END = 0xff;

interface RingRequest {
  readonly kind: 'ring';
  readonly memory: RingMemory;
  readonly doorbells: Int32Array;
  readonly payload: number;
}
interface PortRequest {
  readonly kind: 'port';
  readonly port: MessagePort;
}
/** The ringbuf.js baseline: a wait-free SPSC byte ring over a SharedArrayBuffer, polled by both sides. */
interface SpscRequest {
  readonly kind: 'spsc';
  readonly storage: SharedArrayBuffer;
  readonly payload: number;
}
interface ReadResult {
  readonly packets: number;
  readonly bytes: number;
  readonly ms: number;
  readonly signals: number;
}

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

/** Reader side: drains with batched copy-out reads until an empty packet marks the end. */
function readRing(req: RingRequest): ReadResult {
  const ring = IncomingRing.open(req.memory, ends(req.doorbells, 0));
  if (ring instanceof RingMemoryError) throw ring;
  parentPort!.postMessage('ready');
  const dst = new Uint8Array(Math.max(req.payload, 4096) * 16);
  const lengths = new Uint32Array(64);
  let packets = 0;
  let bytes = 0;
  let start = 0;
  // Drains with interrupts masked and polls a little before sleeping (as Linux's NAPI does), so
  // the writer signals only when this side has really gone to sleep.
  ring.beginRead();
  for (;;) {
    for (;;) {
      const n = ring.readBatch(dst, lengths);
      if (n === 0) break;
      if (start === 0) start = performance.now();
      for (let i = 0; i < n; i++) {
        const len = lengths[i]!;
        if (len === 0) return { packets, bytes, ms: performance.now() - start, signals: ring.signalCount };
        packets++;
        bytes += len;
      }
    }
    if (ring.error !== undefined) throw ring.error;
    if (ring.waitForData(30_000, SPIN) !== WaitStatus.Ready) throw new Error('reader timed out');
    ring.beginRead();
  }
}

/**
 * Writer side for `ms`: packets published one by one (batch 1, as a plain send does) or `batch` at
 * a time with beginBatch/endBatch; then the empty end marker.
 */
function writeRing(ring: OutgoingRing, size: number, ms: number, batch: number): number {
  const payload = new Uint8Array(size).fill(0x5a);
  const deadline = performance.now() + ms;
  let sent = 0;
  while (performance.now() < deadline) {
    if (batch > 1) ring.beginBatch();
    for (let k = 0; k < batch; ) {
      const status = ring.tryWriteInband(payload, sent);
      if (status === WriteStatus.Ok) {
        sent++;
        k++;
      } else if (status > 0) ring.waitForSpace(status, 30_000);
      else throw ring.error ?? new Error(`write status ${status}`);
    }
    if (batch > 1) ring.endBatch();
  }
  for (;;) {
    const status = ring.tryWriteInband(new Uint8Array(0));
    if (status === WriteStatus.Ok) return sent;
    ring.waitForSpace(status, 30_000);
  }
}

/** ringbuf.js reader: pops fixed-size packets until one whose first byte marks the end. */
function readSpsc(req: SpscRequest): ReadResult {
  const ring = new RingBuffer(req.storage, Uint8Array as never);
  const packet = new Uint8Array(req.payload);
  parentPort!.postMessage('ready');
  let packets = 0;
  let start = 0;
  for (;;) {
    if (ring.available_read() < req.payload) continue;
    ring.pop(packet, req.payload);
    if (start === 0) start = performance.now();
    if (packet[0] === SPSC_END)
      return { packets, bytes: packets * req.payload, ms: performance.now() - start, signals: 0 };
    packets++;
  }
}

/** ringbuf.js writer: pushes whole packets for `ms` (spinning while full), then the end packet. */
function writeSpsc(ring: RingBuffer, size: number, ms: number): void {
  const payload = new Uint8Array(size).fill(0x5a);
  const push = (packet: Uint8Array) => {
    for (let done = 0; done < size; ) done += ring.push(packet, size - done, done);
  };
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) for (let i = 0; i < 64; i++) push(payload);
  push(new Uint8Array(size).fill(SPSC_END));
}

async function spscRun(
  worker: ReturnType<typeof spawnWorker>,
  size: number,
  ms: number,
): Promise<ReadResult> {
  const storage = RingBuffer.getStorageForCapacity(RING_PAGES * 4096, Uint8Array as never);
  const ring = new RingBuffer(storage, Uint8Array as never);
  const ready = nextMessage<string>(worker);
  worker.postMessage({ kind: 'spsc', storage, payload: size } satisfies SpscRequest);
  await ready;
  const result = nextMessage<ReadResult>(worker);
  writeSpsc(ring, size, ms);
  return result;
}

function nextMessage<T>(target: { once(event: 'message', f: (m: T) => void): unknown }): Promise<T> {
  return new Promise((resolve) => target.once('message', resolve));
}

async function ringRun(
  worker: ReturnType<typeof spawnWorker>,
  size: number,
  ms: number,
  batch: number,
): Promise<ReadResult & { writerSignals: number }> {
  const memory = contiguousRingMemory(new SharedArrayBuffer((RING_PAGES + 1) * 4096), 0, RING_PAGES);
  const doorbells = new Int32Array(new SharedArrayBuffer(8));
  const out = OutgoingRing.open(memory, ends(doorbells, 1));
  if (out instanceof RingMemoryError) throw out;
  const ready = nextMessage<string>(worker);
  worker.postMessage({ kind: 'ring', memory, doorbells, payload: size } satisfies RingRequest);
  await ready;
  const result = nextMessage<ReadResult>(worker);
  writeRing(out, size, ms, batch);
  return { ...(await result), writerSignals: out.signalCount };
}

/** MessagePort stream of the same payloads with a bounded window (acks every 256 messages). */
async function portRun(worker: ReturnType<typeof spawnWorker>, size: number, ms: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ kind: 'port', port: port2 } satisfies PortRequest, [port2]);
  await nextMessage(port1);
  const payload = new Uint8Array(size).fill(0x5a);
  let acked = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  port1.on('message', (n: number) => {
    acked = n;
    wake?.();
  });
  const start = performance.now();
  while (performance.now() - start < ms) {
    while (sent - acked < 1024) {
      port1.postMessage(payload);
      sent++;
    }
    await new Promise<void>((resolve) => (wake = resolve));
  }
  port1.postMessage(null);
  while (acked < sent) await new Promise<void>((resolve) => (wake = resolve));
  const elapsed = performance.now() - start;
  port1.close();
  return (sent * 1000) / elapsed;
}

function memcpyBytesPerSecond(size: number): number {
  const arena = new Uint8Array(new SharedArrayBuffer(1 << 20));
  const src = new Uint8Array(size).fill(7);
  let offset = 0;
  const ops = opsPerSecond(300, () => {
    arena.set(src, offset);
    offset = (offset + size) % (1 << 20);
  });
  return ops * size;
}

if (!isMainThread && workerData === WORKER_FLAG) {
  parentPort!.on('message', (req: RingRequest | PortRequest | SpscRequest) => {
    if (req.kind === 'ring') {
      parentPort!.postMessage(readRing(req));
      return;
    }
    if (req.kind === 'spsc') {
      parentPort!.postMessage(readSpsc(req));
      return;
    }
    let received = 0;
    req.port.on('message', (m: Uint8Array | null) => {
      if (m !== null) received++;
      if (m === null || (received & 255) === 0) req.port.postMessage(received);
    });
    req.port.postMessage('ready');
  });
}

export const suite: BenchSuite = {
  name: 'vmbus-ring',
  async run(): Promise<BenchRecord[]> {
    const worker = spawnWorker(new URL(import.meta.url), { workerData: WORKER_FLAG });
    try {
      const records: BenchRecord[] = [];
      await ringRun(worker, 64, WARMUP_MS, 1);
      await ringRun(worker, 64, WARMUP_MS, BATCH);
      await portRun(worker, 64, WARMUP_MS);
      await spscRun(worker, 64, WARMUP_MS);
      for (const size of SIZES) {
        // Rounds interleave the three transports so a noisy neighbour hits all of them alike; each
        // figure is the median of its rounds.
        const singleRates: number[] = [];
        const batchedRates: number[] = [];
        const portRates: number[] = [];
        const spscRates: number[] = [];
        let singleSignals = 0;
        let singlePackets = 0;
        for (let round = 0; round < ROUNDS; round++) {
          const single = await ringRun(worker, size, RUN_MS, 1);
          const batched = await ringRun(worker, size, RUN_MS, BATCH);
          singleRates.push((single.packets * 1000) / single.ms);
          batchedRates.push((batched.packets * 1000) / batched.ms);
          singleSignals += single.signals + single.writerSignals;
          singlePackets += single.packets;
          portRates.push(await portRun(worker, size, RUN_MS));
          const spsc = await spscRun(worker, size, RUN_MS);
          spscRates.push((spsc.packets * 1000) / spsc.ms);
        }
        const singlePps = median(singleRates);
        const batchedPps = median(batchedRates);
        const portPps = median(portRates);
        const spscPps = median(spscRates);
        const memcpy = memcpyBytesPerSecond(size);
        const label = size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
        records.push(
          compared(
            `ring ${label}: packets, 2 threads, each published alone`,
            singlePps / 1e6,
            'Mpkt/s',
            'MessagePort postMessage',
            portPps / 1e6,
          ),
          compared(
            `ring ${label}: packets, 2 threads, batches of ${BATCH}`,
            batchedPps / 1e6,
            'Mpkt/s',
            'MessagePort postMessage',
            portPps / 1e6,
          ),
          compared(
            `ring ${label}: payload bandwidth, 2 threads, faster of the two modes`,
            (Math.max(singlePps, batchedPps) * size) / 1e9,
            'GB/s',
            'memcpy (typed-array set), 1 thread',
            memcpy / 1e9,
          ),
          compared(
            `ring ${label}: packets, 2 threads, batches of ${BATCH}, against ringbuf.js`,
            batchedPps / 1e6,
            'Mpkt/s',
            'ringbuf.js SPSC ring (polling, no framing)',
            spscPps / 1e6,
          ),
          {
            name: `ring ${label}: signals per 1000 packets, each published alone (both directions)`,
            value: (singleSignals * 1000) / singlePackets,
            unit: 'signals',
          },
        );
      }
      return records;
    } finally {
      await worker.terminate();
    }
  },
};
