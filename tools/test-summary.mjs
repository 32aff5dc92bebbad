#!/usr/bin/env node
// Adds up the vitest JSON reports every package wrote and prints one closing line,
// "tests: N passed, N failed", so a whole-repository run ends with a single verdict.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
let suites = 0;
for (const group of ['packages', 'apps', 'tools', 'examples']) {
  let entries = [];
  try {
    entries = readdirSync(join(root, group));
  } catch {
    continue;
  }
  for (const entry of entries) {
    let report;
    try {
      report = JSON.parse(readFileSync(join(root, group, entry, '.vitest-results.json'), 'utf8'));
    } catch {
      continue;
    }
    suites++;
    passed += report.numPassedTests ?? 0;
    failed += (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  }
}
process.stdout.write(`\n${suites} packages tested\n`);
process.stdout.write(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed === 0 && suites > 0 ? 0 : 1);
