import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { crc32c, crc32cWithZeroField } from './crc32c.js';
import { formatError, VhdOperationError } from './errors.js';
import { DiskFile } from './file.js';
import { guidFromString, guidToString, isZeroGuid, randomGuid } from './guid.js';
import { type BlockState, type DiskType, Layer } from './layer.js';
import { parentLocations } from './parent-paths.js';
import type { LayerIssue } from './vhd.js';

// [MS-VHDX] Virtual Hard Disk v2. All fields little-endian.

const KiB = 1024;
const MiB = 1024 * 1024;
const PAGE = 4096;
const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
const REGION_OFFSETS = [192 * KiB, 256 * KiB] as const;
const REGION_SIZE = 64 * KiB;
const MAX_VIRTUAL_SIZE = 64 * 1024 ** 4;
export const VHDX_DEFAULT_BLOCK_SIZE = 32 * MiB;

export const VhdxGuids = {
  BatRegion: '2DC27766-F623-4200-9D64-115E9BFD4A08',
  MetadataRegion: '8B7CA206-4790-4B9A-B8FE-575F050F886E',
  FileParameters: 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B',
  VirtualDiskSize: '2FA54224-CD1B-4876-B211-5DBED83BF4B8',
  Page83Data: 'BECA12AB-B2E6-4523-93EF-C309E000C746',
  LogicalSectorSize: '8141BF1D-A96F-4709-BA47-F233A8FAAB5F',
  PhysicalSectorSize: 'CDA348C7-445D-4471-9CC9-E9885251C556',
  ParentLocator: 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C',
  ParentLocatorType: 'B04AEFB7-D19E-4A81-B789-25B8E9445913',
} as const;

/** Payload and sector-bitmap BAT entry states. */
export const VhdxBlockState = {
  NotPresent: 0,
  Undefined: 1,
  Zero: 2,
  Unmapped: 3,
  FullyPresent: 6,
  PartiallyPresent: 7,
} as const;
const SB_PRESENT = 6;

export interface VhdxHeader {
  sequence: bigint;
  fileWriteGuid: Buffer;
  dataWriteGuid: Buffer;
  logGuid: Buffer;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

export function parseHeader(buf: Buffer): VhdxHeader | string {
  if (buf.toString('latin1', 0, 4) !== 'head') return 'no "head" signature';
  if (buf.readUInt32LE(4) !== crc32cWithZeroField(buf, 4)) return 'bad CRC-32C';
  const h: VhdxHeader = {
    sequence: buf.readBigUInt64LE(8),
    fileWriteGuid: Buffer.from(buf.subarray(16, 32)),
    dataWriteGuid: Buffer.from(buf.subarray(32, 48)),
    logGuid: Buffer.from(buf.subarray(48, 64)),
    logVersion: buf.readUInt16LE(64),
    version: buf.readUInt16LE(66),
    logLength: buf.readUInt32LE(68),
    logOffset: Number(buf.readBigUInt64LE(72)),
  };
  if (h.version !== 1) return `version ${h.version}`;
  if (h.logVersion !== 0) return `log version ${h.logVersion}`;
  if (h.logLength === 0 || h.logLength % MiB !== 0 || h.logOffset < MiB || h.logOffset % MiB !== 0) {
    return `log region ${h.logOffset}+${h.logLength}`;
  }
  return h;
}

export function buildHeader(h: VhdxHeader): Buffer {
  const b = Buffer.alloc(PAGE);
  b.write('head', 0, 'latin1');
  b.writeBigUInt64LE(h.sequence, 8);
  h.fileWriteGuid.copy(b, 16);
  h.dataWriteGuid.copy(b, 32);
  h.logGuid.copy(b, 48);
  b.writeUInt16LE(h.logVersion, 64);
  b.writeUInt16LE(h.version, 66);
  b.writeUInt32LE(h.logLength, 68);
  b.writeBigUInt64LE(BigInt(h.logOffset), 72);
  b.writeUInt32LE(crc32cWithZeroField(b, 4), 4);
  return b;
}

interface Region {
  offset: number;
  length: number;
}

function parseRegionTable(buf: Buffer): { bat: Region; metadata: Region } | string {
  if (buf.toString('latin1', 0, 4) !== 'regi') return 'no "regi" signature';
  if (buf.readUInt32LE(4) !== crc32cWithZeroField(buf, 4)) return 'bad CRC-32C';
  const count = buf.readUInt32LE(8);
  if (count > 2047) return `entry count ${count}`;
  let bat: Region | null = null;
  let metadata: Region | null = null;
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 32;
    const guid = guidToString(buf.subarray(o, o + 16));
    const r = { offset: Number(buf.readBigUInt64LE(o + 16)), length: buf.readUInt32LE(o + 24) };
    const required = (buf.readUInt32LE(o + 28) & 1) === 1;
    if (r.offset < MiB || r.offset % MiB !== 0 || r.length === 0 || r.length % MiB !== 0) {
      return `region ${guid} at ${r.offset}+${r.length}`;
    }
    if (guid === VhdxGuids.BatRegion) {
      if (bat) return 'two BAT regions';
      bat = r;
    } else if (guid === VhdxGuids.MetadataRegion) {
      if (metadata) return 'two metadata regions';
      metadata = r;
    } else if (required) {
      return `unknown required region ${guid}`;
    }
  }
  if (!bat || !metadata) return 'BAT or metadata region missing';
  return { bat, metadata };
}

function buildRegionTable(bat: Region, metadata: Region): Buffer {
  const b = Buffer.alloc(REGION_SIZE);
  b.write('regi', 0, 'latin1');
  b.writeUInt32LE(2, 8);
  const put = (i: number, guid: string, r: Region) => {
    const o = 16 + i * 32;
    guidFromString(guid).copy(b, o);
    b.writeBigUInt64LE(BigInt(r.offset), o + 16);
    b.writeUInt32LE(r.length, o + 24);
    b.writeUInt32LE(1, o + 28);
  };
  put(0, VhdxGuids.BatRegion, bat);
  put(1, VhdxGuids.MetadataRegion, metadata);
  b.writeUInt32LE(crc32cWithZeroField(b, 4), 4);
  return b;
}

export interface VhdxParams {
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  virtualSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  page83: Buffer | null;
  parentLocator: Map<string, string> | null;
}

function parseParentLocator(item: Buffer): Map<string, string> | string {
  if (item.length < 20) return 'parent locator too short';
  if (guidToString(item.subarray(0, 16)) !== VhdxGuids.ParentLocatorType)
    return 'unknown parent locator type';
  const count = item.readUInt16LE(18);
  if (20 + count * 12 > item.length) return 'parent locator entries beyond the item';
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const o = 20 + i * 12;
    const ko = item.readUInt32LE(o);
    const vo = item.readUInt32LE(o + 4);
    const kl = item.readUInt16LE(o + 8);
    const vl = item.readUInt16LE(o + 10);
    if (ko + kl > item.length || vo + vl > item.length || kl % 2 || vl % 2)
      return 'parent locator entry out of range';
    out.set(item.toString('utf16le', ko, ko + kl), item.toString('utf16le', vo, vo + vl));
  }
  return out;
}

/**
 * The parent locator entries a child at `childPath` records for the parent at `parentPath` whose
 * DataWriteGuid is `identity`: parent_linkage, relative_path and absolute_win32_path. No volume_path
 * (a Windows volume GUID path has no host equivalent) and no parent_linkage2.
 */
export function vhdxParentLocator(
  childPath: string,
  parentPath: string,
  identity: string,
): [string, string][] {
  const { absolute, relative } = parentLocations(childPath, parentPath);
  // Entry lengths are 16-bit byte counts.
  if (Buffer.byteLength(absolute, 'utf16le') > 0xfffe || Buffer.byteLength(relative, 'utf16le') > 0xfffe) {
    throw new VhdOperationError('INVALID_ARGUMENT', `parent path too long: ${absolute}`);
  }
  return [
    ['parent_linkage', `{${identity}}`],
    ['relative_path', relative],
    ['absolute_win32_path', absolute],
  ];
}

function buildParentLocator(entries: [string, string][]): Buffer {
  const head = Buffer.alloc(20 + entries.length * 12);
  guidFromString(VhdxGuids.ParentLocatorType).copy(head, 0);
  head.writeUInt16LE(entries.length, 18);
  const strings: Buffer[] = [];
  let pos = head.length;
  entries.forEach(([k, v], i) => {
    const kb = Buffer.from(k, 'utf16le');
    const vb = Buffer.from(v, 'utf16le');
    const o = 20 + i * 12;
    head.writeUInt32LE(pos, o);
    head.writeUInt32LE(pos + kb.length, o + 4);
    head.writeUInt16LE(kb.length, o + 8);
    head.writeUInt16LE(vb.length, o + 10);
    strings.push(kb, vb);
    pos += kb.length + vb.length;
  });
  return Buffer.concat([head, ...strings]);
}

/** Bytes of the metadata region the table refers to (the table itself and every item). */
function metadataExtent(table: Buffer, regionLength: number): number {
  const count = Math.min(table.readUInt16LE(10), 2047);
  let end = 64 * KiB;
  for (let i = 0; i < count; i++) {
    const o = 32 + i * 32;
    const off = table.readUInt32LE(o + 16);
    const len = table.readUInt32LE(o + 20);
    if (len > 0 && len <= MiB && off + len <= regionLength) end = Math.max(end, off + len);
  }
  return end;
}

function parseMetadata(region: Buffer, regionLength: number): VhdxParams | string {
  if (region.toString('latin1', 0, 8) !== 'metadata') return 'no "metadata" signature';
  const count = region.readUInt16LE(10);
  if (count > 2047) return `metadata entry count ${count}`;
  const items = new Map<string, Buffer>();
  const spans: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const o = 32 + i * 32;
    const id = guidToString(region.subarray(o, o + 16));
    const off = region.readUInt32LE(o + 16);
    const len = region.readUInt32LE(o + 20);
    const flags = region.readUInt32LE(o + 24);
    const isUser = (flags & 1) === 1;
    if (len > MiB || (len > 0 && (off < 64 * KiB || off + len > regionLength)))
      return `metadata item ${id} out of range`;
    if (len > 0) spans.push([off, off + len]);
    if (isUser) continue;
    if (items.has(id)) return `duplicate metadata item ${id}`;
    const known = (Object.values(VhdxGuids) as string[]).includes(id);
    if (!known && (flags & 4) !== 0) return `unknown required metadata item ${id}`;
    items.set(id, region.subarray(off, off + len));
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) return 'metadata items overlap';
  const fp = items.get(VhdxGuids.FileParameters);
  const vs = items.get(VhdxGuids.VirtualDiskSize);
  const ls = items.get(VhdxGuids.LogicalSectorSize);
  const ps = items.get(VhdxGuids.PhysicalSectorSize);
  if (!fp || fp.length < 8 || !vs || vs.length < 8 || !ls || ls.length < 4 || !ps || ps.length < 4) {
    return 'required metadata item missing';
  }
  const blockSize = fp.readUInt32LE(0);
  const flags = fp.readUInt32LE(4);
  if (blockSize < MiB || blockSize > 256 * MiB || (blockSize & (blockSize - 1)) !== 0)
    return `block size ${blockSize}`;
  const logicalSectorSize = ls.readUInt32LE(0);
  const physicalSectorSize = ps.readUInt32LE(0);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096)
    return `logical sector size ${logicalSectorSize}`;
  if (physicalSectorSize !== 512 && physicalSectorSize !== 4096)
    return `physical sector size ${physicalSectorSize}`;
  const virtualSize = Number(vs.readBigUInt64LE(0));
  if (virtualSize <= 0 || virtualSize > MAX_VIRTUAL_SIZE || virtualSize % logicalSectorSize !== 0) {
    return `virtual disk size ${virtualSize}`;
  }
  const hasParent = (flags & 2) !== 0;
  let parentLocator: Map<string, string> | null = null;
  if (hasParent) {
    const pl = items.get(VhdxGuids.ParentLocator);
    if (!pl) return 'differencing disk without a parent locator';
    const parsed = parseParentLocator(pl);
    if (typeof parsed === 'string') return parsed;
    parentLocator = parsed;
  }
  const p83 = items.get(VhdxGuids.Page83Data);
  return {
    blockSize,
    leaveBlocksAllocated: (flags & 1) !== 0,
    hasParent,
    virtualSize,
    logicalSectorSize,
    physicalSectorSize,
    page83: p83 && p83.length >= 16 ? Buffer.from(p83.subarray(0, 16)) : null,
    parentLocator,
  };
}

function buildMetadata(p: VhdxParams, locator: Buffer | null): Buffer {
  const region = Buffer.alloc(MiB);
  region.write('metadata', 0, 'latin1');
  const items: [string, number, Buffer][] = [];
  const fp = Buffer.alloc(8);
  fp.writeUInt32LE(p.blockSize, 0);
  fp.writeUInt32LE((p.leaveBlocksAllocated ? 1 : 0) | (p.hasParent ? 2 : 0), 4);
  items.push([VhdxGuids.FileParameters, 4, fp]);
  const vs = Buffer.alloc(8);
  vs.writeBigUInt64LE(BigInt(p.virtualSize));
  items.push([VhdxGuids.VirtualDiskSize, 6, vs]);
  items.push([VhdxGuids.Page83Data, 6, p.page83 ?? randomGuid()]);
  const ls = Buffer.alloc(4);
  ls.writeUInt32LE(p.logicalSectorSize);
  items.push([VhdxGuids.LogicalSectorSize, 6, ls]);
  const ps = Buffer.alloc(4);
  ps.writeUInt32LE(p.physicalSectorSize);
  items.push([VhdxGuids.PhysicalSectorSize, 6, ps]);
  if (locator) items.push([VhdxGuids.ParentLocator, 4, locator]);
  region.writeUInt16LE(items.length, 10);
  let pos = 64 * KiB;
  items.forEach(([id, flags, data], i) => {
    const o = 32 + i * 32;
    guidFromString(id).copy(region, o);
    region.writeUInt32LE(pos, o + 16);
    region.writeUInt32LE(data.length, o + 20);
    region.writeUInt32LE(flags, o + 24);
    data.copy(region, pos);
    pos += Math.ceil(data.length / 8) * 8;
  });
  return region;
}

/**
 * Where a metadata item of `length` bytes goes: at `current` if it fits there before the next item,
 * else the first 8-byte aligned free spot after the table (64 KiB); -1 when the region has no room.
 */
function placeMetadataItem(
  others: [number, number][],
  current: number,
  length: number,
  regionLength: number,
): number {
  const fits = (at: number) =>
    at >= 64 * KiB && at + length <= regionLength && others.every(([s, e]) => at + length <= s || at >= e);
  if (fits(current)) return current;
  const candidates = [64 * KiB, ...others.map(([, e]) => roundUp(e, 8))].sort((a, b) => a - b);
  return candidates.find(fits) ?? -1;
}

// ---- log ----

interface LogDescriptor {
  zero: boolean;
  fileOffset: number;
  length: number;
  data: Buffer | null;
}

interface LogEntry {
  offset: number;
  length: number;
  tail: number;
  sequence: bigint;
  flushedFileOffset: number;
  lastFileOffset: number;
  descriptors: LogDescriptor[];
}

const ZERO_PAGE = Buffer.alloc(PAGE);
const MAX_ZERO_REPLAY = 256 * MiB;

async function readLog(file: DiskFile, h: VhdxHeader, off: number, len: number): Promise<Buffer> {
  const out = Buffer.alloc(len);
  let done = 0;
  while (done < len) {
    const at = (off + done) % h.logLength;
    const n = Math.min(len - done, h.logLength - at);
    await file.readRaw(out.subarray(done, done + n), h.logOffset + at, 'log');
    done += n;
  }
  return out;
}

/** Parses and fully validates the entry at `off`, or returns null. */
async function readEntry(file: DiskFile, h: VhdxHeader, off: number): Promise<LogEntry | null> {
  const head = await readLog(file, h, off, PAGE);
  if (head.toString('latin1', 0, 4) !== 'loge') return null;
  const length = head.readUInt32LE(8);
  const tail = head.readUInt32LE(12);
  const sequence = head.readBigUInt64LE(16);
  const count = head.readUInt32LE(24);
  if (length < PAGE || length % PAGE || length > h.logLength || tail % PAGE || tail >= h.logLength)
    return null;
  if (sequence === 0n || !head.subarray(32, 48).equals(h.logGuid)) return null;
  const descSectors = Math.ceil((64 + count * 32) / PAGE);
  if (descSectors * PAGE > length) return null;
  const entry = await readLog(file, h, off, length);
  if (entry.readUInt32LE(4) !== crc32cWithZeroField(entry, 4)) return null;
  const descriptors: LogDescriptor[] = [];
  let dataIndex = descSectors;
  for (let i = 0; i < count; i++) {
    const o = 64 + i * 32;
    const sig = entry.toString('latin1', o, o + 4);
    if (entry.readBigUInt64LE(o + 24) !== sequence) return null;
    const fileOffset = Number(entry.readBigUInt64LE(o + 16));
    if (fileOffset % PAGE) return null;
    if (sig === 'zero') {
      const zl = Number(entry.readBigUInt64LE(o + 8));
      if (zl % PAGE || zl > MAX_ZERO_REPLAY) return null;
      descriptors.push({ zero: true, fileOffset, length: zl, data: null });
    } else if (sig === 'desc') {
      if ((dataIndex + 1) * PAGE > length) return null;
      const ds = entry.subarray(dataIndex * PAGE, (dataIndex + 1) * PAGE);
      if (ds.toString('latin1', 0, 4) !== 'data') return null;
      const seq = (BigInt(ds.readUInt32LE(4)) << 32n) | BigInt(ds.readUInt32LE(PAGE - 4));
      if (seq !== sequence) return null;
      const page = Buffer.alloc(PAGE);
      entry.copy(page, 0, o + 8, o + 16);
      ds.copy(page, 8, 8, PAGE - 4);
      entry.copy(page, PAGE - 4, o + 4, o + 8);
      descriptors.push({ zero: false, fileOffset, length: PAGE, data: page });
      dataIndex++;
    } else {
      return null;
    }
  }
  return {
    offset: off,
    length,
    tail,
    sequence,
    flushedFileOffset: Number(head.readBigUInt64LE(48)),
    lastFileOffset: Number(head.readBigUInt64LE(56)),
    descriptors,
  };
}

/** Finds the active sequence (newest valid and complete one), following [MS-VHDX] 2.3.3. */
async function findActiveSequence(file: DiskFile, h: VhdxHeader): Promise<LogEntry[] | null> {
  const cache = new Map<number, LogEntry | null>();
  const entryAt = async (off: number) => {
    if (!cache.has(off)) cache.set(off, await readEntry(file, h, off));
    return cache.get(off)!;
  };
  let best: LogEntry[] | null = null;
  const maxEntries = h.logLength / PAGE;
  for (let start = 0; start < h.logLength; start += PAGE) {
    const seq: LogEntry[] = [];
    let pos = start;
    while (seq.length < maxEntries) {
      const e = await entryAt(pos);
      if (!e) break;
      const last = seq[seq.length - 1];
      if (last && e.sequence !== last.sequence + 1n) break;
      seq.push(e);
      pos = (pos + e.length) % h.logLength;
    }
    const headEntry = seq[seq.length - 1];
    if (!headEntry) continue;
    const tailIndex = seq.findIndex((e) => e.offset === headEntry.tail);
    if (tailIndex < 0) continue;
    if (!best || headEntry.sequence > best[best.length - 1]!.sequence) best = seq.slice(tailIndex);
  }
  return best;
}

function buildLogEntry(
  guid: Buffer,
  sequence: bigint,
  tail: number,
  pages: [number, Buffer][],
  flushed: number,
  last: number,
): Buffer {
  const descSectors = Math.ceil((64 + pages.length * 32) / PAGE);
  const length = (descSectors + pages.length) * PAGE;
  const e = Buffer.alloc(length);
  e.write('loge', 0, 'latin1');
  e.writeUInt32LE(length, 8);
  e.writeUInt32LE(tail, 12);
  e.writeBigUInt64LE(sequence, 16);
  e.writeUInt32LE(pages.length, 24);
  guid.copy(e, 32);
  e.writeBigUInt64LE(BigInt(flushed), 48);
  e.writeBigUInt64LE(BigInt(last), 56);
  pages.forEach(([off, page], i) => {
    const o = 64 + i * 32;
    e.write('desc', o, 'latin1');
    page.copy(e, o + 4, PAGE - 4, PAGE);
    page.copy(e, o + 8, 0, 8);
    e.writeBigUInt64LE(BigInt(off), o + 16);
    e.writeBigUInt64LE(sequence, o + 24);
    const ds = (descSectors + i) * PAGE;
    e.write('data', ds, 'latin1');
    e.writeUInt32LE(Number(sequence >> 32n), ds + 4);
    page.copy(e, ds + 8, 8, PAGE - 4);
    e.writeUInt32LE(Number(sequence & 0xffffffffn), ds + PAGE - 4);
  });
  e.writeUInt32LE(crc32c(e), 4);
  return e;
}

// ---- layer ----

export interface VhdxCreateOptions {
  type: DiskType;
  sizeBytes: number;
  blockSize?: number;
  logicalSectorSize?: number;
  physicalSectorSize?: number;
  parent?: { path: string; layer: VhdxLayer };
  dataWriteGuid?: Buffer;
  page83?: Buffer;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

export class VhdxLayer extends Layer {
  readonly format = 'vhdx' as const;
  readonly type: DiskType;
  readonly sizeBytes: number;
  readonly blockSize: number;
  readonly sectorSize: number;
  readonly physicalSectorSize: number;
  readonly chunkRatio: number;
  readonly issues: LayerIssue[] = [];
  /** True when the header named a log that was replayed on this open. */
  logReplayed = false;
  private header!: VhdxHeader;
  private slot = 0;
  private states: Uint8Array = new Uint8Array(0);
  private offsets: Float64Array = new Float64Array(0);
  private batRaw: Buffer = Buffer.alloc(0);
  private readonly dirtyPages = new Set<number>();
  private readonly bitmaps = new Map<number, Buffer>();
  private fileEnd = 0;
  private logHead = 0;
  private logSequence = 1n;
  private sessionLogGuid: Buffer | null = null;
  keepIdentity = false;
  /** DataWriteGuid the next write session takes instead of a random one (a merge recorded it in the child first). */
  nextDataWriteGuid: Buffer | null = null;

  private constructor(
    file: DiskFile,
    readonly params: VhdxParams,
    readonly regions: { bat: Region; metadata: Region },
  ) {
    super(file);
    this.type = params.hasParent ? 'differencing' : params.leaveBlocksAllocated ? 'fixed' : 'dynamic';
    this.sizeBytes = params.virtualSize;
    this.blockSize = params.blockSize;
    this.sectorSize = params.logicalSectorSize;
    this.physicalSectorSize = params.physicalSectorSize;
    this.chunkRatio = (2 ** 23 * params.logicalSectorSize) / params.blockSize;
  }

  get currentHeader(): VhdxHeader {
    return this.header;
  }

  static async readHeaders(file: DiskFile): Promise<{ headers: (VhdxHeader | string)[]; best: number }> {
    const headers: (VhdxHeader | string)[] = [];
    for (const off of HEADER_OFFSETS) {
      if (off + PAGE > file.size) headers.push('beyond EOF');
      else headers.push(parseHeader(await file.read(off, PAGE, 'header')));
    }
    let best = -1;
    headers.forEach((h, i) => {
      if (typeof h === 'string') return;
      const cur = best >= 0 ? (headers[best] as VhdxHeader) : null;
      if (!cur || h.sequence > cur.sequence) best = i;
    });
    return { headers, best };
  }

  /** Validates everything (replaying a pending log in memory first) before any write. */
  static async open(file: DiskFile): Promise<VhdxLayer> {
    if (file.size < 320 * KiB) throw formatError('TRUNCATED', `${file.path}: too small for a VHDX`);
    const { headers, best } = await VhdxLayer.readHeaders(file);
    if (best < 0) {
      const why = headers.join('; ');
      throw formatError(
        why.includes('CRC') ? 'BAD_CHECKSUM' : 'BAD_SIGNATURE',
        `${file.path}: no valid header (${why})`,
      );
    }
    const issues: LayerIssue[] = [];
    headers.forEach((h, i) => {
      if (typeof h === 'string')
        issues.push({ code: 'HEADER_BAD', message: `header ${i + 1}: ${h}`, repairable: true });
    });
    const header = headers[best] as VhdxHeader;
    if (header.logOffset + header.logLength > file.size)
      throw formatError('TRUNCATED', `${file.path}: log beyond EOF`);
    let replayed = false;
    let replayEnd = 0;
    if (!isZeroGuid(header.logGuid)) {
      const active = await findActiveSequence(file, header);
      if (!active)
        throw formatError('BAD_LOG', `${file.path}: header names a log but no valid log sequence exists`);
      const headEntry = active[active.length - 1]!;
      if (file.size < headEntry.flushedFileOffset) {
        throw formatError('TRUNCATED', `${file.path}: file shorter than the log's flushed file offset`);
      }
      const overlay = new Map<number, Buffer>();
      for (const e of active) {
        for (const d of e.descriptors) {
          for (let p = 0; p < d.length; p += PAGE)
            overlay.set(d.fileOffset + p, d.zero ? ZERO_PAGE : d.data!);
          replayEnd = Math.max(replayEnd, d.fileOffset + d.length);
        }
      }
      replayEnd = Math.max(replayEnd, headEntry.lastFileOffset);
      file.overlay = overlay;
      file.size = Math.max(file.size, replayEnd);
      replayed = true;
    }
    let tables: { bat: Region; metadata: Region } | null = null;
    let tableErr = '';
    for (const [i, off] of REGION_OFFSETS.entries()) {
      const t = parseRegionTable(await file.read(off, REGION_SIZE, 'region table'));
      if (typeof t === 'string') {
        tableErr += `region table ${i + 1}: ${t}; `;
        issues.push({ code: 'REGION_TABLE_BAD', message: `region table ${i + 1}: ${t}`, repairable: true });
      } else tables ??= t;
    }
    if (!tables)
      throw formatError(tableErr.includes('CRC') ? 'BAD_CHECKSUM' : 'BAD_FIELD', `${file.path}: ${tableErr}`);
    const { bat, metadata } = tables;
    const logRegion = { offset: header.logOffset, length: header.logLength };
    const fixed: [Region, string][] = [
      [{ offset: 0, length: MiB }, 'header section'],
      [logRegion, 'log'],
      [bat, 'BAT'],
      [metadata, 'metadata'],
    ];
    for (const [r, what] of fixed) {
      if (r.offset + r.length > file.size)
        throw formatError('TRUNCATED', `${file.path}: ${what} region beyond EOF`);
    }
    const table = await file.read(metadata.offset, 64 * KiB, 'metadata table');
    const extent = metadataExtent(table, metadata.length);
    const meta = parseMetadata(await file.read(metadata.offset, extent, 'metadata region'), metadata.length);
    if (typeof meta === 'string') throw formatError('BAD_FIELD', `${file.path}: ${meta}`);
    const layer = new VhdxLayer(file, meta, tables);
    layer.header = header;
    layer.slot = best;
    layer.issues.push(...issues);
    layer.logReplayed = replayed;
    await layer.loadBat(fixed);
    if (replayed && file.writable) await layer.commitReplay(replayEnd);
    return layer;
  }

  private batIndex(b: number): number {
    return b + Math.floor(b / this.chunkRatio);
  }

  private sbIndex(chunk: number): number {
    return chunk * (this.chunkRatio + 1) + this.chunkRatio;
  }

  private get totalBatEntries(): number {
    const payload = this.blockCount;
    if (this.type === 'differencing') return Math.ceil(payload / this.chunkRatio) * (this.chunkRatio + 1);
    return payload + Math.floor((payload - 1) / this.chunkRatio);
  }

  private async loadBat(fixed: [Region, string][]): Promise<void> {
    const file = this.file;
    const { bat } = this.regions;
    const total = this.totalBatEntries;
    const minEntries = this.blockCount + Math.floor((this.blockCount - 1) / this.chunkRatio);
    if (bat.length < minEntries * 8) throw formatError('BAD_FIELD', `${file.path}: BAT region too small`);
    const entries = Math.min(total, bat.length / 8);
    this.batRaw = await file.read(bat.offset, roundUp(entries * 8, PAGE), 'BAT');
    this.states = new Uint8Array(entries);
    this.offsets = new Float64Array(entries);
    const used: [number, number, string][] = fixed.map(([r, w]) => [r.offset, r.offset + r.length, w]);
    const diff = this.type === 'differencing';
    for (let i = 0; i < entries; i++) {
      const lo = this.batRaw.readUInt32LE(i * 8);
      const hi = this.batRaw.readUInt32LE(i * 8 + 4);
      const state = lo & 7;
      const offset = (hi * 4096 + (lo >>> 20)) * MiB;
      this.states[i] = state;
      this.offsets[i] = offset;
      const isSb = (i + 1) % (this.chunkRatio + 1) === 0;
      if (isSb) {
        if (state === 0) continue;
        if (state !== SB_PRESENT || !diff)
          throw formatError('BAD_FIELD', `${file.path}: sector bitmap entry ${i} state ${state}`);
        if (offset + MiB > file.size)
          throw formatError('BAT_ENTRY_BEYOND_EOF', `${file.path}: sector bitmap ${i} beyond EOF`);
        used.push([offset, offset + MiB, `sector bitmap entry ${i}`]);
        continue;
      }
      if (state === 4 || state === 5 || (state === 7 && !diff)) {
        throw formatError('BAD_FIELD', `${file.path}: BAT entry ${i} state ${state}`);
      }
      if (state !== 6 && state !== 7) continue;
      const b = i - Math.floor(i / (this.chunkRatio + 1));
      if (b >= this.blockCount) continue;
      const len = this.blockEnd(b) - b * this.blockSize;
      if (offset < MiB) throw formatError('BAD_FIELD', `${file.path}: block ${b} inside the header section`);
      if (offset + len > file.size)
        throw formatError('BAT_ENTRY_BEYOND_EOF', `${file.path}: block ${b} beyond EOF`);
      if (state === 7) {
        const sb = this.sbIndex(Math.floor(b / this.chunkRatio));
        const sbState = sb < entries ? this.batRaw.readUInt32LE(sb * 8) & 7 : 0;
        if (sbState !== SB_PRESENT)
          throw formatError('BAD_FIELD', `${file.path}: block ${b} partial without a sector bitmap`);
      }
      used.push([offset, offset + len, `block ${b}`]);
    }
    used.sort((a, b) => a[0] - b[0]);
    let end = 0;
    for (let i = 0; i < used.length; i++) {
      const [s, e, what] = used[i]!;
      if (i > 0 && s < used[i - 1]![1])
        throw formatError('BAT_OVERLAP', `${file.path}: ${what} overlaps ${used[i - 1]![2]}`);
      end = Math.max(end, e);
    }
    this.fileEnd = roundUp(Math.max(end, file.size), MiB);
  }

  /** Writes the replayed pages for real, then clears LogGuid ([MS-VHDX] 2.3.3). */
  private async commitReplay(replayEnd: number): Promise<void> {
    const file = this.file;
    const overlay = file.overlay!;
    file.overlay = null;
    file.size = file.realSize;
    for (const [off, page] of overlay) await file.write(off, page);
    if (file.size < replayEnd) await file.truncate(replayEnd);
    await file.sync();
    await this.updateHeader({ logGuid: Buffer.alloc(16) });
  }

  /** Writes a new header into both slots (the non-current one first), each with a higher sequence. */
  private async updateHeader(change: Partial<VhdxHeader>): Promise<void> {
    for (let n = 0; n < 2; n++) {
      const next = { ...this.header, ...change, sequence: this.header.sequence + 1n };
      const slot = this.slot ^ 1;
      await this.file.write(HEADER_OFFSETS[slot]!, buildHeader(next));
      await this.file.sync();
      this.header = next;
      this.slot = slot;
    }
  }

  static async create(path: string, o: VhdxCreateOptions): Promise<VhdxLayer> {
    const blockSize = o.blockSize ?? VHDX_DEFAULT_BLOCK_SIZE;
    const lss = o.logicalSectorSize ?? 512;
    const pss = o.physicalSectorSize ?? 4096;
    if (blockSize < MiB || blockSize > 256 * MiB || (blockSize & (blockSize - 1)) !== 0) {
      throw new VhdOperationError(
        'INVALID_ARGUMENT',
        'VHDX block size must be a power of two from 1 MiB to 256 MiB',
      );
    }
    if ((lss !== 512 && lss !== 4096) || (pss !== 512 && pss !== 4096)) {
      throw new VhdOperationError('INVALID_ARGUMENT', 'sector sizes must be 512 or 4096');
    }
    if (o.sizeBytes <= 0 || o.sizeBytes % lss !== 0 || o.sizeBytes > MAX_VIRTUAL_SIZE) {
      throw new VhdOperationError(
        'INVALID_ARGUMENT',
        `VHDX size must be a positive multiple of ${lss} up to 64 TiB`,
      );
    }
    let locator: Buffer | null = null;
    if (o.type === 'differencing') {
      if (!o.parent) throw new VhdOperationError('INVALID_ARGUMENT', 'differencing disk needs a parent');
      if (o.parent.layer.sectorSize !== lss) {
        throw new VhdOperationError('INVALID_ARGUMENT', 'a child must use its parent logical sector size');
      }
      locator = buildParentLocator(vhdxParentLocator(path, o.parent.path, o.parent.layer.identity()));
    }
    const params: VhdxParams = {
      blockSize,
      leaveBlocksAllocated: o.type === 'fixed',
      hasParent: o.type === 'differencing',
      virtualSize: o.sizeBytes,
      logicalSectorSize: lss,
      physicalSectorSize: pss,
      page83: o.page83 ?? randomGuid(),
      parentLocator: null,
    };
    const chunkRatio = (2 ** 23 * lss) / blockSize;
    const payload = Math.ceil(o.sizeBytes / blockSize);
    const batEntries = Math.ceil(payload / chunkRatio) * (chunkRatio + 1);
    const log: Region = { offset: MiB, length: MiB };
    const metadata: Region = { offset: 2 * MiB, length: MiB };
    const bat: Region = { offset: 3 * MiB, length: roundUp(batEntries * 8, MiB) };
    const dataStart = bat.offset + bat.length;
    const file = await DiskFile.create(path);
    try {
      const ident = Buffer.alloc(64 * KiB);
      ident.write('vhdxfile', 0, 'latin1');
      ident.write('Viridian', 8, 'utf16le');
      await file.write(0, ident);
      const header: VhdxHeader = {
        sequence: 1n,
        fileWriteGuid: randomGuid(),
        dataWriteGuid: o.dataWriteGuid ?? randomGuid(),
        logGuid: Buffer.alloc(16),
        logVersion: 0,
        version: 1,
        logLength: log.length,
        logOffset: log.offset,
      };
      await file.write(HEADER_OFFSETS[0], buildHeader(header));
      await file.write(HEADER_OFFSETS[1], buildHeader({ ...header, sequence: 2n }));
      const rt = buildRegionTable(bat, metadata);
      await file.write(REGION_OFFSETS[0], rt);
      await file.write(REGION_OFFSETS[1], rt);
      await file.write(metadata.offset, buildMetadata(params, locator));
      const batBuf = Buffer.alloc(bat.length);
      let end = dataStart;
      if (o.type === 'fixed') {
        for (let b = 0; b < payload; b++) {
          const i = b + Math.floor(b / chunkRatio);
          const mb = end / MiB;
          batBuf.writeUInt32LE(((mb % 4096) << 20) | VhdxBlockState.FullyPresent, i * 8);
          batBuf.writeUInt32LE(Math.floor(mb / 4096), i * 8 + 4);
          end += blockSize;
        }
      }
      await file.write(bat.offset, batBuf);
      await file.truncate(end);
      await file.sync();
      const layer = await VhdxLayer.open(file);
      layer.keepIdentity = o.dataWriteGuid !== undefined;
      return layer;
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  blockState(b: number): BlockState {
    const i = this.batIndex(b);
    const s = this.states[i] ?? 0;
    switch (s) {
      case VhdxBlockState.FullyPresent:
        return 'present';
      case VhdxBlockState.PartiallyPresent:
        return 'partial';
      case VhdxBlockState.Zero:
      case VhdxBlockState.Unmapped:
        return 'zero';
      default:
        // NOT_PRESENT and UNDEFINED: the parent's data in a differencing disk, zeros otherwise.
        return this.type === 'differencing' ? 'absent' : 'zero';
    }
  }

  blockOffset(b: number): number {
    return this.offsets[this.batIndex(b)]!;
  }

  private async bitmapBlock(chunk: number): Promise<Buffer> {
    let bm = this.bitmaps.get(chunk);
    if (!bm) {
      bm = await this.file.read(this.offsets[this.sbIndex(chunk)]!, MiB, 'sector bitmap');
      this.bitmaps.set(chunk, bm);
    }
    return bm;
  }

  async sectorMap(b: number): Promise<Uint8Array> {
    const chunk = Math.floor(b / this.chunkRatio);
    const bm = await this.bitmapBlock(chunk);
    const perBlock = this.blockSize / this.sectorSize;
    const first = (b % this.chunkRatio) * perBlock;
    const m = new Uint8Array(perBlock);
    for (let s = 0; s < perBlock; s++) {
      const bit = first + s;
      m[s] = (bm[bit >>> 3]! >>> (bit & 7)) & 1;
    }
    return m;
  }

  private setEntry(i: number, state: number, offset: number): void {
    this.states[i] = state;
    this.offsets[i] = offset;
    const mb = offset / MiB;
    this.batRaw.writeUInt32LE((((mb % 4096) << 20) | state) >>> 0, i * 8);
    this.batRaw.writeUInt32LE(Math.floor(mb / 4096), i * 8 + 4);
    this.dirtyPages.add(Math.floor((i * 8) / PAGE));
  }

  private async extend(bytes: number): Promise<number> {
    const off = this.fileEnd;
    this.fileEnd += bytes;
    await this.file.truncate(this.fileEnd);
    return off;
  }

  async allocate(b: number, full: boolean): Promise<void> {
    const chunk = Math.floor(b / this.chunkRatio);
    if (!full) {
      const sb = this.sbIndex(chunk);
      if (this.states[sb] !== SB_PRESENT) {
        const off = await this.extend(MiB);
        this.setEntry(sb, SB_PRESENT, off);
        this.bitmaps.set(chunk, Buffer.alloc(MiB));
      }
    }
    const off = await this.extend(this.blockSize);
    this.setEntry(
      this.batIndex(b),
      full ? VhdxBlockState.FullyPresent : VhdxBlockState.PartiallyPresent,
      off,
    );
  }

  override zeroBlock(b: number): boolean {
    // A fixed disk keeps every block allocated; elsewhere ZERO reads as zeros and hides any parent.
    if (this.type === 'fixed') return false;
    this.setEntry(this.batIndex(b), VhdxBlockState.Zero, 0);
    return true;
  }

  async markPresent(b: number, first: number, count: number): Promise<void> {
    const chunk = Math.floor(b / this.chunkRatio);
    const bm = await this.bitmapBlock(chunk);
    const base = (b % this.chunkRatio) * (this.blockSize / this.sectorSize) + first;
    for (let s = base; s < base + count; s++) bm[s >>> 3]! |= 1 << (s & 7);
    const from = base >>> 3;
    const to = ((base + count - 1) >>> 3) + 1;
    await this.file.write(this.offsets[this.sbIndex(chunk)]! + from, bm.subarray(from, to));
  }

  override async beginWrite(): Promise<void> {
    // [MS-VHDX] 2.2.2: new FileWriteGuid before the first write, new DataWriteGuid before the first
    // change of user-visible data (which a write session always is).
    await this.updateHeader({
      fileWriteGuid: randomGuid(),
      ...(this.keepIdentity ? {} : { dataWriteGuid: this.nextDataWriteGuid ?? randomGuid() }),
    });
    this.nextDataWriteGuid = null;
  }

  /** Commits dirty BAT pages through the log: log entry, flush, apply in place, flush. */
  async flush(): Promise<void> {
    if (!this.file.writable) return;
    await this.file.sync();
    if (this.dirtyPages.size === 0) return;
    const pages = [...this.dirtyPages].sort((a, b) => a - b);
    // One entry holds as many pages as the log leaves room for; a bigger update is split.
    const perEntry = this.pagesPerLogEntry;
    for (let i = 0; i < pages.length; i += perEntry) {
      await this.commitThroughLog(
        pages
          .slice(i, i + perEntry)
          .map((p): [number, Buffer] => [this.regions.bat.offset + p * PAGE, this.batPage(p)]),
      );
    }
    this.dirtyPages.clear();
  }

  /** Most 4 KiB pages one log entry can carry in this file's log. */
  private get pagesPerLogEntry(): number {
    const sectors = this.header.logLength / PAGE;
    return Math.max(1, sectors - 2 - Math.ceil((sectors * 32) / PAGE));
  }

  /**
   * Writes `pages` (file offset, 4 KiB) as one log entry and syncs it, sets LogGuid (first time in a
   * session), then applies the pages in place and syncs: a crash leaves the old pages or a log that
   * the next open replays.
   */
  private async commitThroughLog(pages: [number, Buffer][]): Promise<void> {
    if (!this.sessionLogGuid) this.sessionLogGuid = randomGuid();
    const entry = buildLogEntry(
      this.sessionLogGuid,
      this.logSequence,
      this.logHead,
      pages,
      this.file.size,
      this.file.size,
    );
    await this.writeLog(this.logHead, entry);
    await this.file.sync();
    if (!this.header.logGuid.equals(this.sessionLogGuid))
      await this.updateHeader({ logGuid: this.sessionLogGuid });
    for (const [off, page] of pages) await this.file.write(off, page);
    await this.file.sync();
    this.logHead = (this.logHead + entry.length) % this.header.logLength;
    this.logSequence++;
  }

  /**
   * Replaces the parent locator metadata item with `entries`, every changed metadata page in one log
   * entry, so a crash leaves the old locator or the new one. The item is rewritten where it is when it
   * fits before the next item, else moved to free space in the metadata region (its old bytes zeroed).
   * FileWriteGuid is renewed; DataWriteGuid is kept: what the disk reads does not change, and children
   * of this disk record it.
   */
  async replaceParentLocator(entries: [string, string][]): Promise<void> {
    if (this.type !== 'differencing') {
      throw new VhdOperationError('NOT_DIFFERENCING', `${this.file.path} is not a differencing disk`);
    }
    const md = this.regions.metadata;
    const table = await this.file.read(md.offset, 64 * KiB, 'metadata table');
    const count = table.readUInt16LE(10);
    let entryAt = -1;
    const others: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const o = 32 + i * 32;
      const id = guidToString(table.subarray(o, o + 16));
      const off = table.readUInt32LE(o + 16);
      const len = table.readUInt32LE(o + 20);
      const isUser = (table.readUInt32LE(o + 24) & 1) === 1;
      if (!isUser && id === VhdxGuids.ParentLocator) entryAt = o;
      else if (len > 0) others.push([off, off + len]);
    }
    if (entryAt < 0) throw formatError('BAD_FIELD', `${this.file.path}: no parent locator item`);
    const oldOff = table.readUInt32LE(entryAt + 16);
    const oldLen = table.readUInt32LE(entryAt + 20);
    const item = buildParentLocator(entries);
    const newOff = placeMetadataItem(others, oldOff, item.length, md.length);
    if (newOff < 0) {
      throw new VhdOperationError('INVALID_ARGUMENT', `${this.file.path}: no room for the parent locator`);
    }
    // Edit copies of the touched pages, then log the ones that changed.
    const original = new Map<number, Buffer>();
    const edited = new Map<number, Buffer>();
    const edit = async (at: number, bytes: Buffer) => {
      for (let done = 0; done < bytes.length; ) {
        const pageNo = Math.floor((at + done) / PAGE);
        let page = edited.get(pageNo);
        if (!page) {
          const was = await this.file.read(md.offset + pageNo * PAGE, PAGE, 'metadata');
          original.set(pageNo, was);
          page = Buffer.from(was);
          edited.set(pageNo, page);
        }
        const inPage = (at + done) % PAGE;
        const n = Math.min(bytes.length - done, PAGE - inPage);
        bytes.copy(page, inPage, done, done + n);
        done += n;
      }
    };
    if (oldLen > 0) await edit(oldOff, Buffer.alloc(oldLen));
    await edit(newOff, item);
    const tableEntry = Buffer.alloc(8);
    tableEntry.writeUInt32LE(newOff, 0);
    tableEntry.writeUInt32LE(item.length, 4);
    await edit(entryAt + 16, tableEntry);
    const pages = [...edited]
      .filter(([n, page]) => !page.equals(original.get(n)!))
      .sort((a, b) => a[0] - b[0])
      .map(([n, page]): [number, Buffer] => [md.offset + n * PAGE, page]);
    if (pages.length > this.pagesPerLogEntry) {
      throw new VhdOperationError(
        'INVALID_ARGUMENT',
        `${this.file.path}: parent locator too large for the log`,
      );
    }
    await this.updateHeader({ fileWriteGuid: randomGuid() });
    await this.commitThroughLog(pages);
    this.params.parentLocator = new Map(entries);
  }

  private batPage(p: number): Buffer {
    const page = Buffer.alloc(PAGE);
    this.batRaw.copy(page, 0, p * PAGE, Math.min((p + 1) * PAGE, this.batRaw.length));
    return page;
  }

  private async writeLog(off: number, data: Buffer): Promise<void> {
    const h = this.header;
    let done = 0;
    while (done < data.length) {
      const at = (off + done) % h.logLength;
      const n = Math.min(data.length - done, h.logLength - at);
      await this.file.write(h.logOffset + at, data.subarray(done, done + n));
      done += n;
    }
  }

  /**
   * Writes a log entry naming `pages` and sets LogGuid without applying it: the state a crash between
   * logging and applying leaves. Recovery tests and tooling use it; disk writes never do.
   */
  async writeUnappliedLogEntry(pages: [number, Buffer][]): Promise<void> {
    const guid = randomGuid();
    const entry = buildLogEntry(guid, 1n, 0, pages, this.file.size, this.file.size);
    await this.writeLog(0, entry);
    await this.updateHeader({ logGuid: guid });
  }

  async closeLayer(): Promise<void> {
    try {
      await this.flush();
      if (this.file.writable && !isZeroGuid(this.header.logGuid)) {
        await this.updateHeader({ logGuid: Buffer.alloc(16) });
      }
    } finally {
      await this.file.close();
    }
  }

  /** Rewrites a damaged header or region table from the valid copy. */
  async repair(): Promise<string[]> {
    const done: string[] = [];
    if (this.issues.some((i) => i.code === 'HEADER_BAD')) {
      await this.updateHeader({});
      done.push('HEADER_BAD');
    }
    if (this.issues.some((i) => i.code === 'REGION_TABLE_BAD')) {
      const rt = buildRegionTable(this.regions.bat, this.regions.metadata);
      for (const off of REGION_OFFSETS) await this.file.write(off, rt);
      await this.file.sync();
      done.push('REGION_TABLE_BAD');
    }
    return done;
  }

  identity(): string {
    return guidToString(this.header.dataWriteGuid);
  }

  diskId(): string {
    // Page 83 data is optional in files from other writers; fall back to the data identity.
    return this.params.page83 ? guidToString(this.params.page83) : this.identity();
  }

  async parentCandidates(): Promise<string[]> {
    const loc = this.params.parentLocator!;
    const dir = dirname(this.file.path);
    const out: string[] = [];
    for (const key of ['relative_path', 'absolute_win32_path', 'volume_path']) {
      const v = loc.get(key);
      if (!v) continue;
      const p = v.split('\\').join('/');
      out.push(isAbsolute(p) ? p : resolve(dir, p));
    }
    return out;
  }

  parentMatches(p: Layer): boolean {
    const { linkage, linkage2 } = this.parentLinkages();
    const id = p.identity();
    return linkage === id || linkage2 === id;
  }

  /**
   * The parent identities this child accepts ([MS-VHDX] 2.6.2.6.3: the parent's DataWriteGuid must
   * match parent_linkage or parent_linkage2), upper-case without braces; linkage2 null when absent.
   */
  parentLinkages(): { linkage: string; linkage2: string | null } {
    const loc = this.params.parentLocator!;
    const norm = (s: string | undefined) => (s ?? '').replace(/[{}]/g, '').toUpperCase();
    const second = loc.get('parent_linkage2');
    return { linkage: norm(loc.get('parent_linkage')), linkage2: second === undefined ? null : norm(second) };
  }

  /**
   * Records `linkage` (and `linkage2`, or none) as the parent identities this child accepts, keeping
   * every other locator entry (the paths) as it is; through the log, like {@link replaceParentLocator}.
   */
  async setParentLinkages(linkage: string, linkage2: string | null): Promise<void> {
    const entries: [string, string][] = [['parent_linkage', `{${linkage}}`]];
    for (const [k, v] of this.params.parentLocator ?? []) {
      if (k !== 'parent_linkage' && k !== 'parent_linkage2') entries.push([k, v]);
    }
    if (linkage2 !== null) entries.push(['parent_linkage2', `{${linkage2}}`]);
    await this.replaceParentLocator(entries);
  }

  /** Name of the parent file as recorded (for messages). */
  parentName(): string {
    const loc = this.params.parentLocator;
    return basename((loc?.get('relative_path') ?? '').split('\\').join('/'));
  }
}
