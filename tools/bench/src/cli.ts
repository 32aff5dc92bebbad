#!/usr/bin/env node
// Runs every suite found in dist/suites (or the ones named on the command line), prints a table
// and writes the same figures to bench/results.json at the repository root.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatTable } from './report.js';
import type { BenchRecord, BenchSuite } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const suitesDir = join(here, 'suites');
const resultsFile = join(here, '..', '..', '..', 'bench', 'results.json');

async function loadSuites(only: readonly string[]): Promise<BenchSuite[]> {
  const files = (await readdir(suitesDir)).filter((f) => f.endsWith('.js')).sort();
  const suites: BenchSuite[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(join(suitesDir, file)).href)) as { suite?: BenchSuite };
    if (module.suite === undefined) continue;
    if (only.length === 0 || only.includes(module.suite.name)) suites.push(module.suite);
  }
  return suites;
}

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const suites = await loadSuites(only);
  if (suites.length === 0) {
    process.stderr.write(`bench: no suite matched ${only.join(', ') || '(none built)'}\n`);
    return 2;
  }
  const records: Array<BenchRecord & { suite: string }> = [];
  let failed = 0;
  for (const suite of suites) {
    process.stderr.write(`bench: running ${suite.name}...\n`);
    try {
      for (const record of await suite.run()) records.push({ suite: suite.name, ...record });
    } catch (error) {
      failed++;
      process.stderr.write(
        `bench: ${suite.name} failed: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
    }
  }
  process.stdout.write(`${formatTable(records)}\n`);
  await mkdir(dirname(resultsFile), { recursive: true });
  const meta = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
  await writeFile(
    resultsFile,
    `${JSON.stringify(
      records.map((r) => ({ ...r, ...meta })),
      null,
      2,
    )}\n`,
  );
  process.stderr.write(`bench: ${records.length} figures written to ${resultsFile}\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
