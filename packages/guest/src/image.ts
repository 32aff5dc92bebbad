// @viridian/guest/image: the boot image a child partition's VPs run (`main(vp)`). The host names the
// guest program in the image URL: guestImageUrl({ program: 'primes' }) or a module URL.

import { HvMsr, HvPartitionPrivilege, hasPrivilege } from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import { createSynicClientTransport } from '@viridian/vmbus';
import { VMBUS_VECTOR } from './enlighten.js';
import { parseImageParameters } from './program.js';
import { runGuest } from './run.js';

export async function main(vp: GuestVp): Promise<void> {
  // The runtime is uniprocessor: application processors are not brought into it and end here.
  if (vp.vpIndex !== 0) return;
  const { notice, runtime } = await runGuest(vp, parseImageParameters(import.meta.url), {
    transport: ({ synic }) =>
      createSynicClientTransport(vp, {
        vector: VMBUS_VECTOR,
        ...(synic ? { simpGpa: synic.simpGpa, siefpGpa: synic.siefpGpa } : {}),
      }),
  });
  // Restart is a partition reset (HV_X64_MSR_RESET); shutdown and hibernate stop the VP.
  if (
    notice.kind === 'restart' &&
    hasPrivilege(runtime.enlightenment.info.privileges, HvPartitionPrivilege.AccessResetReg)
  ) {
    try {
      vp.wrmsr(HvMsr.Reset, 1n);
    } catch {
      // without the reset MSR the VP simply stops; the worker sees the reason on the console
    }
  }
  // End the VP's thread even though timers or ports of the bus may still be referenced.
  process.exit(0);
}
