// The guest: connects to the bus, binds the echo driver, and runs what the test asks.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestBus, type ThreadTransportHandle } from '@viridian/device-sdk';
import { type EchoClient, echoDriver } from './vsc.js';

const { handle, memory } = workerData as { handle: ThreadTransportHandle; memory: SharedArrayBuffer };
let next = 32;
let removed = 0;
const bus = new GuestBus({
  memory,
  transport: handle,
  allocatePages: (n) => {
    next += n;
    return next - n;
  },
});
let client: EchoClient | undefined;
const driver = { ...echoDriver((c) => (client = c)), removed: () => removed++ };

parentPort!.on('message', async (cmd: { op: string; count?: number; size?: number }) => {
  try {
    if (cmd.op === 'start') {
      const busVersion = await bus.connect();
      await bus.bind(driver);
      parentPort!.postMessage({ busVersion, echoVersion: await client!.negotiate() });
    } else if (cmd.op === 'echo') {
      let ok = 0;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < cmd.count!; i++) {
        const data = new Uint8Array(cmd.size!).map((_, j) => (i + j) & 0xff);
        pending.push(
          client!.echo(data).then((back) => {
            if (Buffer.from(back).equals(Buffer.from(data))) ok++;
          }),
        );
      }
      const settled = await Promise.allSettled(pending);
      parentPort!.postMessage({ ok, failed: settled.filter((s) => s.status === 'rejected').length, removed });
    }
  } catch (e) {
    parentPort!.postMessage({ error: String(e) });
  }
});
parentPort!.postMessage({ ready: true });
