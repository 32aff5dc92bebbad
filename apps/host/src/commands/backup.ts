// `viridian vm backup` and `viridian vm restore-backup`: a VM's configuration and disks as a directory.
import { resolve } from 'node:path';
import type { BackupResult, VmDetail } from '@viridian/vmms';
import type { Command } from 'commander';
import { usageError } from '../args.js';
import type { CommandContext } from './context.js';

function directory(path: string, what: string): string {
  if (path.trim() === '') throw usageError(`the ${what} directory is empty`);
  return resolve(path);
}

export function registerBackupCommands(vm: Command, ctx: CommandContext): void {
  vm.command('backup')
    .argument('<vm>', 'VM name or id')
    .argument('<destination-dir>', 'an empty or new directory to write the backup into')
    .option('--no-wait', 'return once the job has started')
    .description(
      "back up a VM's configuration and disks (a running VM keeps running; its guest freezes its writes first)",
    )
    .action(async (ref: string, destination: string, o: { wait: boolean }) => {
      const dir = directory(destination, 'destination');
      const started = await (await ctx.connect()).backupVm(ref, dir);
      const final = await ctx.followJob(`backup ${ref}`, started, o.wait);
      const result = final?.result as BackupResult | undefined;
      if (result !== undefined && !ctx.json())
        ctx.print(
          () =>
            `backed up ${ref} to ${result.destination}: ${result.files.length} files${result.consistent ? ', the guest froze its writes first' : ''}`,
          result,
        );
    });

  vm.command('restore-backup')
    .argument('<source-dir>', 'a directory written by "vm backup"')
    .option('--name <name>', 'name of the new VM (default: the backed-up VM’s)')
    .option('--no-wait', 'return once the job has started')
    .description("create a new VM from a backup (a new id; copies of the disks in the host's data directory)")
    .action(async (source: string, o: { name?: string; wait: boolean }) => {
      const dir = directory(source, 'source');
      const started = await (await ctx.connect()).restoreBackup(
        dir,
        o.name === undefined ? {} : { name: o.name },
      );
      const final = await ctx.followJob(`restore ${dir}`, started, o.wait);
      const created = final?.result as VmDetail | undefined;
      if (created !== undefined && !ctx.json())
        ctx.print(() => `restored ${created.name} (${created.id}) from ${dir}`, created);
    });
}
