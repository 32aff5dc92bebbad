import { RingCorruptCode, RingCorruptError } from './errors.js';
import { FLAG_COMPLETION_REQUESTED, PAGE_MASK, PAGE_SIZE, TYPE_GPA_DIRECT } from './layout.js';
import { advance, type RingMap } from './memory.js';

/** A GPA range as read from a GPA-direct packet; PFNs are u64 values. */
export interface DecodedGpaRange {
  readonly byteCount: number;
  readonly byteOffset: number;
  readonly pfns: readonly bigint[];
}

const TWO_32 = 0x1_0000_0000;

/**
 * The packet an `IncomingRing` has peeked, decoded in place. One instance per ring, refilled by
 * every `peek()`: read what you need before `advance()`. Fields were validated when the packet was
 * peeked and are kept here, so a peer rewriting the descriptor afterwards cannot move any access
 * out of the packet. Payload offsets given to the accessors are relative to the payload start.
 */
export class PacketView {
  /** VmbusPacketType: 6 in-band, 7 transfer pages, 9 GPA direct, 11 completion. */
  type = 0;
  flags = 0;
  offset8 = 0;
  len8 = 0;
  transactionIdLow = 0;
  transactionIdHigh = 0;
  /** Data offset of the descriptor in the ring. */
  start = 0;
  /** Data offset of the payload in the ring. */
  payloadOffset = 0;
  /** Payload bytes: (len8 - offset8) * 8, padding included; the inner protocol carries the exact length. */
  payloadLength = 0;
  /** range_count of GPA-direct and transfer-page packets, else 0. */
  rangeCount = 0;

  readonly #map: RingMap;

  constructor(map: RingMap) {
    this.#map = map;
  }

  /**
   * A view over the part of the partition buffer that holds this ring's pages; with
   * `payloadAddress()` (an index into it) it allows decoding without a copy.
   */
  get bytes(): Uint8Array {
    return this.#map.u8;
  }

  /** The same span as a DataView (little-endian accessors), indexed like `bytes`. */
  get dataView(): DataView {
    return this.#map.dv;
  }

  get transactionId(): bigint {
    return (BigInt(this.transactionIdHigh) << 32n) | BigInt(this.transactionIdLow);
  }

  /** The transaction id as a number; exact below 2^53. */
  get transactionIdNumber(): number {
    return this.transactionIdHigh * TWO_32 + this.transactionIdLow;
  }

  get completionRequested(): boolean {
    return (this.flags & FLAG_COMPLETION_REQUESTED) !== 0;
  }

  /**
   * Index into `bytes` of the payload when it lies in one unbroken run of the buffer (it does not wrap
   * and does not cross into a non-adjacent page), else -1. Then `bytes[address .. address + payloadLength)`
   * is the payload.
   */
  payloadAddress(): number {
    const map = this.#map;
    const d = this.payloadOffset;
    const n = this.payloadLength;
    if (n === 0) return map.addr(d);
    if (d + n > map.dataSize) return -1;
    if (map.base >= 0) return map.base + d;
    const first = d >>> 12;
    const last = (d + n - 1) >>> 12;
    const a = map.pageAddr[first]!;
    for (let p = first + 1; p <= last; p++) if (map.pageAddr[p] !== a + (p - first) * PAGE_SIZE) return -1;
    return a + (d & PAGE_MASK);
  }

  /**
   * Copies payload bytes [from, from + length) into `dst` at `dstOffset`; returns the bytes copied.
   * Throws RangeError when the caller asks for bytes outside the payload or `dst`.
   */
  copyPayload(dst: Uint8Array, dstOffset = 0, from = 0, length = this.payloadLength - from): number {
    if (
      from < 0 ||
      length < 0 ||
      from + length > this.payloadLength ||
      dstOffset < 0 ||
      dstOffset + length > dst.length
    ) {
      throw new RangeError('copyPayload outside the payload or the destination');
    }
    this.#map.read(advance(this.payloadOffset, from, this.#map.dataSize), dst, dstOffset, length);
    return length;
  }

  getUint8(offset: number): number {
    this.#check(offset, 1);
    return this.#map.u8[this.#address(offset)]!;
  }

  getUint16(offset: number): number {
    this.#check(offset, 2);
    return this.#getBytes(offset, 2);
  }

  getUint32(offset: number): number {
    this.#check(offset, 4);
    return this.#getBytes(offset, 4);
  }

  /**
   * The ranges of a GPA-direct packet, validated: each range's PFN count follows from its offset
   * and length, and all of them must fit between the extended header and the payload.
   */
  gpaRanges(): readonly DecodedGpaRange[] | RingCorruptError {
    if (this.type !== TYPE_GPA_DIRECT) return [];
    const map = this.#map;
    const size = map.dataSize;
    const end = this.offset8 * 8;
    let rel = 24;
    const out: DecodedGpaRange[] = [];
    for (let i = 0; i < this.rangeCount; i++) {
      if (rel + 8 > end) return this.#badRanges(`range ${i} header lies past the range area`);
      const a = map.addr(advance(this.start, rel, size));
      const byteCount = map.dv.getUint32(a, true);
      const byteOffset = map.dv.getUint32(a + 4, true);
      const count = Math.ceil((byteOffset + byteCount) / PAGE_SIZE);
      rel += 8;
      if (count === 0 || rel + count * 8 > end)
        return this.#badRanges(`range ${i} PFNs lie past the range area`);
      const pfns: bigint[] = [];
      for (let j = 0; j < count; j++) {
        pfns.push(map.dv.getBigUint64(map.addr(advance(this.start, rel, size)), true));
        rel += 8;
      }
      out.push({ byteCount, byteOffset, pfns });
    }
    return out;
  }

  #badRanges(message: string): RingCorruptError {
    return new RingCorruptError(RingCorruptCode.BadGpaRanges, message, this.start);
  }

  #check(offset: number, n: number): void {
    if (!(offset >= 0 && offset + n <= this.payloadLength)) throw new RangeError('read outside the payload');
  }

  #address(offset: number): number {
    return this.#map.addr(advance(this.payloadOffset, offset, this.#map.dataSize));
  }

  #getBytes(offset: number, n: number): number {
    const d = advance(this.payloadOffset, offset, this.#map.dataSize);
    // Within one page (and not across the wrap) a DataView read is safe; otherwise assemble bytes.
    if ((d & PAGE_MASK) + n <= PAGE_SIZE && d + n <= this.#map.dataSize) {
      const a = this.#map.addr(d);
      return n === 2 ? this.#map.dv.getUint16(a, true) : this.#map.dv.getUint32(a, true);
    }
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + this.#map.u8[this.#address(offset + i)]!;
    return v;
  }
}
