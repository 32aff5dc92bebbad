// The guest: binds the storvsc driver and runs what the test asks against the block devices.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestBus, type ThreadTransportHandle } from '@viridian/device-sdk';
import { type BlockDevice, StorageError, type StorvscController, storvscDriver } from './index.js';
import { content, plan } from './workload.test-fixture.js';

const { handle, memory } = workerData as { handle: ThreadTransportHandle; memory: SharedArrayBuffer };
let next = 64;
const allocatePages = (n: number) => {
  next += n;
  return next - n;
};
const bus = new GuestBus({ memory, transport: handle, allocatePages });
let controller: StorvscController | undefined;
const changes: { added: number[]; removed: number[] }[] = [];
const post = (m: unknown) => parentPort!.postMessage(m);
const dev = (lun: number): BlockDevice => {
  const d = controller!.device(lun);
  if (!d) throw new Error(`no LUN ${lun}`);
  return d;
};
const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b));

type Cmd =
  | { op: 'start' }
  | { op: 'write'; lun: number; seed: number; count: number }
  | { op: 'verify'; lun: number; seed: number; count: number }
  | { op: 'hammer'; lun: number }
  | { op: 'changes' }
  | { op: 'devices' };

parentPort!.on('message', async (cmd: Cmd) => {
  try {
    if (cmd.op === 'start') {
      await bus.connect();
      await bus.bind(storvscDriver({ memory, allocatePages }, (c) => (controller = c)));
      controller!.onChange((c) =>
        changes.push({ added: c.added.map((d) => d.lun), removed: c.removed.map((d) => d.lun) }),
      );
      post({
        version: controller!.version,
        devices: controller!.devices.map((d) => ({ lun: d.lun, blocks: d.blocks, blockSize: d.blockSize })),
      });
    } else if (cmd.op === 'write' || cmd.op === 'verify') {
      const d = dev(cmd.lun);
      const writes = plan(cmd.seed, cmd.count, d.blocks);
      let bad = 0;
      // Eight in flight at a time.
      for (let i = 0; i < writes.length; i += 8) {
        await Promise.all(
          writes.slice(i, i + 8).map(async (w) => {
            if (cmd.op === 'write') await d.write(w.lba, content(w, d.blockSize));
            else if (!same(await d.read(w.lba, w.blocks), content(w, d.blockSize))) bad++;
          }),
        );
      }
      if (cmd.op === 'write') await d.flush();
      post({ done: writes.length, bad });
    } else if (cmd.op === 'hammer') {
      // I/O until the device goes away.
      const d = dev(cmd.lun);
      const data = new Uint8Array(64 * 1024).fill(0x5a);
      let ok = 0;
      let code = '';
      const worker = async (k: number) => {
        for (let i = 0; code === ''; i++) {
          try {
            const lba = ((i * 8 + k) % 256) * 128;
            if (i % 2) await d.write(lba, data);
            else await d.read(lba, 128);
            ok++;
          } catch (e) {
            code = e instanceof StorageError ? e.code : String(e);
          }
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      post({ ok, code, removed: d.removed });
    } else if (cmd.op === 'changes') {
      // Wait until the rescan the host triggered has been seen.
      for (let i = 0; i < 200 && changes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      post({ changes: changes.splice(0), devices: controller!.devices.map((d) => d.lun) });
    } else if (cmd.op === 'devices') {
      post({ devices: controller!.devices.map((d) => d.lun) });
    }
  } catch (e) {
    post({ error: e instanceof StorageError ? e.code : String(e) });
  }
});
post({ ready: true });
