import { HvPartitionProperty } from '@viridian/hvdef';
import { connectRootVp } from '@viridian/hypervisor';
import { KvpPool } from '@viridian/ic';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type SavedVm, type VmwpExit, VmwpRuntime } from './index.js';
import type { VmwpConfig } from './protocol.js';

let runtime: VmwpRuntime;

beforeAll(() => {
  runtime = new VmwpRuntime({ safePointTimeoutMs: 5_000 });
});

afterAll(async () => {
  await runtime.close();
});

function vmConfig(name: string, image: string, extra: Partial<VmwpConfig> = {}): VmwpConfig {
  return {
    id: `00000000-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    name,
    memoryMB: 32,
    processorCount: 1,
    cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 100 },
    image,
    integrationServices: { heartbeat: true, shutdown: true },
    ...extra,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a VM is a child partition with its VPs; turning it off deletes the partition', async () => {
  const exits: VmwpExit[] = [];
  const vm = await runtime.start(vmConfig('a', 'idle', { processorCount: 2 }), {
    onExit: (e) => exits.push(e),
  });
  const hv = await runtime.hypervisor();
  const id = vm.partitionId;
  expect(id).toBeDefined();
  const stats = await hv.stats();
  expect(stats.partitions).toContain(id);
  expect(stats.vps.filter((v) => v.partitionId === id).map((v) => v.vpIndex)).toEqual([0, 1]);
  expect(vm.stats()).toMatchObject({ memoryDemandMB: 32 });
  // The guest's heartbeat service answers over VMBus on the SynIC.
  const end = Date.now() + 15_000;
  while (vm.stats().heartbeat !== 'OK' && Date.now() < end) await sleep(50);
  expect(vm.stats().heartbeat).toBe('OK');
  await vm.turnOff();
  const after = await hv.stats();
  expect(after.partitions).not.toContain(id);
  // The next VM's worker takes over the idle root VP instead of attaching another.
  const rootVps = () =>
    hv.stats().then((s) => s.vps.filter((v) => v.partitionId === hv.rootPartitionId).length);
  const before = await rootVps();
  const next = await runtime.start(vmConfig('a2', 'idle'), { onExit: (e) => exits.push(e) });
  expect(await rootVps()).toBe(before);
  await next.turnOff();
  expect(exits).toEqual([]);
});

/** Collects the tick counts the counting fixture logs. */
function ticker() {
  const ticks: number[] = [];
  return {
    ticks,
    onGuestLog: (line: string) => {
      const m = /^ticks=(\d+)$/.exec(line);
      if (m) ticks.push(Number(m[1]));
    },
    async until(predicate: () => boolean | Promise<boolean>, ms = 10_000) {
      const end = Date.now() + ms;
      while (!(await predicate())) {
        if (Date.now() > end) throw new Error('timed out');
        await sleep(20);
      }
    },
  };
}

const counting = new URL('./counting.test-fixture.ts', import.meta.url).href;

test('a crashing guest ends only its own VM: guestCrashed, partition deleted, the other VM keeps running', async () => {
  const hv = await runtime.hypervisor();
  const exits: VmwpExit[] = [];
  const t = ticker();
  const good = await runtime.start(vmConfig('good', counting), {
    onExit: (e) => exits.push(e),
    onGuestLog: t.onGuestLog,
  });
  const crashExits: VmwpExit[] = [];
  const bad = await runtime.start(vmConfig('bad', 'crash'), { onExit: (e) => crashExits.push(e) });
  const badId = bad.partitionId;
  await t.until(() => crashExits.length > 0);
  expect(crashExits).toEqual([
    { reason: 'guestCrashed', message: expect.stringContaining('guest fault after') },
  ]);
  await t.until(async () => !(await hv.stats()).partitions.includes(badId as bigint));
  const seen = t.ticks.length;
  await t.until(() => t.ticks.length >= seen + 3);
  expect((await hv.stats()).partitions).toContain(good.partitionId);
  expect(exits).toEqual([]);
  await good.turnOff();
});

test('pause holds the guest at a safe point and resume lets it continue', async () => {
  const t = ticker();
  const vm = await runtime.start(vmConfig('pause', counting), {
    onExit: () => undefined,
    onGuestLog: t.onGuestLog,
  });
  await t.until(() => t.ticks.length >= 2);
  await vm.pause();
  expect(vm.stats()).toMatchObject({ cpuPercent: 0, heartbeat: 'Paused' });
  const frozen = t.ticks.length;
  await sleep(600);
  expect(t.ticks.length).toBe(frozen);
  await vm.resume();
  await t.until(() => t.ticks.length >= frozen + 2);
  // Counting continues from where it stopped.
  expect(t.ticks.slice(frozen - 1)).toEqual(t.ticks.slice(frozen - 1).sort((a, b) => a - b));
  await vm.turnOff();
});

test('save captures memory and VP registers and powers off; restore resumes in a fresh partition', async () => {
  const hv = await runtime.hypervisor();
  const t = ticker();
  const config = vmConfig('saver', counting);
  const vm = await runtime.start(config, { onExit: () => undefined, onGuestLog: t.onGuestLog });
  await t.until(() => t.ticks.length >= 3);
  const oldId = vm.partitionId as bigint;
  const saved = (await vm.save()) as SavedVm;
  const last = t.ticks[t.ticks.length - 1] as number;
  expect((await hv.stats()).partitions).not.toContain(oldId);
  expect(saved).toMatchObject({ kind: 'viridian-vmwp-state', version: 1, pageCount: 32 * 256 });
  // The firmware page, the program state (with its 8 KiB buffer) and the hypercall pages are present.
  expect(saved.memory.pages.length).toBeGreaterThanOrEqual(4);
  expect(saved.memory.pages.length).toBeLessThan(100);
  const rax = saved.vps[0]?.registers.find((r) => r.name === 0x20000)?.value ?? 0n;
  expect(rax).toBeGreaterThanOrEqual(BigInt(last));

  const after = ticker();
  const restored = await runtime.start(config, {
    restore: saved,
    onExit: () => undefined,
    onGuestLog: after.onGuestLog,
  });
  expect(restored.partitionId).not.toBe(oldId);
  await after.until(() => after.ticks.length >= 2);
  // The count goes on from the saved one instead of starting again at 10.
  expect(after.ticks[0]).toBeGreaterThan(last);
  expect(after.ticks[0]).toBeLessThanOrEqual(Number(rax) + 10);
  // The restored guest reconnects VMBus and its integration services.
  await after.until(() => restored.stats().heartbeat === 'OK', 20_000);
  await restored.turnOff();
});

test('a saved state that does not fit the VM is refused', async () => {
  const config = vmConfig('refuse', counting);
  const vm = await runtime.start(config, { onExit: () => undefined });
  const saved = (await vm.save()) as SavedVm;
  await expect(
    runtime.start({ ...config, memoryMB: 64 }, { restore: saved, onExit: () => undefined }),
  ).rejects.toThrow(/8192 pages of memory, the VM has 16384/);
  await expect(
    runtime.start(config, { restore: { ...saved, version: 99 }, onExit: () => undefined }),
  ).rejects.toThrow(/version 99 is not the supported version 1/);
});

test('CPU weight, reserve and limit are partition properties; the scheduler splits one LP by weight', async () => {
  // A hypervisor with one logical processor, so the two processor-bound VMs contend.
  const one = new VmwpRuntime({ hypervisorOptions: { logicalProcessors: 1 } });
  try {
    const hv = await one.hypervisor();
    const noIcs = { heartbeat: false, shutdown: false };
    const light = await one.start(
      vmConfig('light', 'primes', {
        cpu: { reservePercent: 10, limitPercent: 50, relativeWeight: 100 },
        integrationServices: noIcs,
      }),
      { onExit: () => undefined },
    );
    const heavy = await one.start(
      vmConfig('heavy', 'primes', {
        cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 400 },
        integrationServices: noIcs,
      }),
      { onExit: () => undefined },
    );
    const root = connectRootVp(await hv.attachRootVp());
    const prop = (id: bigint | undefined, code: number) =>
      root.getPartitionProperty(id as bigint, code).value;
    expect(prop(light.partitionId, HvPartitionProperty.CpuWeight)).toBe(100n);
    expect(prop(heavy.partitionId, HvPartitionProperty.CpuWeight)).toBe(400n);
    expect(prop(light.partitionId, HvPartitionProperty.CpuReserve)).toBe(BigInt(Math.round(0x10000 * 0.1)));
    expect(prop(light.partitionId, HvPartitionProperty.CpuCap)).toBe(0x8000n);
    await sleep(3000);
    // CPU % comes from the scheduler's run-time accounting: 1:4 of the one LP (20 % / 80 %).
    const a = light.stats().cpuPercent;
    const b = heavy.stats().cpuPercent;
    expect(a).toBeGreaterThan(5);
    expect(a).toBeLessThan(40);
    expect(b).toBeGreaterThan(a * 2);
    expect(a + b).toBeLessThan(110);
  } finally {
    await one.close();
  }
});

async function until(predicate: () => boolean, ms = 15_000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

test('graceful shutdown through the shutdown IC: a willing guest powers off, a stubborn one keeps running', async () => {
  const hv = await runtime.hypervisor();
  const exits: VmwpExit[] = [];
  const willing = await runtime.start(vmConfig('willing', 'counter'), { onExit: (e) => exits.push(e) });
  const logs: string[] = [];
  const stubborn = await runtime.start(vmConfig('stubborn', 'stubborn'), {
    onExit: (e) => exits.push(e),
    onGuestLog: (l) => logs.push(l),
  });
  await until(
    () =>
      willing.shutdownUnavailableReason() === undefined && stubborn.shutdownUnavailableReason() === undefined,
  );
  const id = willing.partitionId as bigint;
  expect(await willing.shutdown(10_000)).toBe(true);
  expect((await hv.stats()).partitions).not.toContain(id);
  expect(await stubborn.shutdown(1_500)).toBe(false);
  expect(logs).toContain('shutdown refused (1)');
  expect((await hv.stats()).partitions).toContain(stubborn.partitionId);
  await stubborn.turnOff();
  expect(exits).toEqual([]);
});

test('with the shutdown service disabled, a graceful stop is not offered', async () => {
  const vm = await runtime.start(
    vmConfig('noshut', 'idle', { integrationServices: { heartbeat: true, shutdown: false } }),
    {
      onExit: () => undefined,
    },
  );
  await until(() => vm.stats().heartbeat === 'OK');
  expect(vm.shutdownUnavailableReason()).toMatch(/shutdown integration service is not offered/);
  expect(vm.shutdownServiceReady).toBe(false);
  expect(await vm.shutdown(1000)).toBe(false);
  await vm.turnOff();
});

test('KVP, time sync and VSS run over VMBus when the settings enable them', async () => {
  const logs: string[] = [];
  const all = { heartbeat: true, shutdown: true, kvp: true, timesync: true, vss: true };
  const vm = await runtime.start(vmConfig('ics', 'counter', { integrationServices: all }), {
    onExit: () => undefined,
    onGuestLog: (line) => logs.push(line),
  });
  try {
    type State = { services: { name: string; status: string }[]; timeSync?: { guestClockOffsetMs?: number } };
    const ready = async () => {
      const state = (await vm.ic({ op: 'icState' })) as State;
      return (
        state.services.every((s) => s.status === 'ok') && state.timeSync?.guestClockOffsetMs !== undefined
      );
    };
    const end = Date.now() + 20_000;
    while (!(await ready()) && Date.now() < end) await sleep(100);
    const state = (await vm.ic({ op: 'icState' })) as State;
    expect(state.services.map((s) => [s.name, s.status])).toEqual([
      ['heartbeat', 'ok'],
      ['kvp', 'ok'],
      ['timeSync', 'ok'],
      ['shutdown', 'ok'],
      ['vss', 'ok'],
    ]);
    // Time sync stepped the guest's clock to the host's: same process clock, so near zero.
    expect(Math.abs(state.timeSync?.guestClockOffsetMs ?? Number.NaN)).toBeLessThan(2_000);
    // Host → guest: EXTERNAL pool; the guest sees the item arrive.
    expect(await vm.ic({ op: 'kvpSet', pool: KvpPool.External, key: 'Role', value: 'web' })).toEqual({
      ok: true,
    });
    expect(await vm.ic({ op: 'kvpGet', pool: KvpPool.External, key: 'Role' })).toEqual({
      ok: true,
      value: 'web',
    });
    const seen = Date.now() + 5_000;
    while (!logs.some((l) => l.includes('kvp: host set Role=web')) && Date.now() < seen) await sleep(20);
    expect(logs).toContain('kvp: host set Role=web (pool 0)');
    // Guest → host: the firmware and the program publish in the GUEST pool.
    const guest = (await vm.ic({ op: 'kvpList', pool: KvpPool.Guest })) as {
      ok: true;
      items: { key: string; value: string }[];
    };
    expect(guest.ok).toBe(true);
    expect(guest.items).toContainEqual({ key: 'VirtualMachineName', value: 'ics' });
    expect(guest.items).toContainEqual({ key: 'GuestProgram', value: 'counter' });
    expect(guest.items.map((i) => i.key)).toContain('Ticks');
    expect(await vm.ic({ op: 'kvpRemove', pool: KvpPool.External, key: 'Role' })).toEqual({ ok: true });
    expect(await vm.ic({ op: 'kvpGet', pool: KvpPool.External, key: 'Role' })).toMatchObject({
      ok: false,
      reason: 'guest-status',
    });
    // VSS: freeze then thaw, both answered by the guest.
    expect(await vm.ic({ op: 'vssFreeze' })).toMatchObject({ outcome: 'ok' });
    expect(await vm.ic({ op: 'vssThaw' })).toMatchObject({ outcome: 'ok' });
  } finally {
    await vm.turnOff();
  }
  await expect(vm.ic({ op: 'icState' })).rejects.toThrow(/not running/);
});

test('an IC the settings leave out is not offered, and says so', async () => {
  const vm = await runtime.start(vmConfig('noics', 'idle'), { onExit: () => undefined });
  try {
    expect(await vm.ic({ op: 'kvpGet', pool: KvpPool.External, key: 'x' })).toMatchObject({
      ok: false,
      reason: 'not-offered',
    });
    expect(await vm.ic({ op: 'vssFreeze' })).toMatchObject({ outcome: 'not-offered' });
    const state = (await vm.ic({ op: 'icState' })) as {
      services: { name: string; status: string }[];
      timeSync?: unknown;
    };
    expect(state.services.find((s) => s.name === 'kvp')?.status).toBe('disabled');
    expect(state.timeSync).toBeUndefined();
  } finally {
    await vm.turnOff();
  }
});
