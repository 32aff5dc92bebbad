// The synthetic SCSI path end to end: a guest in a worker thread binds the storvsc driver and reads a
// VHDX through the storage VSP in this thread (GPA-direct packets, bounce buffers in guest memory).
// Measures 4 KiB random-read IOPS and 1 MiB sequential-read throughput, each beside the same I/O done
// directly on the backing file by the host (same disk object, same queue depth) in the same run.

import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceHost, GuestBus, type ThreadTransportHandle } from '@viridian/device-sdk';
import { type StorvscController, scsiController, storvscDriver } from '@viridian/storage';
import { spawnWorker } from '@viridian/threads';
import { VirtualDisk } from '@viridian/vhd';
import { compared } from '../stats.js';
import type { BenchRecord, BenchSuite } from '../types.js';

const FLAG = 'storage-bench-guest';
const DISK_BYTES = 64 << 20;
const RUN_MS = 2000;
const DEPTH_4K = 16;
const DEPTH_1M = 4;

interface GuestData {
  readonly flag: string;
  readonly handle: ThreadTransportHandle;
  readonly memory: SharedArrayBuffer;
}

/** Runs `depth` loops of `op` for RUN_MS; returns operations per second. */
async function timed(depth: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let ops = 0;
  const start = performance.now();
  const loop = async (k: number) => {
    for (let i = k; performance.now() - start < RUN_MS; i += depth) {
      await op(i);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: depth }, (_, k) => loop(k)));
  return ops / ((performance.now() - start) / 1000);
}

/** A small deterministic spread of 4 KiB-aligned offsets. */
const randomBlock = (i: number) => ((i * 2_654_435_761) >>> 0) % (DISK_BYTES / 4096);

async function guest(data: GuestData): Promise<void> {
  let next = 64;
  const allocatePages = (n: number) => {
    next += n;
    return next - n;
  };
  const bus = new GuestBus({ memory: data.memory, transport: data.handle, allocatePages });
  await bus.connect();
  let controller: StorvscController | undefined;
  await bus.bind(
    storvscDriver(
      { memory: data.memory, allocatePages, slots: 16, slotBytes: 1 << 20, ringPages: 64 },
      (c) => {
        controller = c;
      },
    ),
  );
  const disk = controller!.device(0)!;
  const iops = await timed(DEPTH_4K, (i) => disk.read(randomBlock(i) * 8, 8));
  const seq = await timed(DEPTH_1M, (i) => disk.read((i % (DISK_BYTES >> 20)) * 2048, 2048));
  parentPort!.postMessage({ iops, seqBytes: seq * (1 << 20) });
}

async function measure(): Promise<BenchRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), 'viridian-bench-storage-'));
  try {
    const disk = await VirtualDisk.create(join(dir, 'bench.vhdx'), {
      format: 'vhdx',
      type: 'dynamic',
      sizeBytes: DISK_BYTES,
    });
    const chunk = new Uint8Array(1 << 20);
    for (let at = 0; at < DISK_BYTES; at += chunk.length) {
      chunk.fill(at >>> 20);
      await disk.write(at, chunk);
    }
    await disk.flush();

    // Host baseline: the same reads straight on the disk object.
    const buf4k = Array.from({ length: DEPTH_4K }, () => new Uint8Array(4096));
    const buf1m = Array.from({ length: DEPTH_1M }, () => new Uint8Array(1 << 20));
    const hostIops = await timed(DEPTH_4K, (i) => disk.read(randomBlock(i) * 4096, buf4k[i % DEPTH_4K]!));
    const hostSeq =
      (await timed(DEPTH_1M, (i) => disk.read((i % (DISK_BYTES >> 20)) * (1 << 20), buf1m[i % DEPTH_1M]!))) *
      (1 << 20);

    // Through the SCSI VSP, guest in a worker.
    const memory = new SharedArrayBuffer(8192 * 4096);
    const host = new DeviceHost({ memory });
    const controller = scsiController({ instanceId: '5c5cbe9c-0000-4000-8000-000000000001' });
    host.add(controller);
    await controller.attach(0, disk);
    const worker = spawnWorker(new URL(import.meta.url), {
      workerData: { flag: FLAG, handle: host.guestHandle, memory },
      transferList: [host.guestHandle!.port],
    });
    const [result] = (await once(worker, 'message')) as [{ iops: number; seqBytes: number }];
    host.close();
    await worker.terminate();
    await disk.close();
    const mb = 1e6;
    return [
      compared('scsi 4 KiB random read (QD16)', result.iops, 'IOPS', 'host direct on the VHDX', hostIops),
      compared(
        'scsi 1 MiB sequential read (QD4)',
        result.seqBytes / mb,
        'MB/s',
        'host direct on the VHDX',
        hostSeq / mb,
      ),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = { name: 'storage', run: measure };

const data = workerData as Partial<GuestData> | undefined;
if (data?.flag === FLAG) void guest(data as GuestData);
