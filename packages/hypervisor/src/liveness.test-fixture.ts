// Threads for the wake-up tests: a bare VP (a control block and doorbell with no hypervisor behind
// them) and the other side of its shared words, each in its own worker.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestVp, type VpHandle } from './guest-vp.js';
import { ApicPage, HV_BELL_BYTES, PAGE_SIZE, VP_CONTROL_BYTES, VpControl, VpRunState } from './layout.js';

/** Vector the ringer raises; AutoEOI so accepting it needs no EOI trap. */
export const VECTOR = 0x40;

/** A VP handle whose control block is set up as a running VP with the APIC on and IF = 1. */
export function bareHandle(bell = new SharedArrayBuffer(HV_BELL_BYTES)): VpHandle {
  const control = new SharedArrayBuffer(VP_CONTROL_BYTES);
  const ctl = new Int32Array(control);
  ctl[VpControl.runState >> 2] = VpRunState.Running;
  ctl[(VpControl.apic + ApicPage.svr) >> 2] = 0x1ff;
  ctl[(VpControl.apic + ApicPage.interruptFlag) >> 2] = 1;
  ctl[((VpControl.apic + ApicPage.autoEoi) >> 2) + (VECTOR >> 5)] = 1 << (VECTOR & 31);
  const pageTable = new SharedArrayBuffer(4 * 4);
  new Int32Array(pageTable).fill(-1);
  return {
    kind: 'viridian-vp',
    partitionId: 2n,
    vpIndex: 0,
    root: false,
    control,
    ram: new SharedArrayBuffer(4 * PAGE_SIZE),
    pageTable,
    bell,
  };
}

/** What the hypervisor does to raise a fixed interrupt: IRR bit, then ring the doorbell. */
export function raise(ctl: Int32Array, vector = VECTOR): void {
  Atomics.or(ctl, ((VpControl.apic + ApicPage.irr) >> 2) + (vector >> 5), 1 << (vector & 31));
  Atomics.add(ctl, VpControl.doorbell >> 2, 1);
  Atomics.notify(ctl, VpControl.doorbell >> 2);
}

export function accepted(ctl: Int32Array): number {
  return Atomics.load(ctl, (VpControl.apic + ApicPage.accepted) >> 2);
}

const spin = (n: number): void => {
  for (let i = 0; i < n; i++) Atomics.load(new Int32Array(1), 0);
};

// Sleeps a fraction of a millisecond: polling without taking a core from the thread it waits on.
const nap = new Int32Array(new SharedArrayBuffer(4));
const doze = (): void => {
  Atomics.wait(nap, 0, 0, 0.2);
};

type Job =
  | { role: 'halter'; handle: VpHandle; rounds: number }
  | { role: 'ringer'; control: SharedArrayBuffer; rounds: number; deadlineMs: number }
  | { role: 'deleted-halter'; handles: VpHandle[]; sync: SharedArrayBuffer }
  | { role: 'deleter'; controls: SharedArrayBuffer[]; sync: SharedArrayBuffer; deadlineMs: number }
  | { role: 'trapper'; handle: VpHandle };

const job = workerData as Job | undefined;
const post = (m: unknown): void => parentPort?.postMessage(m);

if (job?.role === 'halter') {
  // Halts until it has taken `rounds` interrupts, one per halt at most.
  const vp = new GuestVp(job.handle);
  let handled = 0;
  vp.onInterrupt(VECTOR, () => {
    handled++;
  });
  while (handled < job.rounds) await vp.halt();
  post({ handled });
} else if (job?.role === 'ringer') {
  // Raises the next interrupt as soon as the previous one was accepted, after a random delay, so
  // the ring lands anywhere in the halter's check-then-sleep sequence.
  const ctl = new Int32Array(job.control);
  const deadline = performance.now() + job.deadlineMs;
  let rang = 0;
  for (; rang < job.rounds; rang++) {
    while (accepted(ctl) < rang && performance.now() < deadline) doze();
    if (accepted(ctl) < rang) break;
    spin(Math.floor(Math.random() * 4000));
    raise(ctl);
  }
  while (accepted(ctl) < rang && performance.now() < deadline) doze();
  post({ rang, accepted: accepted(ctl) });
} else if (job?.role === 'deleted-halter') {
  // Round k: announce it, then halt; the deleter deletes the VP at some moment around then. The
  // halt must return (deleted while halting) or refuse (deleted before it began), never hang.
  const sync = new Int32Array(job.sync);
  let returned = 0;
  let refused = 0;
  const other: string[] = [];
  for (const [k, handle] of job.handles.entries()) {
    const vp = new GuestVp(handle);
    Atomics.store(sync, 0, k + 1);
    Atomics.notify(sync, 0);
    try {
      await vp.halt();
      returned++;
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_RUNNING') refused++;
      else other.push(String(e));
    }
  }
  post({ ended: returned + refused, returned, refused, other });
} else if (job?.role === 'deleter') {
  // What DeleteVp does to a VP's control block: Deleted, then ring.
  const sync = new Int32Array(job.sync);
  const deadline = performance.now() + job.deadlineMs;
  let deleted = 0;
  for (const control of job.controls) {
    while (Atomics.load(sync, 0) < deleted + 1 && performance.now() < deadline) {
      Atomics.wait(sync, 0, deleted, 50);
    }
    if (Atomics.load(sync, 0) < deleted + 1) break;
    spin(Math.floor(Math.random() * 3000));
    const ctl = new Int32Array(control);
    Atomics.store(ctl, VpControl.runState >> 2, VpRunState.Deleted);
    Atomics.add(ctl, VpControl.doorbell >> 2, 1);
    Atomics.notify(ctl, VpControl.doorbell >> 2);
    deleted++;
  }
  post({ deleted });
} else if (job?.role === 'trapper') {
  // Traps with nobody serving the mailbox; reports how the trap ended.
  const vp = new GuestVp(job.handle);
  try {
    vp.cpuid(0x4000_0000);
    post({ ended: 'served' });
  } catch (e) {
    post({ ended: 'threw', code: (e as { code?: string }).code, message: String(e) });
  }
}
