import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VhdError, VirtualDisk } from '@viridian/vhd';
import type { Checkpoints } from './checkpoints.js';
import { mergeBackCreated } from './checkpoints.js';
import type { VmConfig } from './config.js';
import { driveStem, isBackupTemporary, isServiceMadeName, readDiskInfo } from './disk-files.js';
import { ErrorCode, VmmsError } from './errors.js';
import { VmState } from './lifecycle.js';
import type { ManagedVm } from './managed-vm.js';

/**
 * Finishes or undoes the VM's storage operations a crash cut off (the VM is Off or Saved: nothing
 * runs before recovery), then merges back any drive still on a backup's temporary file. Returns
 * what it did, for the event log.
 */
export async function recoverVmStorage(vm: ManagedVm, checkpoints: Checkpoints): Promise<string[]> {
  const done = await checkpoints.recover(vm);
  if (vm.state() !== VmState.Off && vm.state() !== VmState.Saved && vm.state() !== VmState.Critical)
    return done;
  for (const disk of vm.config().disks) {
    if (!isBackupTemporary(disk.path) || !existsSync(disk.path)) continue;
    const parent = await parentOf(disk.path);
    if (parent === undefined) continue;
    // A Saved VM's saved state stays valid: the parent, once it took in the temporary file's data,
    // reads exactly as the temporary file did, and the drive keeps its identity.
    await mergeBackCreated(vm, [{ lun: disk.lun, path: disk.path, parent }]);
    done.push(`merged ${disk.path}, left by a backup cut off, back into ${parent}`);
  }
  return done;
}

async function parentOf(path: string): Promise<string | undefined> {
  try {
    return (await readDiskInfo(path)).parentChain[0]?.path;
  } catch {
    return undefined;
  }
}

/**
 * A VM never boots without a disk it has: a drive, or a file of its chain, that is gone fails the
 * start with NotFound naming it (other faults of a file are left to the runtime to report).
 */
export async function requireDrives(config: VmConfig): Promise<void> {
  for (const disk of config.disks) {
    const what = `the disk at LUN ${disk.lun} (${disk.path})`;
    if (!existsSync(disk.path)) throw new VmmsError(ErrorCode.NotFound, `${what} does not exist`);
    try {
      const opened = await VirtualDisk.open(disk.path, { readOnly: true });
      await opened.close();
    } catch (error) {
      if (error instanceof VhdError && error.code === 'PARENT_NOT_FOUND')
        throw new VmmsError(ErrorCode.NotFound, `${what} cannot be opened: ${error.message}`);
    }
  }
}

/**
 * What a person must look at: drives or checkpoint files that are gone (the VM cannot start), and
 * differencing files named as this service names them, next to the VM's files and of the same
 * drive, that nothing refers to (`referenced`: every VM's drives and tree files). Those are left
 * where they are: they may hold data.
 */
export function storageProblems(
  config: VmConfig,
  treeFiles: ReadonlySet<string> | undefined,
  referenced: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const disk of config.disks) {
    if (!existsSync(disk.path))
      problems.push(
        `the disk at LUN ${disk.lun} (${disk.path}) does not exist; the VM cannot start without it`,
      );
  }
  // With its tree unreadable, which files the VM's checkpoints use is unknown: none is called stray.
  if (treeFiles === undefined) return problems;
  const drives = new Set(config.disks.map((d) => d.path));
  for (const file of treeFiles) {
    if (!drives.has(file) && !existsSync(file))
      problems.push(`${file}, a file of the VM's checkpoints, does not exist`);
  }
  const mine = [...drives, ...treeFiles];
  const stems = new Set(mine.map(driveStem));
  for (const dir of new Set(mine.map((path) => dirname(path)))) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      if (!isServiceMadeName(name) || referenced.has(path) || !stems.has(driveStem(path))) continue;
      problems.push(
        `${path} looks like a differencing file of this VM's checkpoints or backups, but nothing refers to it; it is left in place`,
      );
    }
  }
  return problems;
}
