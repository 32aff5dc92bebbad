import { RingCorruptCode, RingCorruptError, type RingMemoryError } from './errors.js';
import {
  CTL_FEATURE_BITS,
  CTL_INTERRUPT_MASK,
  CTL_PENDING_SEND_SIZE,
  CTL_READ_INDEX,
  CTL_WRITE_INDEX,
  DESCRIPTOR_SIZE,
  FEATURE_PENDING_SEND_SIZE,
  FLAG_COMPLETION_REQUESTED,
  MIN_FREE,
  TRAILER_SIZE,
  TYPE_COMPLETION,
  TYPE_GPA_DIRECT,
  TYPE_INBAND,
  TYPE_TRANSFER_PAGES,
} from './layout.js';
import { advance, RingMap, type RingMemory } from './memory.js';
import { type RingOptions, WaitStatus } from './options.js';
import { checkIndices } from './outgoing.js';
import { PacketView } from './packet-view.js';

/** Result of `peek`, and the negative results of `readInto`. Numbers, so nothing is allocated. */
export const ReadStatus = {
  /** `packet` holds the next packet. */
  Packet: 1,
  Empty: -1,
  /** The ring is corrupt; see `error`. */
  Corrupt: -2,
  /** `readInto`: the destination cannot hold the payload; the packet stays in the ring. */
  BufferTooSmall: -3,
} as const;
export type ReadStatus = number;

export interface IncomingRingOptions extends RingOptions {
  /** interrupt_mask to store at open (default false: the writer signals on empty to non-empty). */
  readonly interruptMask?: boolean;
  /**
   * Check that each packet's trailer names the packet's start offset (default true). Linux and
   * openvmm readers ignore the trailer; every known writer fills it in.
   */
  readonly checkTrailer?: boolean;
}

/**
 * The reading end of one ring. Peek a packet (decoded in place in `packet`), `advance` past it,
 * and `commit` once per batch to publish the read index; committing signals a blocked writer only
 * when the freed space crosses its pending_send_sz.
 */
export class IncomingRing {
  /** The packet the last successful `peek` decoded. */
  readonly packet: PacketView;
  readonly #map: RingMap;
  readonly #ctl: Int32Array;
  readonly #size: number;
  readonly #signal: () => void;
  readonly #doorbell: Int32Array | undefined;
  readonly #doorbellIndex: number;
  readonly #checkTrailer: boolean;
  /** Read index last published (ours: the peer only reads it). */
  #committed: number;
  /** Start of the next unconsumed packet. */
  #next: number;
  /** Last write index seen from the peer. */
  #cachedWrite: number;
  /** Footprint of the peeked packet, 0 when nothing is peeked. */
  #peeked = 0;
  #error: RingCorruptError | undefined;
  #signals = 0;

  private constructor(map: RingMap, options: IncomingRingOptions, readIndex: number, writeIndex: number) {
    this.#map = map;
    this.#ctl = map.control;
    this.#size = map.dataSize;
    this.#signal = options.signal;
    this.#doorbell = options.doorbell;
    this.#doorbellIndex = options.doorbellIndex ?? 0;
    this.#checkTrailer = options.checkTrailer ?? true;
    this.#committed = readIndex;
    this.#next = readIndex;
    this.#cachedWrite = writeIndex;
    this.packet = new PacketView(map);
  }

  static open(memory: RingMemory, options: IncomingRingOptions): IncomingRing | RingMemoryError {
    const map = RingMap.from(memory);
    if (!(map instanceof RingMap)) return map;
    const w = Atomics.load(map.control, CTL_WRITE_INDEX) >>> 0;
    const r = Atomics.load(map.control, CTL_READ_INDEX) >>> 0;
    const bad = checkIndices(map.dataSize, w, r);
    if (bad !== undefined) return bad;
    Atomics.store(map.control, CTL_INTERRUPT_MASK, options.interruptMask === true ? 1 : 0);
    return new IncomingRing(map, options, r, w);
  }

  get dataSize(): number {
    return this.#size;
  }

  /** Set once the peer corrupted the ring; every later read reports `ReadStatus.Corrupt`. */
  get error(): RingCorruptError | undefined {
    return this.#error;
  }

  /** Signals sent to the writer so far. */
  get signalCount(): number {
    return this.#signals;
  }

  /** Whether the writer advertised pending-send-size support on this ring (feature bit 0). */
  get writerSupportsPendingSendSize(): boolean {
    return (Atomics.load(this.#ctl, CTL_FEATURE_BITS) & FEATURE_PENDING_SEND_SIZE) !== 0;
  }

  /** Asks the writer not to (true) or to (false) signal when the ring goes empty to non-empty. */
  setInterruptMask(masked: boolean): void {
    Atomics.store(this.#ctl, CTL_INTERRUPT_MASK, masked ? 1 : 0);
  }

  /** Unconsumed bytes the writer has published (refreshes the write index); 0 once corrupt. */
  bytesToRead(): number {
    if (this.#error !== undefined || !this.#refreshWrite()) return 0;
    const w = this.#cachedWrite;
    const r = this.#next;
    return w >= r ? w - r : this.#size - r + w;
  }

  /**
   * Decodes the next packet into `packet` without consuming it. Calling it again before `advance`
   * returns the same packet. Every field is validated against the published bytes; a bad packet
   * makes the ring corrupt.
   */
  peek(): ReadStatus {
    if (this.#error !== undefined) return ReadStatus.Corrupt;
    if (this.#peeked !== 0) return ReadStatus.Packet;
    const r = this.#next;
    if (r === this.#cachedWrite) {
      if (!this.#refreshWrite()) return ReadStatus.Corrupt;
      if (r === this.#cachedWrite) return ReadStatus.Empty;
    }
    const size = this.#size;
    const w = this.#cachedWrite;
    const avail = w > r ? w - r : size - r + w;
    if (avail < DESCRIPTOR_SIZE + TRAILER_SIZE) {
      return this.#corrupt(RingCorruptCode.BadAvailable, `only ${avail} bytes published at ${r}`, r);
    }
    const map = this.#map;
    const dv = map.dv;
    let a = map.addr(r);
    const word0 = dv.getUint32(a, true);
    const word1 = dv.getUint32(a + 4, true);
    const type = word0 & 0xffff;
    const offset8 = word0 >>> 16;
    const len8 = word1 & 0xffff;
    const flags = word1 >>> 16;
    if (offset8 < 2 || len8 < offset8) {
      return this.#corrupt(
        RingCorruptCode.BadDescriptorLengths,
        `offset8 ${offset8} / len8 ${len8} at ${r}`,
        r,
      );
    }
    const len = len8 * 8;
    if (len + TRAILER_SIZE > avail) {
      return this.#corrupt(
        RingCorruptCode.PacketPastAvailable,
        `packet at ${r} needs ${len + TRAILER_SIZE} bytes, ${avail} published`,
        r,
      );
    }
    if ((flags & ~FLAG_COMPLETION_REQUESTED) !== 0) {
      return this.#corrupt(RingCorruptCode.BadDescriptorFlags, `flags ${flags} at ${r}`, r);
    }
    let rangeCount = 0;
    if (type === TYPE_GPA_DIRECT || type === TYPE_TRANSFER_PAGES) {
      if (offset8 < 3) {
        return this.#corrupt(
          RingCorruptCode.BadDescriptorLengths,
          `offset8 ${offset8} below the header at ${r}`,
          r,
        );
      }
      rangeCount = dv.getUint32(map.addr(advance(r, 16, size)) + 4, true);
      if (type === TYPE_GPA_DIRECT && rangeCount === 0) {
        return this.#corrupt(RingCorruptCode.BadGpaRanges, `GPA-direct packet at ${r} has no ranges`, r);
      }
    } else if (type !== TYPE_INBAND && type !== TYPE_COMPLETION) {
      return this.#corrupt(RingCorruptCode.BadDescriptorType, `packet type ${type} at ${r}`, r);
    }
    // Unwrapped packets in contiguous pages (the usual case) need no page lookups.
    const direct = map.base >= 0 && r + len + TRAILER_SIZE <= size;
    if (this.#checkTrailer) {
      const trailerStart = dv.getUint32((direct ? a + len : map.addr(advance(r, len, size))) + 4, true);
      if (trailerStart !== r) {
        return this.#corrupt(
          RingCorruptCode.BadTrailer,
          `trailer names ${trailerStart}, packet starts at ${r}`,
          r,
        );
      }
    }
    a = direct ? a + 8 : map.addr(advance(r, 8, size));
    const p = this.packet;
    p.type = type;
    p.flags = flags;
    p.offset8 = offset8;
    p.len8 = len8;
    p.transactionIdLow = dv.getUint32(a, true);
    p.transactionIdHigh = dv.getUint32(a + 4, true);
    p.start = r;
    p.payloadOffset = advance(r, offset8 * 8, size);
    p.payloadLength = len - offset8 * 8;
    p.rangeCount = rangeCount;
    this.#peeked = len + TRAILER_SIZE;
    return ReadStatus.Packet;
  }

  /** Consumes the peeked packet (locally; `commit` publishes). No-op when nothing is peeked. */
  advance(): void {
    if (this.#peeked === 0) return;
    this.#next = advance(this.#next, this.#peeked, this.#size);
    this.#peeked = 0;
  }

  /**
   * Publishes the read index for everything consumed so far. Then, if the writer advertised the
   * feature, signals it iff the free space went from below its pending_send_sz to at least that.
   * Returns whether it signalled.
   */
  commit(): boolean {
    const before = this.#committed;
    const next = this.#next;
    if (before === next) return false;
    // Sequentially consistent: packet reads happen before the store, the store before the loads.
    Atomics.store(this.#ctl, CTL_READ_INDEX, next);
    this.#committed = next;
    if ((Atomics.load(this.#ctl, CTL_FEATURE_BITS) & FEATURE_PENDING_SEND_SIZE) === 0) return false;
    // Some writers ask for ring size - 1; free space only comes in multiples of 8.
    const pending = (Atomics.load(this.#ctl, CTL_PENDING_SEND_SIZE) & ~7) >>> 0;
    if (pending === 0) return false;
    const w = Atomics.load(this.#ctl, CTL_WRITE_INDEX) >>> 0;
    if (w >= this.#size || (w & 7) !== 0) return false;
    if (this.#free(w, before) < pending && this.#free(w, next) >= pending) {
      this.#signals++;
      this.#signal();
      return true;
    }
    return false;
  }

  /** Starts a drain: masks interrupts so the writer does not signal while this side is reading. */
  beginRead(): void {
    Atomics.store(this.#ctl, CTL_INTERRUPT_MASK, 1);
  }

  /**
   * Ends a drain: commits, unmasks interrupts, then re-checks the ring. Returns true when data
   * arrived meanwhile (the writer may have seen the mask and not signalled): keep reading.
   */
  endRead(): boolean {
    this.commit();
    Atomics.store(this.#ctl, CTL_INTERRUPT_MASK, 0);
    if (this.#error !== undefined || !this.#refreshWrite()) return false;
    return this.#cachedWrite !== this.#next;
  }

  /**
   * Convenience: copies the next packet's payload into `dst` at `dstOffset`, consumes and commits
   * it. Returns the payload length, or a negative `ReadStatus`.
   */
  readInto(dst: Uint8Array, dstOffset = 0): number {
    const status = this.peek();
    if (status !== ReadStatus.Packet) return status;
    const n = this.packet.payloadLength;
    if (n > dst.length - dstOffset) return ReadStatus.BufferTooSmall;
    this.#map.read(this.packet.payloadOffset, dst, dstOffset, n);
    this.advance();
    this.commit();
    return n;
  }

  /**
   * Convenience batch read: copies payloads back to back into `dst`, their lengths into `lengths`,
   * up to `lengths.length` packets or until the next payload does not fit; commits once. Returns
   * the number of packets consumed (check `error` when it is 0 and data was expected).
   */
  readBatch(dst: Uint8Array, lengths: Uint32Array): number {
    let count = 0;
    let at = 0;
    while (count < lengths.length && this.peek() === ReadStatus.Packet) {
      const n = this.packet.payloadLength;
      if (n > dst.length - at) break;
      this.#map.read(this.packet.payloadOffset, dst, at, n);
      lengths[count++] = n;
      at += n;
      this.advance();
    }
    this.commit();
    return count;
  }

  /**
   * Blocks this thread until data is published, the timeout passes, or the ring is corrupt.
   * Commits what was consumed, first polls the write index `spin` times without touching
   * interrupt_mask (a reader that drains with the mask set stays silent to the writer while data
   * keeps coming), then unmasks interrupts so the writer's next empty to non-empty write signals,
   * re-checks, and sleeps on the owner's doorbell word (polls each ms without one).
   */
  waitForData(timeoutMs: number, spin = 0): WaitStatus {
    this.commit();
    for (let i = 0; i < spin; i++) {
      if (this.#error !== undefined || !this.#refreshWrite()) return WaitStatus.Corrupt;
      if (this.#cachedWrite !== this.#next) return WaitStatus.Ready;
    }
    Atomics.store(this.#ctl, CTL_INTERRUPT_MASK, 0);
    const deadline = performance.now() + timeoutMs;
    const db = this.#doorbell;
    for (;;) {
      if (this.#error !== undefined) return WaitStatus.Corrupt;
      const seen = db === undefined ? 0 : Atomics.load(db, this.#doorbellIndex);
      if (this.#peeked !== 0) return WaitStatus.Ready;
      if (!this.#refreshWrite()) return WaitStatus.Corrupt;
      if (this.#cachedWrite !== this.#next) return WaitStatus.Ready;
      const left = deadline - performance.now();
      if (left <= 0) return WaitStatus.TimedOut;
      if (db === undefined) Atomics.wait(SLEEPER, 0, 0, Math.min(left, 1));
      else Atomics.wait(db, this.#doorbellIndex, seen, left);
    }
  }

  #free(w: number, r: number): number {
    return (r > w ? r - w : this.#size - (w - r)) - MIN_FREE;
  }

  #refreshWrite(): boolean {
    const w = Atomics.load(this.#ctl, CTL_WRITE_INDEX) >>> 0;
    if (w >= this.#size || (w & 7) !== 0) {
      this.#corrupt(
        RingCorruptCode.BadIndex,
        `write_index ${w} is not a valid offset in a ${this.#size}-byte ring`,
        w,
      );
      return false;
    }
    this.#cachedWrite = w;
    return true;
  }

  #corrupt(code: RingCorruptCode, message: string, offset: number): ReadStatus {
    this.#error ??= new RingCorruptError(code, message, offset);
    return ReadStatus.Corrupt;
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
