import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread at `entry`, a module URL the caller resolves with
 * `new URL('./x.js', import.meta.url)`.
 *
 * Compiled code starts the `.js` entry directly. When the caller runs from TypeScript sources
 * (tests, development), `./x.js` does not exist beside it but `./x.ts` does: the worker then
 * starts through a bootstrap that registers the tsx loader and resolves workspace packages to
 * their sources, as the test runner does in the main thread. `workerData` is passed unchanged.
 */
export function spawnWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const tsEntry = sourceEntryFor(entry);
  if (tsEntry === undefined) return new Worker(entry, options);
  return new Worker(new URL('../bootstrap.mjs', import.meta.url), {
    ...options,
    argv: [...(options.argv ?? []), `--viridian-entry=${tsEntry.href}`],
    execArgv: [...(options.execArgv ?? []), '--conditions=@viridian/source'],
  });
}

/** The `.ts` twin of a `.js` entry that does not exist, or undefined when the entry is runnable as is. */
function sourceEntryFor(entry: URL): URL | undefined {
  if (entry.protocol !== 'file:' || !entry.pathname.endsWith('.js')) return undefined;
  if (existsSync(fileURLToPath(entry))) return undefined;
  const ts = new URL(entry.href.replace(/\.js$/, '.ts'));
  return existsSync(fileURLToPath(ts)) ? ts : undefined;
}
