// The guest's disk binding against a real synthetic SCSI controller (and hostile ones) on a real bus,
// both sides in this thread: LUN order, hot add and remove, and controllers that fail or stall.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DeviceDefinition, DeviceHost, defineDevice, GuestBus } from '@viridian/device-sdk';
import { SCSI_INTERFACE_ID, scsiController } from '@viridian/storage';
import { VirtualDisk } from '@viridian/vhd';
import { afterEach, describe, expect, it } from 'vitest';
import { type BindStorageOptions, bindStorage, type DiskChange, DiskSet } from './disks.js';

const PAGE = 4096;
const MEMORY_PAGES = 512;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function bus(device: DeviceDefinition) {
  const memory = new SharedArrayBuffer(MEMORY_PAGES * PAGE);
  const host = new DeviceHost({ memory });
  const relid = host.add(device);
  cleanup.push(async () => host.close());
  let next = 16;
  // The bus's rings and the driver's bounce buffers come from the same pool, as in the runtime.
  const allocatePages = (count: number) => {
    if (next + count > MEMORY_PAGES) throw new Error('guest memory exhausted');
    next += count;
    return next - count;
  };
  const guestBus = new GuestBus({ memory, transport: host.guestHandle!, allocatePages });
  await guestBus.connect();
  const options: BindStorageOptions = { memory, allocatePages, timeoutMs: 10_000 };
  return { bus: guestBus, options, host, relid };
}

async function tempDisk(sizeBytes: number): Promise<VirtualDisk> {
  const dir = await mkdtemp(join(tmpdir(), 'viridian-guest-disks-'));
  const disk = await VirtualDisk.create(join(dir, 'd.vhdx'), { format: 'vhdx', type: 'dynamic', sizeBytes });
  cleanup.push(async () => {
    await disk.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return disk;
}

/** A device claiming to be a SCSI controller that answers every packet with `reply` (or never). */
function hostileController(reply: Uint8Array | undefined): DeviceDefinition {
  return defineDevice({
    name: 'hostile-scsi',
    interfaceId: SCSI_INTERFACE_ID,
    instanceId: '5c5c0000-0000-4000-8000-0000000000ee',
    versions: [0x0602],
    open(channel) {
      channel.onMessage((m) => {
        if (reply) void m.reply(reply);
      });
    },
  });
}

describe('the guest disk set', () => {
  it('lists the controller’s disks by LUN and follows hot add and remove', async () => {
    const controller = scsiController({ instanceId: '5c5c0000-0000-4000-8000-000000000010' });
    const { bus: b, options } = await bus(controller);
    await controller.attach(3, await tempDisk(4 << 20));
    await controller.attach(1, await tempDisk(2 << 20));
    const disks = new DiskSet(() => undefined);
    const changes: DiskChange[] = [];
    disks.onChange((c) => changes.push(c));

    expect(await bindStorage(b, disks, options)).toEqual({ outcome: 'bound', disks: 2 });
    expect(disks.devices.map((d) => d.lun)).toEqual([1, 3]);
    expect(disks.device(3)?.blocks).toBe((4 << 20) / 512);

    const added = new Promise<DiskChange>((r) => disks.onChange(r));
    await controller.attach(0, await tempDisk(2 << 20));
    expect((await added).added.map((d) => d.lun)).toEqual([0]);
    expect(disks.devices.map((d) => d.lun)).toEqual([0, 1, 3]);

    const lun3 = disks.device(3)!;
    const removed = new Promise<DiskChange>((r) => disks.onChange(r));
    await controller.detach(3);
    expect((await removed).removed.map((d) => d.lun)).toEqual([3]);
    expect(disks.devices.map((d) => d.lun)).toEqual([0, 1]);
    expect(disks.device(3)).toBeUndefined();
    expect(lun3.removed).toBe(true);
    await expect(lun3.read(0, 1)).rejects.toMatchObject({ code: 'NO_DEVICE' });
    // The controller's first devices count as added, then each rescan's change.
    expect(changes.map((c) => [c.added.map((d) => d.lun), c.removed.map((d) => d.lun)])).toEqual([
      [[1, 3], []],
      [[0], []],
      [[], [3]],
    ]);

    // The devices do real I/O through the driver's bounce buffers.
    const lun0 = disks.device(0)!;
    const data = new Uint8Array(3 * 64 * 1024).map((_, i) => (i * 7) & 0xff);
    await lun0.write(10, data);
    await lun0.flush();
    expect(await lun0.read(10, data.length / 512)).toEqual(data);
  });

  it('keeps notifying when a listener throws, reporting the error', async () => {
    const controller = scsiController({ instanceId: '5c5c0000-0000-4000-8000-000000000011' });
    const { bus: b, options } = await bus(controller);
    const errors: unknown[] = [];
    const disks = new DiskSet((e) => errors.push(e));
    disks.onChange(() => {
      throw new Error('listener fault');
    });
    const seen = new Promise<DiskChange>((r) => disks.onChange(r));
    expect(await bindStorage(b, disks, options)).toEqual({ outcome: 'bound', disks: 0 });
    await controller.attach(5, await tempDisk(1 << 20));
    expect((await seen).added.map((d) => d.lun)).toEqual([5]);
    expect(String(errors[0])).toContain('listener fault');
  });

  it('loses every disk when the host removes the controller', async () => {
    const controller = scsiController({ instanceId: '5c5c0000-0000-4000-8000-000000000013' });
    const { bus: b, options, host, relid } = await bus(controller);
    await controller.attach(0, await tempDisk(1 << 20));
    await controller.attach(2, await tempDisk(1 << 20));
    const disks = new DiskSet(() => undefined);
    expect(await bindStorage(b, disks, options)).toEqual({ outcome: 'bound', disks: 2 });
    const [lun0, lun2] = disks.devices;
    const gone = new Promise<DiskChange>((r) => disks.onChange(r));
    host.remove(relid);
    expect((await gone).removed.map((d) => d.lun).sort()).toEqual([0, 2]);
    expect(disks.devices).toEqual([]);
    expect([lun0?.removed, lun2?.removed]).toEqual([true, true]);
    await expect(lun0!.write(0, new Uint8Array(512))).rejects.toMatchObject({ code: 'NO_DEVICE' });
  });

  it('reports a controller that answers the handshake with garbage, and has no disks', async () => {
    const { bus: b, options } = await bus(hostileController(new Uint8Array([1, 2, 3])));
    const disks = new DiskSet(() => undefined);
    const result = await bindStorage(b, disks, options);
    expect(result).toMatchObject({ outcome: 'failed' });
    expect(result.outcome === 'failed' && result.error).toMatch(
      /StorageError: .*BEGIN_INITIALIZATION|short reply/,
    );
    expect(disks.devices).toEqual([]);
    expect(disks.device(0)).toBeUndefined();
  });

  it('gives up on a controller that never answers, within the timeout', async () => {
    const { bus: b, options } = await bus(hostileController(undefined));
    const disks = new DiskSet(() => undefined);
    expect(await bindStorage(b, disks, { ...options, timeoutMs: 300 })).toEqual({ outcome: 'timed-out' });
    expect(disks.devices).toEqual([]);
  });

  it('adopts a controller that answers after the timeout, reporting its disks as added', async () => {
    const controller = scsiController({ instanceId: '5c5c0000-0000-4000-8000-000000000014' });
    let release: () => void = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    // The controller opens only once the test lets it: the handshake outlives the timeout.
    const slow = defineDevice({
      ...controller,
      open: async (channel) => {
        await released;
        return controller.open(channel);
      },
    });
    const { bus: b, options } = await bus(slow);
    await controller.attach(4, await tempDisk(1 << 20));
    const disks = new DiskSet(() => undefined);
    const arrived = new Promise<DiskChange>((r) => disks.onChange(r));
    let onLate: (result: unknown) => void = () => {};
    const late = new Promise<unknown>((r) => {
      onLate = r;
    });
    const result = await bindStorage(b, disks, { ...options, timeoutMs: 100, onLate: (r) => onLate(r) });
    expect(result).toEqual({ outcome: 'timed-out' });
    expect(disks.devices).toEqual([]);
    release();
    expect(await late).toEqual({ outcome: 'bound', disks: 1 });
    expect((await arrived).added.map((d) => d.lun)).toEqual([4]);
    expect(disks.devices.map((d) => d.lun)).toEqual([4]);
  });

  it('reports a guest without memory for the driver’s buffers', async () => {
    const controller = scsiController({ instanceId: '5c5c0000-0000-4000-8000-000000000012' });
    const { bus: b, options } = await bus(controller);
    const disks = new DiskSet(() => undefined);
    // The channel's rings fit; the bounce buffers do not.
    const result = await bindStorage(b, disks, {
      ...options,
      allocatePages: () => {
        throw new Error('guest memory exhausted');
      },
    });
    expect(result).toMatchObject({ outcome: 'failed', error: expect.stringContaining('exhausted') });
    expect(disks.devices).toEqual([]);
  });
});
