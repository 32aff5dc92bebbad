import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VirtualDisk } from '@viridian/vhd';
import { writeFileAtomic } from './atomic-file.js';
import type { CreatedFile } from './checkpoint-tree.js';
import { liveRunning, mergeBackCreated, snapshotOrUndo, thaw } from './checkpoints.js';
import { createVmConfig, type DiskAttachment, type VmConfig, validateLun } from './config.js';
import { differencingPath, diskError, formatOf, probeDisk, readDiskInfo } from './disk-files.js';
import { ErrorCode, VmmsError } from './errors.js';
import { EventLevel } from './event-log.js';
import { icCall } from './integration.js';
import type { JobHandle } from './jobs.js';
import type { ManagedVm } from './managed-vm.js';
import type { RunningVm } from './runtime.js';

/** Version of a backup's `vm.json`. */
export const BACKUP_FORMAT_VERSION = 1;
const MANIFEST = 'vm.json';

/** One disk in a backup: a flattened dynamic disk stored next to `vm.json`. */
export interface BackupDisk {
  lun: number;
  file: string;
  readOnly: boolean;
}

export interface BackupManifest {
  formatVersion: number;
  createdAt: number;
  /** The VM's configuration without its disks (and without its id: a restore makes a new VM). */
  config: Omit<VmConfig, 'id' | 'disks'>;
  disks: BackupDisk[];
}

/** What `vm.backup` reports when it completes. */
export interface BackupResult {
  destination: string;
  files: string[];
  /** True when the guest froze its writes first (a running VM); an Off VM's disks are copied as they are. */
  consistent: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(message: string): never {
  throw new VmmsError(ErrorCode.InvalidArgument, message);
}

/** An absolute directory path with nothing in it yet (it may not exist). */
export function checkDestination(destination: unknown): string {
  if (typeof destination !== 'string' || destination.length === 0)
    invalid('destination must be a non-empty string');
  if (CONTROL.test(destination)) invalid('destination must not contain control characters');
  if (!destination.startsWith('/')) invalid(`destination must be an absolute path (got "${destination}")`);
  if (existsSync(destination)) {
    if (!statSync(destination).isDirectory()) invalid(`${destination} is not a directory`);
    if (readdirSync(destination).length > 0) invalid(`${destination} is not empty`);
  }
  return destination;
}

/** The name of a disk's copy in the backup: `lun<N>-<base name>.<vhd|vhdx>`. */
function backupFileName(disk: DiskAttachment): string {
  const stem = basename(disk.path)
    .replace(/\.a?vhdx?$/i, '')
    .replace(/_[0-9a-f-]{36}$/, '')
    .replace(/_backup$/, '');
  return `lun${disk.lun}-${stem}.${formatOf(disk.path)}`;
}

/**
 * Copies the VM's disks (each chain flattened to a dynamic disk) and its configuration into
 * `destination`. A running VM is frozen through VSS, its disks switched to temporary `_backup`
 * differencing files, thawed at once; the frozen files are copied, then the temporary files are
 * merged back. A guest that cannot freeze fails the backup: it would not be consistent.
 */
export async function backupVm(
  vm: ManagedVm,
  job: JobHandle,
  destination: string,
  journal: BackupJournal,
): Promise<BackupResult> {
  const config = vm.config();
  const running = liveRunning(vm);
  const temporary: CreatedFile[] = [];
  if (running !== undefined) {
    if (running.snapshotDisks === undefined || running.mergeDisk === undefined) {
      throw new VmmsError(
        ErrorCode.InvalidState,
        'this VM runtime cannot snapshot the disks of a running VM',
      );
    }
    for (const disk of config.disks.filter((d) => !d.readOnly)) {
      const path = differencingPath(disk.path, 'backup');
      if (existsSync(path)) throw new VmmsError(ErrorCode.Conflict, `${path} already exists`);
      temporary.push({ lun: disk.lun, parent: disk.path, path });
    }
    // Recorded before the snapshot: recovery merges whichever temporary files exist back.
    journal.begin(temporary);
    try {
      await snapshotFrozen(vm, job, running, temporary);
    } catch (error) {
      // Whatever the snapshot moved goes back before the record of it is dropped.
      await mergeBack(vm, temporary);
      journal.end();
      throw error;
    }
  }
  const files: string[] = [];
  try {
    await copyDisks(job, destination, config, files);
  } finally {
    if (temporary.length > 0) {
      job.progress(90, 'merging the temporary differencing disks back');
      await mergeBack(vm, temporary);
      journal.end();
    }
  }
  return { destination, files: [...files, MANIFEST], consistent: running !== undefined };
}

/** Where a backup records its temporary files while they exist (the VM's checkpoint tree file). */
export interface BackupJournal {
  begin(temporary: CreatedFile[]): void;
  end(): void;
}

/** VSS freeze, snapshot onto the temporary files, thaw; the configuration then names the temporary files. */
async function snapshotFrozen(vm: ManagedVm, job: JobHandle, running: RunningVm, temporary: CreatedFile[]) {
  const config = vm.config();
  let thawConfirmed = true;
  job.progress(5, 'freezing the guest (VSS)');
  try {
    await icCall(running, { op: 'vssFreeze' });
  } catch (error) {
    throw new VmmsError(
      (error as VmmsError).code ?? ErrorCode.Internal,
      `the guest could not freeze its writes, so a consistent backup cannot be made: ${(error as Error).message}`,
    );
  }
  try {
    job.progress(10, 'snapshotting the disks');
    await snapshotOrUndo(vm, running, temporary, false);
  } finally {
    thawConfirmed = await thaw(vm, running);
  }
  // Until merged back, the VM writes to the temporary files: the configuration says so.
  vm.saveConfig({
    ...config,
    disks: config.disks.map((d) => ({
      ...d,
      path: temporary.find((t) => t.lun === d.lun)?.path ?? d.path,
    })),
  });
  if (!thawConfirmed) {
    throw new VmmsError(
      ErrorCode.Timeout,
      'the guest did not confirm the thaw (its freeze window may have ended before the disks were snapshotted), so the backup is not known to be consistent',
    );
  }
}

/** Copies each drive's chain (the frozen files while temporary ones take the writes) and `vm.json`. */
async function copyDisks(job: JobHandle, destination: string, config: VmConfig, files: string[]) {
  mkdirSync(destination, { recursive: true });
  for (const [index, disk] of config.disks.entries()) {
    job.progress(15 + (index * 70) / config.disks.length, `copying the disk at LUN ${disk.lun}`);
    const file = backupFileName(disk);
    try {
      await VirtualDisk.convert(disk.path, join(destination, file), {
        format: formatOf(disk.path),
        type: 'dynamic',
      });
    } catch (error) {
      throw diskError(disk.path, error);
    }
    files.push(file);
  }
  const { id: _id, disks: _disks, ...settings } = config;
  const manifest: BackupManifest = {
    formatVersion: BACKUP_FORMAT_VERSION,
    createdAt: Date.now(),
    config: settings,
    disks: config.disks.map((disk, i) => ({ lun: disk.lun, file: files[i]!, readOnly: disk.readOnly })),
  };
  writeFileAtomic(join(destination, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Folds each temporary file into the file it froze: through the runtime while the VM runs, else directly. */
async function mergeBack(vm: ManagedVm, temporary: CreatedFile[]) {
  await vm.settle();
  for (const t of temporary) {
    const running = liveRunning(vm);
    if (!existsSync(t.path)) {
      // Never made (the snapshot failed first) or merged already.
      await mergeBackCreated(vm, [t]);
      continue;
    }
    try {
      if (running?.mergeDisk !== undefined) await running.mergeDisk(t.lun);
      else await VirtualDisk.merge(t.path);
    } catch (error) {
      vm.log(EventLevel.Error, 'backup', `merging ${t.path} back failed: ${(error as Error).message}`);
      continue;
    }
    const config = vm.config();
    vm.saveConfig({
      ...config,
      disks: config.disks.map((d) => (d.path === t.path ? { ...d, path: t.parent } : d)),
    });
  }
}

/** Reads and checks a backup's `vm.json` as untrusted input. */
export function readBackup(source: unknown): { source: string; manifest: BackupManifest } {
  if (typeof source !== 'string' || !source.startsWith('/') || CONTROL.test(source))
    invalid('source must be an absolute directory path');
  const file = join(source, MANIFEST);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new VmmsError(ErrorCode.NotFound, `${file} does not exist: not a backup`);
    invalid(`${file}: ${(error as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) invalid(`${file} is not a backup manifest`);
  if (doc['formatVersion'] !== BACKUP_FORMAT_VERSION) {
    throw new VmmsError(
      ErrorCode.VersionMismatch,
      `${file}: backup format version ${String(doc['formatVersion'])} is not supported (this host reads version ${BACKUP_FORMAT_VERSION})`,
    );
  }
  const { id: _id, disks: _disks, ...config } = createVmConfig(doc['config']);
  if (!Array.isArray(doc['disks'])) invalid(`${file}: disks must be a list`);
  const luns = new Set<number>();
  const disks = (doc['disks'] as unknown[]).map((raw, index) => {
    const disk = raw as Record<string, unknown>;
    if (typeof disk !== 'object' || disk === null) invalid(`${file}: disks[${index}] is not an object`);
    const lun = validateLun(disk['lun'], `disks[${index}].lun`);
    if (luns.has(lun)) invalid(`${file}: LUN ${lun} is used twice`);
    luns.add(lun);
    const name = disk['file'];
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,200}\.vhdx?$/.test(name) || name.startsWith('.'))
      invalid(`${file}: disks[${index}].file must be a plain .vhd or .vhdx file name`);
    return { lun, file: name, readOnly: disk['readOnly'] === true };
  });
  return {
    source,
    manifest: {
      formatVersion: BACKUP_FORMAT_VERSION,
      createdAt: typeof doc['createdAt'] === 'number' ? doc['createdAt'] : 0,
      config,
      disks,
    },
  };
}

/** Copies a backup's disks into `dir` (which it creates); returns the VM's disk list. Removes `dir` on failure. */
export async function copyBackupDisks(
  job: JobHandle,
  source: string,
  manifest: BackupManifest,
  dir: string,
): Promise<DiskAttachment[]> {
  mkdirSync(dir, { recursive: true });
  try {
    const disks: DiskAttachment[] = [];
    for (const [index, disk] of manifest.disks.entries()) {
      job.progress(10 + (index * 80) / manifest.disks.length, `copying ${disk.file}`);
      const from = join(source, disk.file);
      const to = join(dir, disk.file);
      try {
        await copyFile(from, to);
      } catch (error) {
        throw diskError(from, error);
      }
      await probeDisk(to, disk.readOnly);
      // A backup holds flattened disks: a differencing one would read through whatever file its
      // parent locator names on this host.
      if ((await readDiskInfo(to)).type === 'differencing') {
        throw new VmmsError(
          ErrorCode.InvalidArgument,
          `${from} is a differencing disk; a backup holds whole disks`,
        );
      }
      disks.push({ lun: disk.lun, path: to, readOnly: disk.readOnly });
    }
    return disks;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
