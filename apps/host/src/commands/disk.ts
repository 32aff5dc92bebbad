// `viridian vm disk …`: the virtual disks attached to a VM's synthetic SCSI controller.
import { resolve } from 'node:path';
import { type DiskInfo, VirtualDisk } from '@viridian/vhd';
import type { Command } from 'commander';
import { int, usageError } from '../args.js';
import { table } from '../format.js';
import type { CommandContext } from './context.js';
import { formatSize } from './vhd.js';

/** LUNs of the VM's one controller (path 0, target 0). */
const MAX_LUN = 63;
const lunArgument = int('LUN', 0, MAX_LUN);

/** One attached disk as `vm disk list` reports it: the attachment plus what its file says, if it opens. */
export interface DiskListing {
  lun: number;
  path: string;
  readOnly: boolean;
  format?: DiskInfo['format'];
  type?: DiskInfo['type'];
  virtualSize?: number;
  /** Why the file could not be read (missing, not a virtual disk, …). */
  error?: string;
}

async function describe(disk: { lun: number; path: string; readOnly: boolean }): Promise<DiskListing> {
  const listing: DiskListing = { lun: disk.lun, path: disk.path, readOnly: disk.readOnly };
  try {
    const file = await VirtualDisk.open(disk.path, { readOnly: true });
    try {
      const info = await file.info();
      return { ...listing, format: info.format, type: info.type, virtualSize: info.virtualSize };
    } finally {
      await file.close();
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { ...listing, error: 'no such file' };
    // The disk library's messages start with the path, which the listing already shows.
    const prefix = `${disk.path}: `;
    return { ...listing, error: e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message };
  }
}

export function diskTable(disks: readonly DiskListing[]): string {
  if (disks.length === 0) return '(no disks)';
  return table(
    ['LUN', 'Path', 'Read-only', 'Format', 'Type', 'Size'],
    disks.map((d) => [
      String(d.lun),
      d.path,
      d.readOnly ? 'yes' : 'no',
      d.format?.toUpperCase() ?? '-',
      d.type ?? (d.error === undefined ? '-' : `unreadable: ${d.error}`),
      d.virtualSize === undefined ? '-' : formatSize(d.virtualSize),
    ]),
  );
}

export function registerDiskCommands(vm: Command, ctx: CommandContext): void {
  const disk = vm
    .command('disk')
    .description("attach, detach and list a VM's virtual disks (VHD/VHDX on its SCSI controller)")
    .addHelpText(
      'after',
      `
A running VM's guest sees a disk arrive or leave at once (hot add and remove); an Off VM gets it at
its next start. Relative paths are resolved against the current directory.

Examples:
  viridian vhd new data.vhdx --size 64M
  viridian vm disk add web data.vhdx              at the lowest free LUN
  viridian vm disk add web base.vhdx --lun 1 --read-only
  viridian vm disk list web
  viridian vm disk remove web 1`,
    );

  disk
    .command('add')
    .argument('<vm>', 'VM name or id')
    .argument('<path>', 'virtual disk file (.vhd, .vhdx, .avhd, .avhdx)')
    .option('--lun <n>', `SCSI LUN, 0 to ${MAX_LUN} (default: the lowest free one)`, int('--lun', 0, MAX_LUN))
    .option('--read-only', 'the guest may read but not write the disk')
    .description('attach a virtual disk file to a VM')
    .action(async (ref: string, path: string, o: { lun?: number; readOnly?: boolean }) => {
      if (path.trim() === '') throw usageError('the disk path is empty');
      const file = resolve(path);
      const detail = await (await ctx.connect()).attachDisk(ref, file, {
        ...(o.lun === undefined ? {} : { lun: o.lun }),
        ...(o.readOnly === true ? { readOnly: true } : {}),
      });
      const attached = detail.config.disks.find((d) =>
        o.lun === undefined ? d.path === file : d.lun === o.lun,
      );
      ctx.print(
        () =>
          `attached ${file} to ${detail.name}${attached === undefined ? '' : ` at LUN ${attached.lun}`}${o.readOnly === true ? ' (read-only)' : ''}`,
        detail,
      );
    });

  disk
    .command('remove')
    .argument('<vm>', 'VM name or id')
    .argument('<lun>', `SCSI LUN, 0 to ${MAX_LUN}`, lunArgument)
    .description('detach the disk at a LUN (a running guest stops using it first; the file is kept)')
    .action(async (ref: string, lun: number) => {
      const detail = await (await ctx.connect()).detachDisk(ref, lun);
      ctx.print(() => `detached LUN ${lun} from ${detail.name}`, detail);
    });

  disk
    .command('list')
    .argument('<vm>', 'VM name or id')
    .description("list a VM's disks: LUN, path, read-only, and the file's format, type and virtual size")
    .action(async (ref: string) => {
      const detail = await (await ctx.connect()).getVm(ref);
      const disks = [...detail.config.disks].sort((a, b) => a.lun - b.lun);
      const listings = await Promise.all(disks.map(describe));
      ctx.print(() => diskTable(listings), listings);
    });
}
