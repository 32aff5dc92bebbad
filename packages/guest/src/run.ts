// What the boot image does on the boot processor: boot, load the program the host named, run it,
// and stop the VP when it is done, asked to shut down, or crashed.

import type { GuestVp } from '@viridian/hypervisor';
import { type ImageParameters, loadProgram } from './program.js';
import { type BootOptions, boot, type GuestRuntime, type StopNotice } from './runtime.js';

export interface RunResult {
  readonly notice: StopNotice;
  readonly runtime: GuestRuntime;
}

/**
 * Boots `vp`, runs the named program until it returns or the guest is asked to stop, runs the
 * shutdown hooks and quiesces VMBus and the SynIC. A program that throws is reported on the console
 * (`crashed`) and the error propagates: the VP's thread ends with it, and only this partition is hit.
 */
export async function runGuest(
  vp: GuestVp,
  parameters: ImageParameters,
  options: BootOptions = {},
): Promise<RunResult> {
  const runtime = await boot(vp, {
    ...options,
    ...(parameters.clockDrift !== undefined ? { clockDrift: parameters.clockDrift } : {}),
    ...(parameters.hostName !== undefined ? { hostName: parameters.hostName } : {}),
  });
  const { guest, console } = runtime;
  try {
    const program = await loadProgram(parameters.program);
    console.emit({
      type: 'viridian-guest',
      event: 'booted',
      clock: runtime.enlightenment.clock.source,
      vmbus: runtime.bus !== undefined,
      drivers: [...guest.drivers],
      program: parameters.program,
    });
    const finished = Promise.resolve()
      .then(() => program.main(guest))
      .then(() => {
        guest.powerOff('shutdown', 'guest program exited');
        return guest.stopped;
      });
    const notice = await Promise.race([finished, guest.stopped]);
    await runtime.quiesce();
    console.emit({ type: 'viridian-guest', event: 'power-off', kind: notice.kind, reason: notice.reason });
    return { notice, runtime };
  } catch (error) {
    console.emit({
      type: 'viridian-guest',
      event: 'crashed',
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    throw error;
  }
}
