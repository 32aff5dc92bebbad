// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table driven, as VHDX requires.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `data`; pass a previous result as `crc` to continue over several pieces. */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of `data` as if the 4 bytes at `checksumOffset` were zero (how VHDX checksums are defined). */
export function crc32cWithZeroField(data: Uint8Array, checksumOffset: number): number {
  let crc = crc32c(data.subarray(0, checksumOffset));
  crc = crc32c(new Uint8Array(4), crc);
  return crc32c(data.subarray(checksumOffset + 4), crc);
}
