// GUIDs as Hyper-V puts them on the wire: Data1 u32 LE, Data2 u16 LE, Data3 u16 LE, Data4 as written
// (the Windows "mixed-endian" layout; spec vmbus.md 7.1 and TV8).

/** A canonical lowercase GUID string, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export type GuidString = string;

export const GUID_SIZE = 16;

export const NIL_GUID: GuidString = '00000000-0000-0000-0000-000000000000';

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** Error thrown for a malformed GUID string handed in by the caller (not for wire data). */
export class GuidFormatError extends TypeError {
  override readonly name = 'GuidFormatError';
  readonly code = 'ERR_VMBUS_GUID_FORMAT';
  constructor(readonly input: string) {
    super(`not a GUID: ${JSON.stringify(input)}`);
  }
}

/** True when `s` is a GUID in canonical form (optionally in braces, any case). */
export function isGuidString(s: string): boolean {
  return GUID_RE.test(s);
}

/** Wire bytes of a GUID string. Throws {@link GuidFormatError} on a malformed string. */
export function parseGuid(s: string): Uint8Array {
  const out = new Uint8Array(GUID_SIZE);
  writeGuid(new DataView(out.buffer), 0, s);
  return out;
}

/** Write a GUID string's wire bytes at `offset`. Throws {@link GuidFormatError} on a malformed string. */
export function writeGuid(view: DataView, offset: number, s: string): void {
  const m = GUID_RE.exec(s);
  if (m === null) throw new GuidFormatError(s);
  const [, d1, d2, d3, d4a, d4b] = m as unknown as [string, string, string, string, string, string];
  view.setUint32(offset, Number.parseInt(d1, 16), true);
  view.setUint16(offset + 4, Number.parseInt(d2, 16), true);
  view.setUint16(offset + 6, Number.parseInt(d3, 16), true);
  const d4 = d4a + d4b;
  for (let i = 0; i < 8; i++) view.setUint8(offset + 8 + i, Number.parseInt(d4.slice(2 * i, 2 * i + 2), 16));
}

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0');
}

/** Canonical lowercase string of the GUID whose wire bytes start at `offset`. */
export function readGuid(view: DataView, offset: number): GuidString {
  let d4 = '';
  for (let i = 0; i < 8; i++) {
    d4 += hex(view.getUint8(offset + 8 + i), 2);
    if (i === 1) d4 += '-';
  }
  return `${hex(view.getUint32(offset, true), 8)}-${hex(view.getUint16(offset + 4, true), 4)}-${hex(view.getUint16(offset + 6, true), 4)}-${d4}`;
}

/** Canonical string of 16 wire bytes. Throws RangeError if `bytes` is not 16 bytes long. */
export function formatGuid(bytes: Uint8Array): GuidString {
  if (bytes.length !== GUID_SIZE) throw new RangeError(`a GUID is ${GUID_SIZE} bytes, got ${bytes.length}`);
  return readGuid(new DataView(bytes.buffer, bytes.byteOffset, GUID_SIZE), 0);
}

/**
 * Equality of two GUIDs given as wire bytes or strings (strings compare case-insensitively, braces
 * allowed). A malformed string is never equal to anything.
 */
export function guidEquals(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const x = toBytes(a);
  const y = toBytes(b);
  if (x === undefined || y === undefined) return false;
  for (let i = 0; i < GUID_SIZE; i++) if (x[i] !== y[i]) return false;
  return true;
}

function toBytes(g: Uint8Array | string): Uint8Array | undefined {
  if (typeof g !== 'string') return g.length === GUID_SIZE ? g : undefined;
  return isGuidString(g) ? parseGuid(g) : undefined;
}
