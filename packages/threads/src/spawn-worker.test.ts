import { once } from 'node:events';
import { expect, test } from 'vitest';
import { spawnWorker } from './spawn-worker.js';

test('starts a TypeScript entry from source with workerData and argv untouched', async () => {
  const worker = spawnWorker(new URL('./echo-worker.test-fixture.js', import.meta.url), {
    workerData: { word: 'viridian' },
    argv: ['--keep'],
  });
  const [message] = await once(worker, 'message');
  expect(message).toEqual({ echoed: 'viridian', argv: ['--keep'] });
  await worker.terminate();
});

test('an entry that exists in neither form fails with the loader error, not silently', async () => {
  const worker = spawnWorker(new URL('./missing-entry.js', import.meta.url));
  const [error] = await once(worker, 'error');
  expect(String(error)).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
});
