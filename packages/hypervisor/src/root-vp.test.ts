import { spawnWorker } from '@viridian/threads';
import { expect, test } from 'vitest';
import { firstMessage } from './bounded.test-fixture.js';
import { connectRootVp } from './guest-vp.js';
import { Hypervisor } from './hypervisor.js';
import { VpControl } from './layout.js';

test('a root VP handle is plain data: another host thread connects and makes hypercalls with it', async () => {
  const hv = await Hypervisor.start({ rootMemoryBytes: 1024 * 1024 });
  try {
    const main = connectRootVp(await hv.attachRootVp());
    const handle = await hv.attachRootVp();
    expect(handle.vpIndex).toBe(1);
    const worker = spawnWorker(new URL('./root-vp-worker.test-fixture.js', import.meta.url), {
      workerData: handle,
    });
    // Bounded: fails with the worker's exit code, or with the state of its VP, instead of hanging.
    const ctl = new Int32Array(handle.control);
    const reply = await firstMessage(worker, 'the root VP thread to answer', () => ({
      mailbox: Atomics.load(ctl, VpControl.mailboxState >> 2),
      op: Atomics.load(ctl, VpControl.op >> 2),
    })).finally(() => worker.terminate());
    expect(reply).toEqual({
      vpIndex: 1,
      self: { status: 0, repsCompleted: 0, partitionId: hv.rootPartitionId },
      created: { status: 0, repsCompleted: 0, partitionId: 2n },
    });
    // Both root VPs see the same partition: the main thread enumerates the child made by the other.
    expect(main.getNextChildPartition(0xffff_ffff_ffff_ffffn, 0n)).toMatchObject({ status: 0, next: 2n });
    expect(() => connectRootVp({ ...handle, root: false })).toThrow(
      expect.objectContaining({ code: 'BAD_HANDLE' }),
    );
  } finally {
    await hv.stop();
  }
});
