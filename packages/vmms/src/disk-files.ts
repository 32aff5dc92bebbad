import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type DiskFormat, type DiskInfo, VhdError, VirtualDisk } from '@viridian/vhd';
import { ErrorCode, VmmsError } from './errors.js';

/** VHD family (.vhd, .avhd) or VHDX family (.vhdx, .avhdx), from the file name. */
export function formatOf(path: string): DiskFormat {
  return /\.a?vhdx$/i.test(path) ? 'vhdx' : 'vhd';
}

// A differencing file VMMS made is named `<base>_<guid>.avhdx` (a checkpoint or an apply) or
// `<base>_backup.avhdx` (a backup's temporary file); its children reuse `<base>`.
const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const GUID_SUFFIX = new RegExp(`_${GUID}$`);
const MADE_BY_SERVICE = new RegExp(`^(.*)_(${GUID}|backup)\\.avhdx?$`, 'i');
const BACKUP_TEMPORARY = /_backup\.avhdx?$/i;

/** Whether a file name is one VMMS gives the differencing files it makes. */
export function isServiceMadeName(name: string): boolean {
  return MADE_BY_SERVICE.test(name);
}

/** Whether a path is a backup's temporary differencing file. */
export function isBackupTemporary(path: string): boolean {
  return BACKUP_TEMPORARY.test(path);
}

/** `web` for `web.vhdx`, `web_<guid>.avhdx` and `web_backup.avhdx`: the drive a file belongs to. */
export function driveStem(path: string): string {
  const name = basename(path);
  return (MADE_BY_SERVICE.exec(name)?.[1] ?? name.replace(/\.a?vhdx?$/i, '')).toLowerCase();
}

/** `<dir>/<base>_<tag>.avhdx` (or `.avhd`) next to `parent`, as Hyper-V names checkpoint files. */
export function differencingPath(parent: string, tag: string): string {
  const stem = basename(parent)
    .replace(/\.a?vhdx?$/i, '')
    .replace(GUID_SUFFIX, '');
  return join(dirname(parent), `${stem}_${tag}.${formatOf(parent) === 'vhdx' ? 'avhdx' : 'avhd'}`);
}

/** The canonical path of an existing file (symlinks resolved), so one file has one name. */
export function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    throw new VmmsError(ErrorCode.InvalidArgument, `${path}: ${(error as Error).message}`);
  }
}

/** Opens a disk (and its parent chain) to prove it is usable, then closes it. */
export async function probeDisk(path: string, readOnly: boolean): Promise<void> {
  try {
    const disk = await VirtualDisk.open(path, { readOnly });
    await disk.close();
  } catch (error) {
    const failure = diskError(path, error);
    // Whatever is wrong with a file a caller names is a bad argument, not a fault of the host.
    throw failure.code === ErrorCode.Corrupt
      ? new VmmsError(ErrorCode.InvalidArgument, `not a usable virtual disk: ${failure.message}`)
      : failure;
  }
}

/** What a disk file says of itself (opened read-only with its parent chain, then closed). */
export async function readDiskInfo(path: string): Promise<DiskInfo> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  try {
    return await disk.info();
  } finally {
    await disk.close();
  }
}

/** Creates a differencing child of `parent` at `child` (same format). */
export async function createChild(parent: string, child: string): Promise<void> {
  try {
    const disk = await VirtualDisk.create(child, {
      format: formatOf(parent),
      type: 'differencing',
      parentPath: parent,
    });
    await disk.close();
  } catch (error) {
    throw diskError(child, error);
  }
}

/** Maps a disk library failure to a typed service error naming the file. */
export function diskError(path: string, error: unknown): VmmsError {
  if (error instanceof VmmsError) return error;
  const message = `${path}: ${(error as Error).message}`;
  if (error instanceof VhdError) {
    const code = error.code;
    return new VmmsError(
      code === 'INVALID_ARGUMENT' || code === 'OUT_OF_RANGE' ? ErrorCode.InvalidArgument : ErrorCode.Corrupt,
      message,
    );
  }
  const errno = (error as NodeJS.ErrnoException).code;
  if (errno === 'ENOENT') return new VmmsError(ErrorCode.NotFound, message);
  if (errno === 'EACCES' || errno === 'EISDIR') return new VmmsError(ErrorCode.InvalidArgument, message);
  return new VmmsError(ErrorCode.Internal, message);
}
