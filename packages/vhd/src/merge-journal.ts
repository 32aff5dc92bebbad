import { open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Layer } from './layer.js';
import { VhdLayer } from './vhd.js';
import { VhdxLayer } from './vhdx.js';

// How an unfinished merge is recognised afterwards.
// VHDX: the child records the parent's next DataWriteGuid as parent_linkage2 before the parent's first
// write; a parent carrying that guid (and not parent_linkage) has been written by the merge.
// VHD: the parent keeps its unique id while it is written, so the child still opens without help, but
// nothing in the file can say a merge is under way (the format has no spare field for it): a small
// journal next to the child records it instead. It only informs `check`; no read depends on it.

/** Path of the journal of a VHD merge of `childPath`. */
export function mergeJournalPath(childPath: string): string {
  return `${childPath}.merging`;
}

export interface MergeJournal {
  /** Unique id of the child being merged (a journal left next to another file of that name is ignored). */
  child: string;
  /** Unique id of the parent the child is being merged into. */
  parentId: string;
  parentPath: string;
}

/** Writes the journal durably (file and directory synced) before the merge touches the parent. */
export async function writeMergeJournal(childPath: string, j: MergeJournal): Promise<void> {
  const fh = await open(mergeJournalPath(childPath), 'w');
  try {
    await fh.writeFile(`${JSON.stringify(j)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await syncDir(dirname(childPath));
}

export async function removeMergeJournal(childPath: string): Promise<void> {
  await rm(mergeJournalPath(childPath), { force: true });
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems cannot sync a directory; the journal is advisory, so that is no failure.
  } finally {
    await fh.close();
  }
}

/** The journal next to `childPath`, or null when there is none or it is unreadable. */
async function readMergeJournal(childPath: string): Promise<MergeJournal | null> {
  let text: string;
  try {
    text = await readFile(mergeJournalPath(childPath), 'utf8');
  } catch {
    return null;
  }
  try {
    const j = JSON.parse(text) as Partial<MergeJournal> | null;
    if (
      j &&
      typeof j.child === 'string' &&
      typeof j.parentId === 'string' &&
      typeof j.parentPath === 'string'
    ) {
      return { child: j.child, parentId: j.parentId, parentPath: j.parentPath };
    }
  } catch {
    // Cut off while being written, or not ours: no merge is known.
  }
  return null;
}

const advice = (parentPath: string) =>
  `a merge of this disk into ${parentPath} did not finish; the disk still reads exactly as before, ` +
  "and merging it again completes the merge (until then the parent may hold part of this disk's data " +
  'and must not be used without it)';

/**
 * The message for `check` when `top` (a differencing disk) is the child of an unfinished merge, else
 * null. For VHDX `top` must have its parent attached.
 */
export async function interruptedMerge(top: Layer): Promise<string | null> {
  if (top.type !== 'differencing') return null;
  if (top instanceof VhdxLayer) {
    const parent = top.parent;
    if (!parent) return null;
    const { linkage, linkage2 } = top.parentLinkages();
    if (linkage2 === null || linkage2 === linkage || parent.identity() !== linkage2) return null;
    return advice(parent.file.path);
  }
  if (top instanceof VhdLayer) {
    const j = await readMergeJournal(top.file.path);
    if (!j || j.child !== top.identity() || j.parentId !== top.parentIdentity()) return null;
    return advice(j.parentPath);
  }
  return null;
}
