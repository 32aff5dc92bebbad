// Test traffic shared by the main thread and the ring worker: self-checking packets (sequence
// number, length, checksum, PRNG body) and the writer/reader loops that move them through a ring.
import { type IncomingRing, ReadStatus } from './incoming.js';
import { WaitStatus } from './options.js';
import type { OutgoingRing } from './outgoing.js';

export const HEADER = 12;

function body(seq: number, i: number): number {
  let x = (seq * 0x9e3779b1 + i * 0x85ebca77) | 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x2c1b3c6d);
  return (x ^ (x >>> 12)) & 0xff;
}

/** Fills `buf[0..len)` (len >= 12) with packet `seq`. */
export function fillPacket(buf: Uint8Array, seq: number, len: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  let sum = 0;
  for (let i = HEADER; i < len; i++) {
    const b = body(seq, i);
    buf[i] = b;
    sum = (Math.imul(sum, 31) + b) >>> 0;
  }
  dv.setUint32(0, seq, true);
  dv.setUint32(4, len, true);
  dv.setUint32(8, sum, true);
}

/** Undefined when `buf[off..off+len)` is exactly packet `seq` (len may include ring padding). */
export function checkPacket(buf: Uint8Array, off: number, len: number, seq: number): string | undefined {
  if (len < HEADER) return `packet ${seq}: ${len} bytes`;
  const dv = new DataView(buf.buffer, buf.byteOffset + off, len);
  const gotSeq = dv.getUint32(0, true);
  if (gotSeq !== seq) return `expected packet ${seq}, got ${gotSeq}`;
  const n = dv.getUint32(4, true);
  if (n > len || len - n >= 8) return `packet ${seq}: length ${n} in ${len} payload bytes`;
  let sum = 0;
  for (let i = HEADER; i < n; i++) {
    const b = buf[off + i]!;
    if (b !== body(seq, i)) return `packet ${seq}: byte ${i} is ${b}`;
    sum = (Math.imul(sum, 31) + b) >>> 0;
  }
  if (sum !== dv.getUint32(8, true)) return `packet ${seq}: checksum`;
  for (let i = n; i < len; i++) if (buf[off + i] !== 0) return `packet ${seq}: padding byte ${i} not zero`;
  return undefined;
}

const NAP = new Int32Array(new SharedArrayBuffer(4));
function nap(ms: number): void {
  if (ms > 0) Atomics.wait(NAP, 0, 0, ms);
}

export interface WriterPlan {
  readonly sizes: readonly number[];
  /** Packets per batch, cycled. */
  readonly batches: readonly number[];
  /** Milliseconds to pause after each batch, cycled. */
  readonly pauses: readonly number[];
}

export interface StreamResult {
  readonly count: number;
  readonly error?: string;
  readonly signals: number;
  readonly waits: number;
}

export function runWriter(ring: OutgoingRing, plan: WriterPlan, timeoutMs: number): StreamResult {
  const buf = new Uint8Array(Math.max(...plan.sizes, HEADER));
  let seq = 0;
  let waits = 0;
  let batchNo = 0;
  while (seq < plan.sizes.length) {
    const batch = plan.batches[batchNo % plan.batches.length]!;
    ring.beginBatch();
    for (let k = 0; k < batch && seq < plan.sizes.length; k++) {
      const len = plan.sizes[seq]!;
      fillPacket(buf, seq, len);
      for (;;) {
        const status = ring.tryWriteInband(buf.subarray(0, len), seq);
        if (status === 0) break;
        if (status < 0) {
          ring.endBatch();
          return {
            count: seq,
            error: `write status ${status} ${ring.error?.message ?? ''}`,
            signals: ring.signalCount,
            waits,
          };
        }
        waits++;
        if (ring.waitForSpace(status, timeoutMs) !== WaitStatus.Ready) {
          ring.endBatch();
          return { count: seq, error: `writer timed out at packet ${seq}`, signals: ring.signalCount, waits };
        }
      }
      seq++;
    }
    ring.endBatch();
    nap(plan.pauses[batchNo % plan.pauses.length]!);
    batchNo++;
  }
  return { count: seq, signals: ring.signalCount, waits };
}

export interface ReaderPlan {
  readonly count: number;
  /** Read style per drain, cycled: 0 readBatch, 1 peek/copyPayload, 2 readInto, 3 peek/getUint32. */
  readonly modes: readonly number[];
  readonly pauses: readonly number[];
  readonly maxPayload: number;
}

export function runReader(ring: IncomingRing, plan: ReaderPlan, timeoutMs: number): StreamResult {
  const dst = new Uint8Array(Math.max(plan.maxPayload + 8, 4096) * 4);
  const lengths = new Uint32Array(7);
  let seq = 0;
  let waits = 0;
  let drain = 0;
  const fail = (error: string): StreamResult => ({ count: seq, error, signals: ring.signalCount, waits });
  while (seq < plan.count) {
    const mode = plan.modes[drain % plan.modes.length]!;
    ring.beginRead();
    for (;;) {
      if (mode === 0) {
        const n = ring.readBatch(dst, lengths);
        let at = 0;
        for (let i = 0; i < n; i++) {
          const problem = checkPacket(dst, at, lengths[i]!, seq);
          if (problem !== undefined) return fail(problem);
          at += lengths[i]!;
          seq++;
        }
        if (n === 0) break;
      } else if (mode === 2) {
        const n = ring.readInto(dst);
        if (n < 0) break;
        const problem = checkPacket(dst, 0, n, seq);
        if (problem !== undefined) return fail(problem);
        seq++;
      } else {
        if (ring.peek() !== ReadStatus.Packet) break;
        const p = ring.packet;
        if (p.type !== 6 || p.transactionIdNumber !== seq)
          return fail(`packet ${seq}: type ${p.type} id ${p.transactionIdNumber}`);
        if (mode === 3 && p.getUint32(0) !== seq)
          return fail(`packet ${seq}: in-place seq ${p.getUint32(0)}`);
        p.copyPayload(dst);
        const problem = checkPacket(dst, 0, p.payloadLength, seq);
        if (problem !== undefined) return fail(problem);
        ring.advance();
        seq++;
      }
    }
    if (ring.error !== undefined) return fail(`reader: ${ring.error.code} ${ring.error.message}`);
    const more = ring.endRead();
    nap(plan.pauses[drain % plan.pauses.length]!);
    drain++;
    if (!more && seq < plan.count && ring.bytesToRead() === 0) {
      waits++;
      if (ring.waitForData(timeoutMs, drain & 1 ? 50 : 0) !== WaitStatus.Ready) {
        return fail(`reader timed out at packet ${seq}`);
      }
    }
  }
  if (ring.bytesToRead() !== 0) return fail('data left in the ring after the last packet');
  return { count: seq, signals: ring.signalCount, waits };
}
