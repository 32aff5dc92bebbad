// Test boot image. Scenarios (image URL `?scenario=`):
// - enlighten: runs the enlightenment sequence and reports what it did.
// - run: hands the partition's RAM to the test (a back door only tests have, so the root can build
//   the VMBus server over it), waits for the host's go, then runs the real image flow over SynIC.
import { parentPort } from 'node:worker_threads';
import { HvMsr } from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import { createSynicClientTransport } from '@viridian/vmbus';
import { enlighten, VMBUS_VECTOR } from './enlighten.js';
import { parseImageParameters } from './program.js';
import { runGuest } from './run.js';

export async function main(vp: GuestVp): Promise<void> {
  const scenario = new URL(import.meta.url).searchParams.get('scenario');
  const post = (m: unknown) => parentPort?.postMessage(m);
  if (scenario === 'enlighten') {
    const noTscPage = new URL(import.meta.url).searchParams.get('notsc') === '1';
    const e = enlighten(vp, { noTscPage });
    const t0 = e.clock.now();
    await vp.haltFor(30);
    const t1 = e.clock.now();
    // A hypercall through the enabled page: signalling an unknown connection is refused by status.
    const signal = vp.signalEvent(0x7777, 0);
    post({
      test: 'enlighten',
      guestOsId: vp.rdmsr(HvMsr.GuestOsId).toString(16),
      hypercall: vp.rdmsr(HvMsr.Hypercall).toString(16),
      hypercallPageGpa: e.hypercallPageGpa,
      referenceTsc: e.clock.source === 'tsc-page' ? vp.rdmsr(HvMsr.ReferenceTsc).toString(16) : undefined,
      clock: e.clock.source,
      elapsed100ns: (t1 - t0).toString(),
      msrNow: vp.rdmsr(HvMsr.TimeRefCount).toString(),
      clockNow: e.clock.now().toString(),
      simp: vp.rdmsr(HvMsr.Simp).toString(16),
      siefp: vp.rdmsr(HvMsr.Siefp).toString(16),
      scontrol: vp.rdmsr(HvMsr.Scontrol).toString(16),
      simpGpa: e.synic?.simpGpa,
      siefpGpa: e.synic?.siefpGpa,
      privileges: e.info.privileges.toString(16),
      freePages: e.allocator.freePages,
      signal,
    });
    return;
  }
  const go = new Int32Array(new SharedArrayBuffer(4));
  post({ test: 'ram', ram: vp.memory.ram, go: go.buffer });
  // Atomics.waitAsync alone does not keep a thread's event loop alive.
  const keepAlive = setInterval(() => {}, 1_000);
  const w = Atomics.waitAsync(go, 0, 0);
  if (w.async) await w.value;
  clearInterval(keepAlive);
  const { notice, runtime } = await runGuest(vp, parseImageParameters(import.meta.url), {
    transport: () => createSynicClientTransport(vp, { vector: VMBUS_VECTOR }),
  });
  post({ test: 'stopped', notice, busErrors: runtime.busErrors });
  process.exit(0);
}
