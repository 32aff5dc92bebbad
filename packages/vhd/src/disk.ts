import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatError, VhdError, VhdOperationError } from './errors.js';
import { DiskFile } from './file.js';
import type { DiskFormat, DiskType, Layer } from './layer.js';
import { VhdLayer } from './vhd.js';
import { VhdxLayer } from './vhdx.js';

export type { DiskFormat, DiskType } from './layer.js';

export interface OpenOptions {
  /** Open without write access (default false). A read-only open never changes the file. */
  readOnly?: boolean;
}

export interface CreateOptions {
  format: DiskFormat;
  type: DiskType;
  /** Virtual size in bytes; a differencing disk defaults to its parent's size. */
  sizeBytes?: number;
  /** Block size in bytes (VHD default 2 MiB; VHDX default 32 MiB, 1 MiB..256 MiB, a power of two). */
  blockSize?: number;
  /** Parent of a differencing disk (same format). */
  parentPath?: string;
  /** VHDX only: logical sector size, 512 (default) or 4096. */
  logicalSectorSize?: 512 | 4096;
  /** VHDX only: physical sector size reported to guests, 512 or 4096 (default). */
  physicalSectorSize?: 512 | 4096;
}

export interface ParentInfo {
  path: string;
  format: DiskFormat;
  type: DiskType;
}

export interface DiskInfo {
  path: string;
  format: DiskFormat;
  type: DiskType;
  virtualSize: number;
  /** Size of the file on the host. */
  physicalSize: number;
  /** Block size of the allocation table; null for a fixed VHD (no table). */
  blockSize: number | null;
  logicalSectorSize: number;
  physicalSectorSize: number;
  totalBlocks: number;
  allocatedBlocks: number;
  /** VHD unique id, or VHDX DataWriteGuid: what a child disk records to find this one. */
  identifier: string;
  /** Stable id of the virtual disk for guests (VHDX Page 83 data, VHD unique id); kept by compact/resize. */
  diskId: string;
  /** Parents, nearest first. */
  parentChain: ParentInfo[];
}

/** One open virtual disk of any format; reads see through the whole parent chain. */
export interface VirtualDisk {
  readonly path: string;
  readonly format: DiskFormat;
  readonly type: DiskType;
  readonly sizeBytes: number;
  readonly sectorSize: number;
  readonly readOnly: boolean;
  /** Reads `length` bytes at `offset` into a new buffer. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Fills `buffer` from `offset` and returns it. */
  read<T extends Uint8Array>(offset: number, buffer: T): Promise<T>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Discards a range (SCSI UNMAP, block-device discard): afterwards it reads as zeros. Whole VHDX blocks
   * become ZERO blocks without data (their space is returned by `compact`); other parts are written with zeros.
   */
  discard(offset: number, length: number): Promise<void>;
  /** Makes every completed write durable (and, for VHDX, commits allocation-table changes through the log). */
  flush(): Promise<void>;
  close(): Promise<void>;
  info(): Promise<DiskInfo>;
}

const MAX_CHAIN = 32;

class Disk implements VirtualDisk {
  private queue: Promise<unknown> = Promise.resolve();
  private writing = false;

  constructor(
    readonly top: Layer,
    readonly readOnly: boolean,
  ) {}

  get path(): string {
    return this.top.file.path;
  }
  get format(): DiskFormat {
    return this.top.format;
  }
  get type(): DiskType {
    return this.top.type;
  }
  get sizeBytes(): number {
    return this.top.sizeBytes;
  }
  get sectorSize(): number {
    return this.top.sectorSize;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkRange(offset: number, length: number): void {
    if (this.top.closed) throw new VhdOperationError('CLOSED', `${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new VhdOperationError('INVALID_ARGUMENT', `bad range ${offset}+${length}`);
    }
    if (offset + length > this.sizeBytes) {
      throw new VhdOperationError(
        'OUT_OF_RANGE',
        `${offset}+${length} is beyond the disk size ${this.sizeBytes}`,
      );
    }
  }

  read(offset: number, length: number): Promise<Buffer>;
  read<T extends Uint8Array>(offset: number, buffer: T): Promise<T>;
  async read(offset: number, arg: number | Uint8Array): Promise<Uint8Array> {
    const out = typeof arg === 'number' ? Buffer.alloc(arg) : arg;
    this.checkRange(offset, out.length);
    const ss = this.sectorSize;
    const target = Buffer.from(out.buffer, out.byteOffset, out.length);
    if (offset % ss === 0 && out.length % ss === 0) {
      await this.top.readAt(offset, target);
      return out;
    }
    const start = Math.floor(offset / ss) * ss;
    const end = Math.ceil((offset + out.length) / ss) * ss;
    const tmp = Buffer.alloc(end - start);
    await this.top.readAt(start, tmp);
    tmp.copy(target, 0, offset - start, offset - start + out.length);
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new VhdOperationError('READ_ONLY', `${this.path} is open read-only`);
    this.checkRange(offset, data.length);
    await this.exclusive(async () => {
      if (!this.writing) {
        await this.top.beginWrite();
        this.writing = true;
      }
      const ss = this.sectorSize;
      if (offset % ss === 0 && data.length % ss === 0) {
        await this.top.writeAt(offset, data);
        return;
      }
      // Read-modify-write of the partial first and last sectors only.
      const start = Math.floor(offset / ss) * ss;
      const end = Math.ceil((offset + data.length) / ss) * ss;
      const buf = Buffer.alloc(end - start);
      await this.top.readAt(start, buf.subarray(0, ss));
      if (end - ss > start) await this.top.readAt(end - ss, buf.subarray(buf.length - ss));
      buf.set(data, offset - start);
      await this.top.writeAt(start, buf);
    });
  }

  async discard(offset: number, length: number): Promise<void> {
    if (this.readOnly) throw new VhdOperationError('READ_ONLY', `${this.path} is open read-only`);
    this.checkRange(offset, length);
    const ss = this.sectorSize;
    const start = Math.ceil(offset / ss) * ss;
    const end = Math.max(start, Math.floor((offset + length) / ss) * ss);
    // Unaligned edges are zero-filled through the ordinary write path.
    if (start > offset) await this.write(offset, Buffer.alloc(Math.min(start, offset + length) - offset));
    if (end < offset + length && end >= start && offset + length > start) {
      await this.write(end, Buffer.alloc(offset + length - end));
    }
    if (end <= start) return;
    await this.exclusive(async () => {
      if (!this.writing) {
        await this.top.beginWrite();
        this.writing = true;
      }
      await this.top.discardAt(start, end - start);
    });
  }

  async flush(): Promise<void> {
    if (this.top.closed) throw new VhdOperationError('CLOSED', `${this.path} is closed`);
    await this.exclusive(() => this.top.flush());
  }

  close(): Promise<void> {
    if (this.top.closed) return Promise.resolve();
    return this.exclusive(() => this.top.closeChain());
  }

  async info(): Promise<DiskInfo> {
    const t = this.top;
    const parentChain: ParentInfo[] = [];
    for (let p = t.parent; p; p = p.parent)
      parentChain.push({ path: p.file.path, format: p.format, type: p.type });
    return {
      path: t.file.path,
      format: t.format,
      type: t.type,
      virtualSize: t.sizeBytes,
      physicalSize: t.file.size,
      blockSize: t.format === 'vhd' && t.type === 'fixed' ? null : t.blockSize,
      logicalSectorSize: t.sectorSize,
      physicalSectorSize: t.physicalSectorSize,
      totalBlocks: t.blockCount,
      allocatedBlocks: t.allocatedBlocks(),
      identifier: t.identity(),
      diskId: t.diskId(),
      parentChain,
    };
  }
}

/** Opens one file (no parents) after detecting its format. Never writes unless the structure is valid. */
export async function openLayer(path: string, writable: boolean): Promise<Layer> {
  const file = await DiskFile.open(path, writable);
  try {
    const magic = file.size >= 8 ? (await file.read(0, 8)).toString('latin1') : '';
    if (magic === 'vhdxfile') return await VhdxLayer.open(file);
    if (file.size >= 512) {
      const end = (await file.read(file.size - 512, 8)).toString('latin1');
      if (end === 'conectix' || magic === 'conectix') return await VhdLayer.open(file);
    }
    throw formatError('UNKNOWN_FORMAT', `${path}: neither a VHD nor a VHDX file`);
  } catch (e) {
    await file.close();
    throw e;
  }
}

/** Identifies a file whatever path (symbolic or hard link) names it. */
export async function fileKey(path: string): Promise<string> {
  const st = await stat(path);
  return `${st.dev}:${st.ino}`;
}

/** `excluded`: files ({@link fileKey}) that must not be in the chain (a disk about to become the top's child). */
async function attachParents(top: Layer, excluded: ReadonlySet<string>): Promise<void> {
  const seen = new Set<string>([await realpath(top.file.path)]);
  let child: Layer = top;
  for (let depth = 0; child.type === 'differencing'; depth++) {
    if (depth >= MAX_CHAIN)
      throw formatError('PARENT_CHAIN_TOO_DEEP', `${top.file.path}: parent chain too deep`);
    const c = child as VhdLayer | VhdxLayer;
    const candidates = await c.parentCandidates();
    let parent: Layer | null = null;
    let lastErr: unknown = null;
    let loopsTo: string | null = null;
    for (const cand of candidates) {
      let real: string;
      try {
        real = await realpath(cand);
      } catch {
        continue;
      }
      if (seen.has(real))
        throw formatError('PARENT_MISMATCH', `${child.file.path}: parent chain loops at ${cand}`);
      try {
        const p = await openLayer(cand, false);
        if (p.format !== child.format || !c.parentMatches(p)) {
          await p.closeLayer();
          lastErr = formatError('PARENT_MISMATCH', `${child.file.path}: ${cand} is not the recorded parent`);
          continue;
        }
        if (p.sectorSize !== child.sectorSize) {
          await p.closeLayer();
          lastErr = formatError('PARENT_MISMATCH', `${child.file.path}: parent sector size differs`);
          continue;
        }
        if (excluded.size > 0 && excluded.has(await fileKey(real))) {
          await p.closeLayer();
          loopsTo = cand;
          continue;
        }
        seen.add(real);
        parent = p;
        break;
      } catch (e) {
        lastErr = e;
      }
    }
    if (!parent) {
      if (loopsTo !== null) {
        throw new VhdOperationError('INVALID_ARGUMENT', `${top.file.path} is a descendant of ${loopsTo}`);
      }
      if (lastErr instanceof VhdError) throw lastErr;
      throw formatError(
        'PARENT_NOT_FOUND',
        `${child.file.path}: parent not found (tried ${candidates.join(', ')})`,
      );
    }
    child.parent = parent;
    child = parent;
  }
}

export async function openChain(
  path: string,
  writable: boolean,
  excluded: ReadonlySet<string> = new Set(),
): Promise<Layer> {
  const top = await openLayer(path, writable);
  try {
    await attachParents(top, excluded);
  } catch (e) {
    await top.closeChain();
    throw e;
  }
  return top;
}

export async function openDisk(path: string, options: OpenOptions = {}): Promise<VirtualDisk> {
  const readOnly = options.readOnly ?? false;
  return new Disk(await openChain(resolve(path), !readOnly), readOnly);
}

/** Internal creation knobs used by compact/resize to keep a disk's identity. */
export interface CreateInternals {
  identity?: Buffer;
  diskId?: Buffer;
}

export async function createLayer(
  path: string,
  o: CreateOptions,
  internals: CreateInternals = {},
): Promise<Layer> {
  path = resolve(path);
  let parent: Layer | null = null;
  if (o.type === 'differencing') {
    if (!o.parentPath)
      throw new VhdOperationError('INVALID_ARGUMENT', 'a differencing disk needs parentPath');
    parent = await openChain(resolve(o.parentPath), false);
    if (parent.format !== o.format) {
      await parent.closeChain();
      throw new VhdOperationError('INVALID_ARGUMENT', `a ${o.format} child needs a ${o.format} parent`);
    }
  } else if (o.parentPath !== undefined) {
    throw new VhdOperationError('INVALID_ARGUMENT', 'parentPath is only for differencing disks');
  }
  try {
    const sizeBytes = o.sizeBytes ?? parent?.sizeBytes;
    if (sizeBytes === undefined) throw new VhdOperationError('INVALID_ARGUMENT', 'sizeBytes is required');
    let top: Layer;
    if (o.format === 'vhd') {
      top = await VhdLayer.create(path, {
        type: o.type,
        sizeBytes,
        ...(o.blockSize !== undefined ? { blockSize: o.blockSize } : {}),
        ...(parent ? { parent: { path: parent.file.path, layer: parent as VhdLayer } } : {}),
        ...(internals.identity ? { uniqueId: internals.identity } : {}),
      });
    } else if (o.format === 'vhdx') {
      top = await VhdxLayer.create(path, {
        type: o.type,
        sizeBytes,
        ...(o.blockSize !== undefined ? { blockSize: o.blockSize } : {}),
        ...(o.logicalSectorSize !== undefined ? { logicalSectorSize: o.logicalSectorSize } : {}),
        ...(o.physicalSectorSize !== undefined ? { physicalSectorSize: o.physicalSectorSize } : {}),
        ...(parent ? { parent: { path: parent.file.path, layer: parent as VhdxLayer } } : {}),
        ...(internals.identity ? { dataWriteGuid: internals.identity } : {}),
        ...(internals.diskId ? { page83: internals.diskId } : {}),
      });
    } else {
      throw new VhdOperationError('INVALID_ARGUMENT', `unknown format ${String(o.format)}`);
    }
    top.parent = parent;
    return top;
  } catch (e) {
    await parent?.closeChain();
    throw e;
  }
}

export async function createDisk(path: string, options: CreateOptions): Promise<VirtualDisk> {
  return new Disk(await createLayer(path, options), false);
}

/** Wraps an already open chain (used by the maintenance operations). */
export function wrapLayer(top: Layer, readOnly: boolean): VirtualDisk {
  return new Disk(top, readOnly);
}
