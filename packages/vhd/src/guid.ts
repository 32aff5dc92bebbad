import { randomBytes } from 'node:crypto';

// GUIDs on disk use the Windows mixed-endian layout: Data1 (u32 LE), Data2 and Data3 (u16 LE), Data4 bytes.

export function guidToString(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  return (
    h(3) +
    h(2) +
    h(1) +
    h(0) +
    '-' +
    h(5) +
    h(4) +
    '-' +
    h(7) +
    h(6) +
    '-' +
    h(8) +
    h(9) +
    '-' +
    h(10) +
    h(11) +
    h(12) +
    h(13) +
    h(14) +
    h(15)
  ).toUpperCase();
}

export function guidFromString(s: string): Buffer {
  const hex = s.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a GUID: ${s}`);
  const raw = Buffer.from(hex, 'hex');
  const b = Buffer.alloc(16);
  b[0] = raw[3]!;
  b[1] = raw[2]!;
  b[2] = raw[1]!;
  b[3] = raw[0]!;
  b[4] = raw[5]!;
  b[5] = raw[4]!;
  b[6] = raw[7]!;
  b[7] = raw[6]!;
  raw.copy(b, 8, 8, 16);
  return b;
}

/** A random version-4 GUID in on-disk byte order. */
export function randomGuid(): Buffer {
  const b = randomBytes(16);
  b[7] = (b[7]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

export function isZeroGuid(b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (b[i] !== 0) return false;
  return true;
}
