import { stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatError, VhdOperationError } from './errors.js';
import { DiskFile } from './file.js';
import { guidToString, randomGuid } from './guid.js';
import { type BlockState, type DiskType, Layer } from './layer.js';
import { parentLocations } from './parent-paths.js';

// Microsoft "Virtual Hard Disk Image Format Specification" v1.0. All fields are big-endian.

const FOOTER_COOKIE = 'conectix';
const HEADER_COOKIE = 'cxsparse';
const SECTOR = 512;
const UNUSED = 0xffffffff;
/** Largest virtual size the format allows (2040 GiB). */
export const VHD_MAX_SIZE = 2040 * 1024 ** 3;
export const VHD_DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024;
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

export const VhdDiskType = { Fixed: 2, Dynamic: 3, Differencing: 4 } as const;
export const VhdPlatformCode = {
  None: 0,
  Wi2r: 0x57693272,
  Wi2k: 0x5769326b,
  W2ru: 0x57327275,
  W2ku: 0x57326b75,
  Mac: 0x4d616320,
  MacX: 0x4d616358,
} as const;
/** Creator fields written into new files: the values Hyper-V writes, so every reader trusts current_size. */
const CREATOR_APP = 'win ';
const CREATOR_VERSION = 0x000a0000;
const CREATOR_HOST_OS = VhdPlatformCode.Wi2k;

/** Ones' complement of the byte sum, skipping the 4-byte checksum field. */
export function vhdChecksum(buf: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue;
    sum += buf[i]!;
  }
  return ~sum >>> 0;
}

export interface Chs {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/** CHS geometry for a disk of `totalSectors` (the algorithm in the VHD specification's appendix). */
export function chsGeometry(totalSectors: number): Chs {
  const total = Math.min(totalSectors, 65535 * 16 * 255);
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

export function vhdTimestamp(ms: number): number {
  return Math.max(0, Math.floor((ms - VHD_EPOCH_MS) / 1000)) >>> 0;
}

export interface VhdFooter {
  features: number;
  version: number;
  dataOffset: bigint;
  timestamp: number;
  creatorApp: string;
  creatorVersion: number;
  creatorHostOs: number;
  originalSize: number;
  currentSize: number;
  geometry: Chs;
  diskType: number;
  uniqueId: Buffer;
  savedState: number;
}

/** Parses and validates a footer; `what` names the copy in error messages. */
export function parseFooter(buf: Buffer, what: string): VhdFooter {
  if (buf.toString('latin1', 0, 8) !== FOOTER_COOKIE) {
    throw formatError('BAD_SIGNATURE', `${what}: no "conectix" cookie`);
  }
  if (buf.readUInt32BE(64) !== vhdChecksum(buf, 64))
    throw formatError('BAD_CHECKSUM', `${what}: bad checksum`);
  const version = buf.readUInt32BE(12);
  if (version >>> 16 !== 1)
    throw formatError('UNSUPPORTED', `${what}: format version ${version.toString(16)}`);
  const diskType = buf.readUInt32BE(60);
  if (diskType !== 2 && diskType !== 3 && diskType !== 4) {
    throw formatError('UNSUPPORTED', `${what}: disk type ${diskType}`);
  }
  const currentSize = Number(buf.readBigUInt64BE(48));
  if (currentSize <= 0 || currentSize % SECTOR !== 0 || currentSize > VHD_MAX_SIZE) {
    throw formatError('BAD_FIELD', `${what}: current size ${currentSize}`);
  }
  return {
    features: buf.readUInt32BE(8),
    version,
    dataOffset: buf.readBigUInt64BE(16),
    timestamp: buf.readUInt32BE(24),
    creatorApp: buf.toString('latin1', 28, 32),
    creatorVersion: buf.readUInt32BE(32),
    creatorHostOs: buf.readUInt32BE(36),
    originalSize: Number(buf.readBigUInt64BE(40)),
    currentSize,
    geometry: { cylinders: buf.readUInt16BE(56), heads: buf[58]!, sectorsPerTrack: buf[59]! },
    diskType,
    uniqueId: Buffer.from(buf.subarray(68, 84)),
    savedState: buf[84]!,
  };
}

export function buildFooter(f: VhdFooter): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.write(FOOTER_COOKIE, 0, 'latin1');
  b.writeUInt32BE(f.features, 8);
  b.writeUInt32BE(f.version, 12);
  b.writeBigUInt64BE(f.dataOffset, 16);
  b.writeUInt32BE(f.timestamp, 24);
  b.write(f.creatorApp.padEnd(4, '\0').slice(0, 4), 28, 'latin1');
  b.writeUInt32BE(f.creatorVersion, 32);
  b.writeUInt32BE(f.creatorHostOs, 36);
  b.writeBigUInt64BE(BigInt(f.originalSize), 40);
  b.writeBigUInt64BE(BigInt(f.currentSize), 48);
  b.writeUInt16BE(f.geometry.cylinders, 56);
  b[58] = f.geometry.heads;
  b[59] = f.geometry.sectorsPerTrack;
  b.writeUInt32BE(f.diskType, 60);
  f.uniqueId.copy(b, 68);
  b[84] = f.savedState;
  b.writeUInt32BE(vhdChecksum(b, 64), 64);
  return b;
}

interface Locator {
  code: number;
  dataSpace: number;
  dataLength: number;
  dataOffset: number;
}

interface DynamicHeader {
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
  parentUniqueId: Buffer;
  parentTimestamp: number;
  parentName: string;
  locators: Locator[];
}

function parseDynamicHeader(buf: Buffer, what: string): DynamicHeader {
  if (buf.toString('latin1', 0, 8) !== HEADER_COOKIE) {
    throw formatError('BAD_SIGNATURE', `${what}: no "cxsparse" cookie`);
  }
  if (buf.readUInt32BE(36) !== vhdChecksum(buf, 36))
    throw formatError('BAD_CHECKSUM', `${what}: bad checksum`);
  const version = buf.readUInt32BE(24);
  if (version >>> 16 !== 1)
    throw formatError('UNSUPPORTED', `${what}: header version ${version.toString(16)}`);
  const blockSize = buf.readUInt32BE(32);
  if (blockSize < SECTOR || blockSize > 256 * 1024 * 1024 || (blockSize & (blockSize - 1)) !== 0) {
    throw formatError('BAD_FIELD', `${what}: block size ${blockSize}`);
  }
  const tableOffset = Number(buf.readBigUInt64BE(16));
  if (tableOffset % SECTOR !== 0) throw formatError('BAD_FIELD', `${what}: BAT offset ${tableOffset}`);
  const nameBytes = Buffer.from(buf.subarray(64, 576)).swap16();
  let name = nameBytes.toString('utf16le');
  const nul = name.indexOf('\0');
  if (nul >= 0) name = name.slice(0, nul);
  const locators: Locator[] = [];
  for (let i = 0; i < 8; i++) {
    const o = 576 + i * 24;
    const code = buf.readUInt32BE(o);
    if (code === 0) continue;
    locators.push({
      code,
      dataSpace: buf.readUInt32BE(o + 4),
      dataLength: buf.readUInt32BE(o + 8),
      dataOffset: Number(buf.readBigUInt64BE(o + 16)),
    });
  }
  return {
    tableOffset,
    maxTableEntries: buf.readUInt32BE(28),
    blockSize,
    parentUniqueId: Buffer.from(buf.subarray(40, 56)),
    parentTimestamp: buf.readUInt32BE(56),
    parentName: name,
    locators,
  };
}

interface HeaderBuild {
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
  parent?: ParentFields;
}

/** What a differencing disk's header records about its parent. */
interface ParentFields {
  uniqueId: Buffer;
  timestamp: number;
  name: string;
  locators: Locator[];
}

/** Writes the parent fields (unique id, timestamp, name, locator entries) into a raw header, then its checksum. */
function writeParentFields(b: Buffer, p: ParentFields | undefined): void {
  b.fill(0, 40, 768);
  if (p) {
    p.uniqueId.copy(b, 40);
    b.writeUInt32BE(p.timestamp, 56);
    const name = Buffer.from(p.name, 'utf16le').swap16();
    name.copy(b, 64, 0, Math.min(name.length, 510));
    p.locators.forEach((l, i) => {
      const o = 576 + i * 24;
      b.writeUInt32BE(l.code, o);
      b.writeUInt32BE(l.dataSpace, o + 4);
      b.writeUInt32BE(l.dataLength, o + 8);
      b.writeBigUInt64BE(BigInt(l.dataOffset), o + 16);
    });
  }
  b.writeUInt32BE(vhdChecksum(b, 36), 36);
}

function buildDynamicHeader(h: HeaderBuild): Buffer {
  const b = Buffer.alloc(1024);
  b.write(HEADER_COOKIE, 0, 'latin1');
  b.writeBigUInt64BE(0xffffffffffffffffn, 8);
  b.writeBigUInt64BE(BigInt(h.tableOffset), 16);
  b.writeUInt32BE(0x00010000, 24);
  b.writeUInt32BE(h.maxTableEntries, 28);
  b.writeUInt32BE(h.blockSize, 32);
  writeParentFields(b, h.parent);
  return b;
}

/** A parent as a child records it: its unique id, and where to look for it (locator data by platform code). */
export interface VhdParentReference {
  uniqueId: Buffer;
  timestamp: number;
  name: string;
  locators: [code: number, data: Buffer][];
}

/** Locator data longer than this is rejected on open (a hostile length must not become a huge read). */
const MAX_LOCATOR_DATA = 65536;

/**
 * The reference a child at `childPath` records for the parent at `parentPath`: W2ru (relative), W2ku
 * (absolute) and MacX (file URL) locators, the absolute path as the name, the parent's mtime.
 */
export async function vhdParentReference(
  childPath: string,
  parentPath: string,
  uniqueId: Buffer,
): Promise<VhdParentReference> {
  const { absolute, relative } = parentLocations(childPath, parentPath);
  const st = await stat(absolute);
  const locators: [number, Buffer][] = [
    [VhdPlatformCode.W2ru, Buffer.from(relative, 'utf16le')],
    [VhdPlatformCode.W2ku, Buffer.from(absolute, 'utf16le')],
    [VhdPlatformCode.MacX, Buffer.from(pathToFileURL(absolute).href, 'utf8')],
  ];
  if (locators.some(([, data]) => data.length > MAX_LOCATOR_DATA)) {
    throw new VhdOperationError('INVALID_ARGUMENT', `parent path too long: ${absolute}`);
  }
  return {
    uniqueId,
    timestamp: vhdTimestamp(st.mtimeMs),
    name: absolute.length <= 255 ? absolute : basename(absolute),
    locators,
  };
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

export interface VhdCreateOptions {
  type: DiskType;
  sizeBytes: number;
  blockSize?: number;
  parent?: { path: string; layer: VhdLayer };
  uniqueId?: Buffer;
}

/** Issues the structure walk found but that do not stop the disk from opening. */
export interface LayerIssue {
  code: string;
  message: string;
  repairable: boolean;
}

export class VhdLayer extends Layer {
  readonly format = 'vhd' as const;
  readonly sectorSize = SECTOR;
  readonly physicalSectorSize = SECTOR;
  readonly type: DiskType;
  readonly sizeBytes: number;
  readonly blockSize: number;
  readonly issues: LayerIssue[] = [];
  private bat: Uint32Array = new Uint32Array(0);
  private batOffset = 0;
  private bitmapSize = 0;
  private dataEnd = 0;
  private footerMissing = false;
  private writeSession = false;
  private readonly maps = new Map<number, Uint8Array>();

  private constructor(
    file: DiskFile,
    readonly footer: VhdFooter,
    readonly header: DynamicHeader | null,
  ) {
    super(file);
    this.type = footer.diskType === 2 ? 'fixed' : footer.diskType === 3 ? 'dynamic' : 'differencing';
    this.sizeBytes = footer.currentSize;
    this.blockSize = header ? header.blockSize : VHD_DEFAULT_BLOCK_SIZE;
  }

  /** Opens and validates; never writes. */
  static async open(file: DiskFile): Promise<VhdLayer> {
    if (file.size < SECTOR) throw formatError('TRUNCATED', `${file.path}: too small for a VHD footer`);
    const endPos = Math.floor((file.size - SECTOR) / SECTOR) * SECTOR;
    const endRaw = await file.read(file.size - SECTOR, SECTOR, 'footer');
    let footer: VhdFooter;
    let footerMissing = false;
    const issues: LayerIssue[] = [];
    try {
      footer = parseFooter(endRaw, `${file.path}: footer`);
    } catch (endErr) {
      // A dynamic disk keeps a copy at offset 0; a crash while extending the file can lose the end one.
      let copy: VhdFooter;
      try {
        copy = parseFooter(await file.read(0, SECTOR, 'footer copy'), `${file.path}: footer copy`);
      } catch {
        throw endErr;
      }
      if (copy.diskType === 2) throw endErr;
      footer = copy;
      footerMissing = true;
      issues.push({ code: 'FOOTER_BAD', message: (endErr as Error).message, repairable: true });
    }
    let header: DynamicHeader | null = null;
    if (footer.diskType !== 2) {
      const hpos = footer.dataOffset;
      if (hpos < 512n || hpos + 1024n > BigInt(file.size) || hpos % 512n !== 0n) {
        throw formatError('BAD_FIELD', `${file.path}: dynamic header offset ${hpos}`);
      }
      header = parseDynamicHeader(
        await file.read(Number(hpos), 1024, 'dynamic header'),
        `${file.path}: header`,
      );
      if (!footerMissing) {
        const copyRaw = await file.read(0, SECTOR, 'footer copy');
        if (!copyRaw.equals(endRaw)) {
          issues.push({
            code: 'FOOTER_COPY_MISMATCH',
            message: 'footer copy at offset 0 differs',
            repairable: true,
          });
        }
      }
    }
    const layer = new VhdLayer(file, footer, header);
    layer.footerMissing = footerMissing;
    layer.issues.push(...issues);
    if (!header) {
      if (file.size < footer.currentSize + SECTOR) {
        throw formatError('TRUNCATED', `${file.path}: fixed disk data shorter than its size`);
      }
      layer.dataEnd = footer.currentSize;
      return layer;
    }
    await layer.loadBat(footerMissing ? file.size : endPos);
    return layer;
  }

  private async loadBat(limit: number): Promise<void> {
    const h = this.header!;
    const file = this.file;
    const need = Math.ceil(this.sizeBytes / h.blockSize);
    if (h.maxTableEntries < need || h.maxTableEntries > 0x10000000) {
      throw formatError(
        'BAD_FIELD',
        `${file.path}: BAT has ${h.maxTableEntries} entries, disk needs ${need}`,
      );
    }
    this.batOffset = h.tableOffset;
    const raw = await file.read(h.tableOffset, need * 4, 'BAT'); // range-checked before allocating
    this.bat = new Uint32Array(need);
    for (let i = 0; i < need; i++) this.bat[i] = raw.readUInt32BE(i * 4);
    this.bitmapSize = roundUp(h.blockSize / SECTOR / 8, SECTOR);
    const batEnd = roundUp(h.tableOffset + h.maxTableEntries * 4, SECTOR);
    const extent = this.bitmapSize + h.blockSize;
    const used: [number, number, string][] = [
      [0, 512, 'footer copy'],
      [Number(this.footer.dataOffset), Number(this.footer.dataOffset) + 1024, 'header'],
      [h.tableOffset, batEnd, 'BAT'],
    ];
    for (const l of h.locators) {
      if (l.dataLength === 0) continue;
      if (l.dataOffset + l.dataLength > limit || l.dataLength > 65536) {
        throw formatError('BAD_FIELD', `${file.path}: parent locator beyond EOF`);
      }
      used.push([l.dataOffset, l.dataOffset + l.dataLength, 'parent locator']);
    }
    for (let b = 0; b < need; b++) {
      const e = this.bat[b]!;
      if (e === UNUSED) continue;
      const off = e * SECTOR;
      if (off + extent > limit) {
        throw formatError('BAT_ENTRY_BEYOND_EOF', `${file.path}: block ${b} at ${off} lies beyond EOF`);
      }
      used.push([off, off + extent, `block ${b}`]);
    }
    used.sort((a, b) => a[0] - b[0]);
    let end = 0;
    for (let i = 0; i < used.length; i++) {
      const [s, e, what] = used[i]!;
      if (i > 0 && s < used[i - 1]![1]) {
        throw formatError('BAT_OVERLAP', `${file.path}: ${what} overlaps ${used[i - 1]![2]}`);
      }
      end = Math.max(end, e);
    }
    this.dataEnd = roundUp(Math.max(end, limit), SECTOR);
  }

  static async create(path: string, o: VhdCreateOptions): Promise<VhdLayer> {
    if (o.sizeBytes <= 0 || o.sizeBytes % SECTOR !== 0 || o.sizeBytes > VHD_MAX_SIZE) {
      throw new VhdOperationError(
        'INVALID_ARGUMENT',
        `VHD size must be a positive multiple of 512 up to 2040 GiB`,
      );
    }
    const blockSize = o.blockSize ?? VHD_DEFAULT_BLOCK_SIZE;
    if (blockSize < SECTOR || blockSize > 256 * 1024 * 1024 || (blockSize & (blockSize - 1)) !== 0) {
      throw new VhdOperationError('INVALID_ARGUMENT', `VHD block size must be a power of two`);
    }
    const diskType = o.type === 'fixed' ? 2 : o.type === 'dynamic' ? 3 : 4;
    const footer: VhdFooter = {
      features: 2,
      version: 0x00010000,
      dataOffset: o.type === 'fixed' ? 0xffffffffffffffffn : 512n,
      timestamp: vhdTimestamp(Date.now()),
      creatorApp: CREATOR_APP,
      creatorVersion: CREATOR_VERSION,
      creatorHostOs: CREATOR_HOST_OS,
      originalSize: o.sizeBytes,
      currentSize: o.sizeBytes,
      geometry: chsGeometry(o.sizeBytes / SECTOR),
      diskType,
      uniqueId: o.uniqueId ?? randomGuid(),
      savedState: 0,
    };
    const file = await DiskFile.create(path);
    try {
      const fb = buildFooter(footer);
      if (o.type === 'fixed') {
        await file.truncate(o.sizeBytes);
        await file.write(o.sizeBytes, fb);
      } else {
        const entries = Math.ceil(o.sizeBytes / blockSize);
        const tableOffset = 1536;
        const batBytes = roundUp(entries * 4, SECTOR);
        let pos = tableOffset + batBytes;
        const locators: Locator[] = [];
        const locData: [number, Buffer][] = [];
        let parent: ParentFields | undefined;
        if (o.type === 'differencing') {
          if (!o.parent) throw new VhdOperationError('INVALID_ARGUMENT', 'differencing disk needs a parent');
          const ref = await vhdParentReference(path, o.parent.path, o.parent.layer.footer.uniqueId);
          for (const [code, data] of ref.locators) {
            const space = roundUp(data.length, SECTOR);
            // Platform data space is written in bytes (a multiple of 512), as Windows does.
            locators.push({ code, dataSpace: space, dataLength: data.length, dataOffset: pos });
            locData.push([pos, data]);
            pos += space;
          }
          parent = { uniqueId: ref.uniqueId, timestamp: ref.timestamp, name: ref.name, locators };
        }
        const header = buildDynamicHeader({
          tableOffset,
          maxTableEntries: entries,
          blockSize,
          ...(parent ? { parent } : {}),
        });
        await file.write(0, fb);
        await file.write(512, header);
        await file.write(tableOffset, Buffer.alloc(batBytes, 0xff));
        for (const [at, data] of locData) await file.write(at, data);
        await file.write(pos, fb);
      }
      await file.sync();
      return await VhdLayer.open(file);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  blockState(b: number): BlockState {
    if (!this.header) return 'present';
    const e = this.bat[b];
    if (e === undefined || e === UNUSED) return 'absent';
    return this.type === 'differencing' ? 'partial' : 'present';
  }

  blockOffset(b: number): number {
    if (!this.header) return b * this.blockSize;
    return this.bat[b]! * SECTOR + this.bitmapSize;
  }

  async sectorMap(b: number): Promise<Uint8Array> {
    let m = this.maps.get(b);
    if (m) return m;
    const raw = await this.file.read(this.bat[b]! * SECTOR, this.bitmapSize, 'sector bitmap');
    const n = this.blockSize / SECTOR;
    m = new Uint8Array(n);
    for (let s = 0; s < n; s++) m[s] = (raw[s >>> 3]! >>> (7 - (s & 7))) & 1;
    this.maps.set(b, m);
    return m;
  }

  async allocate(b: number, full: boolean): Promise<void> {
    const off = this.dataEnd;
    const end = off + this.bitmapSize + this.blockSize;
    // Footer first: the file always ends in a valid footer, even if the next steps are cut short.
    await this.file.write(end, buildFooter(this.footer));
    const all = full || this.type !== 'differencing';
    await this.file.write(off, Buffer.alloc(this.bitmapSize, all ? 0xff : 0));
    const entry = Buffer.alloc(4);
    entry.writeUInt32BE(off / SECTOR);
    await this.file.write(this.batOffset + b * 4, entry);
    this.bat[b] = off / SECTOR;
    this.dataEnd = end;
    this.footerMissing = false;
    if (this.type === 'differencing')
      this.maps.set(b, new Uint8Array(this.blockSize / SECTOR).fill(all ? 1 : 0));
  }

  async markPresent(b: number, first: number, count: number): Promise<void> {
    const m = await this.sectorMap(b);
    let changed = false;
    for (let s = first; s < first + count; s++) {
      if (m[s] !== 1) {
        m[s] = 1;
        changed = true;
      }
    }
    if (!changed) return;
    const raw = Buffer.alloc(this.bitmapSize);
    for (let s = 0; s < m.length; s++) if (m[s]) raw[s >>> 3]! |= 0x80 >>> (s & 7);
    await this.file.write(this.bat[b]! * SECTOR, raw);
  }

  override async beginWrite(): Promise<void> {
    this.writeSession = true;
  }

  async flush(): Promise<void> {
    if (!this.file.writable) return;
    // A lost end footer is only rewritten once the file is being written anyway (or on repair):
    // merely opening a damaged file never changes it.
    if (this.footerMissing && this.writeSession) {
      await this.file.write(this.dataEnd, buildFooter(this.footer));
      this.footerMissing = false;
    }
    await this.file.sync();
  }

  async closeLayer(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.file.close();
    }
  }

  identity(): string {
    return guidToString(this.footer.uniqueId);
  }

  diskId(): string {
    return guidToString(this.footer.uniqueId);
  }

  /** Where the parent may be, most specific first (W2ru, W2ku, MacX, then the header's name). */
  async parentCandidates(): Promise<string[]> {
    const h = this.header!;
    const dir = dirname(this.file.path);
    const out: string[] = [];
    const order = [VhdPlatformCode.W2ru, VhdPlatformCode.W2ku, VhdPlatformCode.MacX];
    for (const code of order) {
      for (const l of h.locators.filter((x) => x.code === code)) {
        if (l.dataLength === 0) continue;
        const raw = await this.file.read(l.dataOffset, l.dataLength, 'parent locator');
        try {
          if (code === VhdPlatformCode.MacX) {
            out.push(fileURLToPath(raw.toString('utf8').replace(/\0+$/, '')));
          } else {
            const p = raw.toString('utf16le').replace(/\0+$/, '').split('\\').join('/');
            out.push(isAbsolute(p) ? p : resolve(dir, p));
          }
        } catch {
          // An unreadable locator is skipped; the others may still find the parent.
        }
      }
    }
    if (h.parentName) out.push(isAbsolute(h.parentName) ? h.parentName : resolve(dir, h.parentName));
    return out;
  }

  /** Restores what `open` found repairable: a lost end footer from the copy, a stale copy from the footer. */
  async repair(): Promise<string[]> {
    const done: string[] = [];
    for (const issue of this.issues) {
      if (issue.code === 'FOOTER_BAD') {
        this.footerMissing = true;
        this.writeSession = true;
        done.push(issue.code);
      } else if (issue.code === 'FOOTER_COPY_MISMATCH') {
        await this.file.write(0, buildFooter(this.footer));
        done.push(issue.code);
      }
    }
    await this.flush();
    return done;
  }

  parentMatches(p: Layer): boolean {
    return p.identity() === this.parentIdentity();
  }

  parentIdentity(): string {
    return guidToString(this.header!.parentUniqueId);
  }

  /**
   * Records `ref` as this differencing disk's parent. Locator data goes where the old locators were
   * when it fits, else it is appended (footer moved first, so the file always ends in a footer). The
   * header, rewritten in one write after the data is synced, is the commit point: before it the old
   * header stands, its locators then being at worst stale hints that open checks against the recorded
   * unique id. Fields of the header outside the parent reference are kept as they are.
   */
  async setParentReference(ref: VhdParentReference): Promise<void> {
    const h = this.header;
    if (!h || this.type !== 'differencing') {
      throw new VhdOperationError('NOT_DIFFERENCING', `${this.file.path} is not a differencing disk`);
    }
    const holes = this.locatorSpace();
    let end = this.dataEnd;
    const locators: Locator[] = ref.locators.map(([code, data]) => {
      const space = roundUp(data.length, SECTOR);
      const hole = holes.find(([s, e]) => e - s >= space);
      let at: number;
      if (hole) {
        at = hole[0];
        hole[0] += space;
      } else {
        at = end;
        end += space;
      }
      return { code, dataSpace: space, dataLength: data.length, dataOffset: at };
    });
    if (end > this.dataEnd) {
      await this.file.write(end, buildFooter(this.footer));
      this.dataEnd = end;
      this.footerMissing = false;
    }
    for (const [i, l] of locators.entries()) {
      const slot = Buffer.alloc(l.dataSpace);
      ref.locators[i]![1].copy(slot);
      await this.file.write(l.dataOffset, slot);
    }
    await this.file.sync();
    const headerAt = Number(this.footer.dataOffset);
    const raw = await this.file.read(headerAt, 1024, 'dynamic header');
    const parent: ParentFields = {
      uniqueId: ref.uniqueId,
      timestamp: ref.timestamp,
      name: ref.name,
      locators,
    };
    writeParentFields(raw, parent);
    await this.file.write(headerAt, raw);
    await this.file.sync();
    h.parentUniqueId = Buffer.from(ref.uniqueId);
    h.parentTimestamp = ref.timestamp;
    h.parentName = ref.name;
    h.locators = locators;
    // The file is being written: a lost end footer is restored on close, as after any write.
    this.writeSession = true;
  }

  /**
   * Sector-aligned ranges free for new locator data once the header stops naming the old locators:
   * each old locator's start up to the next other structure (header, BAT, block) or the footer.
   */
  private locatorSpace(): [number, number][] {
    const h = this.header!;
    const others: [number, number][] = [
      [0, SECTOR],
      [Number(this.footer.dataOffset), Number(this.footer.dataOffset) + 1024],
      [h.tableOffset, roundUp(h.tableOffset + h.maxTableEntries * 4, SECTOR)],
    ];
    for (const e of this.bat) {
      if (e !== UNUSED) others.push([e * SECTOR, e * SECTOR + this.bitmapSize + this.blockSize]);
    }
    const holes: [number, number][] = [];
    for (const l of h.locators) {
      const start = l.dataOffset;
      if (l.dataLength === 0 || start % SECTOR !== 0 || start >= this.dataEnd) continue;
      if (others.some(([s, e]) => start >= s && start < e)) continue;
      let end = this.dataEnd;
      for (const [s] of others) if (s >= start && s < end) end = s;
      holes.push([start, end]);
    }
    holes.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const hole of holes) {
      const last = merged[merged.length - 1];
      if (last && hole[0] <= last[1]) last[1] = Math.max(last[1], hole[1]);
      else merged.push(hole);
    }
    return merged;
  }
}
