// Test harness: boots child partitions from a root VP the way a VM worker would.
import { HvMapGpaFlags } from '@viridian/hvdef';
import type { GuestVp } from './guest-vp.js';
import type { Hypervisor, HypervisorEvent } from './hypervisor.js';

export const GUEST_IMAGE = new URL('./guest.test-fixture.ts', import.meta.url);

export function image(scenario: string): string {
  return `${GUEST_IMAGE.href}?scenario=${scenario}`;
}

/** Creates, fills and starts a child: `pages` of RAM mapped 1:1 RWX, `vps` VPs (VP 0 runs at once). */
export function bootChild(
  root: GuestVp,
  opts: { scenario?: string; pages?: number; vps?: number; privileges?: bigint } = {},
): bigint {
  const pages = opts.pages ?? 32;
  const c = root.createPartition();
  if (c.status !== 0) throw new Error(`CreatePartition ${c.status}`);
  const id = c.partitionId;
  if (opts.privileges !== undefined)
    must(root.setPartitionProperty(id, 0x0001_0000, opts.privileges), 'privileges');
  must(root.depositMemory(id, pages).status, 'deposit');
  must(root.initializePartition(id), 'initialize');
  const all = Array.from({ length: pages }, (_, i) => BigInt(i));
  const flags = HvMapGpaFlags.Read | HvMapGpaFlags.Write | HvMapGpaFlags.Execute;
  must(root.mapGpaPages(id, 0n, flags, all).status, 'map');
  if (opts.scenario) root.setPartitionImage(id, image(opts.scenario));
  for (let v = 0; v < (opts.vps ?? 0); v++) must(root.createVp(id, v), `createVp ${v}`);
  return id;
}

function must(status: number, what: string): void {
  if (status !== 0) throw new Error(`${what}: status 0x${status.toString(16)}`);
}

/** Messages a guest sent with parentPort.postMessage, as the host sees them. */
export function guestMessages(hv: Hypervisor, partitionId: bigint): unknown[] {
  return hv.events
    .filter(
      (e): e is Extract<HypervisorEvent, { type: 'guest' }> =>
        e.type === 'guest' && e.partitionId === partitionId,
    )
    .map((e) => e.data);
}

export function waitGuest(
  hv: Hypervisor,
  partitionId: bigint,
  match: (data: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  return hv
    .waitForEvent(
      (e) => e.type === 'guest' && e.partitionId === partitionId && match(e.data as Record<string, unknown>),
      timeoutMs,
    )
    .then((e) => (e as { data: Record<string, unknown> }).data)
    .catch((error: unknown) => {
      const seen = hv.events.filter((e) => 'partitionId' in e && e.partitionId === partitionId);
      throw new Error(
        `${String(error)}; events of partition ${partitionId}: ${JSON.stringify(seen, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
      );
    });
}
