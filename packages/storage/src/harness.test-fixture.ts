// Test harness: a controller with real virtual disks on a real bus, guest side in this thread.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceHost, GuestBus, type VmbusError } from '@viridian/device-sdk';
import { type CreateOptions, VirtualDisk } from '@viridian/vhd';
import { type StorvscController, type StorvscOptions, storvscDriver } from './vsc.js';
import { type ScsiController, scsiController } from './vsp.js';

export const PAGE = 4096;
export const MEMORY_PAGES = 4096; // 16 MiB of guest memory

export interface Harness {
  dir: string;
  memory: SharedArrayBuffer;
  host: DeviceHost;
  controller: ScsiController;
  disks: VirtualDisk[];
  errors: VmbusError[];
  allocatePages(count: number): number;
  bind(options?: Partial<StorvscOptions>): Promise<StorvscController>;
  close(): Promise<void>;
}

export async function harness(
  diskOptions: CreateOptions[] = [{ format: 'vhdx', type: 'dynamic', sizeBytes: 64 << 20 }],
  maxTransferBytes?: number,
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'viridian-storage-'));
  const memory = new SharedArrayBuffer(MEMORY_PAGES * PAGE);
  const errors: VmbusError[] = [];
  const host = new DeviceHost({ memory, onError: (e) => errors.push(e) });
  const controller = scsiController({
    instanceId: '5c5c0000-0000-4000-8000-000000000001',
    ...(maxTransferBytes ? { maxTransferBytes } : {}),
  });
  host.add(controller);
  const disks: VirtualDisk[] = [];
  for (const [i, o] of diskOptions.entries()) {
    const disk = await VirtualDisk.create(join(dir, `disk${i}.${o.format}`), o);
    disks.push(disk);
    await controller.attach(i, disk);
  }
  let next = 64;
  const allocatePages = (n: number) => {
    next += n;
    if (next > MEMORY_PAGES) throw new Error('guest memory exhausted');
    return next - n;
  };
  const bus = new GuestBus({ memory, transport: host.guestHandle!, allocatePages });
  await bus.connect();
  return {
    dir,
    memory,
    host,
    controller,
    disks,
    errors,
    allocatePages,
    async bind(options = {}) {
      let client: StorvscController | undefined;
      await bus.bind(storvscDriver({ memory, allocatePages, slots: 8, ...options }, (c) => (client = c)));
      return client!;
    },
    async close() {
      host.close();
      for (const d of disks) await d.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
