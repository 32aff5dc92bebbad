// `viridian vhd …`: create, inspect and maintain virtual disk files (VHD, VHDX) directly, without a
// running host. Exit codes: 0 done, 1 the operation failed (corrupt file, check found errors), 2 usage.

import { extname, resolve } from 'node:path';
import { type CheckReport, type DiskInfo, VhdError, VhdFormatError, VirtualDisk } from '@viridian/vhd';
import { type Command, CommanderError, InvalidArgumentError, Option } from 'commander';

/** Where the command writes (the CLI's own Io). */
export interface VhdIo {
  out(text: string): void;
  err(text: string): void;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses 512, 64M, 10G, 1.5T (binary units; KB/KiB accepted). */
export function parseSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`"${value}" is not a size (examples: 512, 64M, 10G).`);
  const bytes = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new InvalidArgumentError(`"${value}" is not a usable size.`);
  return bytes;
}

export function formatSize(bytes: number): string {
  for (const [unit, n] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const)
    if (bytes >= n) return `${Number((bytes / n).toFixed(2))} ${unit}`;
  return `${bytes} B`;
}

function formatFor(path: string, given: string | undefined): 'vhd' | 'vhdx' {
  if (given === 'vhd' || given === 'vhdx') return given;
  const ext = extname(path).toLowerCase();
  if (ext === '.vhdx' || ext === '.avhdx') return 'vhdx';
  if (ext === '.vhd' || ext === '.avhd') return 'vhd';
  throw new CommanderError(
    2,
    'viridian.usage',
    `error: cannot tell the format of "${path}": use --format vhd|vhdx`,
  );
}

/** Turns a library error into a clear one-line failure (exit code 1). */
async function guard<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof VhdError) {
      // The library's messages start with the resolved path; say it once.
      const prefix = `${resolve(path)}: `;
      const detail = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      if (error instanceof VhdFormatError)
        throw new Error(`${path} is not a usable virtual disk (${error.code}): ${detail}`);
      throw new Error(`${path}: ${detail} (${error.code})`);
    }
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${path}: no such file`);
    if (e.code === 'EEXIST') throw new Error(`${path}: the file already exists`);
    throw error;
  }
}

function infoText(i: DiskInfo): string {
  const rows: [string, string][] = [
    ['Path', i.path],
    ['Format', i.format.toUpperCase()],
    ['Type', i.type],
    ['Virtual size', `${formatSize(i.virtualSize)} (${i.virtualSize} bytes)`],
    ['File size', `${formatSize(i.physicalSize)} (${i.physicalSize} bytes)`],
    ['Block size', i.blockSize === null ? '-' : formatSize(i.blockSize)],
    ['Sector size', `${i.logicalSectorSize} logical, ${i.physicalSectorSize} physical`],
    ['Blocks', `${i.allocatedBlocks} of ${i.totalBlocks} allocated`],
    ['Identifier', i.identifier],
    ['Disk id', i.diskId],
  ];
  for (const [n, p] of i.parentChain.entries())
    rows.push([n === 0 ? 'Parent' : `Parent ${n + 1}`, `${p.path} (${p.format}, ${p.type})`]);
  return rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n');
}

function checkText(path: string, r: CheckReport): string {
  const kind = r.format ? `${r.format}, ${r.type}` : 'unrecognised';
  const head = `${path}: ${r.ok ? 'OK' : 'PROBLEMS FOUND'} (${kind})`;
  const lines = r.issues.map(
    (i) => `  ${i.severity.padEnd(7)} ${i.code}: ${i.message}${i.repaired ? ' [repaired]' : ''}`,
  );
  return [head, ...lines].join('\n');
}

/** Adds the `vhd` command group to the program. `json()` tells whether the global --json was given. */
export function registerVhdCommand(program: Command, io: VhdIo, json: () => boolean): void {
  const vhd = program
    .command('vhd')
    .description('create, inspect and maintain VHD/VHDX virtual disk files')
    .addHelpText(
      'after',
      `
Examples:
  viridian vhd new disk.vhdx --size 10G                    dynamic VHDX
  viridian vhd new child.avhdx --parent disk.vhdx          differencing disk
  viridian vhd info disk.vhdx --json
  viridian vhd resize disk.vhdx 20G
  viridian vhd convert disk.vhdx disk.vhd --type fixed
  viridian vhd merge child.avhdx                           into its parent
  viridian vhd check disk.vhdx --repair`,
    );
  const wantJson = (o: { json?: boolean }) => o.json === true || json();
  const print = (o: { json?: boolean }, human: string, machine: unknown) =>
    io.out(wantJson(o) ? JSON.stringify(machine, null, 2) : human);

  vhd
    .command('new')
    .argument('<path>', 'file to create (.vhd, .vhdx, .avhd, .avhdx)')
    .description('create a virtual disk')
    .option(
      '--size <size>',
      'virtual size, e.g. 64M, 10G (a differencing disk takes its parent’s)',
      parseSize,
    )
    .addOption(
      new Option('--format <format>', 'file format (default: from the extension)').choices(['vhd', 'vhdx']),
    )
    .addOption(
      new Option('--type <type>', 'disk type (default: dynamic, differencing with --parent)').choices([
        'fixed',
        'dynamic',
        'differencing',
      ]),
    )
    .option('--parent <path>', 'parent of a differencing disk')
    .option('--block-size <size>', 'allocation block size', parseSize)
    .addOption(new Option('--sector-size <bytes>', 'VHDX logical sector size').choices(['512', '4096']))
    .option('--json', 'print the new disk’s details as JSON')
    .action(
      async (
        path: string,
        o: {
          size?: number;
          format?: string;
          type?: string;
          parent?: string;
          blockSize?: number;
          sectorSize?: string;
          json?: boolean;
        },
      ) => {
        const type = (o.type ?? (o.parent ? 'differencing' : 'dynamic')) as
          | 'fixed'
          | 'dynamic'
          | 'differencing';
        if (type === 'differencing' && !o.parent)
          throw new CommanderError(2, 'viridian.usage', 'error: a differencing disk needs --parent');
        if (type !== 'differencing' && o.parent)
          throw new CommanderError(
            2,
            'viridian.usage',
            'error: --parent makes a differencing disk; drop --type',
          );
        if (type !== 'differencing' && o.size === undefined)
          throw new CommanderError(2, 'viridian.usage', 'error: --size is required');
        const format = formatFor(path, o.format);
        const info = await guard(path, async () => {
          const disk = await VirtualDisk.create(path, {
            format,
            type,
            ...(o.size !== undefined ? { sizeBytes: o.size } : {}),
            ...(o.parent ? { parentPath: o.parent } : {}),
            ...(o.blockSize !== undefined ? { blockSize: o.blockSize } : {}),
            ...(o.sectorSize ? { logicalSectorSize: Number(o.sectorSize) as 512 | 4096 } : {}),
          });
          try {
            return await disk.info();
          } finally {
            await disk.close();
          }
        });
        print(
          o,
          `created ${info.path} (${info.format.toUpperCase()} ${info.type}, ${formatSize(info.virtualSize)})`,
          info,
        );
      },
    );

  vhd
    .command('info')
    .argument('<path>', 'virtual disk file')
    .description('show a disk’s format, sizes, identifiers and parent chain')
    .option('--json', 'print JSON')
    .action(async (path: string, o: { json?: boolean }) => {
      const info = await guard(path, async () => {
        const disk = await VirtualDisk.open(path, { readOnly: true });
        try {
          return await disk.info();
        } finally {
          await disk.close();
        }
      });
      print(o, infoText(info), info);
    });

  vhd
    .command('resize')
    .argument('<path>', 'virtual disk file')
    .argument('<size>', 'new virtual size, e.g. 20G', parseSize)
    .description('grow a disk, or shrink it when the part cut off holds no data')
    .action(async (path: string, size: number) => {
      await guard(path, () => VirtualDisk.resize(path, size));
      io.out(`resized ${path} to ${formatSize(size)}`);
    });

  vhd
    .command('compact')
    .argument('<path>', 'virtual disk file')
    .description('drop all-zero blocks from a dynamic or differencing disk')
    .action(async (path: string) => {
      const r = await guard(path, () => VirtualDisk.compact(path));
      io.out(`compacted ${path}: ${r.blocksBefore} blocks before, ${r.blocksAfter} after`);
    });

  vhd
    .command('convert')
    .argument('<source>', 'disk to read (a differencing chain is flattened)')
    .argument('<destination>', 'file to create')
    .addOption(
      new Option('--format <format>', 'destination format (default: from the extension)').choices([
        'vhd',
        'vhdx',
      ]),
    )
    .addOption(
      new Option('--type <type>', 'destination type').choices(['fixed', 'dynamic']).default('dynamic'),
    )
    .option('--block-size <size>', 'allocation block size', parseSize)
    .description('copy a disk into a new file of another format or type')
    .action(
      async (
        source: string,
        destination: string,
        o: { format?: string; type: 'fixed' | 'dynamic'; blockSize?: number },
      ) => {
        const format = formatFor(destination, o.format);
        await guard(source, () =>
          VirtualDisk.convert(source, destination, {
            format,
            type: o.type,
            ...(o.blockSize !== undefined ? { blockSize: o.blockSize } : {}),
          }),
        );
        io.out(`converted ${source} to ${destination} (${format.toUpperCase()} ${o.type})`);
      },
    );

  vhd
    .command('merge')
    .argument('<child>', 'differencing disk')
    .option('--keep-child', 'keep the child file (it no longer matches its parent afterwards)')
    .description('merge a differencing disk into its parent (the child is deleted)')
    .action(async (child: string, o: { keepChild?: boolean }) => {
      await guard(child, () => VirtualDisk.merge(child, o.keepChild ? { keepChild: true } : {}));
      io.out(`merged ${child} into its parent`);
    });

  vhd
    .command('check')
    .argument('<path>', 'virtual disk file')
    .option('--repair', 'fix what can be fixed safely (damaged copies, pending log)')
    .option('--json', 'print JSON')
    .description('check a disk’s structures (exit code 1 when problems remain)')
    .action(async (path: string, o: { repair?: boolean; json?: boolean }) => {
      const report = await guard(path, () => VirtualDisk.check(path, o.repair ? { repair: true } : {}));
      print(o, checkText(path, report), report);
      if (!report.ok) throw new Error(`${path}: check found problems`);
    });
}
