import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceHost, type VmbusError } from '@viridian/device-sdk';
import { spawnWorker } from '@viridian/threads';
import { VirtualDisk } from '@viridian/vhd';
import { describe, expect, it } from 'vitest';
import { VstorVersion } from './protocol.js';
import { scsiController } from './vsp.js';
import { content, plan } from './workload.test-fixture.js';

async function start(disks: Parameters<typeof VirtualDisk.create>[1][]) {
  const dir = await mkdtemp(join(tmpdir(), 'viridian-storage-x-'));
  const memory = new SharedArrayBuffer(4096 * 4096);
  const errors: VmbusError[] = [];
  const host = new DeviceHost({ memory, onError: (e) => errors.push(e) });
  const controller = scsiController({ instanceId: '5c5c0000-0000-4000-8000-000000000002' });
  const relid = host.add(controller);
  const opened: VirtualDisk[] = [];
  const paths: string[] = [];
  for (const [i, o] of disks.entries()) {
    const path = join(dir, `d${i}.${o.format}`);
    paths.push(path);
    opened.push(await VirtualDisk.create(path, o));
    await controller.attach(i, opened[i]!);
  }
  const worker = spawnWorker(new URL('./guest.test-fixture.js', import.meta.url), {
    workerData: { handle: host.guestHandle, memory },
    transferList: [host.guestHandle!.port],
  });
  await once(worker, 'message');
  const ask = async (cmd: object) => {
    worker.postMessage(cmd);
    const [reply] = await once(worker, 'message');
    return reply as Record<string, unknown>;
  };
  const stop = async () => {
    host.close();
    await worker.terminate();
    for (const d of opened) await d.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  return { dir, host, relid, controller, opened, paths, worker, ask, errors, stop };
}

/** Reopens the file through @viridian/vhd and checks every planned write's bytes, and zeros between. */
async function checkFile(path: string, seed: number, count: number) {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  try {
    const blocks = disk.sizeBytes / disk.sectorSize;
    let mismatches = 0;
    for (const w of plan(seed, count, blocks)) {
      const got = await disk.read(w.lba * disk.sectorSize, 64 * disk.sectorSize);
      const want = new Uint8Array(64 * disk.sectorSize);
      want.set(content(w, disk.sectorSize));
      if (!got.equals(want)) mismatches++;
    }
    return mismatches;
  } finally {
    await disk.close();
  }
}

describe('guest in a worker thread, real I/O to real VHD/VHDX files', () => {
  it('two disks (VHDX dynamic, VHD dynamic): guest writes land byte-exact in the files', async () => {
    const t = await start([
      { format: 'vhdx', type: 'dynamic', sizeBytes: 32 << 20 },
      { format: 'vhd', type: 'dynamic', sizeBytes: 24 << 20 },
    ]);
    const started = await t.ask({ op: 'start' });
    expect(started.version).toBe(VstorVersion.Win10);
    expect(started.devices).toEqual([
      { lun: 0, blocks: (32 << 20) / 512, blockSize: 512 },
      { lun: 1, blocks: (24 << 20) / 512, blockSize: 512 },
    ]);
    expect(await t.ask({ op: 'write', lun: 0, seed: 11, count: 60 })).toEqual({ done: 60, bad: 0 });
    expect(await t.ask({ op: 'write', lun: 1, seed: 22, count: 60 })).toEqual({ done: 60, bad: 0 });
    expect(await t.ask({ op: 'verify', lun: 0, seed: 11, count: 60 })).toEqual({ done: 60, bad: 0 });
    expect(await t.ask({ op: 'verify', lun: 1, seed: 22, count: 60 })).toEqual({ done: 60, bad: 0 });
    await t.controller.detach(0);
    await t.controller.detach(1);
    for (const d of t.opened) await d.close();
    expect(await checkFile(t.paths[0]!, 11, 60)).toBe(0);
    expect(await checkFile(t.paths[1]!, 22, 60)).toBe(0);
    // A wrong seed must not match: the check itself can fail.
    expect(await checkFile(t.paths[0]!, 12, 60)).toBeGreaterThan(0);
    expect((await VirtualDisk.check(t.paths[0]!)).ok).toBe(true);
    expect(t.errors).toEqual([]);
    await t.stop();
  });

  it('hot remove during I/O: running commands finish, new ones fail NO_DEVICE, the guest rescans; hot add works', async () => {
    const t = await start([
      { format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 },
      { format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 },
    ]);
    await t.ask({ op: 'start' });
    const hammer = t.ask({ op: 'hammer', lun: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await t.controller.detach(1); // resolves once commands in flight on LUN 1 are done
    await t.opened[1]!.close(); // safe now: nothing uses it
    const result = await hammer;
    expect(result.code).toBe('NO_DEVICE');
    expect(result.ok).toBeGreaterThan(0);
    expect(result.removed).toBe(true);
    const seen = await t.ask({ op: 'changes' });
    expect(seen.devices).toEqual([0]);
    // LUN 0 is unaffected.
    expect(await t.ask({ op: 'write', lun: 0, seed: 5, count: 10 })).toEqual({ done: 10, bad: 0 });
    expect((await VirtualDisk.check(t.paths[1]!)).ok).toBe(true);
    // Hot add: a VHD fixed disk at LUN 2 appears in the guest.
    const extra = await VirtualDisk.create(join(t.dir, 'extra.vhd'), {
      format: 'vhd',
      type: 'fixed',
      sizeBytes: 8 << 20,
    });
    t.opened.push(extra);
    await t.controller.attach(2, extra);
    const added = await t.ask({ op: 'changes' });
    expect(added).toMatchObject({ changes: [{ added: [2], removed: [] }], devices: [0, 2] });
    expect(await t.ask({ op: 'write', lun: 2, seed: 7, count: 20 })).toEqual({ done: 20, bad: 0 });
    await t.controller.detach(2);
    await extra.close();
    expect(await checkFile(join(t.dir, 'extra.vhd'), 7, 20)).toBe(0);
    expect(t.errors).toEqual([]);
    await t.stop();
  });

  it('removing the whole controller during I/O fails the guest commands with CLOSED', async () => {
    const t = await start([{ format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 }]);
    await t.ask({ op: 'start' });
    const hammer = t.ask({ op: 'hammer', lun: 0 });
    await new Promise((r) => setTimeout(r, 200));
    t.host.remove(t.relid);
    const result = await hammer;
    expect(['CLOSED', 'NO_DEVICE']).toContain(result.code);
    expect(result.ok).toBeGreaterThan(0);
    await t.stop();
  });
});
