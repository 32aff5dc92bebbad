// Entry of a child partition's VP thread: waits until the VP runs (the BSP at once, an AP after
// INIT/SIPI or StartVirtualProcessor), then imports the partition's guest image and calls main(vp).
import { workerData } from 'node:worker_threads';
import { GuestVp, type VpHandle, waitAlive } from './guest-vp.js';
import { VpControl, VpRunState } from './layout.js';

interface VpBoot {
  readonly handle: VpHandle;
  readonly image: string;
}

const { handle, image } = workerData as VpBoot;
const vp = new GuestVp(handle);
const ctl = new Int32Array(handle.control);

while (Atomics.load(ctl, VpControl.runState >> 2) === VpRunState.WaitForSipi) {
  const seen = Atomics.load(ctl, VpControl.doorbell >> 2);
  if (Atomics.load(ctl, VpControl.runState >> 2) !== VpRunState.WaitForSipi) break;
  await waitAlive(ctl, VpControl.doorbell >> 2, seen);
}
if (Atomics.load(ctl, VpControl.runState >> 2) !== VpRunState.Deleted) {
  const guest = (await import(image)) as { main?: (vp: GuestVp) => unknown };
  if (typeof guest.main !== 'function') throw new Error(`guest image ${image} exports no main(vp)`);
  await guest.main(vp);
}
