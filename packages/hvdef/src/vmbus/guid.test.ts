import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatGuid,
  GUID_SIZE,
  GuidFormatError,
  guidEquals,
  isGuidString,
  NIL_GUID,
  parseGuid,
  readGuid,
  writeGuid,
} from './guid.js';
import { hex } from './test-util.test-fixture.js';

describe('GUID wire layout', () => {
  it('TV8: heartbeat and SCSI GUIDs in Windows byte order', () => {
    expect(parseGuid('57164f39-9115-4e78-ab55-382f3bd5422d')).toEqual(
      hex('39 4f 16 57 15 91 78 4e ab 55 38 2f 3b d5 42 2d'),
    );
    expect(parseGuid('ba6163d9-04a1-4d29-b605-72e2ffb1dc7f')).toEqual(
      hex('d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f'),
    );
    expect(formatGuid(hex('d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f'))).toBe(
      'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f',
    );
  });

  it('accepts upper case and braces, formats canonical lowercase', () => {
    expect(formatGuid(parseGuid('{BA6163D9-04A1-4D29-B605-72E2FFB1DC7F}'))).toBe(
      'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f',
    );
    expect(GUID_SIZE).toBe(16);
    expect(parseGuid(NIL_GUID)).toEqual(new Uint8Array(16));
  });

  it('rejects malformed strings with a typed error', () => {
    for (const bad of [
      '',
      'ba6163d9-04a1-4d29-b605-72e2ffb1dc7',
      'ba6163d9x04a1-4d29-b605-72e2ffb1dc7f',
      'zz6163d9-04a1-4d29-b605-72e2ffb1dc7f',
    ]) {
      expect(isGuidString(bad)).toBe(false);
      expect(() => parseGuid(bad)).toThrow(GuidFormatError);
    }
    try {
      parseGuid('nope');
    } catch (e) {
      expect((e as GuidFormatError).code).toBe('ERR_VMBUS_GUID_FORMAT');
    }
    expect(() => formatGuid(new Uint8Array(15))).toThrow(RangeError);
  });

  it('round-trips any 16 bytes through the string form', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const s = formatGuid(bytes);
        expect(isGuidString(s)).toBe(true);
        expect(parseGuid(s)).toEqual(bytes);
        expect(guidEquals(s, bytes)).toBe(true);
        expect(guidEquals(s.toUpperCase(), s)).toBe(true);
      }),
    );
  });

  it('reads and writes at an offset', () => {
    const view = new DataView(new ArrayBuffer(40));
    writeGuid(view, 7, '57164f39-9115-4e78-ab55-382f3bd5422d');
    expect(readGuid(view, 7)).toBe('57164f39-9115-4e78-ab55-382f3bd5422d');
    expect(view.getUint8(7)).toBe(0x39);
  });

  it('guidEquals distinguishes and never matches malformed input', () => {
    expect(guidEquals('57164f39-9115-4e78-ab55-382f3bd5422d', 'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f')).toBe(
      false,
    );
    expect(guidEquals('junk', 'junk')).toBe(false);
    expect(guidEquals(new Uint8Array(15), new Uint8Array(15))).toBe(false);
  });
});
