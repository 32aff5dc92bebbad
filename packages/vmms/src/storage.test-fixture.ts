import { VirtualDisk } from '@viridian/vhd';
import type { VmRuntime } from './runtime.js';

export const MiB = 1024 * 1024;

/** A small dynamic disk (16 MiB, 1 MiB blocks), optionally with a first sector. */
export async function makeDisk(path: string, first?: string): Promise<string> {
  const disk = await VirtualDisk.create(path, {
    format: path.endsWith('.vhd') ? 'vhd' : 'vhdx',
    type: 'dynamic',
    sizeBytes: 16 * MiB,
    blockSize: path.endsWith('.vhd') ? 2 * MiB : MiB,
  });
  if (first !== undefined) await disk.write(0, sector(first));
  await disk.close();
  return path;
}

export function sector(text: string): Buffer {
  const out = Buffer.alloc(512);
  out.write(text, 'utf8');
  return out;
}

/** Writes a text at `offset` through the whole chain of `path` (into its top file). */
export async function writeText(path: string, text: string, offset = 0): Promise<void> {
  const disk = await VirtualDisk.open(path);
  await disk.write(offset, sector(text));
  await disk.close();
}

/** The text at `offset` as the chain of `path` shows it. */
export async function readText(path: string, offset = 0): Promise<string> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  const bytes = await disk.read(offset, 512);
  await disk.close();
  return bytes.toString('utf8').replace(/\0+$/, '');
}

export async function chainOf(path: string): Promise<string[]> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  const info = await disk.info();
  await disk.close();
  return info.parentChain.map((p) => p.path);
}

/** A runtime for tests of VMs that stay off: it refuses to run anything. */
export const offlineRuntime: VmRuntime = {
  checkImage: () => undefined,
  start: () => Promise.reject(new Error('this test runs no VM')),
};
