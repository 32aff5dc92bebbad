import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { check, openDisk } from './index.js';
import { pattern, runAndKill, tempDir } from './test-support.js';

// A real process killed with SIGKILL while it keeps allocating blocks and flushing (so the kill lands
// in data writes, log writes or BAT application): every step whose flush returned must be intact.
const p = tempDir();
const MiB = 1024 * 1024;
const fixture = new URL('./crash.test-fixture.ts', import.meta.url);

describe.each(['vhd', 'vhdx'] as const)('crash consistency (%s)', (format) => {
  it('every flushed step survives SIGKILL; the unacknowledged write is new or old per sector', async () => {
    for (const [killAfter, delay] of [[4, 3]] as const) {
      const path = p(`crash-${killAfter}.${format}`);
      const last = await runAndKill(fixture, [path, format], killAfter, delay);
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
