import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
import { writeFileAtomic } from './atomic-file.js';
import {
  type CheckpointInfo,
  type CheckpointRecord,
  type CheckpointStore,
  type CheckpointTree,
  CheckpointType,
  type CreatedFile,
  type PendingOperation,
} from './checkpoint-tree.js';
import type { DiskAttachment, VmConfig } from './config.js';
import { type ChainHost, collapse, collapseRetained, finishFold } from './disk-chain.js';
import { createChild, differencingPath, diskError, probeDisk } from './disk-files.js';
import { ErrorCode, VmmsError } from './errors.js';
import { EventLevel } from './event-log.js';
import { newGuid } from './guid.js';
import { icCall } from './integration.js';
import type { JobHandle } from './jobs.js';
import { VmState } from './lifecycle.js';
import type { ManagedVm } from './managed-vm.js';
import type { RunningVm } from './runtime.js';
import { removeSavedState, writeSavedState } from './saved-state.js';

/** The running VM's handle when it runs or is paused, else undefined. */
export function liveRunning(vm: ManagedVm): RunningVm | undefined {
  const state = vm.state();
  return state === VmState.Running || state === VmState.Paused ? vm.running() : undefined;
}

/** Creates, applies, renames and removes checkpoints with Hyper-V's semantics; the caller checks states. */
export class Checkpoints {
  readonly store: CheckpointStore;
  readonly #trees = new Map<string, CheckpointTree>();

  constructor(store: CheckpointStore) {
    this.store = store;
  }

  tree(vmId: string): CheckpointTree {
    let tree = this.#trees.get(vmId);
    if (tree === undefined) {
      tree = this.store.load(vmId);
      this.#trees.set(vmId, tree);
    }
    return tree;
  }

  list(vmId: string): CheckpointInfo[] {
    const tree = this.tree(vmId);
    return tree.ordered().map((cp) => tree.info(cp));
  }

  rename(vm: ManagedVm, ref: string, name: string): CheckpointInfo {
    const tree = this.tree(vm.id);
    const cp = tree.find(ref);
    const before = cp.name;
    cp.name = name;
    this.store.save(tree);
    vm.log(EventLevel.Info, 'checkpoint-renamed', `checkpoint "${before}" renamed to "${name}"`);
    return tree.info(cp);
  }

  /** A drive's current file left the VM: if the tree knows it, it is kept as the user's data from now on. */
  noteDetached(vmId: string, path: string): void {
    const tree = this.tree(vmId);
    if (!tree.files().has(path)) return;
    tree.detached.add(path);
    this.store.save(tree);
  }

  /** A detached file came back as a drive of the same VM. */
  noteReattached(vmId: string, path: string): void {
    const tree = this.tree(vmId);
    if (tree.detached.delete(path)) this.store.save(tree);
  }

  /** Forgets the VM's tree and memory states (its disk files stay, as Hyper-V keeps VHDs). */
  forget(vmId: string): void {
    this.store.remove(vmId);
    this.#trees.delete(vmId);
  }

  async create(
    vm: ManagedVm,
    job: JobHandle,
    request: { name: string; type: CheckpointType },
  ): Promise<CheckpointInfo> {
    const tree = this.tree(vm.id);
    const id = newGuid();
    const config = vm.config();
    const writable = config.disks.filter((disk) => !disk.readOnly);
    const children = writable.map((disk) => ({
      lun: disk.lun,
      parent: disk.path,
      path: differencingPath(disk.path, id),
    }));
    for (const child of children) {
      if (existsSync(child.path)) throw new VmmsError(ErrorCode.Conflict, `${child.path} already exists`);
    }
    const stateFile = this.store.stateFile(vm.id, id);
    // Before any file exists: recovery undoes a create whose checkpoint is not in the tree yet.
    this.#begin(tree, { kind: 'checkpoint.create', checkpointId: id, created: children });
    let type = request.type;
    let hasState = false;
    const running = liveRunning(vm);
    try {
      ({ type, hasState } = await this.#makeFiles(vm, job, running, children, stateFile, request.type));
    } catch (error) {
      this.#end(tree);
      throw error;
    }
    const { disks: _disks, ...snapshot } = config;
    const cp: CheckpointRecord = {
      id,
      name: request.name,
      parentId: tree.current,
      createdAt: Date.now(),
      type,
      hasState,
      disks: config.disks.map(({ lun, path, readOnly }) => ({ lun, path, readOnly })),
      config: structuredClone(snapshot),
    };
    tree.checkpoints.push(cp);
    tree.current = id;
    for (const child of children) tree.links.set(child.path, child.parent);
    // The commit point: from here on recovery finishes the create (the drives move to the children).
    this.store.save(tree);
    vm.saveConfig({ ...config, disks: config.disks.map((disk) => switched(disk, children)) });
    this.#end(tree);
    vm.log(
      EventLevel.Info,
      'checkpoint-created',
      `${type.toLowerCase()} checkpoint "${cp.name}" created${hasState ? ' with memory state' : ''}`,
    );
    return tree.info(cp);
  }

  /** Makes a checkpoint's differencing files (through the runtime while the VM runs) and its memory state. */
  async #makeFiles(
    vm: ManagedVm,
    job: JobHandle,
    running: RunningVm | undefined,
    children: CreatedFile[],
    stateFile: string,
    requested: CheckpointType,
  ): Promise<{ type: CheckpointType; hasState: boolean }> {
    const config = vm.config();
    let type = requested;
    let hasState = false;
    if (running !== undefined) {
      if (running.snapshotDisks === undefined) {
        throw new VmmsError(
          ErrorCode.InvalidState,
          'this VM runtime cannot take checkpoints of a running VM',
        );
      }
      let frozen = false;
      if (type === CheckpointType.Production) {
        job.progress(10, 'freezing the guest (VSS)');
        try {
          await icCall(running, { op: 'vssFreeze' });
          frozen = true;
        } catch (error) {
          type = CheckpointType.Standard;
          vm.log(
            EventLevel.Warning,
            'checkpoint',
            `the guest could not freeze (${(error as Error).message}); taking a standard checkpoint instead`,
          );
        }
      }
      if (frozen) {
        try {
          job.progress(30, 'snapshotting the disks');
          await snapshotOrUndo(vm, running, children, false);
        } finally {
          await thaw(vm, running);
        }
      } else {
        job.progress(30, 'snapshotting the disks and capturing the VM state');
        const { state } = await snapshotOrUndo(vm, running, children, true);
        job.progress(60, 'writing the memory state');
        try {
          this.store.stateDir(vm.id);
          writeSavedState(stateFile, { vmId: vm.id, image: config.image, savedAt: Date.now() }, state);
        } catch (error) {
          // The VM already writes to the new files: they go back into their parents.
          for (const child of children) await running.mergeDisk?.(child.lun);
          throw error;
        }
        hasState = true;
      }
    } else {
      job.progress(20, 'creating differencing disks');
      const made: string[] = [];
      try {
        for (const child of children) {
          await createChild(child.parent, child.path);
          made.push(child.path);
        }
      } catch (error) {
        await Promise.all(made.map((path) => rm(path, { force: true })));
        throw error;
      }
      if (vm.state() === VmState.Saved) {
        job.progress(60, 'copying the saved state');
        this.store.stateDir(vm.id);
        writeFileAtomic(stateFile, readFileSync(vm.savedFile));
        type = CheckpointType.Standard;
        hasState = true;
      }
    }
    return { type, hasState };
  }

  /** The VM must be Off or Saved. */
  async apply(vm: ManagedVm, job: JobHandle, cp: CheckpointRecord): Promise<void> {
    const tree = this.tree(vm.id);
    const old = vm.config();
    const made: CreatedFile[] = cp.disks
      .filter((d) => !d.readOnly)
      .map((disk) => ({ lun: disk.lun, parent: disk.path, path: differencingPath(disk.path, newGuid()) }));
    const next: VmConfig = {
      ...structuredClone(cp.config),
      id: old.id,
      name: old.name,
      disks: cp.disks.map((disk) => switched(disk, made)),
    };
    const pending: PendingOperation = {
      kind: 'checkpoint.apply',
      checkpointId: cp.id,
      created: made,
      config: next,
      collapse: old.disks.filter((disk) => !next.disks.some((d) => d.path === disk.path)).map((d) => d.path),
    };
    this.#begin(tree, pending);
    job.progress(20, 'creating differencing disks');
    try {
      for (const m of made) await createChild(m.parent, m.path);
    } catch (error) {
      await Promise.all(made.map((m) => rm(m.path, { force: true })));
      this.#end(tree);
      throw error;
    }
    for (const m of made) tree.links.set(m.path, m.parent);
    tree.current = cp.id;
    // The commit point: from here on recovery finishes the apply.
    this.store.save(tree);
    job.progress(50, 'switching the VM to the checkpoint');
    await this.#finishApply(vm, tree, pending);
    vm.log(
      EventLevel.Info,
      'checkpoint-applied',
      `checkpoint "${cp.name}" applied${cp.hasState ? '; the VM is Saved with its memory state' : ''}`,
    );
  }

  /**
   * After the commit point of an apply (repeatable): the configuration, the saved state (the
   * checkpoint's memory state, or none), then the old files folded away.
   */
  async #finishApply(vm: ManagedVm, tree: CheckpointTree, pending: PendingOperation): Promise<void> {
    const cp = tree.get(pending.checkpointId ?? '');
    vm.saveConfig(pending.config!);
    if (cp?.hasState === true) {
      writeFileAtomic(vm.savedFile, readFileSync(this.store.stateFile(vm.id, cp.id)));
      if (vm.state() !== VmState.Saved) vm.markSaved();
    } else if (vm.state() === VmState.Saved) {
      vm.discardSaved();
      vm.log(EventLevel.Info, 'saved-state-discarded', 'saved state discarded to apply a checkpoint');
    }
    const host = this.#chainHost(vm, tree);
    for (const path of pending.collapse ?? []) await collapse(host, path);
    await collapseRetained(host);
    this.#end(tree);
  }

  async remove(vm: ManagedVm, job: JobHandle, target: CheckpointRecord, subtree: boolean): Promise<string[]> {
    const tree = this.tree(vm.id);
    const doomed = subtree ? tree.subtree(target.id) : [target];
    const host = this.#chainHost(vm, tree);
    // Each checkpoint leaves the tree before its files are folded: recovery folds what is left.
    this.#begin(tree, {
      kind: 'checkpoint.remove',
      checkpointId: target.id,
      created: [],
      collapse: [...new Set(doomed.flatMap((cp) => cp.disks.map((d) => d.path)))],
    });
    const removed: string[] = [];
    for (const [index, cp] of doomed.entries()) {
      job.progress((index * 90) / doomed.length, `removing checkpoint "${cp.name}"`);
      tree.detach(cp.id);
      this.store.save(tree);
      removeSavedState(this.store.stateFile(vm.id, cp.id));
      for (const disk of cp.disks) {
        try {
          await collapse(host, disk.path);
        } finally {
          this.store.save(tree);
        }
      }
      removed.push(cp.id);
      vm.log(EventLevel.Info, 'checkpoint-removed', `checkpoint "${cp.name}" removed`);
    }
    if (liveRunning(vm) === undefined) await collapseRetained(host);
    this.#end(tree);
    return removed;
  }

  /** Records an operation before it touches a file (see `PendingOperation`). */
  #begin(tree: CheckpointTree, pending: PendingOperation): void {
    tree.pending = pending;
    this.store.save(tree);
  }

  #end(tree: CheckpointTree): void {
    tree.pending = undefined;
    this.store.save(tree);
  }

  /** Backup's temporary files are recorded the same way, so recovery merges them back. */
  beginBackup(vmId: string, temporary: CreatedFile[]): void {
    this.#begin(this.tree(vmId), { kind: 'vm.backup', created: temporary });
  }

  endBackup(vmId: string): void {
    this.#end(this.tree(vmId));
  }

  /**
   * Finishes or undoes what a crash cut off (the VM is Off or Saved): a merge under way is done
   * again and its names follow it; an operation past its commit point is finished, one before it is
   * undone (its files merged back or deleted). Memory states of checkpoints no longer in the tree
   * are deleted. Returns what it did, for the event log.
   */
  async recover(vm: ManagedVm): Promise<string[]> {
    const tree = this.tree(vm.id);
    const done: string[] = [];
    const host = this.#chainHost(vm, tree);
    const fold = tree.fold;
    if (fold !== undefined) {
      if (fold.discard === true) await rm(fold.child, { force: true });
      else if (existsSync(fold.child)) await host.merge(fold.child);
      await finishFold(host, fold);
      tree.retained.add(fold.into);
      done.push(
        fold.discard === true
          ? `finished deleting ${fold.child}`
          : `finished merging ${fold.child} into ${fold.into}`,
      );
    }
    const pending = tree.pending;
    if (pending !== undefined) {
      done.push(await this.#recoverPending(vm, tree, pending));
    }
    if (fold !== undefined || pending !== undefined) {
      await collapseRetained(host);
      this.store.save(tree);
    }
    this.#removeStrayStates(vm.id, tree);
    return done;
  }

  async #recoverPending(vm: ManagedVm, tree: CheckpointTree, pending: PendingOperation): Promise<string> {
    const host = this.#chainHost(vm, tree);
    switch (pending.kind) {
      case 'checkpoint.create': {
        if (pending.checkpointId !== undefined && tree.get(pending.checkpointId) !== undefined) {
          const config = vm.config();
          vm.saveConfig({ ...config, disks: config.disks.map((disk) => switched(disk, pending.created)) });
          this.#end(tree);
          return 'finished creating a checkpoint (its drives now write to the new differencing files)';
        }
        // The VM may have written to the new files before the crash: they go back into their parents.
        await mergeBackCreated(vm, pending.created);
        removeSavedState(this.store.stateFile(vm.id, pending.checkpointId ?? ''));
        this.#end(tree);
        return 'undid a checkpoint that was not complete';
      }
      case 'checkpoint.apply': {
        const committed =
          tree.current === pending.checkpointId && pending.created.every((c) => tree.links.has(c.path));
        if (committed && pending.config !== undefined) {
          await this.#finishApply(vm, tree, pending);
          return 'finished applying a checkpoint';
        }
        // Nothing ran on the new files (apply needs the VM off): they are deleted.
        await Promise.all(pending.created.map((c) => rm(c.path, { force: true })));
        this.#end(tree);
        return 'undid a checkpoint apply that was not complete';
      }
      case 'checkpoint.remove': {
        for (const path of pending.collapse ?? []) await collapse(host, path);
        this.#end(tree);
        return 'finished removing checkpoints';
      }
      case 'vm.backup': {
        // A VM saved during the backup stays Saved: each parent, once merged, reads as its child did.
        await mergeBackCreated(vm, pending.created);
        this.#end(tree);
        return 'merged the temporary files of a backup back';
      }
    }
  }

  /** Memory states are VMMS's own files: one of a checkpoint no longer in the tree is deleted. */
  #removeStrayStates(vmId: string, tree: CheckpointTree): void {
    const dir = join(this.store.dir, vmId);
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const id = name.replace(/\.vrss$/, '');
      if (name.endsWith('.vrss') && tree.get(id) === undefined) removeSavedState(join(dir, name));
    }
  }

  #chainHost(vm: ManagedVm, tree: CheckpointTree): ChainHost {
    const lunOf = (path: string) => vm.config().disks.find((disk) => disk.path === path)?.lun;
    const isLiveCurrent = (path: string) => liveRunning(vm) !== undefined && lunOf(path) !== undefined;
    return {
      tree,
      isCurrent: (path) => lunOf(path) !== undefined,
      isLiveCurrent,
      canMerge: (child) => !isLiveCurrent(child) || liveRunning(vm)?.mergeDisk !== undefined,
      merge: async (child) => {
        const running = liveRunning(vm);
        const lun = lunOf(child);
        try {
          if (running?.mergeDisk !== undefined && lun !== undefined) await running.mergeDisk(lun);
          else await VirtualDisk.merge(child);
        } catch (error) {
          throw diskError(child, error);
        }
      },
      setParent: async (child, parent) => {
        try {
          await VirtualDisk.setParent(child, parent);
        } catch (error) {
          throw diskError(child, error);
        }
      },
      renameCurrent: (from, to) => {
        const config = vm.config();
        vm.saveConfig({
          ...config,
          disks: config.disks.map((disk) => (disk.path === from ? { ...disk, path: to } : disk)),
        });
      },
      deleteFile: (path) => rm(path, { force: true }),
      save: () => this.store.save(tree),
      warn: (message) => vm.log(EventLevel.Warning, 'checkpoint', message),
    };
  }
}

function switched(
  disk: DiskAttachment | CheckpointRecord['disks'][number],
  children: Array<{ lun: number; path: string }>,
): DiskAttachment {
  const child = children.find((c) => c.lun === disk.lun);
  return { lun: disk.lun, path: child?.path ?? disk.path, readOnly: disk.readOnly };
}

/**
 * Merges each file an operation created back into its parent (the VM is off), and points the drive
 * that names it at the parent. A file gone already was merged before; one that cannot be merged
 * becomes (or stays) the drive's file, so the newest data is never dropped.
 */
export async function mergeBackCreated(vm: ManagedVm, created: CreatedFile[]): Promise<void> {
  for (const c of created) {
    if (existsSync(c.path)) {
      try {
        await VirtualDisk.merge(c.path);
      } catch (error) {
        // A readable child holds the newest data: the drive follows it. An unreadable one that the
        // configuration never named was cut off while being created (a differencing file is complete
        // before any drive switches to it, and its log keeps it readable after that): it never held
        // guest data and is removed. Any other unreadable one is left for a person to look at, and
        // the drive keeps a file it can read.
        const readable = await probeDisk(c.path, false).then(
          () => true,
          () => false,
        );
        const config = vm.config();
        if (!readable && !config.disks.some((d) => d.path === c.path)) {
          await rm(c.path, { force: true });
          vm.log(
            EventLevel.Warning,
            'recovery',
            `removed ${c.path}: its creation was cut off, no drive used it`,
          );
          continue;
        }
        if (readable) {
          vm.saveConfig({
            ...config,
            disks: config.disks.map((d) =>
              d.lun === c.lun && d.path === c.parent ? { ...d, path: c.path } : d,
            ),
          });
        }
        vm.log(EventLevel.Error, 'recovery', `merging ${c.path} back failed: ${(error as Error).message}`);
        continue;
      }
    }
    const config = vm.config();
    if (config.disks.some((d) => d.path === c.path)) {
      vm.saveConfig({
        ...config,
        disks: config.disks.map((d) => (d.path === c.path ? { ...d, path: c.parent } : d)),
      });
    }
  }
}

/**
 * Runs a disk snapshot; if it fails part-way, the LUNs already moved to their new files are merged
 * back (or, if that fails too, the configuration follows them), so the VM's writes are never lost.
 */
export async function snapshotOrUndo(
  vm: ManagedVm,
  running: RunningVm,
  children: Array<{ lun: number; parent: string; path: string }>,
  captureState: boolean,
): Promise<{ state?: unknown }> {
  try {
    return await running.snapshotDisks!({
      disks: children.map(({ lun, path }) => ({ lun, path })),
      captureState,
    });
  } catch (error) {
    for (const child of children.filter((c) => existsSync(c.path))) {
      try {
        await running.mergeDisk!(child.lun);
      } catch (mergeError) {
        const config = vm.config();
        vm.saveConfig({
          ...config,
          disks: config.disks.map((d) => (d.lun === child.lun ? { ...d, path: child.path } : d)),
        });
        vm.log(
          EventLevel.Error,
          'snapshot-failed',
          `LUN ${child.lun} now writes to ${child.path} (merging it back failed: ${(mergeError as Error).message})`,
        );
      }
    }
    throw error;
  }
}

/**
 * Always thaws after a freeze. Resolves false (and logs) when the guest did not confirm the thaw: it
 * did not answer, or its hold window ran out and it had already thawed itself (then writes may have
 * resumed before the snapshot was complete).
 */
export async function thaw(vm: ManagedVm, running: RunningVm): Promise<boolean> {
  try {
    await icCall(running, { op: 'vssThaw' });
    return true;
  } catch (error) {
    vm.log(EventLevel.Warning, 'vss', `thaw failed: ${(error as Error).message}`);
    return false;
  }
}
