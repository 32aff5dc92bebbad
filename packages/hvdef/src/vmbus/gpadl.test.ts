import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeChannelMessage, encodeChannelMessage } from './channel-messages.js';
import { VmbusDecodeErrorCode } from './errors.js';
import {
  buildGpadlMessages,
  decodeGpadlRangeBuffer,
  GPA_RANGE_MAX_PFN_COUNT,
  GPADL_BODY_MAX_PFNS,
  GPADL_HEADER_MAX_PFNS,
  GPADL_HEADER_MAX_SLOTS,
  GPADL_LINUX_FIRST_HANDLE,
  GPADL_MAX_RANGE_BUFFER_LENGTH,
  gpadlBodyCount,
  gpadlRangeBufferLength,
} from './gpadl.js';
import { gpaRangePfnCount } from './packet.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('GPADL capacities (spec 4)', () => {
  it('pins the per-message capacities', () => {
    expect(GPADL_HEADER_MAX_SLOTS).toBe(27);
    expect(GPADL_HEADER_MAX_PFNS).toBe(26);
    expect(GPADL_BODY_MAX_PFNS).toBe(28);
    expect(GPADL_MAX_RANGE_BUFFER_LENGTH).toBe(0xfff8);
    expect(GPADL_LINUX_FIRST_HANDLE).toBe(0xe1e10);
    expect(GPA_RANGE_MAX_PFN_COUNT).toBe(0xfffff);
  });

  it('TV10: a 64-page ring buffer splits into header(26 PFNs) + 28 + 10', () => {
    const pfns = Array.from({ length: 64 }, (_, i) => 0x1000n + BigInt(i));
    const ranges = [{ byteCount: 262144, byteOffset: 0, pfns }];
    expect(gpadlRangeBufferLength(ranges)).toBe(520);
    expect(gpadlBodyCount(520)).toBe(2);
    const { header, bodies } = buildGpadlMessages(7, GPADL_LINUX_FIRST_HANDLE, ranges);
    expect(header.rangeBufferLength).toBe(520);
    expect(header.rangeCount).toBe(1);
    const headerBytes = encodeChannelMessage({ kind: 'GpadlHeader', fields: header });
    expect(headerBytes.length).toBe(236);
    const hv = new DataView(headerBytes.buffer);
    expect(hv.getUint32(20, true)).toBe(262144);
    expect(hv.getUint32(24, true)).toBe(0);
    expect(hv.getBigUint64(28, true)).toBe(0x1000n);
    expect(hv.getBigUint64(228, true)).toBe(0x1000n + 25n);
    const bodyBytes = bodies.map((b) => encodeChannelMessage({ kind: 'GpadlBody', fields: b }));
    expect(bodyBytes.map((b) => b.length)).toEqual([240, 96]);
    expect(new DataView(bodyBytes[0]!.buffer).getBigUint64(16, true)).toBe(0x1000n + 26n);
    expect(new DataView(bodyBytes[1]!.buffer).getBigUint64(88, true)).toBe(0x1000n + 63n);

    // The receiving side: decode each message and reassemble.
    const h = decodeChannelMessage(headerBytes);
    const b = bodyBytes.map(decodeChannelMessage);
    if (!h.ok || h.value.kind !== 'GpadlHeader') throw new Error('header');
    const data = [h.value.fields.data];
    for (const r of b) {
      if (!r.ok || r.value.kind !== 'GpadlBody') throw new Error('body');
      data.push(r.value.fields.data);
    }
    expect(decodeGpadlRangeBuffer(concat(data), 1)).toEqual({ ok: true, value: ranges });
  });

  it('small GPADLs need no body', () => {
    const { header, bodies } = buildGpadlMessages(1, 2, [
      { byteCount: 4096 * 26, byteOffset: 0, pfns: Array(26).fill(5n) },
    ]);
    expect(bodies).toEqual([]);
    expect(header.data.length).toBe(216);
    expect(gpadlBodyCount(216)).toBe(0);
    expect(gpadlBodyCount(224)).toBe(1);
  });

  it('round-trips multi-range GPADLs through the messages', () => {
    const range = fc
      .record({
        byteOffset: fc.integer({ min: 0, max: 4095 }),
        byteCount: fc.integer({ min: 0, max: 80 * 4096 }),
      })
      .map((r) => ({
        ...r,
        pfns: Array.from({ length: gpaRangePfnCount(r.byteOffset, r.byteCount) }, (_, i) =>
          BigInt(i * 3 + 1),
        ),
      }));
    fc.assert(
      fc.property(fc.array(range, { minLength: 1, maxLength: 5 }), (ranges) => {
        const { header, bodies } = buildGpadlMessages(1, 99, ranges);
        const msgs = [
          encodeChannelMessage({ kind: 'GpadlHeader', fields: header }),
          ...bodies.map((f) => encodeChannelMessage({ kind: 'GpadlBody', fields: f })),
        ];
        expect(msgs.every((m) => m.length <= 240)).toBe(true);
        expect(bodies.length).toBe(gpadlBodyCount(header.rangeBufferLength));
        const parts: Uint8Array[] = [];
        for (const m of msgs) {
          const d = decodeChannelMessage(m);
          if (!d.ok) throw d.error;
          if (d.value.kind === 'GpadlHeader' || d.value.kind === 'GpadlBody') parts.push(d.value.fields.data);
        }
        expect(decodeGpadlRangeBuffer(concat(parts), ranges.length)).toEqual({ ok: true, value: ranges });
      }),
      { numRuns: 200 },
    );
  });

  it('rejects oversize GPADLs and inconsistent range buffers', () => {
    expect(() => buildGpadlMessages(1, 1, [])).toThrow(RangeError);
    const huge = [{ byteCount: 8191 * 4096, byteOffset: 0, pfns: Array<bigint>(8191).fill(1n) }];
    expect(() => buildGpadlMessages(1, 1, huge)).toThrow(RangeError);
    const { header } = buildGpadlMessages(1, 1, [{ byteCount: 4096, byteOffset: 0, pfns: [1n] }]);
    expect(decodeGpadlRangeBuffer(header.data, 1).ok).toBe(true);
    const extra = decodeGpadlRangeBuffer(concat([header.data, new Uint8Array(8)]), 1);
    expect(!extra.ok && extra.error.field).toBe('rangeBufferLength');
    const short = decodeGpadlRangeBuffer(header.data.subarray(0, 8), 1);
    expect(!short.ok && short.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    const none = decodeGpadlRangeBuffer(header.data, 0);
    expect(!none.ok && none.error.field).toBe('rangeCount');
  });
});
