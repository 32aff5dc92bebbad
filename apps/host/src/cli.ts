import { readFileSync } from 'node:fs';
import { ApiError, ViridianClient } from '@viridian/client';
import {
  BUILTIN_IMAGES,
  HostService,
  type JobInfo,
  resolveDataDir,
  type VmChanges,
  type VmSpec,
} from '@viridian/vmms';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { int, usageError } from './args.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerCheckpointCommands } from './commands/checkpoint.js';
import type { CommandContext } from './commands/context.js';
import { registerDiskCommands } from './commands/disk.js';
import { registerIcCommands } from './commands/ic.js';
import { registerVhdCommand } from './commands/vhd.js';
import { runDemo } from './demo.js';
import { eventLine, jobLine, vmDetail, vmTable } from './format.js';

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

/** Where the CLI writes; tests and the demo can capture it. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
}

const defaultIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: process.stdout.isTTY === true,
};

/** An operation that ran and failed (exit code 1), as opposed to a usage error (exit code 2). */
class OperationFailed extends Error {}

const IC = ['heartbeat', 'kvp', 'timesync', 'shutdown', 'vss'];
function icList(value: string, previous: string[] = []): string[] {
  const names = value.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!IC.includes(name))
      throw new InvalidArgumentError(`unknown integration service "${name}" (${IC.join(', ')}).`);
  }
  return [...previous, ...names];
}

interface SettingsOptions {
  image?: string;
  memory?: number;
  cpus?: number;
  weight?: number;
  reserve?: number;
  limit?: number;
  notes?: string;
  startAction?: string;
  startDelay?: number;
  stopAction?: string;
  recovery?: string;
  enableIc?: string[];
  disableIc?: string[];
}

function settingsOptions(command: Command, creating: boolean): Command {
  command
    .addOption(
      new Option(
        '--image <image>',
        `guest image: built-in (${Object.keys(BUILTIN_IMAGES).join(', ')}) or an absolute module path`,
      ).makeOptionMandatory(creating),
    )
    .option('--memory <MB>', 'memory in MB (even, 32 or more)', int('--memory', 32, 1_048_576))
    .option('--cpus <count>', 'virtual processors', int('--cpus', 1, 64))
    .option('--weight <1-10000>', 'relative CPU weight (default 100)', int('--weight', 1, 10_000))
    .option('--reserve <percent>', 'CPU reserve, percent of one host processor', int('--reserve', 0, 100))
    .option('--limit <percent>', 'CPU limit, percent of one host processor', int('--limit', 1, 100))
    .option('--notes <text>', 'free-form notes')
    .addOption(
      new Option('--start-action <action>', 'automatic start action').choices([
        'Nothing',
        'StartIfRunning',
        'Start',
      ]),
    )
    .option('--start-delay <seconds>', 'automatic start delay', int('--start-delay', 0, 86_400))
    .addOption(
      new Option('--stop-action <action>', 'automatic stop action').choices(['TurnOff', 'Save', 'ShutDown']),
    )
    .addOption(
      new Option('--recovery <action>', 'what to do when the guest or worker fails').choices([
        'None',
        'Restart',
      ]),
    )
    .option('--enable-ic <names>', `enable integration services (${IC.join(',')})`, icList)
    .option('--disable-ic <names>', 'disable integration services', icList);
  return command;
}

function toSettings(o: SettingsOptions): VmChanges {
  const s: VmChanges = {};
  if (o.image !== undefined) s.image = o.image;
  if (o.memory !== undefined) s.memoryMB = o.memory;
  if (o.cpus !== undefined) s.processorCount = o.cpus;
  const cpu: NonNullable<VmChanges['cpu']> = {};
  if (o.weight !== undefined) cpu.relativeWeight = o.weight;
  if (o.reserve !== undefined) cpu.reservePercent = o.reserve;
  if (o.limit !== undefined) cpu.limitPercent = o.limit;
  if (Object.keys(cpu).length > 0) s.cpu = cpu;
  if (o.notes !== undefined) s.notes = o.notes;
  if (o.startAction !== undefined)
    s.automaticStartAction = o.startAction as VmSpec['automaticStartAction'] & string;
  if (o.startDelay !== undefined) s.automaticStartDelaySec = o.startDelay;
  if (o.stopAction !== undefined)
    s.automaticStopAction = o.stopAction as VmSpec['automaticStopAction'] & string;
  if (o.recovery !== undefined) s.recoveryAction = o.recovery as VmSpec['recoveryAction'] & string;
  const ic: Record<string, boolean> = {};
  for (const name of o.enableIc ?? []) ic[name] = true;
  for (const name of o.disableIc ?? []) ic[name] = false;
  if (Object.keys(ic).length > 0) s.integrationServices = ic;
  return s;
}

/** Runs the CLI; resolves with the process exit code (0 ok, 1 operation failed, 2 usage error). */
export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  const program = new Command('viridian');
  let client: ViridianClient | undefined;
  const globals = () => program.opts<{ json?: boolean; dataDir?: string }>();
  const json = () => globals().json === true;
  const dataDir = () => resolveDataDir(globals().dataDir);
  const print = (human: () => string, machine: unknown) =>
    io.out(json() ? JSON.stringify(machine, null, 2) : human());
  const connect = async (): Promise<ViridianClient> => {
    if (client !== undefined) return client;
    const dir = dataDir();
    try {
      client = await ViridianClient.connect({ dataDir: dir });
    } catch (error) {
      const message = (error as Error).message;
      throw new OperationFailed(
        /cannot reach|cannot read the local token/.test(message)
          ? `no Viridian service is running for ${dir} (start one with "viridian serve"): ${message}`
          : message,
      );
    }
    return client;
  };
  const followJob = async (label: string, started: JobInfo, wait: boolean): Promise<JobInfo | undefined> => {
    const c = await connect();
    if (!wait) {
      print(() => `${label}: job ${started.id} started`, started);
      return undefined;
    }
    let bar: SingleBar | undefined;
    if (io.isTTY && !json()) {
      bar = new SingleBar({
        format: `${label} [{bar}] {percentage}% {message}`,
        hideCursor: true,
        clearOnComplete: false,
      });
      bar.start(100, 0, { message: started.message });
    }
    const final = await c.followJob(started.id, (job) => {
      if (bar !== undefined) bar.update(job.percent, { message: job.message });
      else if (!json() && job.state === 'Running') io.out(`${label}: ${job.percent}% ${job.message}`);
    });
    bar?.stop();
    if (json()) io.out(JSON.stringify(final, null, 2));
    else io.out(`${label}: ${jobLine(final)}`);
    if (final.state !== 'Completed')
      throw new OperationFailed(`${label} failed: ${final.error?.message ?? final.state}`);
    return final;
  };
  const context: CommandContext = { connect, print, json, followJob };

  program
    .name('viridian')
    .description(
      'Viridian: a Hyper-V-style partition manager. Run a host with "serve", manage its VMs with "vm".',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .option('--json', 'print machine-readable JSON instead of tables')
    .option('--data-dir <dir>', 'host data directory (default: $VIRIDIAN_DATA_DIR or ~/.viridian)')
    .showSuggestionAfterError(false)
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  viridian serve                                 run the host service on ~/.viridian
  viridian vm new web --image counter --memory 1024 --weight 200
  viridian vm start web
  viridian vm list                               Get-VM style table
  viridian vm stop web --timeout 30              graceful, via the shutdown integration service
  viridian vm stop web --turn-off                cut power at once
  viridian --json vm show web
  viridian events --vm web --follow
  viridian vm disk add web data.vhdx --lun 1     attach a virtual disk (hot add when running)
  viridian vm checkpoint new web --name before   a checkpoint; "vm checkpoint list web" shows the tree
  viridian vm backup web /backups/web            configuration and disks into a directory
  viridian kvp set web Role frontend             a KVP item the guest reads
  viridian ic list web                           integration services and the guest clock offset
  viridian vss freeze web
  viridian demo --duration 10                    a host with four VMs on a temporary directory`,
    );

  program
    .command('serve')
    .description('run the host service (VMMS) on the data directory until interrupted')
    .option(
      '--cpu-capacity <percent>',
      'processor capacity shared by all VMs, percent of one host processor',
      int('--cpu-capacity', 1, 100_000),
      100,
    )
    .action(async (options: { cpuCapacity: number }) => {
      const dir = dataDir();
      const host = await HostService.start({
        dataDir: dir,
        productVersion: VERSION,
        cpuCapacityPercent: options.cpuCapacity,
      });
      for (const problem of host.vmms.problems) io.err(`warning: ${problem.message}`);
      print(
        () =>
          `viridian ${VERSION} serving ${dir}\nlistening on ${host.socketPath}\nadministrator token in ${host.adminTokenFile}`,
        { dataDir: dir, socket: host.socketPath, adminTokenFile: host.adminTokenFile },
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      io.err('stopping: applying automatic stop actions');
      await host.stop();
    });

  const vm = program.command('vm').description('create, inspect, change and operate VMs');

  settingsOptions(vm.command('new').argument('<name>', 'VM name').description('create a VM'), true).action(
    async (name: string, options: SettingsOptions) => {
      const created = await (await connect()).createVm({ name, ...toSettings(options) } as VmSpec);
      print(() => `created ${created.name} (${created.id})`, created);
    },
  );

  vm.command('list')
    .description('list VMs (Name, State, CPU %, Memory, Uptime, Heartbeat, Status)')
    .action(async () => {
      const vms = await (await connect()).listVms();
      print(() => (vms.length === 0 ? 'no VMs' : vmTable(vms)), vms);
    });

  vm.command('show')
    .argument('<vm>', 'VM name or id')
    .description('show one VM in detail')
    .action(async (ref: string) => {
      const detail = await (await connect()).getVm(ref);
      print(() => vmDetail(detail), detail);
    });

  settingsOptions(
    vm.command('set').argument('<vm>', 'VM name or id').description('change settings of a VM'),
    false,
  )
    .option('--name <name>', 'rename the VM')
    .action(async (ref: string, options: SettingsOptions & { name?: string }) => {
      const changes = toSettings(options);
      if (options.name !== undefined) changes.name = options.name;
      if (Object.keys(changes).length === 0) throw usageError('no settings given');
      const detail = await (await connect()).setVm(ref, changes);
      print(() => `changed ${detail.name}`, detail);
    });

  const lifecycle = (name: string, description: string) =>
    vm
      .command(name)
      .argument('<vm>', 'VM name or id')
      .description(description)
      .option('--no-wait', 'return once the job has started');
  lifecycle('start', 'start a VM (a Saved VM resumes from its saved state)').action(
    async (ref: string, o: { wait: boolean }) => {
      await followJob(`start ${ref}`, await (await connect()).startVm(ref), o.wait);
    },
  );
  lifecycle('stop', 'shut a VM down through its guest, or turn it off')
    .option('--turn-off', 'cut power at once instead of asking the guest')
    .option('--timeout <seconds>', 'how long the guest may take to shut down', int('--timeout', 0, 3600))
    .action(async (ref: string, o: { wait: boolean; turnOff?: boolean; timeout?: number }) => {
      const job = await (await connect()).stopVm(ref, {
        ...(o.turnOff === true ? { turnOff: true } : {}),
        ...(o.timeout === undefined ? {} : { timeoutMs: o.timeout * 1000 }),
      });
      await followJob(`${o.turnOff === true ? 'turn off' : 'stop'} ${ref}`, job, o.wait);
    });
  lifecycle('restart', 'shut a VM down gracefully, then start it')
    .option('--timeout <seconds>', 'how long the guest may take to shut down', int('--timeout', 0, 3600))
    .action(async (ref: string, o: { wait: boolean; timeout?: number }) => {
      const job = await (await connect()).restartVm(
        ref,
        o.timeout === undefined ? {} : { timeoutMs: o.timeout * 1000 },
      );
      await followJob(`restart ${ref}`, job, o.wait);
    });
  for (const [name, description] of [
    ['save', 'save a VM’s whole state to disk and power it off (start resumes it)'],
    ['pause', 'pause a running VM'],
    ['resume', 'resume a paused VM'],
  ] as const) {
    lifecycle(name, description).action(async (ref: string, o: { wait: boolean }) => {
      const c = await connect();
      const job =
        name === 'save'
          ? await c.saveVm(ref)
          : name === 'pause'
            ? await c.pauseVm(ref)
            : await c.resumeVm(ref);
      await followJob(`${name} ${ref}`, job, o.wait);
    });
  }
  vm.command('remove')
    .argument('<vm>', 'VM name or id')
    .description('delete a VM that is Off, Saved or Critical')
    .action(async (ref: string) => {
      await (await connect()).removeVm(ref);
      print(() => `removed ${ref}`, { removed: ref });
    });

  registerDiskCommands(vm, context);
  registerCheckpointCommands(vm, context);
  registerBackupCommands(vm, context);

  program
    .command('events')
    .description('show the event log (of one VM or the whole host)')
    .option('--vm <vm>', 'only this VM')
    .option('--limit <n>', 'at most this many, newest last', int('--limit', 1, 10_000), 50)
    .option('--follow', 'keep printing new events until interrupted')
    .action(async (o: { vm?: string; limit: number; follow?: boolean }) => {
      const c = await connect();
      const events = await c.queryEvents({ ...(o.vm === undefined ? {} : { vm: o.vm }), limit: o.limit });
      if (json() && o.follow !== true) io.out(JSON.stringify(events, null, 2));
      else for (const e of events) io.out(json() ? JSON.stringify(e) : eventLine(e));
      if (o.follow !== true) return;
      await c.subscribeEvents((e) => io.out(json() ? JSON.stringify(e) : eventLine(e)), o.vm);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    });

  const token = program.command('token').description('manage API tokens (administrator)');
  token
    .command('create')
    .argument('<name>', 'token name')
    .addOption(
      new Option('--role <role>', 'role')
        .choices(['viewer', 'operator', 'administrator'])
        .makeOptionMandatory(),
    )
    .description('create a token; it is printed once')
    .action(async (name: string, o: { role: 'viewer' | 'operator' | 'administrator' }) => {
      const created = await (await connect()).createToken(name, o.role);
      print(() => created.token, created);
    });
  token
    .command('list')
    .description('list tokens (names and roles)')
    .action(async () => {
      const tokens = await (await connect()).listTokens();
      print(() => tokens.map((t) => `${t.name.padEnd(20)} ${t.role}`).join('\n'), tokens);
    });
  token
    .command('revoke')
    .argument('<name>', 'token name')
    .description('revoke a token')
    .action(async (name: string) => {
      await (await connect()).revokeToken(name);
      print(() => `revoked ${name}`, { revoked: name });
    });

  program
    .command('demo')
    .description(
      'start a host on a temporary directory with four VMs, show them live, checkpoint and back up the disk VM, then stop them',
    )
    .option('--duration <seconds>', 'how long to show the live table', int('--duration', 1, 3600), 10)
    .action(async (o: { duration: number }) => {
      await runDemo({ durationMs: o.duration * 1000, io, json: json(), version: VERSION });
    });

  registerVhdCommand(program, io, json);
  registerIcCommands(program, { connect, print });

  try {
    if (argv.length === 0) {
      io.err(program.helpInformation());
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      if (error.code === 'viridian.usage') io.err(error.message);
      return 2;
    }
    if (error instanceof ApiError || error instanceof OperationFailed) {
      io.err(`error: ${error.message}${error instanceof ApiError ? ` (${error.code})` : ''}`);
      return 1;
    }
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 1;
  } finally {
    client?.close();
  }
}
