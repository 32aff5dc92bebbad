import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeHeartbeat, decodeKvp, decodeShutdown, decodeTimeSync, decodeVss } from './bodies.js';
import { IcMessageType } from './defs.js';
import { decodeIcPacket, encodeIcPacket } from './framing.js';
import { decodeNegotiateBody, decodeNegotiateResponse } from './negotiate.js';

const hb = () =>
  encodeIcPacket(
    {
      framework: { major: 3, minor: 0 },
      messageType: IcMessageType.Heartbeat,
      messageVersion: { major: 3, minor: 0 },
      status: 0,
      transactionId: 7,
      flags: 3,
    },
    new Uint8Array(16),
  );

describe('IC framing validates every length from the peer', () => {
  it('rejects packets shorter than the two headers', () => {
    for (const n of [0, 1, 8, 27]) {
      const r = decodeIcPacket(hb().subarray(0, n));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toBe('too-short');
    }
  });

  it('rejects non-DATA pipe packets', () => {
    const p = hb();
    p[0] = 2;
    expect(decodeIcPacket(p)).toMatchObject({ ok: false, error: 'not-data' });
  });

  it('rejects a pipe msgsize beyond the packet', () => {
    const p = hb();
    new DataView(p.buffer).setUint32(4, 37, true);
    expect(decodeIcPacket(p)).toMatchObject({ ok: false, error: 'pipe-size' });
    new DataView(p.buffer).setUint32(4, 19, true);
    expect(decodeIcPacket(p)).toMatchObject({ ok: false, error: 'pipe-size' });
  });

  it('rejects an icmsgsize larger than the body present', () => {
    const p = hb();
    new DataView(p.buffer).setUint16(18, 17, true);
    expect(decodeIcPacket(p)).toMatchObject({ ok: false, error: 'message-size' });
  });

  it('accepts a smaller icmsgsize and ignores ring padding after msgsize', () => {
    const padded = new Uint8Array(48);
    padded.set(hb());
    new DataView(padded.buffer).setUint16(18, 8, true);
    const r = decodeIcPacket(padded);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.body.byteLength).toBe(8);
      expect(r.message.byteLength).toBe(44);
      expect(r.header.transactionId).toBe(7);
    }
  });

  it('never throws and never reads outside the packet, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), (bytes, fix) => {
        const b = new Uint8Array(bytes);
        if (fix && b.byteLength >= 8) {
          // Make the pipe header plausible so deeper decoders run too.
          new DataView(b.buffer).setUint32(0, 1, true);
          new DataView(b.buffer).setUint32(4, b.byteLength - 8, true);
        }
        const r = decodeIcPacket(b);
        if (!r.ok) return;
        expect(r.body.byteOffset + r.body.byteLength).toBeLessThanOrEqual(b.byteLength);
        decodeNegotiateBody(r.body);
        decodeNegotiateResponse(r.header, r.body, { framework: [], message: [] });
        decodeHeartbeat(r.body);
        decodeKvp(r.body);
        decodeShutdown(r.body);
        decodeTimeSync(r.body, true);
        decodeTimeSync(r.body, false);
        decodeVss(r.body);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips any header', () => {
    fc.assert(
      fc.property(
        fc.record({
          fw: fc.integer({ min: 0, max: 0xffff }),
          type: fc.integer({ min: 0, max: 0xffff }),
          mv: fc.integer({ min: 0, max: 0xffff }),
          status: fc.integer({ min: 0, max: 0xffffffff }),
          tx: fc.integer({ min: 0, max: 255 }),
          flags: fc.integer({ min: 0, max: 255 }),
        }),
        fc.uint8Array({ maxLength: 200 }),
        (h, body) => {
          const header = {
            framework: { major: h.fw, minor: h.mv },
            messageType: h.type,
            messageVersion: { major: h.mv, minor: h.fw },
            status: h.status,
            transactionId: h.tx,
            flags: h.flags,
          };
          const r = decodeIcPacket(encodeIcPacket(header, body));
          expect(r.ok).toBe(true);
          if (r.ok) {
            expect(r.header).toEqual({ ...header, messageSize: body.byteLength });
            expect(new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength)).toEqual(body);
          }
        },
      ),
    );
  });

  it('negotiate: counts beyond 100 or beyond the body are refused', () => {
    const body = new DataView(new ArrayBuffer(16));
    body.setUint16(0, 101, true);
    expect(decodeNegotiateBody(body)).toBe('too-many-versions');
    body.setUint16(0, 1, true);
    body.setUint16(2, 2, true);
    expect(decodeNegotiateBody(body)).toBe('too-short');
    expect(decodeNegotiateBody(new DataView(new ArrayBuffer(4)))).toBe('too-short');
  });
});
