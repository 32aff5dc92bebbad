import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createVmConfig } from './config.js';
import { CONFIG_FORMAT_VERSION, ConfigStore } from './store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('saves and loads configurations, one file per VM carrying the format version', () => {
  const store = new ConfigStore(dir);
  const a = createVmConfig({ name: 'a', image: 'idle' });
  const b = createVmConfig({ name: 'b', image: 'counter', memoryMB: 1024 });
  store.save(a);
  store.save(b);
  const doc = JSON.parse(readFileSync(store.fileOf(a.id), 'utf8'));
  expect(doc.formatVersion).toBe(CONFIG_FORMAT_VERSION);
  const loaded = new ConfigStore(dir).loadAll();
  expect(loaded.problems).toEqual([]);
  expect(loaded.configs.sort((x, y) => x.name.localeCompare(y.name))).toEqual([a, b]);
  store.remove(a.id);
  expect(new ConfigStore(dir).loadAll().configs.map((c) => c.id)).toEqual([b.id]);
});

test('a file of an unknown version is refused naming both versions, and left untouched', () => {
  const store = new ConfigStore(dir);
  const a = createVmConfig({ name: 'a', image: 'idle' });
  const text = JSON.stringify({ formatVersion: 7, config: a });
  writeFileSync(store.fileOf(a.id), text);
  const { configs, problems } = store.loadAll();
  expect(configs).toEqual([]);
  expect(problems).toHaveLength(1);
  expect(problems[0]!.code).toBe('VersionMismatch');
  expect(problems[0]!.message).toMatch(/version 7 is not supported \(this host reads version 1\)/);
  expect(readFileSync(store.fileOf(a.id), 'utf8')).toBe(text);
});

test('corrupt files are reported, not dropped, not overwritten; the others still load', () => {
  const store = new ConfigStore(dir);
  const good = createVmConfig({ name: 'good', image: 'idle' });
  store.save(good);
  const torn = createVmConfig({ name: 'torn', image: 'idle' });
  const tornText = store.encode(torn).slice(0, 40);
  writeFileSync(store.fileOf(torn.id), tornText);
  const bad = createVmConfig({ name: 'bad', image: 'idle' });
  writeFileSync(store.fileOf(bad.id), JSON.stringify({ formatVersion: 1, config: { ...bad, memoryMB: -5 } }));
  const { configs, problems } = store.loadAll();
  expect(configs.map((c) => c.name)).toEqual(['good']);
  expect(problems.map((p) => p.code)).toEqual(['Corrupt', 'Corrupt']);
  expect(problems.map((p) => p.message).join('\n')).toMatch(/not valid JSON/);
  expect(problems.map((p) => p.message).join('\n')).toMatch(/memoryMB must be between/);
  expect(readFileSync(store.fileOf(torn.id), 'utf8')).toBe(tornText);
});

test('kill -9 at random moments during writes leaves every VM as before or after, never torn', async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const fixture = join(here, 'store-writer.test-fixture.ts');
  const committed = new Map<string, number>();
  const begun = new Map<string, number>();
  for (let run = 0; run < 6; run++) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@viridian/source', fixture, dir],
      {
        cwd: dirname(here),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const deadline = Date.now() + 20_000;
    while (!out.includes('ready\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(out).toContain('ready\n');
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 200)));
    child.kill('SIGKILL');
    await exited;
    for (const line of out.split('\n')) {
      const [what, id, gen] = line.split(' ');
      if (what === 'begin') begun.set(id!, Number(gen));
      if (what === 'commit') committed.set(id!, Number(gen));
    }
    const { configs, problems } = new ConfigStore(dir).loadAll();
    expect(problems).toEqual([]);
    const onDisk = new Map(configs.map((c) => [c.id, Number(c.notes.slice(4))]));
    for (const [id, gen] of committed) {
      const found = onDisk.get(id);
      // either the last committed version or the one whose write was cut short
      expect([gen, begun.get(id)]).toContain(found);
    }
    for (const [id, gen] of onDisk) {
      if (!committed.has(id)) expect(begun.get(id)).toBe(gen); // a creation cut short, but whole
      committed.set(id, gen); // the next run continues from what is on disk
    }
    expect(readdirSync(join(dir, 'vms')).every((f) => f.endsWith('.json') || f.endsWith('.tmp'))).toBe(true);
  }
  expect(committed.size).toBeGreaterThan(0);
  expect([...committed.values()].some((gen) => gen > 1)).toBe(true);
});
