// The echo protocol: every message is `kind u32 | length u32 | bytes`, little-endian.
// The VSC first sends VERSION with the versions it speaks; the VSP answers with the one it picked.

export const ECHO_INTERFACE_ID = 'e0c0e0c0-1234-4d6e-9f00-0123456789ab';
export const EchoVersion = { V1: 0x0001_0000, V2: 0x0002_0000 } as const;
export const EchoKind = { Version: 1, Echo: 2 } as const;
const HEADER = 8;

export function encode(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, kind, true);
  v.setUint32(4, body.length, true);
  out.set(body, HEADER);
  return out;
}

/** Decodes a message; undefined when it is too short or its length points past the bytes received. */
export function decode(bytes: Uint8Array): { kind: number; body: Uint8Array } | undefined {
  if (bytes.length < HEADER) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = v.getUint32(4, true);
  if (length > bytes.length - HEADER) return undefined;
  return { kind: v.getUint32(0, true), body: bytes.subarray(HEADER, HEADER + length) };
}

export function encodeVersions(versions: readonly number[]): Uint8Array {
  const b = new Uint8Array(4 * versions.length);
  const v = new DataView(b.buffer);
  versions.forEach((x, i) => {
    v.setUint32(4 * i, x, true);
  });
  return b;
}

export function decodeVersions(body: Uint8Array): number[] {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= body.length && out.length < 16; i += 4) out.push(v.getUint32(i, true));
  return out;
}
