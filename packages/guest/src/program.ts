// Naming and loading guest programs: the host names the program in the boot image's URL (the
// hypervisor's partition-image parameter), as `?program=<name or module URL>`.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GuestError, GuestErrorCode } from './errors.js';
import type { Guest } from './runtime.js';

/** A guest program: an ES module exporting `main(guest)`. When main returns, the guest powers off. */
export interface GuestProgram {
  main(guest: Guest): unknown;
}

/** Programs shipped with the runtime, by name. */
export const BUILTIN_PROGRAMS = {
  idle: 'idles politely (halts between ticks) and reports its identity',
  primes: 'CPU-bound prime search that yields at every slice',
  'kv-health': 'a key-value store over KVP that reports application health with heartbeat',
  'disk-probe': 'writes, flushes and reads back a pattern at both ends of every disk (scratch disks only)',
} as const;
export type BuiltinProgram = keyof typeof BUILTIN_PROGRAMS;

const builtins: Record<BuiltinProgram, () => Promise<unknown>> = {
  idle: () => import('./programs/idle.js'),
  primes: () => import('./programs/primes.js'),
  'kv-health': () => import('./programs/kv-health.js'),
  'disk-probe': () => import('./programs/disk-probe.js'),
};

/** Parameters the host passes in the image URL's query. */
export interface ImageParameters {
  /** Built-in program name or module URL (default 'idle'). */
  readonly program: string;
  /** Guest oscillator error, e.g. 0.01. */
  readonly clockDrift?: number;
  readonly hostName?: string;
}

/**
 * The module URL of the boot image with its parameters. From TypeScript sources (tests) the image is
 * the `.ts` file beside this one; compiled, the `.js`.
 */
export function guestImageUrl(parameters: Partial<ImageParameters> = {}): string {
  let url = new URL('./image.js', import.meta.url);
  if (url.protocol === 'file:' && !existsSync(fileURLToPath(url)))
    url = new URL('./image.ts', import.meta.url);
  return withParameters(url, parameters);
}

/** Adds image parameters to any image URL (e.g. a test image built on the runtime). */
export function withParameters(image: URL | string, parameters: Partial<ImageParameters>): string {
  const url = new URL(image);
  if (parameters.program !== undefined) url.searchParams.set('program', parameters.program);
  if (parameters.clockDrift !== undefined) url.searchParams.set('drift', String(parameters.clockDrift));
  if (parameters.hostName !== undefined) url.searchParams.set('host', parameters.hostName);
  return url.href;
}

/** Reads the parameters from an image URL (hostile text: anything malformed is a typed error). */
export function parseImageParameters(image: string): ImageParameters {
  const q = new URL(image).searchParams;
  const program = q.get('program') ?? 'idle';
  const drift = q.get('drift');
  let clockDrift: number | undefined;
  if (drift !== null) {
    clockDrift = Number(drift);
    if (!Number.isFinite(clockDrift) || Math.abs(clockDrift) >= 0.5)
      throw new GuestError(
        GuestErrorCode.BadParameter,
        `drift ${JSON.stringify(drift)} is not a small number`,
      );
  }
  const host = q.get('host');
  return {
    program,
    ...(clockDrift !== undefined ? { clockDrift } : {}),
    ...(host !== null ? { hostName: host } : {}),
  };
}

/** Imports the named program and checks it exports main(guest). */
export async function loadProgram(name: string): Promise<GuestProgram> {
  let module: unknown;
  try {
    module = Object.hasOwn(builtins, name)
      ? await builtins[name as BuiltinProgram]()
      : await import(new URL(name).href);
  } catch (error) {
    throw new GuestError(GuestErrorCode.BadProgram, `cannot load guest program ${name}: ${String(error)}`);
  }
  const main = (module as { main?: unknown } | null)?.main;
  if (typeof main !== 'function')
    throw new GuestError(GuestErrorCode.BadProgram, `guest program ${name} exports no main(guest)`);
  return { main: main as GuestProgram['main'] };
}
