import type { CheckpointTree, PendingFold } from './checkpoint-tree.js';

/** What folding a file out of a VM's disk chains needs from the service. */
export interface ChainHost {
  readonly tree: CheckpointTree;
  /** Whether the VM's configuration names `path` as a drive's current file. */
  isCurrent(path: string): boolean;
  /** Whether a running VM has `path` open for writing (so its linkage must not be rewritten now). */
  isLiveCurrent(path: string): boolean;
  /** Whether `child` can be merged now (a running VM's file needs the runtime to do it). */
  canMerge(child: string): boolean;
  /** Merges `child` into its parent (through the runtime when the running VM writes to it); deletes `child`. */
  merge(child: string): Promise<void>;
  /** Points `child` at `parent` (after `parent` took in the data of the file between them). */
  setParent(child: string, parent: string): Promise<void>;
  /** The VM's configuration now names `to` where it named `from`. */
  renameCurrent(from: string, to: string): void;
  deleteFile(path: string): Promise<void>;
  /** Writes the tree durably (the fold journal in it tells recovery what a crash cut off). */
  save(): void;
  warn(message: string): void;
}

/**
 * Folds `file` out of the chains once nothing refers to it (no checkpoint owns it, the VM does not
 * write to it): with no dependents it is deleted (if VMMS made it; the user's own files stay), with
 * exactly one its dependent is merged into it, with several it stays, retained.
 */
export async function collapse(host: ChainHost, file: string): Promise<void> {
  const { tree } = host;
  if (tree.keeps(file) || host.isCurrent(file)) {
    tree.retained.delete(file);
    return;
  }
  const dependents = tree.dependents(file);
  if (dependents.length === 0) {
    tree.retained.delete(file);
    const parent = tree.links.get(file);
    if (parent === undefined) return; // the user's own file: Hyper-V keeps it
    tree.fold = { child: file, into: parent, grandchildren: [], discard: true };
    host.save();
    await host.deleteFile(file);
    tree.links.delete(file);
    tree.fold = undefined;
    host.save();
    await collapse(host, parent);
    return;
  }
  if (dependents.length > 1) {
    tree.retained.add(file);
    return;
  }
  const [child] = dependents as [string];
  if (tree.detached.has(child)) {
    // A detached drive's file is the user's: it keeps its name and its parent.
    tree.retained.add(file);
    return;
  }
  const grandchildren = tree.dependents(child);
  if (!host.canMerge(child)) {
    tree.retained.add(file);
    host.warn(`${file} stays in the chain: the running VM's runtime cannot merge ${child}`);
    return;
  }
  // Rewriting the linkage of a file the running VM writes to would race its own header updates:
  // the file stays in the chain until the next change made while the VM is off.
  if (grandchildren.some(host.isLiveCurrent)) {
    tree.retained.add(file);
    return;
  }
  // Journaled: a crash from here on is finished by recovery (merge again, re-point, rename).
  tree.fold = { child, into: file, grandchildren };
  host.save();
  await host.merge(child);
  await finishFold(host, tree.fold);
  // The file now holds what the child held; it stays only if it is still needed.
  await collapse(host, file);
}

/**
 * The steps after `child` was merged into `into` (all repeatable): its dependents are re-pointed,
 * every name of it becomes `into`, the journal is cleared. A discarded file just leaves the tree.
 */
export async function finishFold(host: ChainHost, fold: PendingFold): Promise<void> {
  const { tree } = host;
  if (fold.discard !== true) {
    for (const grandchild of fold.grandchildren) await host.setParent(grandchild, fold.into);
    tree.retained.delete(fold.child);
    tree.rename(fold.child, fold.into);
    if (host.isCurrent(fold.child)) host.renameCurrent(fold.child, fold.into);
  }
  tree.links.delete(fold.child);
  tree.fold = undefined;
  host.save();
}

/** Tries again to fold out every retained file (after the VM stopped, or after another removal). */
export async function collapseRetained(host: ChainHost): Promise<void> {
  for (const file of [...host.tree.retained]) {
    if (host.tree.retained.has(file)) await collapse(host, file);
  }
}
