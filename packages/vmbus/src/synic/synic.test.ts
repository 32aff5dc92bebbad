// VMBus over the real hypervisor: child partitions whose VP threads run a guest image with the
// VMBus client on the SynIC transport, served by a VmbusServer on a root VP in this thread.
import { HvMapGpaFlags } from '@viridian/hvdef';
import { connectRootVp, type GuestVp, Hypervisor } from '@viridian/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmbusError } from '../errors.js';
import { VmbusServer } from '../server.js';
import { SynicErrorReason, type SynicTransportError } from './errors.js';
import { createSynicServerTransport, type SynicServerTransport } from './server.js';
import { ECHO } from './synic-guest.test-fixture.js';

const IMAGE = new URL('./synic-guest.test-fixture.ts', import.meta.url);
let hv: Hypervisor;

beforeAll(async () => {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
});
afterAll(async () => {
  expect((await hv.stats()).internalErrors).toEqual([]);
  await hv.stop();
});

function must(status: number, what: string): void {
  if (status !== 0) throw new Error(`${what}: status 0x${status.toString(16)}`);
}

/** Creates a child with `pages` of RAM mapped 1:1 and names its image; VPs are created later. */
function createChild(root: GuestVp, query: string, pages = 384): bigint {
  const c = root.createPartition();
  must(c.status, 'CreatePartition');
  const id = c.partitionId;
  must(root.depositMemory(id, pages).status, 'DepositMemory');
  must(root.initializePartition(id), 'InitializePartition');
  const flags = HvMapGpaFlags.Read | HvMapGpaFlags.Write | HvMapGpaFlags.Execute;
  const all = Array.from({ length: pages }, (_, i) => BigInt(i));
  must(root.mapGpaPages(id, 0n, flags, all).status, 'MapGpaPages');
  root.setPartitionImage(id, `${IMAGE.href}?${query}`);
  return id;
}

function waitGuest(id: bigint, match: (d: Record<string, unknown>) => boolean, timeoutMs = 30_000) {
  return hv
    .waitForEvent(
      (e) => e.type === 'guest' && e.partitionId === id && match(e.data as Record<string, unknown>),
      timeoutMs,
    )
    .then((e) => (e as { data: Record<string, unknown> }).data)
    .catch((error: unknown) => {
      const seen = hv.events.filter((e) => 'partitionId' in e && e.partitionId === id);
      throw new Error(
        `${String(error)}; events: ${JSON.stringify(seen, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof SharedArrayBuffer ? 'SAB' : v))}`,
      );
    });
}

interface Vm {
  readonly id: bigint;
  readonly transport: SynicServerTransport;
  readonly server: VmbusServer;
  readonly errors: VmbusError[];
  echoed: number;
  relid: number;
}

/** What a VM worker does: a root VP, the child, the SynIC transport, the server with an echo device. */
async function startVm(query: string, autoEoi = true): Promise<Vm> {
  const root = connectRootVp(await hv.attachRootVp());
  const id = createChild(root, query);
  const errors: VmbusError[] = [];
  const transport = createSynicServerTransport(root, id, { autoEoi, onError: (e) => errors.push(e) });
  must(root.createVp(id, 0), 'CreateVp');
  // The root maps the child's RAM; this model has no call for that, so the firmware hands it over.
  const { ram } = (await waitGuest(id, (d) => 'ram' in d)) as { ram: SharedArrayBuffer };
  const server = new VmbusServer({ memory: ram, transport, onError: (e) => errors.push(e) });
  const vm: Vm = { id, transport, server, errors, echoed: 0, relid: 0 };
  vm.relid = server.addDevice({
    offer: { interfaceId: ECHO, instanceId: ECHO },
    open(channel) {
      channel.onPacket((p) => {
        vm.echoed++;
        if (p.completionRequested) void channel.complete(p.transactionId, p.payload);
      });
      return true;
    },
  });
  return vm;
}

describe('VMBus over SynIC messages and event flags', () => {
  it('a guest connects, gets the offer, opens the echo channel, exchanges packets and sees a rescind', async () => {
    const vm = await startVm('scenario=echo&count=400');
    const r = await waitGuest(vm.id, (d) => 'ok' in d);
    expect(r).toMatchObject({
      version: 0x50003,
      offers: [ECHO],
      relid: vm.relid,
      connectionId: 0x2000 | vm.relid,
      ok: 400,
      errors: [],
    });
    expect(vm.echoed).toBe(400);
    // Everything went through the hypervisor: messages both ways, signals both ways.
    const guestStats = r.stats as Record<string, number>;
    expect(guestStats.messagesIn).toBeGreaterThanOrEqual(4); // VERSION_RESPONSE, OFFER, ALLOFFERS, GPADL_CREATED, OPEN_RESULT
    expect(guestStats.signalsOut).toBeGreaterThan(0);
    expect(guestStats.signalsIn).toBeGreaterThan(0);
    expect(vm.transport.stats.messagesIn).toBeGreaterThanOrEqual(4);
    expect(vm.transport.stats.signalsIn).toBeGreaterThan(0);
    expect(vm.transport.stats.signalsOut).toBeGreaterThan(0);
    expect(vm.transport.stats.signalsFailed).toBe(0);

    vm.server.removeDevice(vm.relid);
    const gone = await waitGuest(vm.id, (d) => 'rescinded' in d);
    expect(gone).toMatchObject({ rescinded: vm.relid, released: true, errors: [] });
    expect(gone.after).not.toBe('answered');
    expect(vm.errors).toEqual([]);
    vm.server.close();
  });

  it('a hostile guest posting garbage and signalling unknown connections does not disturb another VM', async () => {
    // This root VP acknowledges with EOI (no AutoEOI), the other path of the interrupt handler.
    const good = await startVm('scenario=echo&count=2000', false);
    const bad = await startVm('scenario=hostile&rounds=3000');
    const [r, h] = await Promise.all([
      waitGuest(good.id, (d) => 'ok' in d, 60_000),
      waitGuest(bad.id, (d) => 'hostileDone' in d, 60_000),
    ]);
    expect(r).toMatchObject({ ok: 2000, errors: [] });
    expect(good.errors).toEqual([]);
    const statuses = h.statuses as Record<string, number>;
    // Signals on connections the host never made fail in the hypervisor (INVALID_CONNECTION_ID).
    expect(statuses[0x12]).toBeGreaterThan(0);
    // The root consumed the garbage and refused it through the core (typed errors, nothing thrown).
    expect(bad.transport.stats.messagesIn).toBeGreaterThan(0);
    expect(bad.errors.length).toBeGreaterThan(0);
    expect(bad.errors.every((e) => typeof e.code === 'string' && e.code.startsWith('ERR_'))).toBe(true);
    // Messages of other SynIC types on the VMBus port are dropped by the transport and reported.
    expect(
      bad.errors.some((e) => (e as SynicTransportError).reason === SynicErrorReason.UnexpectedMessage),
    ).toBe(true);
    // The good VM still works after the flood.
    good.server.removeDevice(good.relid);
    expect(await waitGuest(good.id, (d) => 'rescinded' in d)).toMatchObject({ released: true });
    good.server.close();
    bad.server.close();
  });

  it('setup failures are typed: a port id already taken is refused by the hypervisor', async () => {
    const root = connectRootVp(await hv.attachRootVp());
    const id = createChild(root, 'scenario=echo');
    const t = createSynicServerTransport(root, id);
    let error: unknown;
    try {
      createSynicServerTransport(root, id, { sint: 3, vector: 0x53 });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_VMBUS_TRANSPORT', reason: SynicErrorReason.Setup });
    t.close();
    // After close every port is gone, so a new transport for the same child can be made.
    createSynicServerTransport(root, id).close();
  });
});
