import { IncomingRing, OutgoingRing, ReadStatus, WriteStatus } from '@viridian/vmbus-ring';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmbusError, VmbusErrorCode } from './errors.js';
import type { Gpadl } from './gpadl.js';
import { GpadlView, ringMemoryFromGpadl } from './gpadl-view.js';

const PAGES = 64;

function guestMemory(): { sab: SharedArrayBuffer; u8: Uint8Array } {
  const sab = new SharedArrayBuffer(PAGES * 4096);
  const u8 = new Uint8Array(sab);
  for (let i = 0; i < u8.length; i++) u8[i] = (i * 7 + (i >>> 12)) & 0xff;
  return { sab, u8 };
}

describe('GpadlView', () => {
  it('maps offsets through non-contiguous pages and partial first/last pages', () => {
    const { sab, u8 } = guestMemory();
    // 3 pages in reverse order, starting 100 bytes into the first, 9000 bytes long; then a second range.
    const view = GpadlView.create(sab, [
      { byteCount: 9000, byteOffset: 100, pfns: [12, 11, 10] },
      { byteCount: 32, byteOffset: 4080, pfns: [20, 21] },
    ]);
    if (view instanceof VmbusError) throw view;
    expect(view.byteLength).toBe(9032);
    const all = view.slice(0, view.byteLength)!;
    const expected = Buffer.concat([
      u8.subarray(12 * 4096 + 100, 13 * 4096),
      u8.subarray(11 * 4096, 12 * 4096),
      u8.subarray(10 * 4096, 10 * 4096 + 908),
      u8.subarray(20 * 4096 + 4080, 21 * 4096),
      u8.subarray(21 * 4096, 21 * 4096 + 16),
    ]);
    expect(Buffer.from(all).equals(expected)).toBe(true);
    expect(view.write(3990, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))).toBe(true);
    // Bytes 3990..3995 end page 12, 3996..4001 start page 11.
    expect(Array.from(u8.subarray(12 * 4096 + 4090, 12 * 4096 + 4096))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(u8.subarray(11 * 4096, 11 * 4096 + 6))).toEqual([7, 8, 9, 10, 11, 12]);
    expect(view.getUint32(3990)).toBe(0x04030201);
  });

  it('refuses every access that reaches outside the granted bytes and touches nothing', () => {
    const { sab, u8 } = guestMemory();
    const view = GpadlView.create(sab, [{ byteCount: 4096, byteOffset: 0, pfns: [5] }]) as GpadlView;
    const before = u8.slice();
    const dst = new Uint8Array(16);
    expect(view.read(4090, dst)).toBe(false);
    expect(view.read(-1, dst, 0, 4)).toBe(false);
    expect(view.write(4095, Uint8Array.of(1, 2))).toBe(false);
    expect(view.write(0, Uint8Array.of(1, 2), 1, 5)).toBe(false);
    expect(view.read(0.5, dst, 0, 1)).toBe(false);
    expect(view.getUint32(4093)).toBeUndefined();
    expect(view.setUint32(4094, 1)).toBe(false);
    expect(view.slice(4000, 97)).toBeUndefined();
    expect(Buffer.from(u8).equals(Buffer.from(before))).toBe(true);
    expect(dst).toEqual(new Uint8Array(16));
  });

  it('refuses ranges naming pages outside guest memory or with inconsistent page counts', () => {
    const { sab } = guestMemory();
    const codes = [
      GpadlView.create(sab, [{ byteCount: 4096, byteOffset: 0, pfns: [PAGES] }]),
      GpadlView.create(sab, [{ byteCount: 4096, byteOffset: 0, pfns: [2n ** 52n] }]),
      GpadlView.create(sab, [{ byteCount: 4096, byteOffset: 0, pfns: [-1] }]),
      GpadlView.create(sab, [{ byteCount: 4097, byteOffset: 0, pfns: [1] }]),
      GpadlView.create(sab, [{ byteCount: 1, byteOffset: 4096, pfns: [1, 2] }]),
    ].map((v) => (v instanceof VmbusError ? v.code : 'ok'));
    expect(codes).toEqual([
      VmbusErrorCode.GpadlPageOutOfRange,
      VmbusErrorCode.GpadlPageOutOfRange,
      VmbusErrorCode.GpadlPageOutOfRange,
      VmbusErrorCode.MalformedGpadl,
      VmbusErrorCode.MalformedGpadl,
    ]);
  });

  it('property: read/write agree with a flat model of the granted bytes', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(
          Array.from({ length: PAGES }, (_, i) => i),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 0, max: 4095 }),
        fc.array(fc.tuple(fc.integer({ min: -10, max: 30_000 }), fc.integer({ min: 0, max: 5000 })), {
          maxLength: 20,
        }),
        (pfns, byteOffset, ops) => {
          const { sab, u8 } = guestMemory();
          const byteCount = pfns.length * 4096 - byteOffset - (pfns.length > 1 ? 1 : 0);
          if (byteCount <= 0 || Math.ceil((byteOffset + byteCount) / 4096) !== pfns.length) return;
          const view = GpadlView.create(sab, [{ byteCount, byteOffset, pfns }]) as GpadlView;
          const flat = (i: number) =>
            pfns[Math.floor((byteOffset + i) / 4096)]! * 4096 + ((byteOffset + i) % 4096);
          for (const [off, len] of ops) {
            const src = Uint8Array.from({ length: len }, (_, i) => (i * 13 + off) & 0xff);
            const ok = view.write(off, src);
            expect(ok).toBe(off >= 0 && off + len <= byteCount);
            if (!ok) continue;
            let mismatches = 0;
            for (let i = 0; i < len; i++) if (u8[flat(off + i)] !== src[i]) mismatches++;
            expect(mismatches).toBe(0);
            const back = new Uint8Array(len);
            expect(view.read(off, back)).toBe(true);
            expect(Buffer.from(back).equals(Buffer.from(src))).toBe(true);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('rings over a ring GPADL', () => {
  it('splits at downstream_ringbuffer_pageoffset: guest->host ring first, host->guest second', () => {
    const { sab } = guestMemory();
    new Uint8Array(sab).fill(0);
    // Ring pages scattered through guest memory, in GPADL order.
    const pfns = [40, 3, 17, 8, 50, 9, 33, 2];
    const gpadl: Gpadl = { handle: 1, relid: 1, ranges: [{ byteCount: 8 * 4096, byteOffset: 0, pfns }] };
    const host = ringMemoryFromGpadl(sab, gpadl, 4);
    if (host instanceof VmbusError) throw host;
    expect(host.incoming.pages).toEqual([40, 3, 17, 8].map((p) => p * 4096));
    expect(host.outgoing.pages).toEqual([50, 9, 33, 2].map((p) => p * 4096));

    const signals: string[] = [];
    // The guest writes its outbound ring (the same pages), the host reads it through the GPADL split.
    const guestOut = OutgoingRing.open(
      { buffer: sab, pages: pfns.slice(0, 4).map((p) => p * 4096) },
      {
        signal: () => signals.push('to-host'),
      },
    ) as OutgoingRing;
    const hostIn = IncomingRing.open(host.incoming, {
      signal: () => signals.push('to-guest-space'),
    }) as IncomingRing;
    const hostOut = OutgoingRing.open(host.outgoing, {
      signal: () => signals.push('to-guest'),
    }) as OutgoingRing;
    const guestIn = IncomingRing.open(
      { buffer: sab, pages: pfns.slice(4).map((p) => p * 4096) },
      {
        signal: () => signals.push('to-host-space'),
      },
    ) as IncomingRing;
    for (let i = 0; i < 500; i++) {
      const payload = Uint8Array.from({ length: 1 + (i % 700) }, (_, j) => (i + j) & 0xff);
      expect(guestOut.tryWriteInband(payload, i)).toBe(WriteStatus.Ok);
      const buf = new Uint8Array(1024);
      expect(hostIn.peek()).toBe(ReadStatus.Packet);
      expect(hostIn.packet.transactionIdNumber).toBe(i);
      const n = hostIn.readInto(buf);
      expect(buf.subarray(0, payload.length)).toEqual(payload);
      expect(n).toBe((payload.length + 7) & ~7);
      expect(hostOut.tryWriteCompletion(i, payload)).toBe(WriteStatus.Ok);
      expect(guestIn.peek()).toBe(ReadStatus.Packet);
      expect(guestIn.packet.type).toBe(0xb);
      guestIn.advance();
      guestIn.commit();
    }
    expect(signals.filter((s) => s === 'to-host')).toHaveLength(500);
  });

  it('refuses a ring GPADL that cannot hold two rings or names pages outside memory', () => {
    const { sab } = guestMemory();
    const g = (pfns: number[]): Gpadl => ({
      handle: 1,
      relid: 3,
      ranges: [{ byteCount: pfns.length * 4096, byteOffset: 0, pfns }],
    });
    const r1 = ringMemoryFromGpadl(sab, g([1, 2, 3, 4]), 1);
    const r2 = ringMemoryFromGpadl(sab, g([1, 2, 3, PAGES + 5]), 2);
    expect(r1 instanceof VmbusError && r1.code).toBe(VmbusErrorCode.BadRingGpadl);
    expect(r2 instanceof VmbusError && r2.code).toBe(VmbusErrorCode.GpadlPageOutOfRange);
  });
});
