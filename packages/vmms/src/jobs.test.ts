import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ErrorCode, VmmsError } from './errors.js';
import { EventLevel, EventLog } from './event-log.js';
import { type JobInfo, JobManager } from './jobs.js';

test('a job reports progress in order, then its result; listeners follow it', async () => {
  const jobs = new JobManager();
  const seen: JobInfo[] = [];
  jobs.subscribe((job) => seen.push(job));
  const first = jobs.run('demo', undefined, async (job) => {
    job.progress(30, 'a');
    await new Promise((r) => setTimeout(r, 10));
    job.progress(20, 'never goes back');
    job.progress(80, 'b');
    return 42;
  });
  expect(first.state).toBe('Running');
  const final = await jobs.wait(first.id);
  expect(final).toMatchObject({ state: 'Completed', percent: 100, result: 42 });
  expect(seen.map((j) => j.percent)).toEqual([0, 30, 30, 80, 100]);
});

test('failures keep their code; cancellation ends a job Cancelled', async () => {
  const jobs = new JobManager();
  const failed = jobs.run('x', undefined, async () => {
    throw new VmmsError(ErrorCode.Timeout, 'too slow');
  });
  expect(await jobs.wait(failed.id)).toMatchObject({
    state: 'Failed',
    error: { code: 'Timeout', message: 'too slow' },
  });
  const long = jobs.run('y', undefined, async (job) => {
    while (!job.cancelRequested) await new Promise((r) => setTimeout(r, 5));
    throw new Error('stopped');
  });
  jobs.cancel(long.id);
  expect((await jobs.wait(long.id)).state).toBe('Cancelled');
  expect(() => jobs.cancel(long.id)).toThrow(/already Cancelled/);
  expect(() => jobs.get('nope')).toThrow(expect.objectContaining({ code: 'NotFound' }));
});

test('the event log is append-only, bounded, survives reopening and skips a torn last line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ev-'));
  try {
    const log = new EventLog(dir, 5);
    for (let i = 0; i < 23; i++) log.append('vm-1', 'one', EventLevel.Info, 'tick', `m${i}`);
    log.append('vm-2', 'two', EventLevel.Error, 'boom', 'x');
    expect(log.query({ vmId: 'vm-1' }).map((e) => e.message)).toEqual(['m18', 'm19', 'm20', 'm21', 'm22']);
    const lines = readFileSync(join(dir, 'events', 'vm-1.log'), 'utf8')
      .trim()
      .split('\n');
    expect(lines.length).toBeLessThanOrEqual(10);
    const reopened = new EventLog(dir, 5);
    expect(reopened.query({ vmId: 'vm-1' }).map((e) => e.message)).toEqual([
      'm18',
      'm19',
      'm20',
      'm21',
      'm22',
    ]);
    expect(reopened.query({ limit: 2 }).map((e) => e.message)).toEqual(['m22', 'x']);
    const next = reopened.append('vm-1', 'one', EventLevel.Info, 'tick', 'after');
    expect(next.seq).toBeGreaterThan(log.query({ vmId: 'vm-2' })[0]!.seq);
    expect(() => reopened.append('../etc', '', EventLevel.Info, 'x', 'y')).toThrow(/safe file name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
