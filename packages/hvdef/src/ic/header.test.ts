import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmbusDecodeErrorCode } from '../vmbus/errors.js';
import { encodePacketDescriptor, inbandPacketLen8, VmbusPacketType } from '../vmbus/packet.js';
import { ringTrailerValue } from '../vmbus/ring.js';
import { hex, toHex, viewOf } from '../vmbus/test-util.test-fixture.js';
import {
  compareIcVersions,
  decodeIcMessage,
  decodeIcMessageHeader,
  encodeIcMessage,
  formatIcVersion,
  IC_BODY_OFFSET,
  IC_HEADER_OFFSET,
  IC_MAX_MESSAGE_SIZE,
  IC_REQUEST_FLAGS,
  IC_RESPONSE_FLAGS,
  IcFlags,
  IcMessageHeader,
  IcMessageType,
  IcStatus,
  icMessageBytes,
  icVersion,
} from './header.js';
import { decodeHeartbeat, encodeHeartbeat } from './heartbeat.js';
import { decodeIcNegotiate, encodeIcNegotiate, icNegotiateSize } from './negotiate.js';
import { PIPE_MAX_PAYLOAD, PipeHeader, PipeMessageType } from './pipe.js';

describe('IC framing constants (spec 6.1, 6.2)', () => {
  it('pins pipe header, icmsg_hdr, types, flags and statuses', () => {
    expect(PipeHeader).toEqual({ packetType: 0, dataSize: 4, size: 8 });
    expect(PipeMessageType).toEqual({
      Invalid: 0,
      Data: 1,
      Partial: 2,
      SetupGpaDirect: 3,
      TeardownGpaDirect: 4,
      IndicationComplete: 5,
    });
    expect(PIPE_MAX_PAYLOAD).toBe(16384);
    expect(IcMessageHeader).toEqual({
      frameworkVersionMajor: 0,
      frameworkVersionMinor: 2,
      messageType: 4,
      messageVersionMajor: 6,
      messageVersionMinor: 8,
      messageSize: 10,
      status: 12,
      transactionId: 16,
      flags: 17,
      reserved: 18,
      size: 20,
    });
    expect(IC_HEADER_OFFSET).toBe(8);
    expect(IC_BODY_OFFSET).toBe(28);
    expect(IC_MAX_MESSAGE_SIZE).toBe(13312);
    expect(IcMessageType).toEqual({
      Negotiate: 0,
      Heartbeat: 1,
      KvpExchange: 2,
      Shutdown: 3,
      TimeSync: 4,
      Vss: 5,
      Rdv: 6,
      FileCopy: 7,
      VmSession: 8,
    });
    expect(IcFlags).toEqual({ Transaction: 1, Request: 2, Response: 4 });
    expect(IC_REQUEST_FLAGS).toBe(3);
    expect(IC_RESPONSE_FLAGS).toBe(5);
    expect(IcStatus).toEqual({
      Success: 0,
      Fail: 0x80004005,
      NoMoreItems: 0x80070103,
      NotSupported: 0x80070032,
      NotFound: 0x80041002,
      MachineLocked: 0x800704f7,
      DeviceNotConnected: 0x8007048f,
      InvalidArg: 0x80070057,
      AlreadyExists: 0x80070050,
      DiskFull: 0x80070070,
    });
  });

  it('orders and formats versions', () => {
    expect(compareIcVersions(icVersion(3, 0), icVersion(1, 0))).toBeGreaterThan(0);
    expect(compareIcVersions(icVersion(3, 1), icVersion(3, 2))).toBeLessThan(0);
    expect(compareIcVersions(icVersion(4, 0), icVersion(4, 0))).toBe(0);
    expect(formatIcVersion(icVersion(3, 2))).toBe('3.2');
  });
});

const TV5 = hex(`01 00 00 00 24 00 00 00
                 03 00 00 00 01 00 03 00 00 00 10 00 00 00 00 00
                 00 03 00 00
                 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`);

describe('TV5: heartbeat request, seq 5', () => {
  it('encodes the 44-byte payload exactly', () => {
    const body = new Uint8Array(16);
    encodeHeartbeat(viewOf(body), 0, { sequenceNumber: 5n, applicationState: 0 });
    const bytes = icMessageBytes({
      header: {
        frameworkVersion: icVersion(3, 0),
        messageType: IcMessageType.Heartbeat,
        messageVersion: icVersion(3, 0),
        messageSize: 16,
        status: IcStatus.Success,
        transactionId: 0,
        flags: IC_REQUEST_FLAGS,
      },
      body,
    });
    expect(toHex(bytes)).toBe(toHex(TV5));
  });

  it('decodes it back, and as a 72-byte ring packet', () => {
    const m = decodeIcMessage(viewOf(TV5), 0, TV5.length);
    expect(m.ok).toBe(true);
    if (!m.ok) return;
    expect(m.value.header).toEqual({
      frameworkVersion: { major: 3, minor: 0 },
      messageType: 1,
      messageVersion: { major: 3, minor: 0 },
      messageSize: 16,
      status: 0,
      transactionId: 0,
      flags: 3,
    });
    expect(decodeHeartbeat(viewOf(m.value.body), 0, m.value.body.length)).toEqual({
      ok: true,
      value: { sequenceNumber: 5n, applicationState: 0 },
    });

    const len8 = inbandPacketLen8(TV5.length);
    expect(len8).toBe(8);
    const ring = new Uint8Array(len8 * 8 + 8);
    const rv = viewOf(ring);
    encodePacketDescriptor(rv, 0, {
      type: VmbusPacketType.DataInband,
      offset8: 2,
      len8,
      flags: 0,
      transactionId: 0n,
    });
    ring.set(TV5, 16);
    rv.setBigUint64(len8 * 8, ringTrailerValue(0), true);
    expect(ring.length).toBe(72);
    expect(toHex(ring.subarray(0, 16))).toBe('06 00 02 00 08 00 00 00 00 00 00 00 00 00 00 00');
    expect(ring.subarray(60, 72).every((b) => b === 0)).toBe(true);
  });

  it('the guest reply edits flags and sequence in place', () => {
    const reply = TV5.slice();
    const v = viewOf(reply);
    v.setUint8(IC_HEADER_OFFSET + IcMessageHeader.flags, IC_RESPONSE_FLAGS);
    v.setBigUint64(IC_BODY_OFFSET, 6n, true);
    expect(toHex(reply.subarray(24, 36))).toBe('00 05 00 00 06 00 00 00 00 00 00 00');
    const m = decodeIcMessage(v, 0, reply.length);
    expect(m.ok && m.value.header.flags).toBe(5);
  });
});

describe('TV6: negotiate', () => {
  const request = hex(`01 00 00 00 2c 00 00 00  00 00 00 00 00 00 00 00 00 00 18 00 00 00 00 00 00 03 00 00
                       02 00 02 00 00 00 00 00  01 00 00 00 03 00 00 00 01 00 00 00 03 00 00 00`);
  const reply = hex(`01 00 00 00 2c 00 00 00  00 00 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00 05 00 00
                     01 00 01 00 00 00 00 00  03 00 00 00 03 00 00 00 01 00 00 00 03 00 00 00`);

  it('encodes the host offer exactly', () => {
    const fields = {
      frameworkVersions: [icVersion(1, 0), icVersion(3, 0)],
      messageVersions: [icVersion(1, 0), icVersion(3, 0)],
    };
    const body = new Uint8Array(icNegotiateSize(2, 2));
    expect(encodeIcNegotiate(viewOf(body), 0, fields)).toBe(24);
    const bytes = icMessageBytes({
      header: {
        frameworkVersion: icVersion(0, 0),
        messageType: IcMessageType.Negotiate,
        messageVersion: icVersion(0, 0),
        messageSize: 24,
        status: 0,
        transactionId: 0,
        flags: IC_REQUEST_FLAGS,
      },
      body,
    });
    expect(toHex(bytes)).toBe(toHex(request));
    const m = decodeIcMessage(viewOf(request), 0, request.length);
    if (!m.ok) throw m.error;
    expect(decodeIcNegotiate(viewOf(m.value.body), 0, m.value.header.messageSize)).toEqual({
      ok: true,
      value: fields,
    });
  });

  it('decodes the Linux reply: F = M = 1, older tail left in the buffer', () => {
    const m = decodeIcMessage(viewOf(reply), 0, reply.length);
    if (!m.ok) throw m.error;
    expect(m.value.header.messageSize).toBe(16);
    expect(m.value.header.flags).toBe(IC_RESPONSE_FLAGS);
    expect(m.value.body.length).toBe(24);
    expect(decodeIcNegotiate(viewOf(m.value.body), 0, m.value.header.messageSize)).toEqual({
      ok: true,
      value: { frameworkVersions: [icVersion(3, 0)], messageVersions: [icVersion(3, 0)] },
    });
  });
});

describe('hostile IC payloads', () => {
  it('rejects short, non-DATA, oversized and inconsistent payloads with typed errors', () => {
    const code = (b: Uint8Array, len = b.length) => {
      const r = decodeIcMessage(viewOf(b), 0, len);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(code(TV5)).toBe('ok');
    expect(code(TV5, 27)).toBe(VmbusDecodeErrorCode.Truncated);
    expect(code(TV5.subarray(0, 4))).toBe(VmbusDecodeErrorCode.Truncated);
    const partial = TV5.slice();
    partial[0] = 2;
    expect(code(partial)).toBe(VmbusDecodeErrorCode.InvalidField);
    const big = TV5.slice();
    viewOf(big).setUint32(4, 16385, true);
    expect(code(big)).toBe(VmbusDecodeErrorCode.Oversized);
    const tiny = TV5.slice();
    viewOf(tiny).setUint32(4, 19, true);
    expect(code(tiny)).toBe(VmbusDecodeErrorCode.Truncated);
    const liar = TV5.slice();
    viewOf(liar).setUint16(IC_HEADER_OFFSET + IcMessageHeader.messageSize, 17, true);
    const r = decodeIcMessage(viewOf(liar), 0, liar.length);
    expect(!r.ok && r.error.field).toBe('messageSize');
    expect(decodeIcMessageHeader(viewOf(TV5), 8, 19).ok).toBe(false);
  });

  it('never throws on arbitrary payloads', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.integer({ min: 0, max: 40 }), (raw, size) => {
        const b = raw.slice();
        if (b.length >= 8) {
          viewOf(b).setUint32(0, 1, true);
          viewOf(b).setUint32(4, size, true);
        }
        const r = decodeIcMessage(viewOf(b), 0, b.length);
        if (r.ok) {
          expect(r.value.body.length).toBe(size - 20);
          expect(decodeIcNegotiate(viewOf(r.value.body), 0, r.value.body.length).ok).toBeTypeOf('boolean');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips arbitrary headers and bodies', () => {
    const ver = fc.record({
      major: fc.integer({ min: 0, max: 0xffff }),
      minor: fc.integer({ min: 0, max: 0xffff }),
    });
    fc.assert(
      fc.property(
        ver,
        ver,
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ maxLength: 64 }),
        (frameworkVersion, messageVersion, messageType, status, transactionId, flags, body) => {
          const header = {
            frameworkVersion,
            messageVersion,
            messageType,
            messageSize: body.length,
            status,
            transactionId,
            flags,
          };
          const out = new Uint8Array(28 + body.length);
          expect(encodeIcMessage(viewOf(out), 0, { header, body })).toBe(out.length);
          expect(decodeIcMessage(viewOf(out), 0, out.length)).toEqual({ ok: true, value: { header, body } });
        },
      ),
    );
  });
});
