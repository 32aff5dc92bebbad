#!/usr/bin/env node
// Installed as the `viridian` command. It exists before the first build, so package managers can
// link it; the CLI itself is the compiled dist/bin.js.
try {
  await import('../dist/bin.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/bin.js')) {
    process.stderr.write('viridian: the CLI is not built yet; run `pnpm build` in the repository first\n');
    process.exit(1);
  }
  throw error;
}
