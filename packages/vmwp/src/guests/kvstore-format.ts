// On-disk layout of the kvstore. Everything is little-endian and checksummed with CRC-32C.
//
//   block 0, block 1   two header slots, written alternately (a torn header write leaves the other)
//   region 0, region 1 two log regions of `regionBlocks` blocks each, from block 2
//
// The active region holds a snapshot batch (the whole map at sequence `baseSeq`) followed by one
// transaction batch per commit (sequences baseSeq+1 … committed), each padded to whole blocks, up to
// `tail` blocks. Compaction writes a fresh snapshot into the other region and switches the header.
// Decoders treat every byte as hostile: they check lengths before using them and throw KvCorruption.

import { crc32c } from '@viridian/vhd';

export const HEADER_SLOTS = 2;
export const MAX_KEY_BYTES = 256;
export const MAX_VALUE_BYTES = 16 * 1024;

const HEADER_MAGIC = new TextEncoder().encode('vkvstore');
const FORMAT_VERSION = 1;
const HEADER_BYTES = 64;
const HEADER_CRC_AT = 60;

const BATCH_MAGIC = 0x5442_564b; // "KVBT"
const BATCH_HEADER_BYTES = 32;
const BATCH_CRC_AT = 24;
const ENTRY_HEADER_BYTES = 6; // u16 key length, u32 value length

/** An inconsistency found in on-disk data; the message says where and what. */
export class KvCorruption extends Error {
  override readonly name = 'KvCorruption';
}

export interface KvGeometry {
  readonly blockSize: number;
  readonly blocks: number;
}

/** One header slot's content. */
export interface KvHeader {
  /** Header write counter: the valid header with the highest one is current. */
  sequence: number;
  blockSize: number;
  regionBlocks: number;
  /** Active log region. */
  region: 0 | 1;
  /** Sequence of the snapshot batch at the start of the active region. */
  baseSeq: number;
  /** Sequence of the last committed transaction. */
  committed: number;
  /** Blocks of the active region in use (the end of the committed log). */
  tail: number;
}

export type DecodedHeader =
  | { readonly status: 'blank' }
  | { readonly status: 'invalid'; readonly reason: string }
  | { readonly status: 'valid'; readonly header: KvHeader };

export const BatchKind = { Snapshot: 1, Transaction: 2 } as const;
export type BatchKind = (typeof BatchKind)[keyof typeof BatchKind];

export interface KvBatch {
  kind: BatchKind;
  sequence: number;
  entries: readonly (readonly [key: string, value: string])[];
}

/** First block of a log region. */
export function regionStart(header: Pick<KvHeader, 'regionBlocks'>, region: 0 | 1): number {
  return HEADER_SLOTS + region * header.regionBlocks;
}

/** Header slot a header with this sequence is written to. */
export function headerSlot(sequence: number): number {
  return sequence % HEADER_SLOTS;
}

export function encodeHeader(header: KvHeader): Uint8Array {
  const bytes = new Uint8Array(header.blockSize);
  const view = new DataView(bytes.buffer);
  bytes.set(HEADER_MAGIC, 0);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, header.blockSize, true);
  view.setBigUint64(16, BigInt(header.sequence), true);
  view.setUint32(24, header.regionBlocks, true);
  view.setUint32(28, header.region, true);
  view.setBigUint64(32, BigInt(header.baseSeq), true);
  view.setBigUint64(40, BigInt(header.committed), true);
  view.setUint32(48, header.tail, true);
  view.setUint32(HEADER_CRC_AT, crc32c(bytes.subarray(0, HEADER_CRC_AT)), true);
  return bytes;
}

/** Decodes one header slot and checks it against the device it was read from. */
export function decodeHeader(block: Uint8Array, geometry: KvGeometry): DecodedHeader {
  if (block.length < HEADER_BYTES) return { status: 'invalid', reason: 'header block too short' };
  if (block.every((b) => b === 0)) return { status: 'blank' };
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (!HEADER_MAGIC.every((b, i) => block[i] === b)) return { status: 'invalid', reason: 'bad magic' };
  if (view.getUint32(HEADER_CRC_AT, true) !== crc32c(block.subarray(0, HEADER_CRC_AT)))
    return { status: 'invalid', reason: 'header checksum mismatch' };
  const version = view.getUint32(8, true);
  if (version !== FORMAT_VERSION) return { status: 'invalid', reason: `unsupported version ${version}` };
  try {
    const header: KvHeader = {
      blockSize: view.getUint32(12, true),
      sequence: safeU64(view, 16, 'header sequence'),
      regionBlocks: view.getUint32(24, true),
      region: view.getUint32(28, true) as 0 | 1,
      baseSeq: safeU64(view, 32, 'base sequence'),
      committed: safeU64(view, 40, 'committed sequence'),
      tail: view.getUint32(48, true),
    };
    const problem = headerProblem(header, geometry);
    return problem === undefined ? { status: 'valid', header } : { status: 'invalid', reason: problem };
  } catch (error) {
    if (error instanceof KvCorruption) return { status: 'invalid', reason: error.message };
    throw error;
  }
}

function headerProblem(h: KvHeader, geometry: KvGeometry): string | undefined {
  if (h.blockSize !== geometry.blockSize)
    return `formatted with ${h.blockSize}-byte blocks, device has ${geometry.blockSize}`;
  if (h.region !== 0 && h.region !== 1) return `bad region ${h.region}`;
  if (h.regionBlocks < 2 || HEADER_SLOTS + 2 * h.regionBlocks > geometry.blocks)
    return `regions of ${h.regionBlocks} blocks do not fit a device of ${geometry.blocks}`;
  if (h.tail < 1 || h.tail > h.regionBlocks) return `log tail ${h.tail} outside its region`;
  if (h.baseSeq > h.committed) return `base sequence ${h.baseSeq} after committed ${h.committed}`;
  if (h.sequence < 1) return 'header sequence 0';
  return undefined;
}

function safeU64(view: DataView, at: number, what: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new KvCorruption(`${what} ${value} out of range`);
  return Number(value);
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Why a key/value pair cannot be stored, or undefined when it can. */
export function entryProblem(key: string, value: string): string | undefined {
  if (typeof key !== 'string' || typeof value !== 'string') return 'keys and values are strings';
  if (!key.isWellFormed() || !value.isWellFormed()) return 'text with a lone surrogate';
  const keyBytes = utf8.encode(key).length;
  if (keyBytes === 0 || keyBytes > MAX_KEY_BYTES) return `key of ${keyBytes} bytes (1–${MAX_KEY_BYTES})`;
  const valueBytes = utf8.encode(value).length;
  if (valueBytes > MAX_VALUE_BYTES) return `value of ${valueBytes} bytes (at most ${MAX_VALUE_BYTES})`;
  return undefined;
}

/** Encodes a batch padded to whole blocks; the entries must have passed `entryProblem`. */
export function encodeBatch(batch: KvBatch, blockSize: number): Uint8Array {
  const encoded = batch.entries.map(([key, value]) => [utf8.encode(key), utf8.encode(value)] as const);
  const payloadBytes = encoded.reduce((n, [k, v]) => n + ENTRY_HEADER_BYTES + k.length + v.length, 0);
  const total = BATCH_HEADER_BYTES + payloadBytes;
  const bytes = new Uint8Array(Math.ceil(total / blockSize) * blockSize);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, BATCH_MAGIC, true);
  view.setUint8(4, batch.kind);
  view.setBigUint64(8, BigInt(batch.sequence), true);
  view.setUint32(16, encoded.length, true);
  view.setUint32(20, payloadBytes, true);
  let at = BATCH_HEADER_BYTES;
  for (const [key, value] of encoded) {
    view.setUint16(at, key.length, true);
    view.setUint32(at + 2, value.length, true);
    bytes.set(key, at + ENTRY_HEADER_BYTES);
    bytes.set(value, at + ENTRY_HEADER_BYTES + key.length);
    at += ENTRY_HEADER_BYTES + key.length + value.length;
  }
  view.setUint32(BATCH_CRC_AT, batchCrc(bytes, total), true);
  return bytes;
}

/**
 * Decodes the batch at byte `offset` of `log` (read from block `logLba`, ending at the committed tail).
 * Returns the batch and the blocks it occupies; throws KvCorruption on anything inconsistent.
 */
export function decodeBatch(
  log: Uint8Array,
  offset: number,
  blockSize: number,
  logLba: number,
): { batch: KvBatch; blocks: number } {
  const where = `batch at block ${logLba + offset / blockSize}`;
  const remaining = log.length - offset;
  if (remaining < BATCH_HEADER_BYTES) throw new KvCorruption(`${where}: log ends inside its header`);
  const view = new DataView(log.buffer, log.byteOffset + offset, remaining);
  if (view.getUint32(0, true) !== BATCH_MAGIC) throw new KvCorruption(`${where}: bad magic`);
  const kind = view.getUint8(4);
  if (kind !== BatchKind.Snapshot && kind !== BatchKind.Transaction)
    throw new KvCorruption(`${where}: unknown kind ${kind}`);
  const sequence = safeU64(view, 8, `${where}: sequence`);
  const count = view.getUint32(16, true);
  const payloadBytes = view.getUint32(20, true);
  const total = BATCH_HEADER_BYTES + payloadBytes;
  if (total > remaining)
    throw new KvCorruption(`${where}: ${payloadBytes} payload bytes run past the log tail`);
  if (count * ENTRY_HEADER_BYTES > payloadBytes)
    throw new KvCorruption(`${where}: ${count} entries cannot fit ${payloadBytes} bytes`);
  const bytes = log.subarray(offset, offset + total);
  if (view.getUint32(BATCH_CRC_AT, true) !== batchCrc(bytes, total))
    throw new KvCorruption(`${where}: checksum mismatch`);
  const entries: [string, string][] = [];
  let at = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER_BYTES > total) throw new KvCorruption(`${where}: entry ${i} runs past the batch`);
    const keyLength = view.getUint16(at, true);
    const valueLength = view.getUint32(at + 2, true);
    if (keyLength === 0 || keyLength > MAX_KEY_BYTES || valueLength > MAX_VALUE_BYTES)
      throw new KvCorruption(`${where}: entry ${i} has a ${keyLength}-byte key, ${valueLength}-byte value`);
    const end = at + ENTRY_HEADER_BYTES + keyLength + valueLength;
    if (end > total) throw new KvCorruption(`${where}: entry ${i} runs past the batch`);
    const keyAt = at + ENTRY_HEADER_BYTES;
    entries.push([text(bytes, keyAt, keyLength, where), text(bytes, keyAt + keyLength, valueLength, where)]);
    at = end;
  }
  if (at !== total) throw new KvCorruption(`${where}: ${total - at} stray bytes after its entries`);
  return { batch: { kind, sequence, entries }, blocks: Math.ceil(total / blockSize) };
}

function text(bytes: Uint8Array, at: number, length: number, where: string): string {
  try {
    return strictUtf8.decode(bytes.subarray(at, at + length));
  } catch {
    throw new KvCorruption(`${where}: text that is not UTF-8`);
  }
}

/** CRC over the batch's first `total` bytes with its checksum field taken as zero. */
function batchCrc(bytes: Uint8Array, total: number): number {
  const crc = crc32c(bytes.subarray(0, BATCH_CRC_AT));
  return crc32c(bytes.subarray(BATCH_CRC_AT + 4, total), crc32c(new Uint8Array(4), crc));
}
