// The kvstore's logic over a block device: open (format a blank disk, pick the newest valid header,
// replay and check the log), commit (records → flush → header → flush, compacting into the other
// region when the active one is full) and verify (re-read everything and compare with memory).
// The state is plain data (a header and a Map), so a guest program can keep it across save/restore.
// No function here throws or rejects: failures come back as { ok: false, code, reason }.

import {
  BatchKind,
  decodeBatch,
  decodeHeader,
  encodeBatch,
  encodeHeader,
  entryProblem,
  HEADER_SLOTS,
  headerSlot,
  KvCorruption,
  type KvHeader,
  regionStart,
} from './kvstore-format.js';

/** What the store needs of a disk (a storvsc BlockDevice fits). Addresses and sizes are in blocks. */
export interface KvBlockDevice {
  readonly blockSize: number;
  readonly blocks: number;
  read(lba: number, blocks: number): Promise<Uint8Array>;
  write(lba: number, data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
}

/** The store's in-memory view; it matches the disk after every successful call. */
export interface KvState {
  header: KvHeader;
  entries: Map<string, string>;
}

export type KvFailureCode =
  /** On-disk data is inconsistent (checksums, sequences, lengths, or disk and memory disagree). */
  | 'corrupt'
  /** The device failed a read, write or flush; reopen before going on (the disk may be ahead of memory). */
  | 'io'
  /** The live map no longer fits one log region. */
  | 'full'
  /** Bad arguments or a device the store cannot use. */
  | 'invalid';

export interface KvFailure {
  readonly ok: false;
  readonly code: KvFailureCode;
  readonly reason: string;
}

export interface KvOpened {
  readonly ok: true;
  readonly state: KvState;
  /** The disk was blank and has just been formatted. */
  readonly formatted: boolean;
  /** A header slot was damaged and the other one was used. */
  readonly fellBack: boolean;
}

export interface KvOpenOptions {
  /**
   * Size of each log region when formatting (default 256 KiB, at most half the disk). Smaller regions
   * compact more often; a full verify reads at most one region.
   */
  readonly regionBytes?: number;
}

export const DEFAULT_REGION_BYTES = 256 * 1024;
const MIN_BLOCK_SIZE = 512;
const MIN_REGION_BLOCKS = 2;

class KvIoError extends Error {}

/** Opens the store on `device`, formatting it if both header slots are blank. */
export async function openKvStore(
  device: KvBlockDevice,
  options: KvOpenOptions = {},
): Promise<KvOpened | KvFailure> {
  return guarded(async () => {
    const problem = deviceProblem(device);
    if (problem !== undefined) return failure('invalid', problem);
    const loaded = await load(device);
    if (loaded !== 'blank') return { ok: true, ...loaded, formatted: false };
    const state = await format(device, options.regionBytes ?? DEFAULT_REGION_BYTES);
    return typeof state === 'string'
      ? failure('invalid', state)
      : { ok: true, state, formatted: true, fellBack: false };
  });
}

/**
 * Commits one transaction of puts (later puts of the same key win) and updates `state` once the
 * header naming it is durable. On failure `state` is unchanged.
 */
export async function commitKv(
  device: KvBlockDevice,
  state: KvState,
  puts: readonly (readonly [key: string, value: string])[],
): Promise<{ readonly ok: true; readonly sequence: number; readonly compacted: boolean } | KvFailure> {
  return guarded(async () => {
    if (!Array.isArray(puts) || puts.length === 0) return failure('invalid', 'a transaction needs puts');
    for (const put of puts) {
      const problem = Array.isArray(put) ? entryProblem(put[0], put[1]) : 'a put is a [key, value] pair';
      if (problem !== undefined) return failure('invalid', problem);
    }
    const h = state.header;
    const blockSize = h.blockSize;
    const sequence = h.committed + 1;
    const batch = encodeBatch({ kind: BatchKind.Transaction, sequence, entries: puts }, blockSize);
    const batchBlocks = batch.length / blockSize;
    let next: KvHeader;
    let entries: Map<string, string>;
    if (h.tail + batchBlocks <= h.regionBlocks) {
      await io('log write', () => device.write(regionStart(h, h.region) + h.tail, batch));
      await io('log flush', () => device.flush());
      entries = new Map(state.entries);
      for (const [key, value] of puts) entries.set(key, value);
      next = { ...h, sequence: h.sequence + 1, committed: sequence, tail: h.tail + batchBlocks };
    } else {
      // Compaction: the transaction goes into a snapshot of the whole map in the other region.
      entries = new Map(state.entries);
      for (const [key, value] of puts) entries.set(key, value);
      const snapshot = encodeBatch({ kind: BatchKind.Snapshot, sequence, entries: [...entries] }, blockSize);
      const snapshotBlocks = snapshot.length / blockSize;
      if (snapshotBlocks > h.regionBlocks)
        return failure(
          'full',
          `${entries.size} keys need ${snapshotBlocks} blocks, a region has ${h.regionBlocks}`,
        );
      const region = h.region === 0 ? 1 : 0;
      await io('snapshot write', () => device.write(regionStart(h, region), snapshot));
      await io('snapshot flush', () => device.flush());
      next = {
        ...h,
        sequence: h.sequence + 1,
        region,
        baseSeq: sequence,
        committed: sequence,
        tail: snapshotBlocks,
      };
    }
    await io('header write', () => device.write(headerSlot(next.sequence), encodeHeader(next)));
    await io('header flush', () => device.flush());
    state.header = next;
    state.entries = entries;
    return { ok: true, sequence, compacted: next.region !== h.region };
  });
}

/** Re-reads the headers and the whole log from the disk and checks they match `state` exactly. */
export async function verifyKv(
  device: KvBlockDevice,
  state: KvState,
): Promise<{ readonly ok: true; readonly committed: number; readonly keys: number } | KvFailure> {
  return guarded(async () => {
    const loaded = await load(device);
    if (loaded === 'blank') return failure('corrupt', 'the disk is blank');
    const disk = loaded.state;
    const mine = state.header;
    for (const field of ['sequence', 'region', 'baseSeq', 'committed', 'tail', 'regionBlocks'] as const) {
      if (disk.header[field] !== mine[field])
        return failure(
          'corrupt',
          `header ${field} is ${disk.header[field]} on disk, ${mine[field]} in memory`,
        );
    }
    if (disk.entries.size !== state.entries.size)
      return failure('corrupt', `${disk.entries.size} keys on disk, ${state.entries.size} in memory`);
    for (const [key, value] of state.entries) {
      const onDisk = disk.entries.get(key);
      if (onDisk !== value)
        return failure('corrupt', `key ${key} is ${quote(onDisk)} on disk, ${quote(value)} in memory`);
    }
    return { ok: true, committed: mine.committed, keys: state.entries.size };
  });
}

async function load(device: KvBlockDevice): Promise<'blank' | { state: KvState; fellBack: boolean }> {
  const slots = await io('header read', () => device.read(0, HEADER_SLOTS));
  const blockSize = device.blockSize;
  const decoded = [0, 1].map((slot) =>
    decodeHeader(slots.subarray(slot * blockSize, (slot + 1) * blockSize), device),
  );
  const valid = decoded.flatMap((d) => (d.status === 'valid' ? [d.header] : []));
  if (valid.length === 0) {
    if (decoded.every((d) => d.status === 'blank')) return 'blank';
    const reasons = decoded.map((d, slot) => `slot ${slot}: ${d.status === 'invalid' ? d.reason : 'blank'}`);
    throw new KvCorruption(`no valid header (${reasons.join('; ')})`);
  }
  valid.sort((a, b) => b.sequence - a.sequence);
  const header = valid[0]!;
  if (valid.length === 2 && valid[1]!.sequence === header.sequence)
    throw new KvCorruption(`both header slots have sequence ${header.sequence}`);
  const logLba = regionStart(header, header.region);
  const log = await io('log read', () => device.read(logLba, header.tail));
  if (log.length !== header.tail * blockSize) throw new KvIoError(`log read returned ${log.length} bytes`);
  const entries = replay(log, header, logLba);
  return { state: { header, entries }, fellBack: decoded.some((d) => d.status === 'invalid') };
}

/** Rebuilds the map from the active region: a snapshot at baseSeq, then contiguous transactions. */
function replay(log: Uint8Array, header: KvHeader, logLba: number): Map<string, string> {
  const entries = new Map<string, string>();
  let offset = 0;
  let last = -1;
  while (offset < log.length) {
    const { batch, blocks } = decodeBatch(log, offset, header.blockSize, logLba);
    const at = `batch at block ${logLba + offset / header.blockSize}`;
    if (last === -1) {
      if (batch.kind !== BatchKind.Snapshot || batch.sequence !== header.baseSeq)
        throw new KvCorruption(`${at}: expected the snapshot of sequence ${header.baseSeq}`);
      for (const [key, value] of batch.entries) {
        if (entries.has(key)) throw new KvCorruption(`${at}: snapshot lists key ${key} twice`);
        entries.set(key, value);
      }
    } else {
      if (batch.kind !== BatchKind.Transaction) throw new KvCorruption(`${at}: a second snapshot`);
      if (batch.sequence !== last + 1)
        throw new KvCorruption(`${at}: sequence ${batch.sequence} follows ${last}`);
      for (const [key, value] of batch.entries) entries.set(key, value);
    }
    last = batch.sequence;
    offset += blocks * header.blockSize;
  }
  if (last !== header.committed)
    throw new KvCorruption(`log ends at sequence ${last}, the header says ${header.committed}`);
  return entries;
}

async function format(device: KvBlockDevice, regionBytes: number): Promise<KvState | string> {
  if (!Number.isSafeInteger(regionBytes) || regionBytes <= 0) return `bad region size ${regionBytes}`;
  const blockSize = device.blockSize;
  const regionBlocks = Math.min(
    Math.floor((device.blocks - HEADER_SLOTS) / 2),
    Math.floor(regionBytes / blockSize),
  );
  if (regionBlocks < MIN_REGION_BLOCKS) return `regions of ${regionBlocks} blocks are too small`;
  const snapshot = encodeBatch({ kind: BatchKind.Snapshot, sequence: 0, entries: [] }, blockSize);
  const header: KvHeader = {
    sequence: 1,
    blockSize,
    regionBlocks,
    region: 0,
    baseSeq: 0,
    committed: 0,
    tail: snapshot.length / blockSize,
  };
  await io('format write', () => device.write(regionStart(header, 0), snapshot));
  await io('format flush', () => device.flush());
  await io('header write', () => device.write(headerSlot(header.sequence), encodeHeader(header)));
  await io('header flush', () => device.flush());
  return { header, entries: new Map() };
}

function deviceProblem(device: KvBlockDevice): string | undefined {
  const { blockSize, blocks } = device;
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize % MIN_BLOCK_SIZE !== 0)
    return `unusable block size ${blockSize}`;
  if (!Number.isSafeInteger(blocks) || blocks < HEADER_SLOTS + 2 * MIN_REGION_BLOCKS)
    return `a device of ${blocks} blocks is too small`;
  return undefined;
}

async function io<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    throw new KvIoError(`${what} failed: ${message(error)}`);
  }
}

async function guarded<T>(body: () => Promise<T | KvFailure>): Promise<T | KvFailure> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof KvIoError) return failure('io', error.message);
    // Anything else (a decoder's KvCorruption, or an exception hostile bytes provoked) is corruption.
    return failure('corrupt', message(error));
  }
}

function failure(code: KvFailureCode, reason: string): KvFailure {
  return { ok: false, code, reason };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function quote(value: string | undefined): string {
  return value === undefined
    ? 'absent'
    : JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
