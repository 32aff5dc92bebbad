import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { VirtualDisk } from '@viridian/vhd';
import { writeFileAtomic } from './atomic-file.js';
import {
  type CheckpointInfo,
  type CheckpointRecord,
  type CheckpointStore,
  type CheckpointTree,
  CheckpointType,
} from './checkpoint-tree.js';
import type { DiskAttachment, VmConfig } from './config.js';
import { type ChainHost, collapse, collapseRetained } from './disk-chain.js';
import { createChild, differencingPath, diskError } from './disk-files.js';
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
    let type = request.type;
    let hasState = false;
    const running = liveRunning(vm);
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
        this.store.stateDir(vm.id);
        writeSavedState(stateFile, { vmId: vm.id, image: config.image, savedAt: Date.now() }, state);
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
    this.store.save(tree);
    vm.saveConfig({ ...config, disks: config.disks.map((disk) => switched(disk, children)) });
    vm.log(
      EventLevel.Info,
      'checkpoint-created',
      `${type.toLowerCase()} checkpoint "${cp.name}" created${hasState ? ' with memory state' : ''}`,
    );
    return tree.info(cp);
  }

  /** The VM must be Off or Saved. */
  async apply(vm: ManagedVm, job: JobHandle, cp: CheckpointRecord): Promise<void> {
    const tree = this.tree(vm.id);
    if (vm.state() === VmState.Saved) {
      vm.discardSaved();
      vm.log(EventLevel.Info, 'saved-state-discarded', 'saved state discarded to apply a checkpoint');
    }
    const old = vm.config();
    job.progress(20, 'creating differencing disks');
    const made: Array<{ lun: number; parent: string; path: string }> = [];
    try {
      for (const disk of cp.disks.filter((d) => !d.readOnly)) {
        const path = differencingPath(disk.path, newGuid());
        await createChild(disk.path, path);
        made.push({ lun: disk.lun, parent: disk.path, path });
      }
    } catch (error) {
      await Promise.all(made.map((m) => rm(m.path, { force: true })));
      throw error;
    }
    for (const m of made) tree.links.set(m.path, m.parent);
    const next: VmConfig = {
      ...structuredClone(cp.config),
      id: old.id,
      name: old.name,
      disks: cp.disks.map((disk) => switched(disk, made)),
    };
    tree.current = cp.id;
    this.store.save(tree);
    vm.saveConfig(next);
    job.progress(50, 'removing the files the VM no longer uses');
    const host = this.#chainHost(vm, tree);
    for (const disk of old.disks) {
      if (!next.disks.some((d) => d.path === disk.path)) await collapse(host, disk.path);
    }
    await collapseRetained(host);
    this.store.save(tree);
    if (cp.hasState) {
      job.progress(80, 'restoring the memory state');
      writeFileAtomic(vm.savedFile, readFileSync(this.store.stateFile(vm.id, cp.id)));
      vm.markSaved();
    }
    vm.log(
      EventLevel.Info,
      'checkpoint-applied',
      `checkpoint "${cp.name}" applied${cp.hasState ? '; the VM is Saved with its memory state' : ''}`,
    );
  }

  async remove(vm: ManagedVm, job: JobHandle, target: CheckpointRecord, subtree: boolean): Promise<string[]> {
    const tree = this.tree(vm.id);
    const doomed = subtree ? tree.subtree(target.id) : [target];
    const host = this.#chainHost(vm, tree);
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
    this.store.save(tree);
    return removed;
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
