// The host side shared by the end-to-end tests: a hypervisor with one root VP in this thread, child
// partitions booting the guest runtime image, and per VM a VMBus server on the SynIC serving every
// integration component through IcHost, plus (when a test asks) a synthetic SCSI controller and
// further devices.
import { type DeviceDefinition, DeviceHost } from '@viridian/device-sdk';
import { CHILD_DEFAULT_PRIVILEGES, HvPartitionPrivilege, privilegeMask } from '@viridian/hvdef';
import { connectRootVp, type GuestVp, Hypervisor, type HypervisorEvent } from '@viridian/hypervisor';
import { IcHost, icDevices } from '@viridian/ic';
import { type ScsiBackend, type ScsiController, scsiController } from '@viridian/storage';
import { createSynicServerTransport, type VmbusError } from '@viridian/vmbus';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { withParameters } from './program.js';

export const IMAGE = new URL('./image.test-fixture.ts', import.meta.url);
export const PROGRAMS = new URL('./programs.test-fixture.ts', import.meta.url);
export const PAGES = 512;
const PRIVILEGES_PROPERTY = 0x0001_0000;

let hv: Hypervisor;
/** One root VP for every test: each VM's VMBus server takes its own SINT on it. */
let root: GuestVp;
let nextSint = 2;

beforeAll(async () => {
  hv = await Hypervisor.start();
  root = connectRootVp(await hv.attachRootVp());
});
afterAll(async () => {
  await hv?.stop();
});
beforeEach(async () => {
  // A fresh hypervisor per scenario: nothing left over from earlier partitions.
  await hv.stop();
  hv = await Hypervisor.start();
  root = connectRootVp(await hv.attachRootVp());
  nextSint = 2;
});

/** The hypervisor of the running test (replaced before each test). */
export function hypervisor(): Hypervisor {
  return hv;
}

/** The root VP of the running test's hypervisor. */
export function rootVp(): GuestVp {
  return root;
}

export function createChild(
  root: GuestVp,
  image: string,
  privileges: bigint = CHILD_DEFAULT_PRIVILEGES,
): bigint {
  const c = root.createPartition();
  expect(c.status).toBe(0);
  const id = c.partitionId;
  expect(root.setPartitionProperty(id, PRIVILEGES_PROPERTY, privileges)).toBe(0);
  // One parameter page holds 511 deposit elements: deposit in chunks.
  for (let n = 0; n < PAGES; n += 256)
    expect(root.depositMemory(id, Math.min(256, PAGES - n)).status).toBe(0);
  expect(root.initializePartition(id)).toBe(0);
  const all = Array.from({ length: PAGES }, (_, i) => BigInt(i));
  for (let n = 0; n < PAGES; n += 256)
    expect(root.mapGpaPages(id, BigInt(n), 7, all.slice(n, n + 256)).status).toBe(0);
  root.setPartitionImage(id, image);
  return id;
}

/** The first `guest` event of partition `id` matching, past or future; on timeout, says what was seen. */
export function guestEvent(id: bigint, match: (d: Record<string, unknown>) => boolean, timeoutMs = 20_000) {
  const mine = (e: HypervisorEvent) =>
    e.type === 'guest' && e.partitionId === id && match(e.data as Record<string, unknown>);
  const past = hv.events.find(mine);
  if (past) return Promise.resolve((past as { data: Record<string, unknown> }).data);
  return hv
    .waitForEvent(mine, timeoutMs)
    .then((e) => (e as Extract<HypervisorEvent, { type: 'guest' }>).data as Record<string, unknown>)
    .catch((error: unknown) => {
      const seen = hv.events.filter((e) => 'partitionId' in e && e.partitionId === id).slice(-8);
      throw new Error(
        `${String(error)}; last events: ${JSON.stringify(seen, (_, v) => (typeof v === 'bigint' ? `${v}` : v instanceof SharedArrayBuffer ? 'SAB' : v))}`,
      );
    });
}

/** Tears a child down (its VPs stop holding processors the scheduler hands out). */
export function destroy(root: GuestVp, id: bigint): void {
  root.finalizePartition(id);
  root.deletePartition(id);
}

export function exitOf(id: bigint, timeoutMs = 20_000) {
  return hv.waitForEvent((e) => e.type === 'vp-exit' && e.partitionId === id, timeoutMs) as Promise<
    Extract<HypervisorEvent, { type: 'vp-exit' }>
  >;
}

export interface Vm {
  readonly id: bigint;
  readonly root: GuestVp;
  readonly ics: IcHost;
  readonly host: DeviceHost;
  /** The VM's synthetic SCSI controller, when the test offered one. */
  readonly scsi: ScsiController | undefined;
  readonly errors: string[];
}

export interface VmOptions {
  readonly drift?: number;
  /** Offers a synthetic SCSI controller with these disks attached before the guest boots. */
  readonly scsi?: { readonly disks?: readonly { readonly lun: number; readonly disk: ScsiBackend }[] };
  /** Further devices offered on the VM's bus (hostile ones, say). */
  readonly devices?: readonly DeviceDefinition[];
}

export async function startVm(program: string, opts: VmOptions = {}): Promise<Vm> {
  const image = withParameters(`${IMAGE.href}?scenario=run`, {
    program,
    ...(opts.drift !== undefined ? { clockDrift: opts.drift } : {}),
    hostName: 'probe.example',
  });
  const privileges =
    CHILD_DEFAULT_PRIVILEGES | privilegeMask(HvPartitionPrivilege.AccessPartitionReferenceTsc);
  const id = createChild(root, image, privileges);
  const errors: string[] = [];
  const sint = nextSint++;
  const transport = createSynicServerTransport(root, id, {
    sint,
    vector: 0x50 + sint, // a handler per vector: each VM's SINT needs its own
    onError: (e: VmbusError) => errors.push(`${e.code} ${e.message}`),
  });
  const ramEvent = guestEvent(id, (d) => d.test === 'ram');
  expect(root.createVp(id, 0)).toBe(0);
  const { ram, go } = (await ramEvent) as { ram: SharedArrayBuffer; go: SharedArrayBuffer };
  const ics = new IcHost({
    referenceTime: () => root.getVpRegisters(id, 0, [0x9_0004]).values[0] ?? 0n,
    heartbeat: { intervalMs: 200, lostAfterMs: 1_000 },
    timeSync: { samplePeriodMs: 300 },
  });
  const host = new DeviceHost({
    memory: ram,
    transport,
    onError: (e) => errors.push(`${e.code} ${e.message}`),
  });
  for (const d of icDevices(ics)) host.add(d);
  let scsi: ScsiController | undefined;
  if (opts.scsi) {
    scsi = scsiController({ instanceId: `5c5c0000-0000-4000-8000-${id.toString(16).padStart(12, '0')}` });
    host.add(scsi);
    for (const { lun, disk } of opts.scsi.disks ?? []) await scsi.attach(lun, disk);
  }
  for (const d of opts.devices ?? []) host.add(d);
  const goWord = new Int32Array(go);
  Atomics.store(goWord, 0, 1);
  Atomics.notify(goWord, 0);
  return { id, root, ics, host, scsi, errors };
}

export function stopVm(vm: Vm): void {
  vm.ics.close();
  vm.host.close();
  destroy(vm.root, vm.id);
}

export async function until<T>(
  what: string | (() => string),
  fn: () => T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
