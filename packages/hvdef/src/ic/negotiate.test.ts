import { describe, expect, it } from 'vitest';
import { VmbusDecodeErrorCode } from '../vmbus/errors.js';
import { viewOf } from '../vmbus/test-util.test-fixture.js';
import { formatIcVersion } from './header.js';
import {
  decodeIcNegotiate,
  encodeIcNegotiate,
  IC_NEGOTIATE_MAX_VERSION_COUNT,
  IC_VERSION_SIZE,
  IcKnownVersions,
  IcNegotiate,
  icNegotiateSize,
} from './negotiate.js';

describe('IC negotiation (spec 6.3)', () => {
  it('pins the layout and limits', () => {
    expect(IcNegotiate).toEqual({
      frameworkVersionCount: 0,
      messageVersionCount: 2,
      reserved: 4,
      versions: 8,
      size: 8,
    });
    expect(IC_VERSION_SIZE).toBe(4);
    expect(IC_NEGOTIATE_MAX_VERSION_COUNT).toBe(100);
    expect(icNegotiateSize(2, 2)).toBe(24);
    expect(icNegotiateSize(1, 1)).toBe(16);
  });

  it('pins every known version list', () => {
    const f = (k: keyof typeof IcKnownVersions) => IcKnownVersions[k].map(formatIcVersion);
    expect(f('Framework')).toEqual(['3.0', '1.0']);
    expect(f('Heartbeat')).toEqual(['3.0', '1.0']);
    expect(f('Shutdown')).toEqual(['3.2', '3.1', '3.0', '1.0']);
    expect(f('TimeSync')).toEqual(['4.0', '3.0', '1.0']);
    expect(f('Kvp')).toEqual(['5.0', '4.0', '3.0', '1.0']);
    expect(f('Vss')).toEqual(['7.0', '6.0', '5.0', '4.0']);
    expect(f('FileCopy')).toEqual(['1.1']);
  });

  it('rejects counts that exceed the limit or the bytes present', () => {
    const body = new Uint8Array(64);
    const v = viewOf(body);
    encodeIcNegotiate(v, 0, {
      frameworkVersions: [{ major: 3, minor: 0 }],
      messageVersions: [{ major: 3, minor: 0 }],
    });
    expect(decodeIcNegotiate(v, 0, 16).ok).toBe(true);
    const short = decodeIcNegotiate(v, 0, 15);
    expect(!short.ok && short.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    v.setUint16(0, 101, true);
    const many = decodeIcNegotiate(v, 0, 64);
    expect(!many.ok && many.error.field).toBe('frameworkVersionCount');
    v.setUint16(0, 1, true);
    v.setUint16(2, 101, true);
    const manyM = decodeIcNegotiate(v, 0, 64);
    expect(!manyM.ok && manyM.error.field).toBe('messageVersionCount');
    v.setUint16(2, 20, true);
    const overrun = decodeIcNegotiate(v, 0, 64);
    expect(!overrun.ok && overrun.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    // No-match reply: F = M = 0 decodes to empty lists.
    v.setUint16(0, 0, true);
    v.setUint16(2, 0, true);
    expect(decodeIcNegotiate(v, 0, 8)).toEqual({
      ok: true,
      value: { frameworkVersions: [], messageVersions: [] },
    });
  });
});
