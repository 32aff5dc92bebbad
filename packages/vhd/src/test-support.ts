import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { openDisk } from './disk.js';

/** A temp directory removed after the file's tests. */
export function tempDir(): (name: string) => string {
  const dir = mkdtempSync(join(tmpdir(), 'viridian-vhd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return (name: string) => join(dir, name);
}

export function hasQemuImg(): boolean {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs qemu-img and returns exit status and output instead of throwing. */
export function qemuImgStatus(...args: string[]): { status: number; out: string } {
  try {
    return { status: 0, out: qemuImg(...args) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** Deterministic pseudo-random bytes. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function random(length: number): Buffer {
  return randomBytes(length);
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs a fixture script that prints `step <n>` lines and SIGKILLs it `delayMs` after it reported
 * step `killAfter`; resolves with the last step it reported. The fixture runs under node itself
 * (not the tsx wrapper, which would leave its own child running after the kill).
 */
export function runAndKill(
  fixture: URL,
  args: string[],
  killAfter: number,
  delayMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(fixture), ...args], {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let last = -1;
    let out = '';
    let killing = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) last = Number(l.split(' ')[1]);
      if (last >= killAfter && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`fixture ended without being killed (${signal})`));
      else resolve(last);
    });
  });
}

/** Every byte a disk reads (through its parent chain). */
export async function readAll(path: string): Promise<Buffer> {
  const d = await openDisk(path, { readOnly: true });
  try {
    return await d.read(0, d.sizeBytes);
  } finally {
    await d.close();
  }
}
