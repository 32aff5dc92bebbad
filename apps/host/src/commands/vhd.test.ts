import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtualDisk } from '@viridian/vhd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const appDir = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
// The real CLI from its TypeScript sources, so the test never runs a stale build.
const NODE_ARGS = ['--import', 'tsx', '--conditions=@viridian/source', join(appDir, 'src', 'bin.ts')];

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, 'vhd', ...args],
      { cwd: appDir, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'viridian-vhd-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('viridian vhd', () => {
  it('new, info (--json and text), resize, compact, convert, check on real files', async () => {
    const base = join(dir, 'base.vhdx');
    const created = await cli('new', base, '--size', '64M');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toContain('created');
    const [infoJson, infoText] = await Promise.all([cli('info', base, '--json'), cli('info', base)]);
    expect(infoJson.code).toBe(0);
    expect(JSON.parse(infoJson.stdout)).toMatchObject({
      format: 'vhdx',
      type: 'dynamic',
      virtualSize: 64 << 20,
    });
    expect(infoText.stdout).toMatch(/Virtual size:\s+64 MiB/);

    // Data written through the library survives resize and convert.
    const disk = await VirtualDisk.open(base);
    await disk.write(1 << 20, Buffer.alloc(4096, 0xab));
    await disk.close();
    expect((await cli('resize', base, '128M')).code).toBe(0);
    const resized = await VirtualDisk.open(base, { readOnly: true });
    expect(resized.sizeBytes).toBe(128 << 20);
    await resized.close();
    const compacted = await cli('compact', base);
    expect(compacted).toMatchObject({ code: 0 });
    expect(compacted.stdout).toMatch(/blocks before/);

    const fixed = join(dir, 'fixed.vhd');
    expect((await cli('convert', base, fixed, '--type', 'fixed')).code).toBe(0);
    const copy = await VirtualDisk.open(fixed, { readOnly: true });
    expect([copy.format, copy.type]).toEqual(['vhd', 'fixed']);
    expect((await copy.read(1 << 20, 4096)).every((b) => b === 0xab)).toBe(true);
    await copy.close();

    const [checkJson, checkText] = await Promise.all([cli('check', fixed, '--json'), cli('check', base)]);
    expect(checkJson.code).toBe(0);
    expect(JSON.parse(checkJson.stdout)).toMatchObject({ ok: true, issues: [] });
    expect(checkText.stdout).toContain('OK');
  });

  it('differencing disks: new --parent shows the chain, merge folds the child into the parent', async () => {
    const parent = join(dir, 'p.vhd');
    const child = join(dir, 'c.avhd');
    expect((await cli('new', parent, '--size', '16M')).code).toBe(0);
    expect((await cli('new', child, '--parent', parent)).code).toBe(0);
    const info = JSON.parse((await cli('info', child, '--json')).stdout);
    expect(info).toMatchObject({ type: 'differencing', virtualSize: 16 << 20 });
    expect(info.parentChain).toHaveLength(1);
    const d = await VirtualDisk.open(child);
    await d.write(0, Buffer.alloc(512, 0x42));
    await d.close();
    const merged = await cli('merge', child);
    expect(merged.code).toBe(0);
    expect(existsSync(child)).toBe(false);
    const p = await VirtualDisk.open(parent, { readOnly: true });
    expect((await p.read(0, 512)).every((b) => b === 0x42)).toBe(true);
    await p.close();
  });

  it('corrupt and truncated files: exit code 1, a clear message, and the file left unchanged', async () => {
    const junk = join(dir, 'junk.vhdx');
    await writeFile(junk, Buffer.alloc(1 << 20, 0x37));
    const truncated = join(dir, 'cut.vhd');
    await (
      await VirtualDisk.create(truncated, { format: 'vhd', type: 'dynamic', sizeBytes: 8 << 20 })
    ).close();
    await truncate(truncated, 700);
    const before = [await readFile(junk), await readFile(truncated)];
    const [info, check, cut, cutCheck] = await Promise.all([
      cli('info', junk),
      cli('check', junk, '--json'),
      cli('info', truncated),
      cli('check', truncated, '--repair'),
    ]);
    expect(info.code).toBe(1);
    expect(info.stderr).toMatch(/junk\.vhdx is not a usable virtual disk \(UNKNOWN_FORMAT\)/);
    expect(check.code).toBe(1);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: false });
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/cut\.vhd is not a usable virtual disk \([A-Z_]+\): \S/);
    expect(cutCheck.code).toBe(1);
    expect(cutCheck.stdout).toContain('PROBLEMS FOUND');
    expect(await readFile(junk)).toEqual(before[0]);
    expect(await readFile(truncated)).toEqual(before[1]);
  });

  it('usage errors exit 2; a missing file exits 1', async () => {
    const results = await Promise.all([
      cli('new', join(dir, 'x.img'), '--size', '1M'),
      cli('resize', join(dir, 'x.vhdx'), 'banana'),
      cli('info', join(dir, 'missing.vhdx')),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 1]);
    expect(results[0]!.stderr).toContain('--format');
    expect(results[1]!.stderr).toContain('is not a size');
    expect(results[2]!.stderr).toContain('no such file');
    expect(existsSync(join(dir, 'x.vhdx'))).toBe(false);
  });
});
