import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { openChain, openLayer } from './disk.js';
import { formatError, VhdOperationError } from './errors.js';
import { guidFromString, guidToString, randomGuid } from './guid.js';
import type { DiskFormat, Layer } from './layer.js';
import { mergeJournalPath, removeMergeJournal, writeMergeJournal } from './merge-journal.js';
import { resize, runs } from './ops.js';
import { setParent, typed } from './set-parent.js';
import { VhdLayer } from './vhd.js';
import { VhdxLayer } from './vhdx.js';

export interface MergeOptions {
  /** Keep the differencing file after merging (default: delete it, as Hyper-V does). */
  keepChild?: boolean;
}

/**
 * Points of a merge: the child records the merge (`recorded`), each written block of the child
 * (`block`), the parent complete and closed (`merged`). Crash tests stop a merge at them.
 */
export type MergeStep = 'recorded' | 'block' | 'merged';

/**
 * Writes a differencing disk's own data into its parent; the parent grows first if the child is larger.
 *
 * Cut off at any point (a crash), the child still opens and reads exactly as before, and merging it
 * again completes the merge. Reading through the child never changes during a merge: its own sectors
 * hide the parent's, and the merge writes exactly those sectors into the parent. What must survive is
 * the child's link to the parent:
 * - VHDX: the parent's DataWriteGuid changes with its first write. Before it, the child records the
 *   parent's current DataWriteGuid as parent_linkage and the one the parent is about to take as
 *   parent_linkage2 (through the child's log), and the parent then takes exactly that guid. A child
 *   accepts a parent matching either ([MS-VHDX] 2.6.2.6.3).
 * - VHD: the parent keeps its unique id, so the child keeps opening; a journal next to the child
 *   records the merge so that `check` can say it is unfinished.
 */
export async function merge(childPath: string, o: MergeOptions = {}): Promise<{ parentPath: string }> {
  return mergeInSteps(childPath, o, async () => undefined);
}

/** {@link merge}, calling `step` at each {@link MergeStep} (and waiting for it). */
export async function mergeInSteps(
  childPath: string,
  o: MergeOptions,
  step: (s: MergeStep) => Promise<void>,
): Promise<{ parentPath: string }> {
  childPath = resolve(childPath);
  const { format, parentPath, parentId, grow } = await inspect(childPath);
  if (grow !== null) await resize(parentPath, grow);
  const nextId = await record(childPath, format, parentPath, parentId);
  await step('recorded');
  const child = await openChain(childPath, false);
  try {
    const parent = await typed('parent', parentPath, () => openChain(parentPath, true));
    try {
      // A parent changed since the child recorded it is not written: its data may no longer be what
      // the child was written against.
      if (parent.identity() !== parentId) {
        throw formatError(
          'PARENT_MISMATCH',
          `${parentPath} changed while ${childPath} was being merged into it`,
        );
      }
      if (parent instanceof VhdxLayer) parent.nextDataWriteGuid = guidFromString(nextId!);
      await parent.beginWrite();
      await copyOwnSectors(child, parent, step);
    } finally {
      await parent.closeChain();
    }
  } finally {
    await child.closeChain();
  }
  await step('merged');
  if (o.keepChild) await setParent(childPath, parentPath);
  else await rm(childPath);
  await removeMergeJournal(childPath);
  return { parentPath };
}

/** The parent's path and current identity, and the size it must grow to (null: none). Refuses non-differencing disks. */
async function inspect(
  childPath: string,
): Promise<{ format: DiskFormat; parentPath: string; parentId: string; grow: number | null }> {
  const child = await typed('disk', childPath, () => openChain(childPath, false));
  try {
    if (child.type !== 'differencing' || !child.parent) {
      throw new VhdOperationError('NOT_DIFFERENCING', `${childPath} is not a differencing disk`);
    }
    const parent = child.parent;
    return {
      format: child.format,
      parentPath: parent.file.path,
      parentId: parent.identity(),
      grow: child.sizeBytes > parent.sizeBytes ? child.sizeBytes : null,
    };
  } finally {
    await child.closeChain();
  }
}

/**
 * Records in the child (VHDX) or next to it (VHD), durably, that it is being merged into the parent
 * whose identity is `parentId`. Returns the DataWriteGuid the VHDX parent must take (null for VHD).
 */
async function record(
  childPath: string,
  format: DiskFormat,
  parentPath: string,
  parentId: string,
): Promise<string | null> {
  // Only a VHDX child is written (its parent locator); a VHD child is only read for its unique id.
  const w = await typed('disk', childPath, () => openLayer(childPath, format === 'vhdx'));
  try {
    if (w instanceof VhdxLayer) {
      const next = guidToString(randomGuid());
      await w.setParentLinkages(parentId, next);
      return next;
    }
    if (w instanceof VhdLayer) {
      const journal = { child: w.identity(), parentId, parentPath };
      await typed('merge journal', mergeJournalPath(childPath), () => writeMergeJournal(childPath, journal));
    }
    return null;
  } finally {
    await w.closeLayer();
  }
}

/** Writes every sector the child holds itself into the parent, block by block. */
async function copyOwnSectors(
  child: Layer,
  parent: Layer,
  step: (s: MergeStep) => Promise<void>,
): Promise<void> {
  const ss = child.sectorSize;
  for (let b = 0; b < child.blockCount; b++) {
    const lb = await child.readLayerBlock(b);
    if (!lb) continue;
    const base = b * child.blockSize;
    const writes: [number, number][] = [];
    runs(lb.present, lb.data.length / ss, (s, e, on) => {
      if (on) writes.push([s * ss, e * ss]);
    });
    for (const [s, e] of writes) await parent.writeAt(base + s, lb.data.subarray(s, e));
    await step('block');
  }
}
