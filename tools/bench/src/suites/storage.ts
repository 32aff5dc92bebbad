// The synthetic SCSI path end to end, two ways, each beside the same I/O done directly on the backing
// VHDX by the host (same disk file, same queue depth) in the same run:
// - a guest in a worker thread binds the storvsc driver over the thread transport and reads the disk
//   through the storage VSP in this thread (GPA-direct packets, bounce buffers in guest memory);
// - a guest program in a real child partition (VmwpRuntime) reads it through the VM's own storvsc:
//   SynIC VMBus to the VMWP thread's storage VSP, with the firmware's storage settings (8 bounce
//   buffers of 64 KiB, so a 1 MiB read is 16 commands). It publishes its figures in the guest KVP pool.
//   Its second baseline is the worker-thread guest run again with those same buffers, so the ratio is
//   what the partition and SynIC VMBus cost, not a difference in driver settings.
// Measures 4 KiB random-read IOPS (QD16) and 1 MiB sequential-read throughput (QD4).

import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceHost, GuestBus, type ThreadTransportHandle } from '@viridian/device-sdk';
import { KvpPool } from '@viridian/ic';
import { type StorvscController, scsiController, storvscDriver } from '@viridian/storage';
import { spawnWorker } from '@viridian/threads';
import { VirtualDisk } from '@viridian/vhd';
import { FIRMWARE_STORAGE_BUFFERS, VmwpRuntime, type VmwpVm } from '@viridian/vmwp';
import { compared } from '../stats.js';
import { STORAGE_GUEST, spreadUnit } from '../storage-guest-program.js';
import type { BenchRecord, BenchSuite } from '../types.js';

const FLAG = 'storage-bench-guest';
const DISK_BYTES = 64 << 20;
const { runMs: RUN_MS, randomDepth: DEPTH_4K, sequentialDepth: DEPTH_1M } = STORAGE_GUEST;
const MIB = 1 << 20;
const MB = 1e6;
/** Boot, both read loops and the KVP round trip; a VM that takes longer has failed. */
const PARTITION_DEADLINE_MS = 60_000;
const PARTITION_LABEL = 'through a child partition: SynIC VMBus, VMWP';

/** storvsc bounce buffers: how many commands are in flight at once, and the largest transfer of one. */
interface Buffers {
  readonly slots: number;
  readonly slotBytes: number;
}

const THREAD_BUFFERS: Buffers = { slots: 16, slotBytes: MIB };
/** The VMWP firmware's storvsc settings. */
const FIRMWARE_BUFFERS: Buffers = FIRMWARE_STORAGE_BUFFERS;

interface GuestData {
  readonly flag: string;
  readonly handle: ThreadTransportHandle;
  readonly memory: SharedArrayBuffer;
  readonly buffers: Buffers;
}

/** Reads per second and sequential bytes per second. */
interface Figures {
  readonly iops: number;
  readonly seqBytes: number;
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

const randomBlock = (i: number) => spreadUnit(i, DISK_BYTES / 4096);

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
    storvscDriver({ memory: data.memory, allocatePages, ...data.buffers, ringPages: 64 }, (c) => {
      controller = c;
    }),
  );
  const disk = controller!.device(0)!;
  const iops = await timed(DEPTH_4K, (i) => disk.read(randomBlock(i) * 8, 8));
  const seq = await timed(DEPTH_1M, (i) => disk.read((i % (DISK_BYTES / MIB)) * 2048, 2048));
  parentPort!.postMessage({ iops, seqBytes: seq * MIB } satisfies Figures);
}

/** A 64 MiB dynamic VHDX with every block allocated, so reads hit data rather than holes. */
async function filledDisk(path: string): Promise<VirtualDisk> {
  const disk = await VirtualDisk.create(path, { format: 'vhdx', type: 'dynamic', sizeBytes: DISK_BYTES });
  const chunk = new Uint8Array(MIB);
  for (let at = 0; at < DISK_BYTES; at += chunk.length) {
    chunk.fill(at >>> 20);
    await disk.write(at, chunk);
  }
  await disk.flush();
  return disk;
}

/** The same reads straight on the disk object. */
async function hostDirect(disk: VirtualDisk): Promise<Figures> {
  const buf4k = Array.from({ length: DEPTH_4K }, () => new Uint8Array(4096));
  const buf1m = Array.from({ length: DEPTH_1M }, () => new Uint8Array(MIB));
  const iops = await timed(DEPTH_4K, (i) => disk.read(randomBlock(i) * 4096, buf4k[i % DEPTH_4K]!));
  const seq = await timed(DEPTH_1M, (i) => disk.read((i % (DISK_BYTES / MIB)) * MIB, buf1m[i % DEPTH_1M]!));
  return { iops, seqBytes: seq * MIB };
}

/** Through the SCSI VSP in this thread, guest in a worker over the thread transport. */
async function threadTransport(disk: VirtualDisk, buffers: Buffers): Promise<Figures> {
  const memory = new SharedArrayBuffer(8192 * 4096);
  const host = new DeviceHost({ memory });
  const controller = scsiController({ instanceId: '5c5cbe9c-0000-4000-8000-000000000001' });
  host.add(controller);
  await controller.attach(0, disk);
  // By its .js name: spawnWorker starts the .ts twin through tsx when run from sources.
  const worker = spawnWorker(new URL('./storage.js', import.meta.url), {
    workerData: { flag: FLAG, handle: host.guestHandle!, memory, buffers } satisfies GuestData,
    transferList: [host.guestHandle!.port],
  });
  try {
    const [result] = (await once(worker, 'message')) as [Figures];
    return result;
  } finally {
    host.close();
    await worker.terminate();
  }
}

/** The guest program's module: compiled next to this suite under dist, the source under src. */
function guestProgramUrl(): string {
  const js = new URL('../storage-guest-program.js', import.meta.url);
  return existsSync(fileURLToPath(js))
    ? js.href
    : new URL('../storage-guest-program.ts', import.meta.url).href;
}

async function guestItem(vm: VmwpVm, key: string): Promise<string | undefined> {
  const r = (await vm.ic({ op: 'kvpGet', pool: KvpPool.Guest, key })) as { ok: boolean; value?: string };
  return r.ok ? r.value : undefined;
}

/** Polls the guest's KVP items until both figures (or an error) are published. */
async function partitionFigures(vm: VmwpVm, deadline: number): Promise<Figures> {
  const { keys } = STORAGE_GUEST;
  for (;;) {
    const error = await guestItem(vm, keys.error);
    if (error !== undefined) throw new Error(`the storage guest program failed: ${error}`);
    const iops = await guestItem(vm, keys.iops);
    const mbps = await guestItem(vm, keys.mbps);
    if (iops !== undefined && mbps !== undefined) return { iops: Number(iops), seqBytes: Number(mbps) * MB };
    if (Date.now() > deadline) throw new Error('the storage guest program published no figures in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A 64 MB, one-VP child partition with the VHDX read-only at LUN 0, running the guest program. */
async function childPartition(path: string): Promise<Figures> {
  const deadline = Date.now() + PARTITION_DEADLINE_MS;
  const runtime = new VmwpRuntime();
  const log: string[] = [];
  let onExit!: (exit: { reason: string; message: string }) => void;
  const exited = new Promise<never>((_, reject) => {
    onExit = (exit) =>
      reject(new Error(`the VM ended (${exit.reason}): ${exit.message}; guest log: ${log.join(' | ')}`));
  });
  exited.catch(() => undefined);
  try {
    const vm = await runtime.start(
      {
        id: '5c5cbe9c-0000-4000-8000-0000000000b1',
        name: 'storage-bench',
        memoryMB: 64,
        processorCount: 1,
        cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 100 },
        image: guestProgramUrl(),
        integrationServices: { heartbeat: false, shutdown: false, kvp: true },
        disks: [{ lun: 0, path, readOnly: true }],
      },
      { onExit, onGuestLog: (line) => log.push(line) },
    );
    const figures = await Promise.race([partitionFigures(vm, deadline), exited]);
    await vm.turnOff();
    return figures;
  } finally {
    await runtime.close();
  }
}

async function measure(): Promise<BenchRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), 'viridian-bench-storage-'));
  try {
    const path = join(dir, 'bench.vhdx');
    const disk = await filledDisk(path);
    let host: Figures;
    let thread: Figures;
    let threadLikeVm: Figures;
    try {
      host = await hostDirect(disk);
      thread = await threadTransport(disk, THREAD_BUFFERS);
      threadLikeVm = await threadTransport(disk, FIRMWARE_BUFFERS);
    } finally {
      await disk.close();
    }
    // The VMWP opens the file itself: the host's handle is closed first.
    const partition = await childPartition(path);
    const direct = 'host direct on the VHDX';
    const likeVm = `worker thread with the VM's storvsc buffers (${FIRMWARE_BUFFERS.slots} × ${FIRMWARE_BUFFERS.slotBytes / 1024} KiB)`;
    const random = 'scsi 4 KiB random read (QD16)';
    const sequential = 'scsi 1 MiB sequential read (QD4)';
    const viaThread = 'through a worker thread: thread transport';
    return [
      compared(`${random} ${viaThread}`, thread.iops, 'IOPS', direct, host.iops),
      compared(`${sequential} ${viaThread}`, thread.seqBytes / MB, 'MB/s', direct, host.seqBytes / MB),
      compared(`${random} ${PARTITION_LABEL}`, partition.iops, 'IOPS', direct, host.iops),
      compared(`${random} ${PARTITION_LABEL}`, partition.iops, 'IOPS', likeVm, threadLikeVm.iops),
      compared(
        `${sequential} ${PARTITION_LABEL}`,
        partition.seqBytes / MB,
        'MB/s',
        direct,
        host.seqBytes / MB,
      ),
      compared(
        `${sequential} ${PARTITION_LABEL}`,
        partition.seqBytes / MB,
        'MB/s',
        likeVm,
        threadLikeVm.seqBytes / MB,
      ),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = { name: 'storage', run: measure };

const data = workerData as Partial<GuestData> | undefined;
if (data?.flag === FLAG) void guest(data as GuestData);
