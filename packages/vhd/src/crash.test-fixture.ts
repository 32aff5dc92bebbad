// Child process for the crash test: writes one new block per step and flushes after each, printing
// the step number once the flush has returned. The test kills it with SIGKILL at an arbitrary point.
import { createDisk, type DiskFormat } from './index.js';
import { pattern } from './test-support.js';

const [path, format] = process.argv.slice(2) as [string, DiskFormat];
const MiB = 1024 * 1024;
const disk = await createDisk(path, { format, type: 'dynamic', sizeBytes: 64 * MiB, blockSize: MiB });
for (let i = 0; ; i = (i + 1) % 64) {
  await disk.write(i * MiB + 4096, pattern(64 * 1024, i + 1));
  await disk.flush();
  process.stdout.write(`flushed ${i}\n`);
}
