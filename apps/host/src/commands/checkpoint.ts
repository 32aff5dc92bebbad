// `viridian vm checkpoint …`: a VM's checkpoints (Hyper-V's snapshots) as a tree.
import type { Command } from 'commander';
import { usageError } from '../args.js';
import { table } from '../format.js';
import type { CommandContext } from './context.js';

/** The fields of a checkpoint the tree shows (the API's CheckpointInfo has them all). */
export interface CheckpointNode {
  id: string;
  name: string;
  parentId: string | null;
  createdAt: number;
  type: string;
  hasState: boolean;
  isCurrent: boolean;
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * Orders checkpoints depth first (siblings oldest first) with the tree drawing of each. A checkpoint
 * whose parent is unknown is shown as a root; every checkpoint is shown exactly once, even if the
 * parent links were to form a loop.
 */
export function checkpointTreeRows<T extends CheckpointNode>(
  checkpoints: readonly T[],
): { checkpoint: T; prefix: string }[] {
  const byId = new Map(checkpoints.map((c) => [c.id, c]));
  const children = new Map<string | null, T[]>();
  for (const c of checkpoints) {
    const parent = c.parentId !== null && byId.has(c.parentId) && c.parentId !== c.id ? c.parentId : null;
    const list = children.get(parent) ?? [];
    list.push(c);
    children.set(parent, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.createdAt - b.createdAt);
  const rows: { checkpoint: T; prefix: string }[] = [];
  const seen = new Set<string>();
  const walk = (c: T, lead: string, connector: string): void => {
    if (seen.has(c.id)) return;
    seen.add(c.id);
    rows.push({ checkpoint: c, prefix: `${lead}${connector}` });
    const below = (children.get(c.id) ?? []).filter((k) => !seen.has(k.id));
    const nextLead = connector === '' ? lead : `${lead}${connector === '└─ ' ? '   ' : '│  '}`;
    for (const [i, k] of below.entries()) walk(k, nextLead, i === below.length - 1 ? '└─ ' : '├─ ');
  };
  for (const root of children.get(null) ?? []) walk(root, '', '');
  // Checkpoints on a loop of parent links have no root: show each from where the loop is entered.
  for (const c of [...checkpoints].sort((a, b) => a.createdAt - b.createdAt)) walk(c, '', '');
  return rows;
}

export function checkpointTree(checkpoints: readonly CheckpointNode[]): string {
  if (checkpoints.length === 0) return '(no checkpoints)';
  const rows = checkpointTreeRows(checkpoints).map(({ checkpoint: c, prefix }) => [
    `${prefix}${c.name}${c.isCurrent ? ' (current)' : ''}`,
    c.type,
    timestamp(c.createdAt),
    c.hasState ? 'yes' : 'no',
  ]);
  return table(['Name', 'Type', 'Created (UTC)', 'Saved state'], rows);
}

export function registerCheckpointCommands(vm: Command, ctx: CommandContext): void {
  const checkpoint = vm
    .command('checkpoint')
    .description("create, list, apply, rename and remove a VM's checkpoints")
    .addHelpText(
      'after',
      `
A standard checkpoint keeps the disks and, for a running VM, its whole state; a production checkpoint
asks the guest to freeze its data (VSS) and keeps the disks only. A checkpoint is named by its id or
by a name unique within the VM.

Examples:
  viridian vm checkpoint new web --name before-upgrade
  viridian vm checkpoint list web
  viridian vm checkpoint apply web before-upgrade
  viridian vm checkpoint rename web before-upgrade v1
  viridian vm checkpoint remove web v1 --subtree`,
    );

  checkpoint
    .command('new')
    .argument('<vm>', 'VM name or id')
    .option('--name <name>', 'checkpoint name (default: chosen by the host)')
    .option('--production', 'a production checkpoint: the guest freezes its data, no VM state is kept')
    .option('--standard', 'a standard checkpoint: disks and the VM state (the default)')
    .option('--no-wait', 'return once the job has started')
    .description('create a checkpoint of a VM')
    .action(
      async (ref: string, o: { name?: string; production?: boolean; standard?: boolean; wait: boolean }) => {
        if (o.production === true && o.standard === true)
          throw usageError('give --production or --standard, not both');
        const type = o.production === true ? 'Production' : o.standard === true ? 'Standard' : undefined;
        const started = await (await ctx.connect()).createCheckpoint(ref, {
          ...(o.name === undefined ? {} : { name: o.name }),
          ...(type === undefined ? {} : { type }),
        });
        const final = await ctx.followJob(`checkpoint ${ref}`, started, o.wait);
        const created = final?.result as CheckpointNode | undefined;
        if (created !== undefined && !ctx.json())
          ctx.print(() => `created checkpoint "${created.name}" (${created.type}, ${created.id})`, created);
      },
    );

  checkpoint
    .command('list')
    .argument('<vm>', 'VM name or id')
    .description("show a VM's checkpoints as a tree; (current) marks the one the VM runs on top of")
    .action(async (ref: string) => {
      const checkpoints = await (await ctx.connect()).listCheckpoints(ref);
      ctx.print(() => checkpointTree(checkpoints), checkpoints);
    });

  checkpoint
    .command('apply')
    .argument('<vm>', 'VM name or id')
    .argument('<checkpoint>', 'checkpoint id or name')
    .option('--no-wait', 'return once the job has started')
    .description('return a VM to a checkpoint (its disks, and its state when the checkpoint kept it)')
    .action(async (ref: string, cp: string, o: { wait: boolean }) => {
      const started = await (await ctx.connect()).applyCheckpoint(ref, cp);
      const final = await ctx.followJob(`apply ${cp} to ${ref}`, started, o.wait);
      const vm = final?.result as { name?: string; state?: string } | undefined;
      if (vm?.state !== undefined && !ctx.json())
        ctx.print(
          () =>
            `${vm.name ?? ref} is ${vm.state}${vm.state === 'Saved' ? ': start resumes the checkpoint’s state' : ''}`,
          vm,
        );
    });

  checkpoint
    .command('rename')
    .argument('<vm>', 'VM name or id')
    .argument('<checkpoint>', 'checkpoint id or name')
    .argument('<new-name>', 'the new name')
    .description('rename a checkpoint')
    .action(async (ref: string, cp: string, name: string) => {
      const renamed = await (await ctx.connect()).renameCheckpoint(ref, cp, name);
      ctx.print(() => `renamed ${cp} to "${renamed.name}"`, renamed);
    });

  checkpoint
    .command('remove')
    .argument('<vm>', 'VM name or id')
    .argument('<checkpoint>', 'checkpoint id or name')
    .option('--subtree', 'also remove every checkpoint below it')
    .option('--no-wait', 'return once the job has started')
    .description('remove a checkpoint; its disk changes merge so the VM keeps its data')
    .action(async (ref: string, cp: string, o: { subtree?: boolean; wait: boolean }) => {
      const started = await (await ctx.connect()).removeCheckpoint(
        ref,
        cp,
        o.subtree === true ? { subtree: true } : {},
      );
      const final = await ctx.followJob(
        `remove ${cp}${o.subtree === true ? ' and its subtree' : ''}`,
        started,
        o.wait,
      );
      const removed = (final?.result as { removed?: string[] } | undefined)?.removed;
      if (removed !== undefined && !ctx.json())
        ctx.print(
          () => `removed ${removed.length} checkpoint${removed.length === 1 ? '' : 's'}`,
          final?.result,
        );
    });
}
