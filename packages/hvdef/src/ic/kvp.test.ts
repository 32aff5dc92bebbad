import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmbusDecodeErrorCode } from '../vmbus/errors.js';
import { hex, toHex, viewOf, zeroView } from '../vmbus/test-util.test-fixture.js';
import {
  decodeKvpDelete,
  decodeKvpEnumerate,
  decodeKvpGetSet,
  decodeKvpIpInfo,
  decodeKvpIpInfoBinary,
  decodeKvpValue,
  encodeKvpDelete,
  encodeKvpEnumerate,
  encodeKvpGetSet,
  encodeKvpIpInfo,
  encodeKvpIpInfoBinary,
  encodeKvpValue,
  KVP_AUTO_POOL_KEYS,
  KVP_MAX_KEY_SIZE,
  KVP_MAX_VALUE_SIZE,
  KVP_OPERATION_COUNT,
  KVP_POOL_COUNT,
  KvpAddressFamily,
  KvpAddressOrigin,
  KvpDeleteMessage,
  KvpEnumerateMessage,
  KvpGetSetMessage,
  KvpHeader,
  KvpIpInfoBinaryCapacity,
  KvpIpInfoBinaryMessage,
  KvpIpInfoCapacity,
  KvpIpInfoMessage,
  KvpOperation,
  KvpPool,
  KvpValueRecord,
  KvpValueType,
} from './kvp.js';
import { encodeUtf16z } from './utf16.js';

describe('KVP constants (spec 7.5)', () => {
  it('pins operations, pools, value types and limits', () => {
    expect(KvpOperation).toEqual({ Get: 0, Set: 1, Delete: 2, Enumerate: 3, GetIpInfo: 4, SetIpInfo: 5 });
    expect(KVP_OPERATION_COUNT).toBe(6);
    expect(KvpPool).toEqual({ External: 0, Guest: 1, Auto: 2, AutoExternal: 3, AutoInternal: 4 });
    expect(KVP_POOL_COUNT).toBe(5);
    expect(KvpValueType).toEqual({ String: 1, ExpandString: 2, Dword: 4, LinuxU64: 8, Qword: 11 });
    expect(KVP_MAX_KEY_SIZE).toBe(512);
    expect(KVP_MAX_VALUE_SIZE).toBe(2048);
    expect(KVP_AUTO_POOL_KEYS).toEqual([
      'FullyQualifiedDomainName',
      'IntegrationServicesVersion',
      'NetworkAddressIPv4',
      'NetworkAddressIPv6',
      'OSBuildNumber',
      'OSName',
      'OSMajorVersion',
      'OSMinorVersion',
      'OSVersion',
      'ProcessorArchitecture',
    ]);
    expect(KvpAddressFamily).toEqual({ None: 0, Ipv4: 1, Ipv6: 2, Both: 3 });
    expect(KvpAddressOrigin).toEqual({ Unknown: 0, Other: 1, Static: 2 });
  });

  it('pins every layout', () => {
    expect(KvpHeader).toEqual({ operation: 0, pool: 1, size: 4 });
    expect(KvpValueRecord).toEqual({
      valueType: 0,
      keySize: 4,
      valueSize: 8,
      key: 12,
      value: 524,
      size: 2572,
    });
    expect(KvpGetSetMessage).toEqual({ operation: 0, pool: 1, value: 4, size: 2576 });
    expect(KvpDeleteMessage).toEqual({ operation: 0, pool: 1, keySize: 4, key: 8, size: 520 });
    expect(KvpEnumerateMessage).toEqual({ operation: 0, pool: 1, index: 4, value: 8, size: 2580 });
    expect(KvpIpInfoMessage).toEqual({
      operation: 0,
      pool: 1,
      adapterId: 2,
      addressFamily: 258,
      dhcpEnabled: 259,
      ipAddresses: 260,
      subnets: 2308,
      gateways: 4356,
      dnsServers: 5380,
      size: 7428,
    });
    expect(KvpIpInfoCapacity).toEqual({
      adapterId: 256,
      ipAddresses: 2048,
      subnets: 2048,
      gateways: 1024,
      dnsServers: 2048,
    });
    expect(KvpIpInfoBinaryMessage).toEqual({
      operation: 0,
      pool: 1,
      ipv4AddressCount: 4,
      ipv6AddressCount: 8,
      ipv4GatewayCount: 12,
      ipv6GatewayCount: 16,
      ipv4DnsServerCount: 20,
      ipv6DnsServerCount: 24,
      adapterId: 28,
      addressFamily: 284,
      dhcpEnabled: 285,
      padding: 286,
      ipv4Addresses: 288,
      ipv6Addresses: 544,
      ipv4Subnets: 1568,
      ipv6Prefixes: 1824,
      ipv4Gateways: 2080,
      ipv6Gateways: 2100,
      ipv4DnsServers: 2180,
      ipv6DnsServers: 2436,
      origins: 3460,
      size: 3716,
    });
    expect(KvpIpInfoBinaryCapacity).toEqual({ addresses: 64, gateways: 5, dnsServers: 64, origins: 128 });
  });
});

describe('TV9: KVP key "OSName" in an ENUMERATE reply', () => {
  it('encodes the key bytes, sizes and offsets', () => {
    expect(encodeUtf16z('OSName')).toEqual(hex('4f 00 53 00 4e 00 61 00 6d 00 65 00 00 00'));
    const { bytes, view } = zeroView(KvpEnumerateMessage.size);
    encodeKvpEnumerate(view, 0, {
      pool: KvpPool.Auto,
      index: 5,
      value: { valueType: KvpValueType.String, key: 'OSName', value: 'Linux' },
    });
    expect(toHex(bytes.subarray(0, 20))).toBe('03 02 00 00 05 00 00 00 01 00 00 00 0e 00 00 00 0c 00 00 00');
    expect(bytes.subarray(20, 34)).toEqual(hex('4f 00 53 00 4e 00 61 00 6d 00 65 00 00 00'));
    expect(bytes.subarray(532, 544)).toEqual(hex('4c 00 69 00 6e 00 75 00 78 00 00 00'));
    expect(decodeKvpEnumerate(view, 0, KvpEnumerateMessage.size)).toEqual({
      ok: true,
      value: { pool: 2, index: 5, value: { valueType: 1, key: 'OSName', value: 'Linux' } },
    });
  });

  it("decodes the host's empty request as value null", () => {
    const { view } = zeroView(KvpEnumerateMessage.size);
    encodeKvpEnumerate(view, 0, { pool: KvpPool.Auto, index: 0, value: null });
    expect(decodeKvpEnumerate(view, 0, KvpEnumerateMessage.size)).toEqual({
      ok: true,
      value: { pool: 2, index: 0, value: null },
    });
  });
});

describe('KVP values', () => {
  const str = fc.string({ unit: 'binary-ascii', maxLength: 40 }).filter((s) => !s.includes('\0'));
  const value = fc.oneof(
    fc.record({
      valueType: fc.constantFrom(1, 2),
      key: str,
      value: fc.string({ unit: 'grapheme', maxLength: 100 }).filter((s) => !s.includes('\0')),
    }),
    fc.record({ valueType: fc.constant(4), key: str, value: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({
      valueType: fc.constantFrom(8, 11),
      key: str,
      value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    }),
    fc.record({ valueType: fc.constantFrom(0, 3, 7), key: str, value: fc.uint8Array({ maxLength: 64 }) }),
  );

  it('round-trips every value kind through GET/SET', () => {
    fc.assert(
      fc.property(value, fc.constantFrom(0, 1), fc.integer({ min: 0, max: 4 }), (v, operation, pool) => {
        const { view } = zeroView(KvpGetSetMessage.size);
        const f = { operation, pool, value: v };
        expect(encodeKvpGetSet(view, 0, f)).toBe(2576);
        expect(decodeKvpGetSet(view, 0, 2576)).toEqual({ ok: true, value: f });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps UTF-16 surrogate pairs and refuses values that do not fit', () => {
    const { view } = zeroView(KvpValueRecord.size);
    encodeKvpValue(view, 0, { valueType: 1, key: 'k', value: 'a😀b' });
    expect(view.getUint32(8, true)).toBe(10);
    expect(decodeKvpValue(view, 0, KvpValueRecord.size)).toEqual({
      ok: true,
      value: { valueType: 1, key: 'k', value: 'a😀b' },
    });
    expect(() => encodeKvpValue(view, 0, { valueType: 1, key: 'x'.repeat(256), value: '' })).toThrow(
      RangeError,
    );
    expect(() => encodeKvpValue(view, 0, { valueType: 1, key: 'x'.repeat(255), value: '' })).not.toThrow();
    expect(() => encodeKvpValue(view, 0, { valueType: 1, key: 'k', value: 'v'.repeat(1024) })).toThrow(
      RangeError,
    );
    expect(() => encodeKvpValue(view, 0, { valueType: 4, key: 'k', value: 'nope' })).toThrow(TypeError);
    expect(() => encodeKvpValue(view, 0, { valueType: 11, key: 'k', value: 1 })).toThrow(TypeError);
  });

  it('rejects hostile sizes with typed errors', () => {
    const { view } = zeroView(KvpValueRecord.size);
    encodeKvpValue(view, 0, { valueType: 1, key: 'key', value: 'value' });
    const field = (r: ReturnType<typeof decodeKvpValue>) => (r.ok ? 'ok' : r.error.field);
    view.setUint32(4, 514, true);
    expect(field(decodeKvpValue(view, 0, KvpValueRecord.size))).toBe('keySize');
    view.setUint32(4, 7, true);
    expect(field(decodeKvpValue(view, 0, KvpValueRecord.size))).toBe('keySize');
    view.setUint32(4, 8, true);
    view.setUint32(8, 2050, true);
    expect(field(decodeKvpValue(view, 0, KvpValueRecord.size))).toBe('valueSize');
    view.setUint32(8, 11, true);
    expect(field(decodeKvpValue(view, 0, KvpValueRecord.size))).toBe('valueSize');
    const t = decodeKvpValue(view, 0, KvpValueRecord.size - 1);
    expect(!t.ok && t.error.code).toBe(VmbusDecodeErrorCode.Truncated);
  });

  it('a key without terminator stops at its size', () => {
    const { view } = zeroView(KvpValueRecord.size);
    encodeKvpValue(view, 0, { valueType: 1, key: 'abcdef', value: '' });
    view.setUint32(4, 6, true);
    const r = decodeKvpValue(view, 0, KvpValueRecord.size);
    expect(r.ok && r.value.key).toBe('abc');
  });
});

describe('KVP DELETE and IP info', () => {
  it('round-trips DELETE and refuses bad key sizes', () => {
    const { bytes, view } = zeroView(KvpDeleteMessage.size);
    expect(encodeKvpDelete(view, 0, { pool: KvpPool.External, key: 'abc' })).toBe(520);
    expect(toHex(bytes.subarray(0, 16))).toBe('02 00 00 00 08 00 00 00 61 00 62 00 63 00 00 00');
    expect(decodeKvpDelete(view, 0, 520)).toEqual({ ok: true, value: { pool: 0, key: 'abc' } });
    view.setUint32(4, 600, true);
    const r = decodeKvpDelete(view, 0, 520);
    expect(!r.ok && r.error.field).toBe('keySize');
    expect(decodeKvpDelete(view, 0, 519).ok).toBe(false);
  });

  it('round-trips the string IP-info form', () => {
    const { view } = zeroView(KvpIpInfoMessage.size);
    const f = {
      operation: KvpOperation.GetIpInfo,
      pool: 0,
      adapterId: '{4A0E6B27-0000-0000-0000-000000000000}',
      addressFamily: KvpAddressFamily.Both,
      dhcpEnabled: true,
      ipAddresses: '10.0.0.5;fe80::1',
      subnets: '255.255.255.0;64',
      gateways: '10.0.0.1',
      dnsServers: '10.0.0.2;10.0.0.3',
    };
    expect(encodeKvpIpInfo(view, 0, f)).toBe(7428);
    expect(view.getUint8(258)).toBe(3);
    expect(view.getUint8(259)).toBe(1);
    expect(view.getUint16(260, true)).toBe(0x31);
    expect(decodeKvpIpInfo(view, 0, 7428)).toEqual({ ok: true, value: f });
    expect(decodeKvpIpInfo(view, 0, 7427).ok).toBe(false);
  });

  it('round-trips the binary IP-info form and checks counts', () => {
    const { view } = zeroView(KvpIpInfoBinaryMessage.size);
    const f = {
      operation: KvpOperation.SetIpInfo,
      pool: 0,
      adapterId: 'eth0',
      addressFamily: KvpAddressFamily.Ipv4,
      dhcpEnabled: false,
      ipv4Addresses: [new Uint8Array([10, 0, 0, 5])],
      ipv4Subnets: [new Uint8Array([255, 255, 255, 0])],
      ipv6Addresses: [new Uint8Array(16).fill(0xfe)],
      ipv6Prefixes: [64],
      ipv4Gateways: [new Uint8Array([10, 0, 0, 1])],
      ipv6Gateways: [],
      ipv4DnsServers: [new Uint8Array([1, 1, 1, 1]), new Uint8Array([8, 8, 8, 8])],
      ipv6DnsServers: [],
      origins: [KvpAddressOrigin.Static, KvpAddressOrigin.Other],
    };
    expect(encodeKvpIpInfoBinary(view, 0, f)).toBe(3716);
    expect(view.getUint32(4, true)).toBe(1);
    expect(view.getUint8(288)).toBe(10);
    expect(view.getUint8(1568)).toBe(255);
    expect(view.getUint32(1824, true)).toBe(64);
    expect(view.getUint8(2180 + 4)).toBe(8);
    expect(view.getUint16(3462, true)).toBe(1);
    expect(decodeKvpIpInfoBinary(view, 0, 3716)).toEqual({ ok: true, value: f });
    view.setUint32(12, 6, true);
    const r = decodeKvpIpInfoBinary(view, 0, 3716);
    expect(!r.ok && r.error.field).toBe('ipv4GatewayCount');
    expect(() => encodeKvpIpInfoBinary(view, 0, { ...f, origins: [] })).toThrow(RangeError);
    expect(() =>
      encodeKvpIpInfoBinary(view, 0, { ...f, ipv4Gateways: Array(6).fill(new Uint8Array(4)) }),
    ).toThrow(RangeError);
  });

  it('never throws on arbitrary bodies', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.integer({ min: 0, max: 8000 }),
        (seed, length) => {
          const body = new Uint8Array(8000);
          for (let i = 0; i < body.length; i += seed.length || 1)
            body.set(seed.subarray(0, body.length - i), i);
          const v = viewOf(body);
          decodeKvpGetSet(v, 0, length);
          decodeKvpEnumerate(v, 0, length);
          decodeKvpDelete(v, 0, length);
          decodeKvpIpInfo(v, 0, length);
          decodeKvpIpInfoBinary(v, 0, length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
