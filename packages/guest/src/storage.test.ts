// A child partition on the real hypervisor finds its disks through the synthetic SCSI controller: the
// built-in disk-probe program writes, flushes and reads back a pattern on every disk, including one
// hot-added while it runs; after the VM is gone the host finds the bytes in the VHDX files.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineDevice } from '@viridian/device-sdk';
import { KvpPool } from '@viridian/ic';
import { SCSI_INTERFACE_ID } from '@viridian/storage';
import { VirtualDisk } from '@viridian/vhd';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROBE_BLOCKS, probeLbas, probePattern } from './programs/disk-probe.js';
import {
  exitOf,
  guestEvent,
  hypervisor,
  startVm,
  stopVm,
  until,
  type Vm,
} from './vm-harness.test-fixture.js';

const SECTOR = 512;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'viridian-guest-storage-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logged = (vm: Vm, text: string) => guestEvent(vm.id, (d) => d.event === 'log' && d.text === text);

/** The console lines the guest logged so far, oldest first. */
const lines = (vm: Vm) =>
  hypervisor()
    .events.filter((e) => e.type === 'guest' && e.partitionId === vm.id)
    .map((e) => (e as { data: Record<string, unknown> }).data)
    .filter((d) => d.event === 'log')
    .map((d) => String(d.text));

async function shutDown(vm: Vm): Promise<void> {
  const exit = exitOf(vm.id);
  const result = await vm.ics.shutdown({ kind: 'shutdown', reason: 'test over', timeoutMs: 10_000 });
  expect(result).toMatchObject({ outcome: 'accepted' });
  expect((await exit).error).toBeUndefined();
  stopVm(vm);
}

/** Reads the probe's blocks back from the file itself and checks the blocks next to them are zero. */
async function expectProbeInFile(path: string, lun: number): Promise<void> {
  const disk = await VirtualDisk.open(path, { readOnly: true });
  try {
    const blocks = (await disk.info()).virtualSize / SECTOR;
    for (const lba of probeLbas(blocks)) {
      const got = await disk.read(lba * SECTOR, PROBE_BLOCKS * SECTOR);
      expect(Buffer.from(got).equals(Buffer.from(probePattern(lun, lba, PROBE_BLOCKS, SECTOR)))).toBe(true);
    }
    expect((await disk.read(PROBE_BLOCKS * SECTOR, SECTOR)).every((b) => b === 0)).toBe(true);
  } finally {
    await disk.close();
  }
}

describe('disks in the guest runtime', () => {
  it('probes boot disks and a hot-added one; the bytes are in the VHDX files after the VM is gone', async () => {
    const path0 = join(dir, 'lun0.vhdx');
    const path1 = join(dir, 'lun1.vhdx');
    const path2 = join(dir, 'lun2.vhdx');
    const disk0 = await VirtualDisk.create(path0, { format: 'vhdx', type: 'dynamic', sizeBytes: 8 << 20 });
    const disk1 = await VirtualDisk.create(path1, { format: 'vhdx', type: 'dynamic', sizeBytes: 4 << 20 });
    await (await VirtualDisk.create(path2, { format: 'vhdx', type: 'dynamic', sizeBytes: 1 << 20 })).close();
    const disk2 = await VirtualDisk.open(path2, { readOnly: true });
    let vm: Vm | undefined;
    try {
      vm = await startVm('disk-probe', {
        scsi: {
          disks: [
            { lun: 2, disk: disk2 },
            { lun: 0, disk: disk0 },
          ],
        },
      });
      const booted = await guestEvent(vm.id, (d) => d.event === 'booted');
      expect(booted.drivers).toContain('storvsc');
      await logged(vm, `disk 0: ok ${(8 << 20) / SECTOR} x ${SECTOR} B`);
      await logged(vm, `disk 2: read-only ${(1 << 20) / SECTOR} x ${SECTOR} B`);
      await logged(vm, 'disks: [0,2]');

      // Hot add: the controller tells the guest to rescan; the new disk shows up in guest.disks.
      await vm.scsi!.attach(1, disk1);
      await logged(vm, 'disks: [0,1,2]');
      await logged(vm, `disk 1: ok ${(4 << 20) / SECTOR} x ${SECTOR} B`);
      expect(await vm.ics.kvp.get(KvpPool.Guest, 'Disks')).toMatchObject({ ok: true, value: '0,1,2' });
      expect(await vm.ics.kvp.get(KvpPool.Guest, 'Disk.1')).toMatchObject({ value: 'ok 8192 x 512 B' });

      // Hot remove: it leaves guest.disks once the running commands are done.
      await vm.scsi!.detach(1);
      const running = vm;
      const disksLines = () => lines(running).filter((l) => l.startsWith('disks:'));
      await until('the guest to see the removal', () => disksLines().length === 3);
      const seen = lines(running);
      expect(disksLines()).toEqual(['disks: [0,2]', 'disks: [0,1,2]', 'disks: [0,2]']);
      expect(seen.indexOf('disk 1: removed')).toBeGreaterThan(seen.indexOf(`disk 1: ok 8192 x 512 B`));

      await shutDown(vm);
      vm = undefined;
    } finally {
      if (vm) stopVm(vm);
      await disk0.close();
      await disk1.close();
      await disk2.close();
    }
    await expectProbeInFile(path0, 0);
    await expectProbeInFile(path1, 1);
    // The read-only disk was left as it was.
    const untouched = await VirtualDisk.open(path2, { readOnly: true });
    expect((await untouched.read(0, PROBE_BLOCKS * SECTOR)).every((b) => b === 0)).toBe(true);
    await untouched.close();
  });

  it('boots on without disks when the controller answers the handshake with garbage, and says so', async () => {
    const garbage = defineDevice({
      name: 'garbage-scsi',
      interfaceId: SCSI_INTERFACE_ID,
      instanceId: '5c5c0000-0000-4000-8000-0000000000ee',
      versions: [0x0602],
      open(channel) {
        channel.onMessage((m) => void m.reply(new Uint8Array([0xde, 0xad])));
      },
    });
    const vm = await startVm('disk-probe', { devices: [garbage] });
    try {
      const failure = await guestEvent(
        vm.id,
        (d) => d.event === 'log' && String(d.text).startsWith('storage controller not initialized'),
      );
      expect(failure.level).toBe('error');
      const booted = await guestEvent(vm.id, (d) => d.event === 'booted');
      expect(booted.drivers).not.toContain('storvsc');
      await logged(vm, 'disks: []');
      // The guest keeps running: heartbeat answers, and it shuts down cleanly.
      await until('heartbeat OK', () => vm.ics.heartbeat().text === 'OK (Applications healthy)');
      await shutDown(vm);
    } catch (error) {
      stopVm(vm);
      throw error;
    }
  });
});
