// UTF-16LE strings as IC bodies carry them: NUL-terminated inside fixed-size arrays.

/** UTF-16LE bytes of `s` followed by a 2-byte NUL terminator. */
export function encodeUtf16z(s: string): Uint8Array {
  const out = new Uint8Array(2 * (s.length + 1));
  const view = new DataView(out.buffer);
  for (let i = 0; i < s.length; i++) view.setUint16(2 * i, s.charCodeAt(i), true);
  return out;
}

/**
 * The string in the first `byteLength` bytes at `offset` (rounded down to whole units), ending at the
 * first NUL unit if there is one. Lone surrogates are kept as they are.
 */
export function decodeUtf16z(view: DataView, offset: number, byteLength: number): string {
  const units = Math.floor(byteLength / 2);
  let s = '';
  for (let i = 0; i < units; i++) {
    const c = view.getUint16(offset + 2 * i, true);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Write `s` NUL-terminated into a fixed array of `capacity` bytes at `offset` (zero-filling the rest).
 * Returns the bytes used including the terminator. Throws RangeError if it does not fit.
 */
export function writeUtf16zField(
  view: DataView,
  offset: number,
  capacity: number,
  s: string,
  name: string,
): number {
  const bytes = encodeUtf16z(s);
  if (bytes.length > capacity) {
    throw new RangeError(`${name}: ${bytes.length} bytes with terminator exceed ${capacity}`);
  }
  const area = new Uint8Array(view.buffer, view.byteOffset + offset, capacity);
  area.fill(0);
  area.set(bytes);
  return bytes.length;
}
