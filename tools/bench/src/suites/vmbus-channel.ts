// A real VMBus channel between two threads: the root's VmbusServer with an echo device in this
// thread, a guest's VmbusClient in a worker (this same file, started with a flag). Measures the
// request/response round trip and one-way streaming throughput, beside a MessagePort doing the same
// work between the same two threads in the same run. Then the same channel over the SynIC transport:
// a child partition of the real hypervisor runs this module as its guest image (`main`), the root's
// server runs on a root VP in this thread, and messages and signals go through HvPostMessage,
// HvSignalEvent and SynIC interrupts; compared with the thread transport's figures of the same run.

import { MessageChannel, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { HvMapGpaFlags, HvMsr } from '@viridian/hvdef';
import { connectRootVp, type GuestVp, Hypervisor } from '@viridian/hypervisor';
import { spawnWorker } from '@viridian/threads';
import {
  type ChannelEnd,
  connectThreadTransport,
  createSynicClientTransport,
  createSynicServerTransport,
  createThreadTransport,
  type ThreadTransportHandle,
  VmbusClient,
  VmbusServer,
} from '@viridian/vmbus';
import { compared } from '../stats.js';
import type { BenchRecord, BenchSuite } from '../types.js';

const FLAG = 'vmbus-channel-bench-guest';
const ECHO = 'bec0bec0-0000-4000-8000-000000000001';
const RING_PAGES = 64;
const RUN_MS = 1000;

type Command =
  | { op: 'rtt'; size: number; ms: number }
  | { op: 'stream'; size: number; ms: number }
  | { op: 'port-rtt'; size: number; ms: number }
  | { op: 'port-stream'; size: number; ms: number };

interface GuestData {
  readonly flag: string;
  readonly handle: ThreadTransportHandle;
  readonly memory: SharedArrayBuffer;
  readonly port: MessagePort;
}

/** Guest thread: opens the echo channel, then runs timed loops on command; replies ops/s or bytes/s. */
async function guest(data: GuestData): Promise<void> {
  let next = 16;
  const client = new VmbusClient({
    memory: data.memory,
    transport: connectThreadTransport(data.handle),
    allocatePages: (n) => {
      next += n;
      return next - n;
    },
  });
  await client.connect();
  const { end } = await client.open(client.findOffer(ECHO)!, { ringPages: RING_PAGES });
  const port = data.port;
  const portReplies: ((v: unknown) => void)[] = [];
  port.on('message', (m) => portReplies.shift()?.(m));
  const portCall = (msg: unknown) =>
    new Promise((resolve) => {
      portReplies.push(resolve);
      port.postMessage(msg);
    });

  parentPort!.on('message', async (cmd: Command) => {
    const payload = new Uint8Array(cmd.size).fill(1);
    let ops = 0;
    let bytes = 0;
    const start = performance.now();
    if (cmd.op === 'rtt') {
      while (performance.now() - start < cmd.ms) {
        await end.request(payload);
        ops++;
      }
    } else if (cmd.op === 'stream') {
      while (performance.now() - start < cmd.ms) {
        for (let i = 0; i < 64; i++) {
          const p = end.send(payload);
          bytes += cmd.size;
          if (end.queued > 0) await p;
        }
      }
      await end.request(new Uint8Array(8)); // in order: the device has consumed everything before it
    } else if (cmd.op === 'port-rtt') {
      while (performance.now() - start < cmd.ms) {
        await portCall(payload);
        ops++;
      }
    } else {
      while (performance.now() - start < cmd.ms) {
        for (let i = 0; i < 64; i++) port.postMessage(payload);
        bytes += 64 * cmd.size;
        // Keep the queue bounded the way a ring would: wait for the consumer every 64 messages.
        await portCall('sync');
      }
    }
    const seconds = (performance.now() - start) / 1000;
    parentPort!.postMessage(cmd.op.endsWith('rtt') ? ops / seconds : bytes / seconds);
  });
  parentPort!.postMessage('ready');
}

function echoHost(end: ChannelEnd): void {
  end.onPacket((p) => {
    if (p.completionRequested) void end.complete(p.transactionId, p.payload);
  });
}

async function measure(): Promise<BenchRecord[]> {
  const memory = new SharedArrayBuffer(1024 * 4096);
  const { host, guestHandle } = createThreadTransport();
  const server = new VmbusServer({ memory, transport: host });
  server.addDevice({
    offer: { interfaceId: ECHO, instanceId: ECHO },
    open: (end) => {
      echoHost(end);
      return true;
    },
  });
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (m: unknown) => {
    if (m === 'sync' || pendingEcho) port1.postMessage(m);
  });
  let pendingEcho = false;
  const worker = spawnWorker(new URL(import.meta.url), {
    workerData: { flag: FLAG, handle: guestHandle, memory, port: port2 },
    transferList: [guestHandle.port, port2],
  });
  const replies: ((v: number | string) => void)[] = [];
  worker.on('message', (m: number | string) => replies.shift()?.(m));
  const ask = (cmd: Command | undefined) =>
    new Promise<number | string>((resolve) => {
      replies.push(resolve);
      if (cmd) worker.postMessage(cmd);
    });
  await ask(undefined); // ready
  const records: BenchRecord[] = [];
  let stream4k = 0;
  try {
    pendingEcho = true;
    const rtt = (await ask({ op: 'rtt', size: 64, ms: RUN_MS })) as number;
    const portRtt = (await ask({ op: 'port-rtt', size: 64, ms: RUN_MS })) as number;
    pendingEcho = false;
    records.push(
      compared('channel echo round trip, 64 B', rtt, 'round trips/s', 'MessagePort echo', portRtt),
    );
    for (const size of [64, 4096, 65536]) {
      const ring = (await ask({ op: 'stream', size, ms: RUN_MS })) as number;
      const port = (await ask({ op: 'port-stream', size, ms: RUN_MS })) as number;
      records.push(
        compared(`channel stream, ${size} B packets`, ring / 1e6, 'MB/s', 'MessagePort stream', port / 1e6),
      );
      if (size === 4096) stream4k = ring;
    }
    const synic = await measureSynic();
    records.push(
      compared(
        'SynIC transport: channel echo round trip, 64 B',
        synic.rtt,
        'round trips/s',
        'thread transport',
        rtt,
      ),
      compared(
        'SynIC transport: channel stream, 4096 B packets',
        synic.stream / 1e6,
        'MB/s',
        'thread transport',
        stream4k / 1e6,
      ),
    );
  } finally {
    server.close();
    port1.close();
    await worker.terminate();
  }
  return records;
}

/** The echo channel between a child partition's VP (this module as its image) and a root VP here. */
async function measureSynic(): Promise<{ rtt: number; stream: number }> {
  const hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
  try {
    const root = connectRootVp(await hv.attachRootVp());
    const pages = 384; // one DepositMemory / MapGpaPages parameter page holds this many
    const { partitionId: id } = root.createPartition();
    root.depositMemory(id, pages);
    root.initializePartition(id);
    const flags = HvMapGpaFlags.Read | HvMapGpaFlags.Write | HvMapGpaFlags.Execute;
    root.mapGpaPages(
      id,
      0n,
      flags,
      Array.from({ length: pages }, (_, i) => BigInt(i)),
    );
    root.setPartitionImage(id, `${import.meta.url}?${FLAG}`);
    const transport = createSynicServerTransport(root, id);
    const guestEvent = (key: string) =>
      hv
        .waitForEvent((e) => e.type === 'guest' && e.partitionId === id && key in (e.data as object), 60_000)
        .then((e) => (e as { data: Record<string, unknown> }).data);
    if (root.createVp(id, 0) !== 0) throw new Error('CreateVp failed');
    // This model has no call that maps a child's RAM into the root: the guest hands it over.
    const { ram } = (await guestEvent('ram')) as { ram: SharedArrayBuffer };
    const server = new VmbusServer({ memory: ram, transport });
    server.addDevice({
      offer: { interfaceId: ECHO, instanceId: ECHO },
      open: (end) => {
        echoHost(end);
        return true;
      },
    });
    const result = (await guestEvent('rtt')) as { rtt: number; stream: number };
    server.close();
    return result;
  } finally {
    await hv.stop();
  }
}

/** Guest image entry (child VP thread): VMBus client over the SynIC, then the timed loops. */
export async function main(vp: GuestVp): Promise<void> {
  vp.wrmsr(HvMsr.GuestOsId, 0x8100_0000_0000_0001n);
  vp.wrmsr(HvMsr.Hypercall, 0x1000n | 1n);
  parentPort!.postMessage({ ram: vp.memory.ram });
  let next = 16;
  const client = new VmbusClient({
    memory: vp.memory.ram,
    transport: createSynicClientTransport(vp, { simpGpa: 0x2000, siefpGpa: 0x3000 }),
    allocatePages: (n) => {
      next += n;
      return next - n;
    },
  });
  await client.connect();
  const { end } = await client.open(client.findOffer(ECHO)!, { ringPages: RING_PAGES });
  const small = new Uint8Array(64).fill(1);
  let ops = 0;
  let start = performance.now();
  while (performance.now() - start < RUN_MS) {
    await end.request(small);
    ops++;
  }
  const rtt = ops / ((performance.now() - start) / 1000);
  const page = new Uint8Array(4096).fill(2);
  let bytes = 0;
  start = performance.now();
  while (performance.now() - start < RUN_MS) {
    for (let i = 0; i < 64; i++) {
      const p = end.send(page);
      bytes += page.length;
      if (end.queued > 0) await p;
    }
  }
  await end.request(new Uint8Array(8));
  const stream = bytes / ((performance.now() - start) / 1000);
  parentPort!.postMessage({ rtt, stream });
  for (;;) await vp.halt();
}

export const suite: BenchSuite = { name: 'vmbus-channel', run: measure };

const data = workerData as Partial<GuestData> | undefined;
if (data?.flag === FLAG) void guest(data as GuestData);
