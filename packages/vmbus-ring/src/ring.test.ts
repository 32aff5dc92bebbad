import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { RingCorruptCode, RingMemoryError, RingMemoryErrorCode } from './errors.js';
import { IncomingRing, ReadStatus } from './incoming.js';
import type { RingMemory } from './memory.js';
import { WaitStatus } from './options.js';
import { gpaDirectPacketSize, inbandPacketSize, OutgoingRing, WriteStatus } from './outgoing.js';
import {
  contiguous,
  control,
  counter,
  dataBytes,
  PAGE,
  placeIndices,
  scattered,
} from './ring-test-support.test-fixture.js';

function open(memory: RingMemory, masked = false) {
  const toReader = counter();
  const toWriter = counter();
  const out = OutgoingRing.open(memory, toReader);
  const inc = IncomingRing.open(memory, { ...toWriter, interruptMask: masked });
  if (out instanceof RingMemoryError || inc instanceof RingMemoryError) throw new Error('open failed');
  return { out, inc, toReader, toWriter, mem: memory };
}

function payload(len: number, seed: number): Uint8Array {
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (i * 7 + seed * 13 + 1) & 0xff;
  return p;
}

const layouts = [
  ['contiguous', contiguous],
  ['scattered', scattered],
] as const;

describe('wire layout', () => {
  test('an in-band packet is laid out byte for byte as Hyper-V: descriptor, payload, zero pad, trailer', () => {
    const mem = contiguous(1);
    placeIndices(mem, 64);
    const { out } = open(mem);
    expect(out.tryWriteInband(new Uint8Array([1, 2, 3, 4, 5]), 0x1122334455667788n, 1)).toBe(WriteStatus.Ok);
    const data = dataBytes(mem).subarray(64, 64 + 40);
    expect([...data]).toEqual([
      // type 6, offset8 2, len8 3, flags 1
      6, 0, 2, 0, 3, 0, 1, 0,
      // trans_id little-endian
      0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
      // payload + 3 zero pad bytes
      1, 2, 3, 4, 5, 0, 0, 0,
      // trailer: reserved 0, start offset 64
      0, 0, 0, 0, 64, 0, 0, 0,
      // untouched
      0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(control(mem)[0]).toBe(64 + 32);
    expect(control(mem)[16]! & 1).toBe(1);
  });

  test('GPA-direct packets carry range_count and ranges before the payload; completions echo the id', () => {
    const mem = scattered(2);
    const { out, inc } = open(mem);
    const ranges = [
      { byteCount: 5000, byteOffset: 100, pfns: [0x1234, 0xffff_ffff_ffffn] },
      { byteCount: 8, byteOffset: 0, pfns: [7n] },
    ];
    expect(out.tryWriteGpaDirect(ranges, payload(20, 1), 99)).toBe(WriteStatus.Ok);
    expect(control(mem)[0]).toBe(gpaDirectPacketSize(ranges, 20));
    expect(gpaDirectPacketSize([], 20)).toBe(-1);
    expect(out.tryWriteCompletion(0xffff_ffff_ffff_ffffn, payload(3, 2))).toBe(WriteStatus.Ok);
    expect(inc.peek()).toBe(ReadStatus.Packet);
    const p = inc.packet;
    expect([p.type, p.flags, p.offset8, p.rangeCount, p.transactionIdNumber, p.completionRequested]).toEqual([
      9,
      1,
      (24 + 24 + 16) / 8,
      2,
      99,
      true,
    ]);
    expect(p.gpaRanges()).toEqual([
      { byteCount: 5000, byteOffset: 100, pfns: [0x1234n, 0xffff_ffff_ffffn] },
      { byteCount: 8, byteOffset: 0, pfns: [7n] },
    ]);
    const got = new Uint8Array(24);
    expect(p.copyPayload(got)).toBe(24);
    expect(got.subarray(0, 20)).toEqual(payload(20, 1));
    inc.advance();
    expect(inc.peek()).toBe(ReadStatus.Packet);
    expect([inc.packet.type, inc.packet.flags, inc.packet.transactionId]).toEqual([
      11,
      0,
      0xffff_ffff_ffff_ffffn,
    ]);
    inc.advance();
    expect(inc.peek()).toBe(ReadStatus.Empty);
  });

  test('malformed GPA ranges and transaction ids are refused before touching the ring', () => {
    const mem = contiguous(1);
    const { out } = open(mem);
    expect(out.tryWriteGpaDirect([], payload(8, 0), 1)).toBe(WriteStatus.Invalid);
    expect(out.tryWriteGpaDirect([{ byteCount: 5000, byteOffset: 0, pfns: [1] }], payload(8, 0), 1)).toBe(
      WriteStatus.Invalid,
    );
    expect(out.tryWriteGpaDirect([{ byteCount: 8, byteOffset: 0, pfns: [-1] }], payload(8, 0), 1)).toBe(
      WriteStatus.Invalid,
    );
    expect(
      out.tryWriteGpaDirect([{ byteCount: 8, byteOffset: 0, pfns: [1n << 64n] }], payload(8, 0), 1),
    ).toBe(WriteStatus.Invalid);
    expect(out.tryWriteInband(payload(8, 0), -1)).toBe(WriteStatus.Invalid);
    expect(out.tryWriteInband(payload(8, 0), 1, 2)).toBe(WriteStatus.Invalid);
    expect(out.tryWriteInband(payload(8, 0), 1.5)).toBe(WriteStatus.Invalid);
    expect(out.tryWriteInband(payload(8, 0), 1n << 64n)).toBe(WriteStatus.Invalid);
    expect(control(mem)[0]).toBe(0);
  });
});

describe('wrap-around', () => {
  for (const [name, layout] of layouts) {
    test(`${name}: every payload size 8..4096 (step 8) crosses the end of the ring in its descriptor, payload and trailer`, () => {
      const dataPages = 2;
      const size = dataPages * PAGE;
      const got = new Uint8Array(4096);
      for (let len = 8; len <= 4096; len += 8) {
        const footprint = inbandPacketSize(len);
        // Wrap inside the descriptor, in mid-payload, and exactly before the trailer.
        for (const before of [8, 16 + ((len / 2) & ~7), 16 + len]) {
          const mem = layout(dataPages);
          placeIndices(mem, size - before);
          const { out, inc } = open(mem);
          const sent = payload(len, len + before);
          expect(out.tryWriteInband(sent, len)).toBe(WriteStatus.Ok);
          expect(control(mem)[0]).toBe(footprint - before);
          expect(inc.peek()).toBe(ReadStatus.Packet);
          expect(inc.packet.payloadLength).toBe(len);
          expect(inc.packet.transactionIdNumber).toBe(len);
          got.fill(0);
          inc.packet.copyPayload(got);
          if (!sent.every((b, i) => got[i] === b))
            throw new Error(`payload ${len} wrapped at ${before} differs`);
          if (inc.packet.getUint32(len - 4) !== new DataView(sent.buffer).getUint32(len - 4, true)) {
            throw new Error(`in-place read of ${len} wrapped at ${before} differs`);
          }
          inc.advance();
          inc.commit();
          expect(inc.peek()).toBe(ReadStatus.Empty);
          expect(control(mem)[1]).toBe(footprint - before);
        }
      }
    });
  }

  test('a stream of every size 8..4096 through a two-page ring arrives intact and in order', () => {
    const mem = contiguous(2);
    const { out, inc } = open(mem);
    const got = new Uint8Array(4096);
    for (let len = 8; len <= 4096; len += 8) {
      const sent = payload(len, len);
      expect(out.tryWriteInband(sent, len)).toBe(WriteStatus.Ok);
      expect(inc.readInto(got)).toBe(len);
      if (!sent.every((b, i) => got[i] === b)) throw new Error(`payload ${len} differs`);
    }
    expect(inc.error).toBeUndefined();
  });

  test('payload lengths that are not multiples of 8 are padded with zeros', () => {
    const mem = contiguous(1);
    const { out, inc } = open(mem);
    for (let len = 0; len <= 64; len++) {
      const dirty = payload(len + 8, len);
      expect(out.tryWriteInband(dirty.subarray(0, len))).toBe(WriteStatus.Ok);
      expect(inc.peek()).toBe(ReadStatus.Packet);
      const got = new Uint8Array(inc.packet.payloadLength);
      inc.packet.copyPayload(got);
      expect(got.length).toBe((len + 7) & ~7);
      expect([...got.subarray(len)].every((b) => b === 0)).toBe(true);
      inc.advance();
      inc.commit();
    }
  });
});

describe('copies', () => {
  test('payloads from and into any byte alignment, any length, on both layouts, arrive unchanged', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat({ max: 7 }),
        fc.nat({ max: 7 }),
        fc.integer({ min: 0, max: 700 }),
        fc.nat({ max: (2 * PAGE) / 8 - 1 }),
        (scatter, srcShift, dstShift, len, start8) => {
          const mem = scatter ? scattered(2) : contiguous(2);
          placeIndices(mem, start8 * 8);
          const { out, inc } = open(mem);
          const src = payload(len + srcShift, len);
          expect(out.tryWriteInband(src.subarray(srcShift))).toBe(WriteStatus.Ok);
          const dst = new Uint8Array(len + 16 + dstShift);
          expect(inc.peek()).toBe(ReadStatus.Packet);
          inc.packet.copyPayload(dst, dstShift, 0, len);
          expect(dst.subarray(dstShift, dstShift + len)).toEqual(src.subarray(srcShift));
          expect(dst[dstShift + len]).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('capacity', () => {
  test('a ring is never filled completely: D - 8 bytes fit into an empty ring, one more packet does not', () => {
    const mem = contiguous(1);
    const { out, inc } = open(mem);
    const max = PAGE - 8 - 16 - 8; // payload whose footprint is exactly D - 8
    expect(out.maxPacketSize).toBe(PAGE - 8);
    expect(out.tryWriteInband(payload(max + 8, 0))).toBe(WriteStatus.TooLarge);
    expect(out.tryWriteInband(payload(max, 0))).toBe(WriteStatus.Ok);
    expect(out.freeBytes()).toBe(0);
    expect(out.tryWriteInband(payload(0, 0))).toBe(inbandPacketSize(0));
    expect(inc.bytesToRead()).toBe(PAGE - 8);
    expect(inc.readInto(new Uint8Array(PAGE))).toBe(max);
    expect(out.freeBytes()).toBe(PAGE - 8);
  });

  test('readInto leaves a packet that does not fit the destination in the ring', () => {
    const { out, inc } = open(contiguous(1));
    out.tryWriteInband(payload(64, 0));
    expect(inc.readInto(new Uint8Array(63))).toBe(ReadStatus.BufferTooSmall);
    expect(inc.readInto(new Uint8Array(64))).toBe(64);
    expect(inc.readInto(new Uint8Array(64))).toBe(ReadStatus.Empty);
  });

  test('readBatch copies payloads back to back, stops at the destination size and commits once', () => {
    const { out, inc } = open(contiguous(2));
    for (let i = 0; i < 5; i++) out.tryWriteInband(payload(16 * (i + 1), i));
    const dst = new Uint8Array(16 + 32 + 48);
    const lengths = new Uint32Array(8);
    expect(inc.readBatch(dst, lengths)).toBe(3);
    expect([...lengths.subarray(0, 3)]).toEqual([16, 32, 48]);
    expect(dst.subarray(16, 48)).toEqual(payload(32, 1));
    expect(inc.readBatch(new Uint8Array(1024), lengths)).toBe(2);
  });
});

describe('signalling (spec 1.4)', () => {
  test('the writer signals only on empty to non-empty', () => {
    const { out, inc, toReader } = open(contiguous(2));
    out.tryWriteInband(payload(8, 0));
    out.tryWriteInband(payload(8, 1));
    out.tryWriteInband(payload(8, 2));
    expect(toReader.count).toBe(1);
    // Consumed but not yet committed: the writer still sees a non-empty ring.
    expect(inc.peek()).toBe(ReadStatus.Packet);
    inc.advance();
    out.tryWriteInband(payload(8, 3));
    expect(toReader.count).toBe(1);
    while (inc.peek() === ReadStatus.Packet) inc.advance();
    inc.commit();
    out.tryWriteInband(payload(8, 4));
    expect(toReader.count).toBe(2);
    expect(out.signalCount).toBe(2);
  });

  test('interrupt_mask suppresses every signal; unmasking restores them', () => {
    const mem = contiguous(2);
    const { out, inc, toReader } = open(mem, true);
    expect(control(mem)[2]).toBe(1);
    for (let i = 0; i < 20; i++) {
      out.tryWriteInband(payload(8, i));
      inc.readInto(new Uint8Array(8));
    }
    expect(toReader.count).toBe(0);
    inc.setInterruptMask(false);
    out.tryWriteInband(payload(8, 0));
    expect(toReader.count).toBe(1);
  });

  test('a batch signals at most once, and not at all into a non-empty ring', () => {
    const { out, inc, toReader } = open(contiguous(4));
    out.beginBatch();
    for (let i = 0; i < 10; i++) out.tryWriteInband(payload(32, i));
    expect(toReader.count).toBe(0);
    expect(inc.peek()).toBe(ReadStatus.Empty);
    expect(out.endBatch()).toBe(true);
    expect(toReader.count).toBe(1);
    out.beginBatch();
    for (let i = 0; i < 10; i++) out.tryWriteInband(payload(32, i));
    expect(out.endBatch()).toBe(false);
    expect(toReader.count).toBe(1);
  });

  test('begin/end read: the masked writer does not signal, and endRead reports what arrived meanwhile', () => {
    const { out, inc, toReader } = open(contiguous(2));
    inc.beginRead();
    out.tryWriteInband(payload(8, 0));
    expect(toReader.count).toBe(0);
    expect(inc.endRead()).toBe(true);
    expect(inc.readInto(new Uint8Array(8))).toBe(8);
    inc.beginRead();
    expect(inc.endRead()).toBe(false);
  });

  test('the reader signals a blocked writer once, when free space crosses pending_send_sz', () => {
    const mem = contiguous(1);
    const { out, inc, toWriter } = open(mem);
    // Seven packets of 512 bytes (footprint 536) leave 3752 - ... too little for an eighth.
    let status: number = WriteStatus.Ok;
    for (let i = 0; status === WriteStatus.Ok; i++) status = out.tryWriteInband(payload(512, i));
    expect(status).toBe(inbandPacketSize(512));
    expect(out.waitForSpace(status, 0)).toBe(WaitStatus.TimedOut);
    expect(control(mem)[3]).toBe(536);
    const got = new Uint8Array(512);
    // Free before: 4096-8 - 7*536 = 336 < 536. One packet frees 536: crosses the threshold.
    inc.readInto(got);
    expect(toWriter.count).toBe(1);
    inc.readInto(got);
    expect(toWriter.count).toBe(1);
    expect(out.tryWriteInband(payload(512, 0))).toBe(WriteStatus.Ok);
    expect(control(mem)[3]).toBe(0);
    while (inc.readInto(got) > 0);
    expect(toWriter.count).toBe(1);
  });

  test('no pending-send-size signal when the writer did not advertise feature bit 0', () => {
    const mem = contiguous(1);
    const { out, inc, toWriter } = open(mem);
    while (out.tryWriteInband(payload(512, 0)) === WriteStatus.Ok);
    out.waitForSpace(536, 0);
    Atomics.and(control(mem), 16, ~1);
    expect(inc.writerSupportsPendingSendSize).toBe(false);
    inc.readInto(new Uint8Array(512));
    expect(toWriter.count).toBe(0);
  });

  test('pending_send_sz of ring size - 1 (as some peers write) is masked to 8-byte units', () => {
    const mem = contiguous(1);
    const { out, inc, toWriter } = open(mem);
    for (let i = 0; i < 7; i++) out.tryWriteInband(payload(512, i));
    Atomics.store(control(mem), 3, PAGE - 1);
    const got = new Uint8Array(512);
    for (let i = 0; i < 7; i++) inc.readInto(got);
    // Free space reaches D - 8 = 4088 only when the ring is empty again: exactly one signal, at the end.
    expect(toWriter.count).toBe(1);
  });
});

describe('non-contiguous pages', () => {
  test('the same operations on contiguous and scattered pages produce the same bytes and results', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant(-1)), {
          minLength: 1,
          maxLength: 60,
        }),
        (ops) => {
          const a = open(contiguous(3));
          const b = open(scattered(3));
          const ga = new Uint8Array(4096);
          const gb = new Uint8Array(4096);
          ops.forEach((op, i) => {
            if (op >= 0) {
              const sa = a.out.tryWriteInband(payload(op, i), i);
              if (b.out.tryWriteInband(payload(op, i), i) !== sa) throw new Error(`write ${i} differs`);
            } else {
              const na = a.inc.readInto(ga);
              if (b.inc.readInto(gb) !== na || !ga.every((x, k) => gb[k] === x))
                throw new Error(`read ${i} differs`);
            }
          });
          expect(b.toReader.count).toBe(a.toReader.count);
          expect(b.toWriter.count).toBe(a.toWriter.count);
          expect(dataBytes(b.mem)).toEqual(dataBytes(a.mem));
        },
      ),
      { numRuns: 40 },
    );
  });

  test('payloadAddress gives a zero-copy window only where the payload is one unbroken run', () => {
    const mem = scattered(2);
    placeIndices(mem, PAGE - 64);
    const { out, inc } = open(mem);
    out.tryWriteInband(payload(16, 1));
    inc.peek();
    const a = inc.packet.payloadAddress();
    // Scattered pages run in reverse: the lowest is the last data page, where the views start.
    expect(a).toBe(mem.pages[1]! - mem.pages[2]! + PAGE - 48);
    expect(inc.packet.bytes.subarray(a, a + 16)).toEqual(payload(16, 1));
    inc.advance();
    out.tryWriteInband(payload(64, 2)); // starts at PAGE - 24: the payload crosses into a scattered page
    inc.peek();
    expect(inc.packet.payloadAddress()).toBe(-1);
  });
});

describe('hostile peer', () => {
  /** A ring holding one valid 32-byte in-band packet at offset 0, its descriptor open to tampering. */
  function onePacket() {
    const mem = contiguous(1);
    const r = open(mem);
    r.out.tryWriteInband(payload(32, 0), 5);
    const dv = new DataView(mem.buffer, PAGE);
    return { ...r, mem, dv };
  }

  const cases: [string, (dv: DataView, ctl: Int32Array) => void, string][] = [
    ['write_index past the data area', (_dv, ctl) => (ctl[0] = PAGE), RingCorruptCode.BadIndex],
    ['write_index not 8-byte aligned', (_dv, ctl) => (ctl[0] = 52), RingCorruptCode.BadIndex],
    ['write_index negative as i32', (_dv, ctl) => (ctl[0] = -8), RingCorruptCode.BadIndex],
    [
      'fewer bytes published than a descriptor and trailer',
      (_dv, ctl) => (ctl[0] = 16),
      RingCorruptCode.BadAvailable,
    ],
    ['offset8 below 2', (dv) => dv.setUint16(2, 1, true), RingCorruptCode.BadDescriptorLengths],
    ['len8 below offset8', (dv) => dv.setUint16(4, 1, true), RingCorruptCode.BadDescriptorLengths],
    ['len8 past the published bytes', (dv) => dv.setUint16(4, 7, true), RingCorruptCode.PacketPastAvailable],
    [
      'len8 pointing far outside the ring',
      (dv) => dv.setUint16(4, 0xffff, true),
      RingCorruptCode.PacketPastAvailable,
    ],
    [
      'offset8 past len8 and the ring',
      (dv) => dv.setUint16(2, 0xffff, true),
      RingCorruptCode.BadDescriptorLengths,
    ],
    ['unknown flags', (dv) => dv.setUint16(6, 2, true), RingCorruptCode.BadDescriptorFlags],
    ['unknown packet type', (dv) => dv.setUint16(0, 4, true), RingCorruptCode.BadDescriptorType],
    [
      'GPA-direct with range_count 0',
      (dv) => {
        dv.setUint16(0, 9, true);
        dv.setUint16(2, 3, true);
        dv.setUint32(20, 0, true);
      },
      RingCorruptCode.BadGpaRanges,
    ],
    [
      'GPA-direct whose offset8 leaves no room for its header',
      (dv) => dv.setUint16(0, 9, true),
      RingCorruptCode.BadDescriptorLengths,
    ],
    ['trailer naming another packet', (dv) => dv.setUint32(48 + 4, 8, true), RingCorruptCode.BadTrailer],
  ];

  for (const [name, tamper, code] of cases) {
    test(`${name} → ${code}, returned, sticky, never thrown`, () => {
      const { inc, dv, mem, toWriter } = onePacket();
      tamper(dv, control(mem));
      expect(inc.peek()).toBe(ReadStatus.Corrupt);
      expect(inc.error?.code).toBe(code);
      expect(inc.error?.name).toBe('RingCorruptError');
      // Sticky: repairing the ring does not resume it; the owner closes the channel.
      expect(inc.readInto(new Uint8Array(64))).toBe(ReadStatus.Corrupt);
      expect(inc.readBatch(new Uint8Array(64), new Uint32Array(2))).toBe(0);
      expect(inc.bytesToRead()).toBe(0);
      expect(inc.waitForData(0)).toBe(WaitStatus.Corrupt);
      expect(toWriter.count).toBe(0);
    });
  }

  test('a corrupt read_index stops the writer with a typed error', () => {
    const mem = contiguous(1);
    const { out } = open(mem);
    Atomics.store(control(mem), 1, 12);
    expect(out.freeBytes()).toBe(0);
    expect(out.error?.code).toBe(RingCorruptCode.BadIndex);
    expect(out.tryWriteInband(payload(8, 0))).toBe(WriteStatus.Corrupt);
    expect(out.waitForSpace(64, 0)).toBe(WaitStatus.Corrupt);
  });

  test('GPA ranges that overrun their header area are reported, not followed', () => {
    const mem = contiguous(1);
    const { out, inc } = open(mem);
    out.tryWriteGpaDirect([{ byteCount: 4096, byteOffset: 0, pfns: [1] }], payload(8, 0), 1);
    // Claim the range covers 100 pages.
    new DataView(mem.buffer, PAGE).setUint32(24, 100 * PAGE, true);
    expect(inc.peek()).toBe(ReadStatus.Packet);
    const ranges = inc.packet.gpaRanges();
    expect(ranges).toBeInstanceOf(Error);
    expect((ranges as Error & { code: string }).code).toBe(RingCorruptCode.BadGpaRanges);
  });

  test('random control words and data never make the reader throw or read outside its payload', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: PAGE * 2, maxLength: PAGE * 2 }),
        fc.nat({ max: 2 * PAGE - 1 }),
        fc.nat({ max: 2 * PAGE - 1 }),
        fc.boolean(),
        (bytes, w, r, scatter) => {
          const mem = scatter ? scattered(2) : contiguous(2);
          for (let i = 0; i < 2; i++)
            new Uint8Array(mem.buffer, mem.pages[i + 1]!, PAGE).set(bytes.subarray(i * PAGE, (i + 1) * PAGE));
          const inc = IncomingRing.open(mem, { signal: () => {}, checkTrailer: false });
          const ctl = control(mem);
          if (inc instanceof RingMemoryError) throw inc;
          Atomics.store(ctl, 0, w & ~7);
          Atomics.store(ctl, 1, r & ~7);
          const reopened = IncomingRing.open(mem, { signal: () => {}, checkTrailer: false });
          if (reopened instanceof RingMemoryError) throw reopened;
          const dst = new Uint8Array(2 * PAGE);
          let packets = 0;
          for (;;) {
            const s = reopened.peek();
            if (s !== ReadStatus.Packet) {
              expect(s === ReadStatus.Empty || reopened.error !== undefined).toBe(true);
              break;
            }
            const p = reopened.packet;
            expect(p.payloadLength).toBeLessThanOrEqual(2 * PAGE - 24);
            p.copyPayload(dst);
            p.gpaRanges();
            reopened.advance();
            reopened.commit();
            if (++packets > 2 * PAGE) throw new Error('reader did not terminate');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ring memory validation', () => {
  const sab = new SharedArrayBuffer(4 * PAGE);
  const bad: [string, RingMemory, string][] = [
    ['no data page', { buffer: sab, pages: [0] }, RingMemoryErrorCode.TooFewPages],
    ['a page past the buffer', { buffer: sab, pages: [0, 4 * PAGE] }, RingMemoryErrorCode.PageOutOfRange],
    [
      'a page straddling the end',
      { buffer: sab, pages: [0, 3 * PAGE + 8] },
      RingMemoryErrorCode.PageUnaligned,
    ],
    ['an unaligned page', { buffer: sab, pages: [0, 100] }, RingMemoryErrorCode.PageUnaligned],
    ['a negative page', { buffer: sab, pages: [-PAGE, PAGE] }, RingMemoryErrorCode.PageOutOfRange],
    ['a NaN page', { buffer: sab, pages: [0, Number.NaN] }, RingMemoryErrorCode.PageOutOfRange],
    ['a fractional page', { buffer: sab, pages: [0, 4096.5] }, RingMemoryErrorCode.PageOutOfRange],
    ['a page listed twice', { buffer: sab, pages: [0, PAGE, PAGE] }, RingMemoryErrorCode.PageDuplicate],
    [
      'the control page reused as data',
      { buffer: sab, pages: [PAGE, PAGE] },
      RingMemoryErrorCode.PageDuplicate,
    ],
    [
      'a buffer that is not shared',
      { buffer: new ArrayBuffer(2 * PAGE) as unknown as SharedArrayBuffer, pages: [0, PAGE] },
      RingMemoryErrorCode.NotShared,
    ],
  ];
  for (const [name, memory, code] of bad) {
    test(`${name} → ${code}`, () => {
      for (const result of [OutgoingRing.open(memory, counter()), IncomingRing.open(memory, counter())]) {
        expect(result).toBeInstanceOf(RingMemoryError);
        expect((result as RingMemoryError).code).toBe(code);
      }
    });
  }

  test('a ring far into a large partition buffer, pages spread apart, works like any other', () => {
    const buffer = new SharedArrayBuffer(64 * 1024 * 1024);
    const top = buffer.byteLength - PAGE;
    const mem: RingMemory = { buffer, pages: [top - 100 * PAGE, top, top - 7 * PAGE] };
    const { out, inc } = open(mem);
    const got = new Uint8Array(4096);
    for (let len = 8; len <= 4000; len += 248) {
      expect(out.tryWriteInband(payload(len, len), len)).toBe(WriteStatus.Ok);
      expect(inc.readInto(got)).toBe(len);
      expect(got.subarray(0, len)).toEqual(payload(len, len));
    }
    const ctl = new Int32Array(buffer, top - 100 * PAGE, 2);
    expect(ctl[0]).toBeGreaterThan(0);
    expect(ctl[1]).toBe(ctl[0]);
  });

  test('indices already corrupt at open are refused', () => {
    const mem = contiguous(1);
    Atomics.store(control(mem), 0, 4100);
    const r = OutgoingRing.open(mem, counter());
    expect(r).toBeInstanceOf(RingMemoryError);
    expect((r as RingMemoryError).code).toBe(RingMemoryErrorCode.BadIndex);
  });
});

describe('waiting', () => {
  test('waits time out with a result when nothing happens, and return at once when the condition holds', () => {
    const mem = contiguous(1);
    const doorbells = new Int32Array(new SharedArrayBuffer(8));
    const out = OutgoingRing.open(mem, { signal: () => {}, doorbell: doorbells, doorbellIndex: 1 });
    const inc = IncomingRing.open(mem, { signal: () => {}, doorbell: doorbells, doorbellIndex: 0 });
    if (out instanceof RingMemoryError || inc instanceof RingMemoryError) throw new Error('open failed');
    expect(inc.waitForData(20)).toBe(WaitStatus.TimedOut);
    expect(out.waitForSpace(64, 0)).toBe(WaitStatus.Ready);
    expect(out.waitForSpace(PAGE, 0)).toBe(WaitStatus.TimedOut);
    out.tryWriteInband(payload(8, 0));
    expect(inc.waitForData(20)).toBe(WaitStatus.Ready);
    // A masked reader that spins finds data without unmasking: the writer stays silent.
    inc.readInto(new Uint8Array(8));
    inc.beginRead();
    const signals = out.signalCount;
    out.tryWriteInband(payload(8, 2));
    expect(inc.waitForData(20, 10)).toBe(WaitStatus.Ready);
    expect(control(mem)[2]).toBe(1);
    expect(out.signalCount).toBe(signals);
    inc.readInto(new Uint8Array(8));
    expect(inc.waitForData(0, 10)).toBe(WaitStatus.TimedOut);
    expect(control(mem)[2]).toBe(0);
    // An open batch is published before the writer parks, so the reader can make room.
    out.beginBatch();
    out.tryWriteInband(payload(8, 1));
    expect(out.waitForSpace(PAGE - 8, 10)).toBe(WaitStatus.TimedOut);
    expect(inc.bytesToRead()).toBe(inbandPacketSize(8));
    out.endBatch();
  });
});
