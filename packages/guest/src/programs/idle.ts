// The default guest program: reports its identity (KVP auto pool, filled by the runtime), says it is
// healthy and halts between ticks until the host shuts it down.
import type { Guest } from '../runtime.js';

export async function main(guest: Guest): Promise<void> {
  guest.setHealth('healthy');
  guest.log(
    `${guest.identity.OSName} ${guest.identity.OSVersion} up as ${guest.identity.FullyQualifiedDomainName}`,
  );
  while (await guest.sleep(1_000)) {
    // nothing to do: the VP stays halted except for interrupts
  }
}
