import { RingCorruptCode, RingCorruptError, RingMemoryError, RingMemoryErrorCode } from './errors.js';
import { type GpaRange, gpaRangesSize } from './gpa.js';
import {
  CTL_FEATURE_BITS,
  CTL_INTERRUPT_MASK,
  CTL_PENDING_SEND_SIZE,
  CTL_READ_INDEX,
  CTL_WRITE_INDEX,
  DESCRIPTOR_SIZE,
  EXTENDED_HEADER_SIZE,
  FEATURE_PENDING_SEND_SIZE,
  FLAG_COMPLETION_REQUESTED,
  MAX_LEN8,
  MIN_FREE,
  TRAILER_SIZE,
  TYPE_COMPLETION,
  TYPE_GPA_DIRECT,
  TYPE_INBAND,
} from './layout.js';
import { advance, RingMap, type RingMemory } from './memory.js';
import { type RingOptions, WaitStatus } from './options.js';

/**
 * Result of a `tryWrite*` call. A positive number means the ring is full: it is the number of free
 * bytes the packet needs (pass it to `waitForSpace`). Numbers, so a full ring allocates nothing.
 */
export const WriteStatus = {
  Ok: 0,
  /** The packet can never fit this ring (or its len8 would overflow u16). */
  TooLarge: -1,
  /** The ring is corrupt; see `error`. */
  Corrupt: -2,
  /** Bad arguments: a transaction id that is not a u64, flags other than bit 0, or malformed GPA ranges. */
  Invalid: -3,
} as const;
export type WriteStatus = number;

const EMPTY = new Uint8Array(0);
const TWO_32 = 0x1_0000_0000;

/** Ring bytes an in-band or completion packet with `payloadLength` payload bytes occupies. */
export function inbandPacketSize(payloadLength: number): number {
  return DESCRIPTOR_SIZE + ((payloadLength + 7) & ~7) + TRAILER_SIZE;
}

/** Ring bytes a GPA-direct packet occupies, or -1 when `ranges` is empty or malformed. */
export function gpaDirectPacketSize(ranges: readonly GpaRange[], payloadLength: number): number {
  const rangeBytes = ranges.length === 0 ? -1 : gpaRangesSize(ranges);
  return rangeBytes < 0 ? -1 : EXTENDED_HEADER_SIZE + rangeBytes + ((payloadLength + 7) & ~7) + TRAILER_SIZE;
}

/**
 * The writing end of one ring. Synchronous: packets go straight into shared memory; a full ring
 * is an ordinary result. The reader is signalled (through the owner's `signal`) only when the
 * ring goes from empty to non-empty and the reader has not set interrupt_mask; inside
 * `beginBatch`/`endBatch` all packets are published together and signal at most once.
 */
export class OutgoingRing {
  readonly #map: RingMap;
  readonly #ctl: Int32Array;
  readonly #size: number;
  readonly #signal: () => void;
  readonly #doorbell: Int32Array | undefined;
  readonly #doorbellIndex: number;
  /** Write index last published (ours: the peer only reads it). */
  #committed: number;
  /** Where the next packet goes; differs from #committed while a batch is open. */
  #next: number;
  /** Last read index seen from the peer. */
  #cachedRead: number;
  #batch = 0;
  #pendingSet = false;
  #error: RingCorruptError | undefined;
  #signals = 0;

  private constructor(map: RingMap, options: RingOptions, writeIndex: number, readIndex: number) {
    this.#map = map;
    this.#ctl = map.control;
    this.#size = map.dataSize;
    this.#signal = options.signal;
    this.#doorbell = options.doorbell;
    this.#doorbellIndex = options.doorbellIndex ?? 0;
    this.#committed = writeIndex;
    this.#next = writeIndex;
    this.#cachedRead = readIndex;
  }

  /**
   * Opens the writing end over `memory`, which already holds a ring (a fresh, zeroed one or one in
   * use). Advertises pending-send-size support on this ring and clears pending_send_sz.
   */
  static open(memory: RingMemory, options: RingOptions): OutgoingRing | RingMemoryError {
    const map = RingMap.from(memory);
    if (!(map instanceof RingMap)) return map;
    const w = Atomics.load(map.control, CTL_WRITE_INDEX) >>> 0;
    const r = Atomics.load(map.control, CTL_READ_INDEX) >>> 0;
    const bad = checkIndices(map.dataSize, w, r);
    if (bad !== undefined) return bad;
    Atomics.or(map.control, CTL_FEATURE_BITS, FEATURE_PENDING_SEND_SIZE);
    Atomics.store(map.control, CTL_PENDING_SEND_SIZE, 0);
    return new OutgoingRing(map, options, w, r);
  }

  /** Bytes of the data area (ring size minus the control page). */
  get dataSize(): number {
    return this.#size;
  }

  /** Largest packet footprint (descriptor..trailer) an empty ring accepts: D - 8. */
  get maxPacketSize(): number {
    return this.#size - MIN_FREE;
  }

  /** Set once the peer corrupted the ring; every later write returns `WriteStatus.Corrupt`. */
  get error(): RingCorruptError | undefined {
    return this.#error;
  }

  /** Signals sent to the reader so far. */
  get signalCount(): number {
    return this.#signals;
  }

  /** Bytes a packet could use right now (refreshes the peer's read index). */
  freeBytes(): number {
    if (this.#error !== undefined) return 0;
    if (!this.#refreshRead()) return 0;
    return this.#free(this.#cachedRead);
  }

  /** Sends an in-band data packet; `flags` bit 0 asks the peer for a completion. */
  tryWriteInband(payload: Uint8Array, transactionId: number | bigint = 0, flags = 0): WriteStatus {
    return this.#write(TYPE_INBAND, flags, transactionId, null, 0, payload);
  }

  /** Sends a completion for the request that carried `transactionId`. */
  tryWriteCompletion(transactionId: number | bigint, payload: Uint8Array = EMPTY): WriteStatus {
    return this.#write(TYPE_COMPLETION, 0, transactionId, null, 0, payload);
  }

  /**
   * Sends a GPA-direct packet naming guest memory outside the ring. Completion is requested by
   * default, as Linux and openvmm always do for this type.
   */
  tryWriteGpaDirect(
    ranges: readonly GpaRange[],
    payload: Uint8Array,
    transactionId: number | bigint,
    flags: number = FLAG_COMPLETION_REQUESTED,
  ): WriteStatus {
    const rangeBytes = ranges.length === 0 ? -1 : gpaRangesSize(ranges);
    if (rangeBytes < 0) return WriteStatus.Invalid;
    return this.#write(TYPE_GPA_DIRECT, flags, transactionId, ranges, rangeBytes, payload);
  }

  /** Holds back publication: packets written until `endBatch` become visible together. */
  beginBatch(): void {
    this.#batch++;
  }

  /** Publishes the packets of the batch; signals the reader at most once. Returns whether it did. */
  endBatch(): boolean {
    if (this.#batch > 0) this.#batch--;
    return this.#batch === 0 ? this.#commit() : false;
  }

  /**
   * Blocks this thread until `bytes` (a packet footprint, e.g. the number a full `tryWrite*`
   * returned) are free, the timeout passes, or the ring turns out corrupt. Publishes any open batch
   * first, sets pending_send_sz so the reader signals once that much is free, and sleeps on the
   * owner's doorbell word (which the owner's signal handler must bump and notify). Without a
   * doorbell it re-checks every millisecond. A size that can never fit returns TimedOut at once.
   */
  waitForSpace(bytes: number, timeoutMs: number): WaitStatus {
    if (this.#error !== undefined) return WaitStatus.Corrupt;
    if (bytes > this.maxPacketSize) return WaitStatus.TimedOut;
    this.#commit();
    const need = (bytes + 7) & ~7;
    const deadline = performance.now() + timeoutMs;
    const db = this.#doorbell;
    for (;;) {
      const seen = db === undefined ? 0 : Atomics.load(db, this.#doorbellIndex);
      Atomics.store(this.#ctl, CTL_PENDING_SEND_SIZE, need);
      this.#pendingSet = true;
      if (!this.#refreshRead()) return WaitStatus.Corrupt;
      if (this.#free(this.#cachedRead) >= need) return WaitStatus.Ready;
      const left = deadline - performance.now();
      if (left <= 0) return WaitStatus.TimedOut;
      if (db === undefined) Atomics.wait(SLEEPER, 0, 0, Math.min(left, 1));
      else Atomics.wait(db, this.#doorbellIndex, seen, left);
    }
  }

  #free(read: number): number {
    const w = this.#next;
    return (read > w ? read - w : this.#size - (w - read)) - MIN_FREE;
  }

  #refreshRead(): boolean {
    const r = Atomics.load(this.#ctl, CTL_READ_INDEX) >>> 0;
    if (r >= this.#size || (r & 7) !== 0) {
      this.#corrupt(
        RingCorruptCode.BadIndex,
        `read_index ${r} is not a valid offset in a ${this.#size}-byte ring`,
        r,
      );
      return false;
    }
    this.#cachedRead = r;
    return true;
  }

  #corrupt(code: RingCorruptCode, message: string, offset: number): void {
    this.#error ??= new RingCorruptError(code, message, offset);
  }

  #write(
    type: number,
    flags: number,
    transactionId: number | bigint,
    ranges: readonly GpaRange[] | null,
    rangeBytes: number,
    payload: Uint8Array,
  ): WriteStatus {
    if (this.#error !== undefined) return WriteStatus.Corrupt;
    // Only bit 0 is defined; peers (openvmm) refuse packets with any other flag.
    if ((flags & ~FLAG_COMPLETION_REQUESTED) !== 0) return WriteStatus.Invalid;
    let tidLo: number;
    let tidHi: number;
    if (typeof transactionId === 'number') {
      if (!(transactionId >= 0 && transactionId <= Number.MAX_SAFE_INTEGER) || transactionId % 1 !== 0) {
        return WriteStatus.Invalid;
      }
      tidLo = transactionId >>> 0;
      tidHi = (transactionId - tidLo) / TWO_32;
    } else {
      if (transactionId < 0n || transactionId > 0xffff_ffff_ffff_ffffn) return WriteStatus.Invalid;
      tidLo = Number(transactionId & 0xffff_ffffn);
      tidHi = Number(transactionId >> 32n);
    }
    const header = ranges === null ? DESCRIPTOR_SIZE : EXTENDED_HEADER_SIZE + rangeBytes;
    const payloadLength = payload.length;
    const len = header + ((payloadLength + 7) & ~7);
    const total = len + TRAILER_SIZE;
    if (len / 8 > MAX_LEN8 || total > this.#size - MIN_FREE) return WriteStatus.TooLarge;

    if (this.#free(this.#cachedRead) < total) {
      if (!this.#refreshRead()) return WriteStatus.Corrupt;
      if (this.#free(this.#cachedRead) < total) return total;
    }

    const map = this.#map;
    const size = this.#size;
    const start = this.#next;
    if (ranges === null && map.base >= 0 && start + total <= size) {
      // Common case: an in-band or completion packet that does not wrap, in contiguous pages.
      const a = map.base + start;
      const dv = map.dv;
      dv.setUint32(a, type | (2 << 16), true);
      dv.setUint32(a + 4, (len >>> 3) | (flags << 16), true);
      dv.setUint32(a + 8, tidLo, true);
      dv.setUint32(a + 12, tidHi, true);
      if (payloadLength > 0) map.write(start + DESCRIPTOR_SIZE, payload, 0, payloadLength);
      const u8 = map.u8;
      for (let i = a + DESCRIPTOR_SIZE + payloadLength; i < a + len; i++) u8[i] = 0;
      dv.setUint32(a + len, 0, true);
      dv.setUint32(a + len + 4, start, true);
      this.#next = start + total === size ? 0 : start + total;
    } else {
      this.#writeSlow(start, type, flags, tidLo, tidHi, ranges, header, len, payload);
    }

    if (this.#pendingSet) {
      Atomics.store(this.#ctl, CTL_PENDING_SEND_SIZE, 0);
      this.#pendingSet = false;
    }
    if (this.#batch === 0) this.#commit();
    return WriteStatus.Ok;
  }

  /** Any packet, any layout: word by word through the page map, wrapping at D. */
  #writeSlow(
    start: number,
    type: number,
    flags: number,
    tidLo: number,
    tidHi: number,
    ranges: readonly GpaRange[] | null,
    header: number,
    len: number,
    payload: Uint8Array,
  ): void {
    const map = this.#map;
    const size = this.#size;
    const payloadLength = payload.length;
    // Descriptor: type | offset8 | len8 | flags, then the transaction id.
    map.setWord(start, type | ((header >>> 3) << 16), (len >>> 3) | (flags << 16));
    let d = advance(start, 8, size);
    map.setWord(d, tidLo, tidHi);
    d = advance(d, 8, size);
    if (ranges !== null) {
      map.setWord(d, 0, ranges.length);
      d = advance(d, 8, size);
      for (let i = 0; i < ranges.length; i++) {
        const r = ranges[i]!;
        map.setWord(d, r.byteCount, r.byteOffset);
        d = advance(d, 8, size);
        const pfns = r.pfns;
        for (let j = 0; j < pfns.length; j++) {
          const pfn = pfns[j]!;
          if (typeof pfn === 'number') {
            const lo = pfn >>> 0;
            map.setWord(d, lo, (pfn - lo) / TWO_32);
          } else {
            map.setWord(d, Number(pfn & 0xffff_ffffn), Number((pfn >> 32n) & 0xffff_ffffn));
          }
          d = advance(d, 8, size);
        }
      }
    }
    if (payloadLength > 0) {
      map.write(d, payload, 0, payloadLength);
      d = advance(d, payloadLength, size);
      const pad = len - header - payloadLength;
      if (pad > 0) {
        map.zero(d, pad);
        d = advance(d, pad, size);
      }
    }
    // Trailer: the packet's start offset in the high half.
    map.setWord(d, 0, start);
    this.#next = advance(d, 8, size);
  }

  /** Publishes the write index, then signals iff the ring was empty before and interrupts are unmasked. */
  #commit(): boolean {
    const old = this.#committed;
    const next = this.#next;
    if (old === next) return false;
    // Atomics are sequentially consistent: the packet bytes are visible before the index, and the
    // index store precedes the loads of interrupt_mask and read_index below.
    Atomics.store(this.#ctl, CTL_WRITE_INDEX, next);
    this.#committed = next;
    if (Atomics.load(this.#ctl, CTL_INTERRUPT_MASK) !== 0) return false;
    if (Atomics.load(this.#ctl, CTL_READ_INDEX) >>> 0 !== old) return false;
    this.#signals++;
    this.#signal();
    return true;
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** Validates both indices found in a control page at open. */
export function checkIndices(size: number, w: number, r: number): RingMemoryError | undefined {
  for (const [name, v] of [
    ['write_index', w],
    ['read_index', r],
  ] as const) {
    if (v >= size || (v & 7) !== 0) {
      return new RingMemoryError(
        RingMemoryErrorCode.BadIndex,
        `${name} ${v} is not a valid offset in a ${size}-byte ring`,
      );
    }
  }
  return undefined;
}
