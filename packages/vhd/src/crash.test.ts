import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { check, openDisk } from './index.js';
import { pattern, tempDir } from './test-support.js';

// A real process killed with SIGKILL while it keeps allocating blocks and flushing (so the kill lands
// in data writes, log writes or BAT application): every step whose flush returned must be intact.
const p = tempDir();
const MiB = 1024 * 1024;
const fixture = fileURLToPath(new URL('./crash.test-fixture.ts', import.meta.url));
const packageDir = fileURLToPath(new URL('..', import.meta.url));

function runAndKill(path: string, format: string, killAfter: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    // node itself (not the tsx wrapper, which would leave its own child running after the kill).
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, format], {
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

describe.each(['vhd', 'vhdx'] as const)('crash consistency (%s)', (format) => {
  it('every flushed step survives SIGKILL; the unacknowledged write is new or old per sector', async () => {
    for (const [killAfter, delay] of [[4, 3]] as const) {
      const path = p(`crash-${killAfter}.${format}`);
      const last = await runAndKill(path, format, killAfter, delay);
      expect(last).toBeGreaterThanOrEqual(killAfter);
      const raw = readFileSync(path);
      const report = await check(path);
      expect(report.issues.filter((x) => x.severity === 'error')).toEqual([]);
      // A read-only open does not change the file, even when a log is pending.
      const ro = await openDisk(path, { readOnly: true });
      await ro.close();
      expect(readFileSync(path).equals(raw)).toBe(true);
      const d = await openDisk(path);
      for (let i = 0; i < 64; i++) {
        const got = await d.read(i * MiB + 4096, 64 * 1024);
        const want = pattern(64 * 1024, i + 1);
        if (i <= last) expect(got.equals(want)).toBe(true);
        else {
          // The write in flight at the kill was never acknowledged: each sector is new or still zero.
          for (let s = 0; s < got.length; s += 512) {
            const g = got.subarray(s, s + 512);
            expect(g.equals(want.subarray(s, s + 512)) || g.every((x) => x === 0)).toBe(true);
          }
        }
      }
      await d.close();
      expect((await check(path)).issues.filter((x) => x.severity === 'error')).toEqual([]);
    }
  });
});
