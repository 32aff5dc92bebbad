// A real VMBus channel between two threads: the root's VmbusServer with an echo device in this
// thread, a guest's VmbusClient in a worker (this same file, started with a flag). Measures the
// request/response round trip and one-way streaming throughput, beside a MessagePort doing the same
// work between the same two threads in the same run.

import { MessageChannel, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import {
  type ChannelEnd,
  connectThreadTransport,
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
    }
  } finally {
    server.close();
    port1.close();
    await worker.terminate();
  }
  return records;
}

export const suite: BenchSuite = { name: 'vmbus-channel', run: measure };

const data = workerData as Partial<GuestData> | undefined;
if (data?.flag === FLAG) void guest(data as GuestData);
