import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type CreateOptions,
  createLayer,
  type DiskFormat,
  type DiskType,
  openChain,
  openLayer,
} from './disk.js';
import { VhdError, VhdOperationError } from './errors.js';
import { isAllZero } from './file.js';
import { guidFromString } from './guid.js';
import type { Layer } from './layer.js';
import { interruptedMerge } from './merge-journal.js';
import { VhdLayer, vhdTimestamp } from './vhd.js';
import { VhdxLayer } from './vhdx.js';

/** Calls `fn` for each run of equal values in `present` (null = one run, all present). */
export function runs(
  present: Uint8Array | null,
  count: number,
  fn: (start: number, end: number, on: boolean) => void,
): void {
  if (!present) {
    fn(0, count, true);
    return;
  }
  let s = 0;
  while (s < count) {
    const on = present[s] === 1;
    let e = s + 1;
    while (e < count && (present[e] === 1) === on) e++;
    fn(s, e, on);
    s = e;
  }
}

function createOptionsOf(src: Layer, over: Partial<CreateOptions>): CreateOptions {
  return {
    format: src.format,
    type: src.type,
    sizeBytes: src.sizeBytes,
    ...(src.format === 'vhd' && src.type === 'fixed' ? {} : { blockSize: src.blockSize }),
    ...(src.format === 'vhdx'
      ? {
          logicalSectorSize: src.sectorSize as 512 | 4096,
          physicalSectorSize: src.physicalSectorSize as 512 | 4096,
        }
      : {}),
    ...(src.parent ? { parentPath: src.parent.file.path } : {}),
    ...over,
  };
}

/**
 * Copies this layer's own blocks into a new file of the same kind and renames it over the original,
 * keeping the identity children use to find it. `dropZero` leaves out blocks that read as zero anyway.
 */
async function rewrite(
  path: string,
  sizeBytes: number,
  dropZero: boolean,
): Promise<{ before: number; after: number }> {
  path = resolve(path);
  const src = await openChain(path, false);
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  let dst: Layer | null = null;
  try {
    dst = await createLayer(tmp, createOptionsOf(src, { sizeBytes }), {
      identity: guidFromString(src.identity()),
      ...(src.format === 'vhdx' ? { diskId: guidFromString(src.diskId()) } : {}),
    });
    await dst.beginWrite();
    const ss = src.sectorSize;
    const limit = Math.min(src.sizeBytes, sizeBytes);
    for (let b = 0; b * src.blockSize < limit; b++) {
      const lb = await src.readLayerBlock(b);
      if (!lb) continue;
      const base = b * src.blockSize;
      const len = Math.min(lb.data.length, limit - base);
      const data = lb.data.subarray(0, len);
      if (dropZero && isAllZero(data)) {
        if (src.type !== 'differencing') continue;
        // In a differencing disk a zero block still hides the parent unless the parent reads zero too.
        const under = Buffer.alloc(len);
        if (src.parent) await src.parent.readAt(base, under);
        if (isAllZero(under)) continue;
      }
      const writes: [number, number][] = [];
      runs(lb.present, len / ss, (s, e, on) => {
        if (on) writes.push([s * ss, e * ss]);
      });
      for (const [s, e] of writes) await dst.writeAt(base + s, data.subarray(s, e));
    }
    const before = src.allocatedBlocks();
    const after = dst.allocatedBlocks();
    await dst.closeChain();
    dst = null;
    await src.closeChain();
    await rename(tmp, path);
    return { before, after };
  } catch (e) {
    await dst?.closeChain().catch(() => undefined);
    await src.closeChain().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Changes the virtual size. Growing always works; shrinking only when the part cut off holds no data
 * (unallocated or all zero), else VhdOperationError SHRINK_WOULD_LOSE_DATA.
 */
export async function resize(path: string, newSize: number): Promise<void> {
  const top = await openLayer(resolve(path), false);
  const ss = top.sectorSize;
  const old = top.sizeBytes;
  try {
    if (!Number.isSafeInteger(newSize) || newSize <= 0 || newSize % ss !== 0) {
      throw new VhdOperationError('INVALID_ARGUMENT', `new size must be a positive multiple of ${ss}`);
    }
    if (newSize < old) {
      for (let b = Math.floor(newSize / top.blockSize); b < top.blockCount; b++) {
        const lb = await top.readLayerBlock(b);
        if (!lb) continue;
        const base = b * top.blockSize;
        const from = Math.max(0, newSize - base);
        let lost = false;
        runs(lb.present, lb.data.length / ss, (s, e, on) => {
          const a = Math.max(s * ss, from);
          if (on && a < e * ss && !isAllZero(lb.data.subarray(a, e * ss))) lost = true;
        });
        if (lost) {
          throw new VhdOperationError(
            'SHRINK_WOULD_LOSE_DATA',
            `data beyond ${newSize} in block ${b} would be lost`,
          );
        }
      }
    }
  } finally {
    await top.closeLayer();
  }
  if (newSize !== old) await rewrite(path, newSize, false);
}

export interface CompactResult {
  blocksBefore: number;
  blocksAfter: number;
}

/** Drops blocks that hold only zeros (for a differencing disk: only where the parent reads zero too). */
export async function compact(path: string): Promise<CompactResult> {
  const top = await openLayer(resolve(path), false);
  const size = top.sizeBytes;
  await top.closeLayer();
  const r = await rewrite(path, size, true);
  return { blocksBefore: r.before, blocksAfter: r.after };
}

export interface ConvertOptions {
  format: DiskFormat;
  type: 'fixed' | 'dynamic';
  blockSize?: number;
}

/** Writes the whole chain's content of `src` into a new fixed or dynamic disk at `dst`. */
export async function convert(src: string, dst: string, o: ConvertOptions): Promise<void> {
  const from = await openChain(resolve(src), false);
  let to: Layer | null = null;
  try {
    to = await createLayer(dst, {
      format: o.format,
      type: o.type,
      sizeBytes: from.sizeBytes,
      ...(o.blockSize !== undefined ? { blockSize: o.blockSize } : {}),
      ...(o.format === 'vhdx' && from.format === 'vhdx'
        ? {
            logicalSectorSize: from.sectorSize as 512 | 4096,
            physicalSectorSize: from.physicalSectorSize as 512 | 4096,
          }
        : {}),
    });
    if (from.sizeBytes % to.sectorSize !== 0) {
      throw new VhdOperationError('INVALID_ARGUMENT', 'the size is not a multiple of the target sector size');
    }
    await to.beginWrite();
    const chunk = 1024 * 1024;
    const buf = Buffer.alloc(chunk);
    for (let pos = 0; pos < from.sizeBytes; pos += chunk) {
      const part = buf.subarray(0, Math.min(chunk, from.sizeBytes - pos));
      await from.readAt(pos, part);
      if (!isAllZero(part)) await to.writeAt(pos, part);
    }
    await to.closeChain();
    to = null;
  } catch (e) {
    if (to) {
      await to.closeChain().catch(() => undefined);
      await rm(resolve(dst), { force: true });
    }
    throw e;
  } finally {
    await from.closeChain();
  }
}

export interface CheckIssue {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  repaired: boolean;
}

export interface CheckReport {
  path: string;
  format: DiskFormat | null;
  type: DiskType | null;
  /** True when no error remains (warnings allowed). */
  ok: boolean;
  issues: CheckIssue[];
}

export interface CheckOptions {
  /** Fix what is safe to fix: a copy restored from the valid one, a pending log replayed. */
  repair?: boolean;
}

/** Reports inconsistencies (checksums, copies, BAT range and overlap, log, parents); optionally repairs. */
export async function check(path: string, o: CheckOptions = {}): Promise<CheckReport> {
  path = resolve(path);
  const report: CheckReport = { path, format: null, type: null, ok: true, issues: [] };
  const fail = (e: unknown) => {
    if (!(e instanceof VhdError)) throw e;
    report.issues.push({ code: e.code, severity: 'error', message: e.message, repaired: false });
    report.ok = false;
  };
  let layer: Layer;
  try {
    layer = await openLayer(path, false);
  } catch (e) {
    fail(e);
    return report;
  }
  report.format = layer.format;
  report.type = layer.type;
  const l = layer as VhdLayer | VhdxLayer;
  for (const i of l.issues)
    report.issues.push({ code: i.code, severity: 'warning', message: i.message, repaired: false });
  if (l instanceof VhdxLayer && l.logReplayed) {
    report.issues.push({
      code: 'LOG_PENDING',
      severity: 'warning',
      message: 'the log holds an unreplayed sequence',
      repaired: false,
    });
  }
  await layer.closeLayer();
  try {
    const chain = await openChain(path, false);
    try {
      const merging = await interruptedMerge(chain);
      if (merging !== null) {
        report.issues.push({
          code: 'MERGE_INTERRUPTED',
          severity: 'warning',
          message: merging,
          repaired: false,
        });
      } else if (chain instanceof VhdLayer && chain.type === 'differencing' && chain.parent && chain.header) {
        const st = await stat(chain.parent.file.path);
        if (vhdTimestamp(st.mtimeMs) > chain.header.parentTimestamp + 2) {
          report.issues.push({
            code: 'PARENT_MODIFIED',
            severity: 'warning',
            message: 'the parent was modified after this differencing disk was created',
            repaired: false,
          });
        }
      }
    } finally {
      await chain.closeChain();
    }
  } catch (e) {
    fail(e);
  }
  // A modified parent or an unfinished merge is reported, not repaired (merging again finishes a merge).
  const unrepairable = new Set(['PARENT_MODIFIED', 'MERGE_INTERRUPTED']);
  if (o.repair && report.issues.some((i) => i.severity === 'warning' && !unrepairable.has(i.code))) {
    const w = (await openLayer(path, true)) as VhdLayer | VhdxLayer;
    try {
      const fixed = new Set(await w.repair());
      if (w instanceof VhdxLayer && w.logReplayed) fixed.add('LOG_PENDING');
      for (const i of report.issues) if (fixed.has(i.code)) i.repaired = true;
    } finally {
      await w.closeLayer();
    }
  }
  return report;
}
