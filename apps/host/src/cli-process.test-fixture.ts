// The real `viridian` CLI as child processes, for end-to-end tests: one-shot commands, a `serve`
// daemon that can be killed hard, and a check that a killed daemon leaves no process behind.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const appDir = dirname(dirname(fileURLToPath(import.meta.url)));

/** Newest modification time of the files under `dir` (tests are not part of the build). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.includes('.test')) continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/**
 * The CLI's build when it is newer than every source it is made of (starts fast), otherwise the
 * TypeScript sources through tsx (loaded by URL, so any working directory will do): never a stale build.
 */
function cliEntry(): string[] {
  const built = join(appDir, 'dist', 'bin.js');
  const packages = ['client', 'vmms', 'vmwp', 'hypervisor', 'vmbus', 'ic', 'threads', 'storage', 'vhd'];
  const sources = [appDir, ...packages.map((p) => join(appDir, '..', '..', 'packages', p))];
  const fresh =
    existsSync(built) &&
    sources.every(
      (pkg) => existsSync(join(pkg, 'dist')) && newest(join(pkg, 'src')) <= newest(join(pkg, 'dist')),
    );
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return fresh ? [built] : ['--import', tsx, '--conditions=@viridian/source', join(appDir, 'src', 'bin.ts')];
}
const NODE_ARGS = cliEntry();

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end (killed after 60 s, reported as code -1). */
export function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, ...args],
      { cwd: appDir, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A running `viridian serve`. */
export interface Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code, or the signal that ended the process. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Everything written so far to stdout and stderr. */
  output(): string;
}

const daemons = new Set<Daemon>();

/** Starts `viridian serve` on `dataDir` and resolves once it listens (rejects after 30 s). */
export async function startServe(dataDir: string): Promise<Daemon> {
  const child = spawn(process.execPath, [...NODE_ARGS, '--data-dir', dataDir, 'serve'], {
    cwd: appDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (chunk: Buffer): void => {
    out += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const daemon: Daemon = { child, pid: child.pid!, exited, output: () => out };
  daemons.add(daemon);
  void exited.then(() => daemons.delete(daemon));
  const end = Date.now() + 30_000;
  while (!out.includes('listening on') && child.exitCode === null && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
  if (!out.includes('listening on')) {
    child.kill('SIGKILL');
    throw new Error(`viridian serve did not start listening:\n${out}`);
  }
  return daemon;
}

/** Kills every daemon still running and waits for each to exit (for afterAll, whatever happened). */
export async function killAllDaemons(): Promise<void> {
  const running = [...daemons];
  for (const daemon of running) daemon.child.kill('SIGKILL');
  await Promise.all(running.map((daemon) => daemon.exited));
}

/** A process, told apart from a later one reusing its pid by its start time. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: string;
}

/** The /proc stat fields after the command name: state, ppid, …, start time (field 22 overall). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it (Linux /proc; only `pid` where there is no /proc). */
export function processTree(pid: number): ProcessRef[] {
  const ref = (p: number): ProcessRef | undefined => {
    const fields = statFields(p);
    return fields === undefined ? undefined : { pid: p, startTime: fields[19]! };
  };
  if (!existsSync('/proc/self/stat')) return [{ pid, startTime: '' }];
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (!Number.isInteger(ppid)) continue;
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const tree: ProcessRef[] = [];
  const visit = (p: number): void => {
    const found = ref(p);
    if (found === undefined) return;
    tree.push(found);
    for (const child of parents.get(p) ?? []) visit(child);
  };
  visit(pid);
  return tree;
}

/** Whether the process still runs (a zombie waiting to be reaped has ended). */
export function isRunning(ref: ProcessRef): boolean {
  if (ref.startTime === '') {
    try {
      process.kill(ref.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const fields = statFields(ref.pid);
  return fields !== undefined && fields[19] === ref.startTime && fields[0] !== 'Z';
}
