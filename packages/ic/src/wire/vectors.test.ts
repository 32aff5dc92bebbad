import { describe, expect, it } from 'vitest';
import { hex, toHex } from '../test-util.test-fixture.js';
import {
  decodeHeartbeat,
  decodeKvp,
  decodeShutdown,
  decodeTimeSync,
  decodeVss,
  encodeHeartbeat,
  encodeKvpDelete,
  encodeKvpEnumerate,
  encodeKvpGetSet,
  encodeShutdown,
  encodeTimeSync,
  encodeVss,
  utf16z,
  writeKvpRecord,
} from './bodies.js';
import { IcMessageType, KvpPool, SHTDN_REASON_FLAG_PLANNED, WLTIMEDELTA } from './defs.js';
import { decodeIcPacket, encodeIcPacket, type IcHeader } from './framing.js';
import {
  decodeNegotiateBody,
  encodeNegotiateRequest,
  encodeNegotiateResponse,
  selectVersions,
} from './negotiate.js';

const header = (
  messageType: number,
  major: number,
  flags = 3,
  transactionId = 0,
): Omit<IcHeader, 'messageSize'> => ({
  framework: { major: 3, minor: 0 },
  messageType,
  messageVersion: { major, minor: 0 },
  status: 0,
  transactionId,
  flags,
});

function frame(bytes: Uint8Array) {
  const f = decodeIcPacket(bytes);
  if (!f.ok) throw new Error(f.detail);
  return f;
}

describe('spec test vectors', () => {
  it('TV5: heartbeat request seq 5 and the guest reply, byte for byte', () => {
    const tv5 = hex(`01 00 00 00 24 00 00 00
      03 00 00 00 01 00 03 00 00 00 10 00 00 00 00 00
      00 03 00 00
      05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`);
    expect(tv5.byteLength).toBe(44);
    const encoded = encodeIcPacket(
      header(IcMessageType.Heartbeat, 3),
      encodeHeartbeat({ sequence: 5n, applicationState: 0 }),
    );
    expect(toHex(encoded)).toBe(toHex(tv5));
    const f = frame(tv5);
    expect(f.header).toEqual({ ...header(IcMessageType.Heartbeat, 3), messageSize: 16 });
    expect(decodeHeartbeat(f.body)).toEqual({ sequence: 5n, applicationState: 0 });
    const reply = encodeIcPacket(
      header(IcMessageType.Heartbeat, 3, 5),
      encodeHeartbeat({ sequence: 6n, applicationState: 0 }),
    );
    const expected = new Uint8Array(tv5);
    expected[25] = 5;
    expected[28] = 6;
    expect(toHex(reply)).toBe(toHex(expected));
  });

  it('TV6: negotiate offer and the Linux-style reply with the tail left as received', () => {
    const offer = hex(`01 00 00 00 2c 00 00 00  00 00 00 00 00 00 00 00 00 00 18 00 00 00 00 00 00 03 00 00
      02 00 02 00 00 00 00 00  01 00 00 00 03 00 00 00 01 00 00 00 03 00 00 00`);
    const reply = hex(`01 00 00 00 2c 00 00 00  00 00 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00 05 00 00
      01 00 01 00 00 00 00 00  03 00 00 00 03 00 00 00 01 00 00 00 03 00 00 00`);
    const v = (major: number) => ({ major, minor: 0 });
    expect(toHex(encodeNegotiateRequest({ framework: [v(1), v(3)], message: [v(1), v(3)] }))).toBe(
      toHex(offer),
    );
    const decoded = decodeNegotiateBody(frame(offer).body);
    expect(decoded).toEqual({ framework: [v(1), v(3)], message: [v(1), v(3)] });
    if (typeof decoded === 'string') throw new Error(decoded);
    const chosen = selectVersions(decoded, { framework: [v(3), v(1)], message: [v(3), v(1)] });
    expect(chosen).toEqual({ framework: v(3), message: v(3) });
    expect(toHex(encodeNegotiateResponse(offer, chosen))).toBe(toHex(reply));
    // Decoding the reply reads exactly one framework and one message version.
    expect(decodeNegotiateBody(frame(reply).body)).toEqual({ framework: [v(3)], message: [v(3)] });
  });

  it('TV9: key "OSName" in an ENUMERATE reply for pool AUTO index 5', () => {
    expect(toHex(utf16z('OSName'))).toBe('4f0053004e0061006d0065000000');
    const body = encodeKvpEnumerate(KvpPool.Auto, 5);
    writeKvpRecord(new DataView(body.buffer), 8, 'OSName', 'Viridian');
    expect(toHex(body.subarray(0, 8))).toBe('0302000005000000');
    expect(toHex(body.subarray(8, 16))).toBe('010000000e000000');
    expect(new DataView(body.buffer).getUint32(16, true)).toBe(18);
    expect(toHex(body.subarray(20, 34))).toBe('4f0053004e0061006d0065000000');
    expect(toHex(body.subarray(532, 550))).toBe(toHex(utf16z('Viridian')));
    const msg = decodeKvp(new DataView(body.buffer));
    expect(msg).toMatchObject({
      operation: 3,
      pool: 2,
      index: 5,
      record: { key: 'OSName', value: 'Viridian', keySize: 14 },
    });
  });
});

describe('derived vectors for every IC message', () => {
  it('time sync v4 SYNC sample', () => {
    const parent = WLTIMEDELTA + 10_000_000n; // 1970-01-01T00:00:01Z
    const body = encodeTimeSync(
      {
        parentTime: parent,
        referenceTime: 0x1122334455n,
        roundTripTime: 0n,
        flags: 1,
        leapFlags: 0,
        stratum: 2,
      },
      true,
    );
    expect(toHex(body)).toBe(
      toHex(hex('80 16 d7 d5 de b1 9d 01  55 44 33 22 11 00 00 00  01 00 02 00 00 00 00 00')),
    );
    expect(decodeTimeSync(new DataView(body.buffer), true)).toEqual({
      parentTime: parent,
      referenceTime: 0x1122334455n,
      roundTripTime: 0n,
      flags: 1,
      leapFlags: 0,
      stratum: 2,
    });
  });

  it('time sync v1–3 SAMPLE', () => {
    const body = encodeTimeSync(
      { parentTime: 1n, referenceTime: 2n, roundTripTime: 3n, flags: 2, leapFlags: 0, stratum: 0 },
      false,
    );
    expect(toHex(body)).toBe(
      toHex(hex('01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 02 00 00 00')),
    );
    expect(decodeTimeSync(new DataView(body.buffer, 0, 25), false)).toMatchObject({
      parentTime: 1n,
      flags: 2,
    });
  });

  it('VSS freeze and hot-backup reply', () => {
    expect(toHex(encodeVss({ operation: 5, flags: 0 }))).toBe('050000000000000000000000');
    const reply = encodeVss({ operation: 2, flags: 5 });
    expect(toHex(reply)).toBe('020000000000000005000000');
    expect(decodeVss(new DataView(reply.buffer))).toEqual({ operation: 2, flags: 5 });
  });

  it('shutdown: restart with a reason', () => {
    const body = encodeShutdown({
      reasonCode: SHTDN_REASON_FLAG_PLANNED,
      timeoutSeconds: 30,
      flags: 2,
      message: 'Hi',
    });
    expect(body.byteLength).toBe(2060);
    expect(toHex(body.subarray(0, 18))).toBe('000000801e00000002000000480069000000');
    expect(body.subarray(18).every((b) => b === 0)).toBe(true);
    expect(decodeShutdown(new DataView(body.buffer))).toEqual({
      reasonCode: 0x80000000,
      timeoutSeconds: 30,
      flags: 2,
      message: 'Hi',
    });
  });

  it('KVP SET, GET and DELETE bodies', () => {
    const set = encodeKvpGetSet(1, KvpPool.External, 'k', 'v');
    expect(set.byteLength).toBe(2576);
    expect(toHex(set.subarray(0, 20))).toBe('01000000' + '01000000' + '04000000' + '04000000' + '6b000000');
    expect(toHex(set.subarray(528, 532))).toBe('76000000');
    const get = encodeKvpGetSet(0, KvpPool.Guest, 'k');
    expect(toHex(get.subarray(0, 16))).toBe('00010000' + '01000000' + '04000000' + '00000000');
    const del = encodeKvpDelete(KvpPool.External, 'k');
    expect(del.byteLength).toBe(520);
    expect(toHex(del.subarray(0, 12))).toBe('02000000' + '04000000' + '6b000000');
    expect(decodeKvp(new DataView(del.buffer))).toEqual({ operation: 2, pool: 0, keySize: 4, key: 'k' });
    expect(decodeKvp(new DataView(set.buffer))).toMatchObject({
      operation: 1,
      record: { key: 'k', value: 'v' },
    });
  });

  it('heartbeat with application state healthy', () => {
    const body = encodeHeartbeat({ sequence: 0x0102030405060708n, applicationState: 1 });
    expect(toHex(body)).toBe('08070605040302010100000000000000');
    expect(decodeHeartbeat(new DataView(body.buffer))).toEqual({
      sequence: 0x0102030405060708n,
      applicationState: 1,
    });
  });
});
