// Wake-ups across threads: no interrupt or deletion is slept through, and nothing waits forever
// on a hypervisor that is gone. Real threads on real shared memory; every wait is bounded and
// reports what it was waiting for.
import { spawnWorker } from '@viridian/threads';
import { expect, test } from 'vitest';
import { firstMessage, within } from './bounded.test-fixture.js';
import { connectRootVp } from './guest-vp.js';
import { Hypervisor } from './hypervisor.js';
import { HvBell, HvState, MailboxState, VpControl, VpRunState } from './layout.js';
import { accepted, bareHandle } from './liveness.test-fixture.js';

const FIXTURE = new URL('./liveness.test-fixture.js', import.meta.url);

test('a halting VP takes every interrupt raised at any point of its check-then-sleep sequence', async () => {
  const handle = bareHandle();
  const ctl = new Int32Array(handle.control);
  const rounds = 300;
  const halter = spawnWorker(FIXTURE, { workerData: { role: 'halter', handle, rounds } });
  const ringer = spawnWorker(FIXTURE, {
    workerData: { role: 'ringer', control: handle.control, rounds, deadlineMs: 40_000 },
  });
  try {
    const state = () => ({
      accepted: accepted(ctl),
      doorbell: Atomics.load(ctl, VpControl.doorbell >> 2),
      runState: Atomics.load(ctl, VpControl.runState >> 2),
    });
    const [halted, rang] = await Promise.all([
      firstMessage(halter, 'the halter to take every interrupt', state, 45_000),
      firstMessage(ringer, 'the ringer to finish', state, 45_000),
    ]);
    expect(rang).toEqual({ rang: rounds, accepted: rounds });
    expect(halted).toEqual({ handled: rounds });
  } finally {
    await Promise.all([halter.terminate(), ringer.terminate()]);
  }
});

test('a VP deleted at any point of its halt sequence returns from halt, and cannot halt again', async () => {
  const rounds = 300;
  const bell = new SharedArrayBuffer(16);
  const handles = Array.from({ length: rounds }, () => bareHandle(bell));
  const sync = new SharedArrayBuffer(4);
  const halter = spawnWorker(FIXTURE, { workerData: { role: 'deleted-halter', handles, sync } });
  const deleter = spawnWorker(FIXTURE, {
    workerData: { role: 'deleter', controls: handles.map((h) => h.control), sync, deadlineMs: 15_000 },
  });
  try {
    const state = () => ({ round: Atomics.load(new Int32Array(sync), 0) });
    const [ended, deleted] = await Promise.all([
      firstMessage(halter, 'every halt of a deleted VP to return', state),
      firstMessage(deleter, 'the deleter to finish', state),
    ]);
    expect(deleted).toEqual({ deleted: rounds });
    expect(ended).toMatchObject({ ended: rounds, other: [] });
    // Both orders occurred: deleted before the halt began, and while it slept.
    expect((ended as { returned: number }).returned).toBeGreaterThan(0);
  } finally {
    await Promise.all([halter.terminate(), deleter.terminate()]);
  }
  // Halting a VP that is already deleted fails at once instead of sleeping forever.
  const vp = connectRootVp({ ...bareHandle(), root: true });
  Atomics.store(new Int32Array(vp.handle.control), VpControl.runState >> 2, VpRunState.Deleted);
  await expect(vp.halt()).rejects.toMatchObject({ code: 'NOT_RUNNING' });
  await expect(vp.haltFor(10_000)).rejects.toMatchObject({ code: 'NOT_RUNNING' });
});

test('a trap nobody will serve ends with HYPERVISOR_STOPPED once the hypervisor is marked stopped', async () => {
  for (const how of ['stopped', 'deleted'] as const) {
    const handle = bareHandle();
    const ctl = new Int32Array(handle.control);
    const bell = new Int32Array(handle.bell);
    const trapper = spawnWorker(FIXTURE, { workerData: { role: 'trapper', handle } });
    try {
      // The request is posted and the VP sleeps on its mailbox.
      await within(
        (async () => {
          while (Atomics.load(ctl, VpControl.mailboxState >> 2) !== MailboxState.Request) {
            await new Promise((r) => setTimeout(r, 5));
          }
        })(),
        `the trapper (${how}) to post its request`,
        () => ({ mailbox: Atomics.load(ctl, VpControl.mailboxState >> 2) }),
      );
      if (how === 'stopped') Atomics.store(bell, HvBell.state, HvState.Stopped);
      else Atomics.store(ctl, VpControl.runState >> 2, VpRunState.Deleted);
      const reply = await firstMessage(trapper, `the trapper (${how}) to give up`, () => ({
        mailbox: Atomics.load(ctl, VpControl.mailboxState >> 2),
      }));
      expect(reply).toMatchObject({ ended: 'threw', code: 'HYPERVISOR_STOPPED' });
      expect((reply as { message: string }).message).toContain(
        how === 'stopped' ? 'the hypervisor has stopped' : 'the VP was deleted',
      );
      // The request was withdrawn, not left for a hypervisor to find later.
      expect(Atomics.load(ctl, VpControl.mailboxState >> 2)).toBe(MailboxState.Idle);
    } finally {
      await trapper.terminate();
    }
  }
});

test('after stop, a root VP fails fast: traps throw, a halt in progress returns, the next halt throws', async () => {
  const hv = await Hypervisor.start({ rootMemoryBytes: 1024 * 1024 });
  const root = connectRootVp(await hv.attachRootVp());
  expect(root.getPartitionId().partitionId).toBe(hv.rootPartitionId);
  const halted = root.halt();
  await hv.stop();
  await within(halted, 'the root VP halted across stop() to return');
  expect(() => root.getPartitionId()).toThrow(expect.objectContaining({ code: 'HYPERVISOR_STOPPED' }));
  await expect(root.halt()).rejects.toMatchObject({ code: 'NOT_RUNNING' });
  await expect(hv.stats()).rejects.toMatchObject({ code: 'NOT_RUNNING' });
});

test('start() is bounded: a hypervisor thread not ready in time fails with WORKER_FAILED', async () => {
  // No thread boots in 1 ms; the attempt ends with an error instead of waiting on.
  await expect(Hypervisor.start({ requestTimeoutMs: 1 })).rejects.toMatchObject({
    code: 'WORKER_FAILED',
    message: expect.stringContaining('not ready within 1 ms'),
  });
});
