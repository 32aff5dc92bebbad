import { defineConfig } from 'vitest/config';

// Tests import sibling packages from their TypeScript sources (the "@viridian/source"
// export condition), so a test run never depends on a stale build of a dependency.
const conditions = ['@viridian/source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@viridian/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The JSON report lets the root test command print one closing pass/fail line for the repository.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
