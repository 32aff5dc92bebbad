import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmbusDecodeErrorCode } from './errors.js';
import {
  checkPacketDescriptor,
  decodeGpaDirectPacket,
  decodeGpaRanges,
  decodePacketDescriptor,
  decodeTransferPagePacket,
  encodeGpaDirectPacket,
  encodeGpaRanges,
  encodePacketDescriptor,
  encodeTransferPagePacket,
  GPA_DIRECT_MAX_PAGE_BUFFERS,
  GpaDirectPacket,
  GpadlPacket,
  GpaRange,
  gpaDirectPacketSize,
  gpaRangePfnCount,
  gpaRangeSize,
  inbandPacketLen8,
  PACKET_MIN_OFFSET8,
  PacketCheck,
  PacketDescriptor,
  TransferPagePacket,
  TransferPageRange,
  VmbusPacketFlags,
  VmbusPacketType,
} from './packet.js';
import { hex, toHex, viewOf, zeroView } from './test-util.test-fixture.js';

describe('packet constants (spec 2.1-2.3)', () => {
  it('pins every packet type', () => {
    expect(VmbusPacketType).toEqual({
      Invalid: 0x0,
      Synch: 0x1,
      AddTransferPageSet: 0x2,
      RemoveTransferPageSet: 0x3,
      EstablishGpadl: 0x4,
      TeardownGpadl: 0x5,
      DataInband: 0x6,
      DataUsingTransferPages: 0x7,
      DataUsingGpadl: 0x8,
      DataUsingGpaDirect: 0x9,
      CancelRequest: 0xa,
      Completion: 0xb,
      DataUsingAdditionalPacket: 0xc,
      AdditionalData: 0xd,
    });
    expect(VmbusPacketFlags).toEqual({ None: 0, CompletionRequested: 1 });
  });

  it('pins the layouts', () => {
    expect(PacketDescriptor).toEqual({ type: 0, offset8: 2, len8: 4, flags: 6, transactionId: 8, size: 16 });
    expect(PACKET_MIN_OFFSET8).toBe(2);
    expect(GpaRange).toEqual({ byteCount: 0, byteOffset: 4, pfns: 8, headerSize: 8 });
    expect(GpaDirectPacket).toEqual({ reserved: 16, rangeCount: 20, ranges: 24 });
    expect(GPA_DIRECT_MAX_PAGE_BUFFERS).toBe(32);
    expect(TransferPagePacket).toEqual({
      transferPageSetId: 16,
      senderOwnsSet: 18,
      reserved: 19,
      rangeCount: 20,
      ranges: 24,
    });
    expect(TransferPageRange).toEqual({ byteCount: 0, byteOffset: 4, size: 8 });
    expect(GpadlPacket).toEqual({ gpadl: 16, rangeCount: 20, ranges: 24 });
  });
});

describe('packet descriptor', () => {
  it('TV2: encodes the inband descriptor bytes', () => {
    const { bytes, view } = zeroView(40);
    encodePacketDescriptor(view, 0, {
      type: VmbusPacketType.DataInband,
      offset8: 2,
      len8: inbandPacketLen8(16),
      flags: VmbusPacketFlags.CompletionRequested,
      transactionId: 0x1122334455667788n,
    });
    for (let i = 0; i < 16; i++) bytes[16 + i] = i;
    expect(toHex(bytes)).toBe(
      toHex(
        hex(`06 00 02 00 04 00 01 00 88 77 66 55 44 33 22 11
             00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
             00 00 00 00 00 00 00 00`),
      ),
    );
    const d = decodePacketDescriptor(view, 0, 32);
    expect(d).toEqual({
      ok: true,
      value: { type: 6, offset8: 2, len8: 4, flags: 1, transactionId: 0x1122334455667788n },
    });
  });

  it('TV5: a 44-byte IC payload gives len8 8 (72 ring bytes with the trailer)', () => {
    expect(inbandPacketLen8(44)).toBe(8);
    expect(inbandPacketLen8(0)).toBe(2);
  });

  it('round-trips any descriptor that is structurally valid', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 2, max: 64 }),
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (type, offset8, extra, flags, transactionId) => {
          const len8 = offset8 + extra;
          const { view } = zeroView(len8 * 8);
          const fields = { type, offset8, len8, flags, transactionId };
          encodePacketDescriptor(view, 0, fields);
          expect(decodePacketDescriptor(view, 0, len8 * 8)).toEqual({ ok: true, value: fields });
        },
      ),
    );
  });

  it('rejects hostile descriptors with typed errors and never reads out of range', () => {
    const { view } = zeroView(64);
    const put = (offset8: number, len8: number) =>
      encodePacketDescriptor(view, 0, { type: 6, offset8, len8, flags: 0, transactionId: 0n });
    expect(checkPacketDescriptor(view, 0, 15)).toBe(PacketCheck.Truncated);
    put(1, 4);
    expect(checkPacketDescriptor(view, 0, 64)).toBe(PacketCheck.OffsetTooSmall);
    put(4, 3);
    expect(checkPacketDescriptor(view, 0, 64)).toBe(PacketCheck.LengthBeforeOffset);
    put(2, 9);
    expect(checkPacketDescriptor(view, 0, 64)).toBe(PacketCheck.LengthTooLarge);
    put(2, 8);
    expect(checkPacketDescriptor(view, 0, 64)).toBe(PacketCheck.Ok);
    // A caller-supplied length past the view is clamped to the view.
    put(2, 9);
    expect(checkPacketDescriptor(view, 0, 1_000_000)).toBe(PacketCheck.LengthTooLarge);
    expect(checkPacketDescriptor(view, 60, 1_000)).toBe(PacketCheck.Truncated);
    expect(checkPacketDescriptor(view, 100, 16)).toBe(PacketCheck.Truncated);
    expect(checkPacketDescriptor(view, -1, 16)).toBe(PacketCheck.Truncated);

    const short = decodePacketDescriptor(view, 0, 8);
    expect(short.ok).toBe(false);
    if (!short.ok) expect(short.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    put(1, 4);
    const bad = decodePacketDescriptor(view, 0, 64);
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.error.code).toBe(VmbusDecodeErrorCode.InvalidField);
      expect(bad.error.field).toBe('offset8');
    }
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -4, max: 200 }), (bytes, length) => {
        const view = viewOf(bytes);
        decodePacketDescriptor(view, 0, length);
        decodeGpaDirectPacket(view, 0, length);
        decodeTransferPagePacket(view, 0, length);
      }),
    );
  });
});

describe('GPA ranges and GPA-direct packets', () => {
  it('counts PFNs from offset and length', () => {
    expect(gpaRangePfnCount(0, 4096)).toBe(1);
    expect(gpaRangePfnCount(0, 4097)).toBe(2);
    expect(gpaRangePfnCount(4095, 2)).toBe(2);
    expect(gpaRangePfnCount(0, 262144)).toBe(64);
    expect(gpaRangeSize(0, 262144)).toBe(520);
    expect(gpaRangeSize(100, 100)).toBe(16);
  });

  it('encodes a page-buffer GPA-direct packet byte for byte', () => {
    const { bytes, view } = zeroView(64);
    const size = encodeGpaDirectPacket(view, 0, {
      flags: VmbusPacketFlags.CompletionRequested,
      transactionId: 7n,
      ranges: [{ byteCount: 512, byteOffset: 16, pfns: [0x1234n] }],
      payload: hex('aa bb cc'),
    });
    expect(size).toBe(48);
    expect(gpaDirectPacketSize([{ byteCount: 512, byteOffset: 16 }], 3)).toBe(48);
    expect(toHex(bytes.subarray(0, 48))).toBe(
      toHex(
        hex(`09 00 05 00 06 00 01 00 07 00 00 00 00 00 00 00
             00 00 00 00 01 00 00 00 00 02 00 00 10 00 00 00
             34 12 00 00 00 00 00 00 aa bb cc 00 00 00 00 00`),
      ),
    );
  });

  it('round-trips GPA-direct packets', () => {
    const range = fc
      .record({
        byteOffset: fc.integer({ min: 0, max: 4095 }),
        byteCount: fc.integer({ min: 1, max: 5 * 4096 }),
      })
      .chain((r) =>
        fc.record({
          byteOffset: fc.constant(r.byteOffset),
          byteCount: fc.constant(r.byteCount),
          pfns: fc.array(fc.bigInt({ min: 0n, max: 2n ** 52n }), {
            minLength: gpaRangePfnCount(r.byteOffset, r.byteCount),
            maxLength: gpaRangePfnCount(r.byteOffset, r.byteCount),
          }),
        }),
      );
    fc.assert(
      fc.property(
        fc.array(range, { minLength: 1, maxLength: 4 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (ranges, payload, transactionId) => {
          const size = gpaDirectPacketSize(ranges, payload.length);
          const { view } = zeroView(size);
          expect(encodeGpaDirectPacket(view, 0, { flags: 1, transactionId, ranges, payload })).toBe(size);
          const d = decodeGpaDirectPacket(view, 0, size);
          expect(d.ok).toBe(true);
          if (!d.ok) return;
          expect(d.value.ranges).toEqual(ranges);
          expect(d.value.transactionId).toBe(transactionId);
          expect(d.value.payload.subarray(0, payload.length)).toEqual(payload);
          expect(d.value.payload.length).toBe(Math.ceil(payload.length / 8) * 8);
          expect(d.value.payload.subarray(payload.length).every((b) => b === 0)).toBe(true);
        },
      ),
    );
  });

  it('rejects GPA-direct packets whose ranges do not fit or are absent', () => {
    const { view } = zeroView(64);
    encodeGpaDirectPacket(view, 0, {
      flags: 1,
      transactionId: 0n,
      ranges: [{ byteCount: 4096, byteOffset: 0, pfns: [1n] }],
      payload: new Uint8Array(0),
    });
    expect(decodeGpaDirectPacket(view, 0, 40).ok).toBe(true);
    view.setUint32(GpaDirectPacket.rangeCount, 0, true);
    const zero = decodeGpaDirectPacket(view, 0, 40);
    expect(!zero.ok && zero.error.field).toBe('rangeCount');
    view.setUint32(GpaDirectPacket.rangeCount, 0xffffffff, true);
    const many = decodeGpaDirectPacket(view, 0, 40);
    expect(!many.ok && many.error.field).toBe('rangeCount');
    view.setUint32(GpaDirectPacket.rangeCount, 1, true);
    view.setUint32(GpaDirectPacket.ranges + GpaRange.byteCount, 0xffffffff, true);
    const huge = decodeGpaDirectPacket(view, 0, 40);
    expect(!huge.ok && huge.error.code).toBe(VmbusDecodeErrorCode.InvalidField);
    view.setUint16(PacketDescriptor.type, VmbusPacketType.DataInband, true);
    const wrongType = decodeGpaDirectPacket(view, 0, 40);
    expect(!wrongType.ok && wrongType.error.field).toBe('type');
  });

  it('encodeGpaRanges refuses a PFN list that does not match the range', () => {
    const { view } = zeroView(64);
    expect(() => encodeGpaRanges(view, 0, [{ byteCount: 8192, byteOffset: 0, pfns: [1n] }])).toThrow(
      RangeError,
    );
  });

  it('decodeGpaRanges reports truncation', () => {
    const { view } = zeroView(24);
    encodeGpaRanges(view, 0, [{ byteCount: 4096, byteOffset: 0, pfns: [9n] }]);
    expect(decodeGpaRanges(view, 0, 16, 1).ok).toBe(true);
    const t = decodeGpaRanges(view, 0, 15, 1);
    expect(!t.ok && t.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    expect(decodeGpaRanges(view, 0, 20, 2).ok).toBe(false);
    // A zero-byte range has no PFNs and takes only its 8-byte header.
    expect(decodeGpaRanges(view, 0, 24, 2)).toMatchObject({ ok: true, value: { size: 24 } });
  });
});

describe('transfer-page packets', () => {
  it('encodes byte for byte and round-trips', () => {
    const { bytes, view } = zeroView(40);
    const fields = {
      flags: 0,
      transactionId: 0x55n,
      transferPageSetId: 0xcafe,
      senderOwnsSet: true,
      ranges: [
        { byteCount: 1514, byteOffset: 0 },
        { byteCount: 60, byteOffset: 2048 },
      ],
    };
    expect(encodeTransferPagePacket(view, 0, fields)).toBe(40);
    expect(toHex(bytes)).toBe(
      toHex(
        hex(`07 00 05 00 05 00 00 00 55 00 00 00 00 00 00 00
             fe ca 01 00 02 00 00 00 ea 05 00 00 00 00 00 00
             3c 00 00 00 00 08 00 00`),
      ),
    );
    expect(decodeTransferPagePacket(view, 0, 40)).toEqual({
      ok: true,
      value: { ...fields, offset8: 5, len8: 5 },
    });
    view.setUint32(TransferPagePacket.rangeCount, 3, true);
    const over = decodeTransferPagePacket(view, 0, 40);
    expect(!over.ok && over.error.field).toBe('rangeCount');
  });
});
