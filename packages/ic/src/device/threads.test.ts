import type { Worker } from 'node:worker_threads';
import { DeviceHost } from '@viridian/device-sdk';
import { spawnWorker } from '@viridian/threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { HeartbeatReport } from '../heartbeat/host.js';
import { filetimeToUnixMs } from '../timesync/time.js';
import { IcStatus, KvpPool } from '../wire/defs.js';
import { IC_NAMES } from './devices.js';
import { IcHost } from './ic-host.js';
import { icDevices } from './sdk.js';

interface Vm {
  host: IcHost;
  bus: DeviceHost;
  worker: Worker;
  events: { event: string; [k: string]: unknown }[];
  heartbeatChanges: HeartbeatReport[];
  call(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  waitFor(pred: () => boolean, ms?: number): Promise<void>;
  exited: Promise<number>;
}

const vms: Vm[] = [];
afterEach(async () => {
  for (const vm of vms.splice(0)) {
    vm.host.close();
    vm.bus.close();
    await vm.worker.terminate();
  }
});

async function startVm(
  opts: {
    drift?: number;
    clockStartOffset?: number;
    vssFreezeTimeoutMs?: number;
    heartbeatVersions?: { major: number; minor: number }[];
  } = {},
): Promise<Vm> {
  const referenceOrigin = performance.timeOrigin + performance.now();
  const heartbeatChanges: HeartbeatReport[] = [];
  const host = new IcHost({
    referenceTime: () =>
      BigInt(Math.round((performance.timeOrigin + performance.now() - referenceOrigin) * 10_000)),
    heartbeat: { intervalMs: 50, lostAfterMs: 400 },
    timeSync: { samplePeriodMs: 100 },
    kvpTimeoutMs: 5_000,
    negotiateTimeoutMs: 5_000,
    onHeartbeatChange: (r) => heartbeatChanges.push(r),
  });
  // The VM's bus: every IC offered as a VSP on the device SDK; the guest binds the matching VSCs.
  const memory = new SharedArrayBuffer(256 * 4096);
  const bus = new DeviceHost({ memory });
  for (const device of icDevices(host)) bus.add(device);
  const worker = spawnWorker(new URL('./guest-worker.test-fixture.js', import.meta.url), {
    transferList: [bus.guestHandle!.port],
    workerData: {
      handle: bus.guestHandle,
      memory,
      referenceOrigin,
      drift: opts.drift ?? 0,
      clockStartOffset: opts.clockStartOffset ?? 0,
      vssFreezeTimeoutMs: opts.vssFreezeTimeoutMs ?? 60_000,
      ...(opts.heartbeatVersions ? { heartbeatVersions: opts.heartbeatVersions } : {}),
    },
  });
  const events: Vm['events'] = [];
  const pending = new Map<number, (v: unknown) => void>();
  let nextId = 1;
  worker.on('message', (m: { id?: number; result?: unknown; event?: string }) => {
    if (m.id !== undefined) pending.get(m.id)?.(m.result);
    else events.push(m as Vm['events'][number]);
  });
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  const waitFor = async (pred: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('condition not reached');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await waitFor(() => events.some((e) => e.event === 'ready'));
  // The channels open when the guest binds its drivers.
  await waitFor(() => IC_NAMES.every((ic) => host.status(ic) !== 'not-connected'));
  const vm: Vm = {
    host,
    bus,
    worker,
    events,
    heartbeatChanges,
    exited,
    waitFor,
    call: (cmd, args = {}) =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        worker.postMessage({ id, cmd, ...args });
      }),
  };
  vms.push(vm);
  return vm;
}

describe('integration components as VSP/VSC pairs on the device SDK, across real threads', () => {
  it('negotiates every IC, including a guest that refuses the offered heartbeat versions', async () => {
    const vm = await startVm();
    for (const ic of IC_NAMES) expect((await vm.host.whenNegotiated(ic)).kind).toBe('ready');
    expect(await vm.call('versions')).toEqual({
      heartbeat: { major: 3, minor: 0 },
      kvp: { major: 4, minor: 0 },
      timeSync: { major: 4, minor: 0 },
      shutdown: { major: 3, minor: 2 },
      vss: { major: 5, minor: 0 },
    });
    const old = await startVm({ heartbeatVersions: [{ major: 9, minor: 0 }] });
    expect(await old.host.whenNegotiated('heartbeat')).toEqual({ kind: 'refused' });
    expect(old.host.status('heartbeat')).toBe('version-not-supported');
    expect(old.host.heartbeat().status).toBe('NoContact');
    await old.host.whenNegotiated('kvp');
    expect(old.host.status('kvp')).toBe('ok');
  });

  it('heartbeat: OK with application health, Lost Communication when answers stop, OK again', async () => {
    const vm = await startVm();
    await vm.waitFor(() => vm.host.heartbeat().status === 'OkApplicationsUnknown');
    await vm.call('app-state', { value: 1 });
    await vm.waitFor(() => vm.host.heartbeat().text === 'OK (Applications healthy)');
    await vm.call('app-state', { value: 2 });
    await vm.waitFor(() => vm.host.heartbeat().text === 'Applications critical');
    await vm.call('answer-heartbeat', { on: false });
    const stopped = Date.now();
    await vm.waitFor(() => vm.host.heartbeat().status === 'LostCommunication');
    const lostAfter = Date.now() - stopped;
    const report = vm.host.heartbeat();
    expect(report.lastAnswerAt).toBeLessThanOrEqual(stopped + 5);
    // Documented: lostAfterMs (400) after the last answer; generous bound for a loaded machine.
    expect(lostAfter).toBeGreaterThanOrEqual(300);
    expect(lostAfter).toBeLessThan(3_000);
    await vm.call('answer-heartbeat', { on: true });
    await vm.waitFor(() => vm.host.heartbeat().status === 'OkApplicationsCritical');
    expect(vm.heartbeatChanges.map((c) => c.status)).toEqual([
      'OkApplicationsUnknown',
      'OkApplicationsHealthy',
      'OkApplicationsCritical',
      'LostCommunication',
      'OkApplicationsCritical',
    ]);
  });

  it('KVP: every pool round-trips, with the size limits enforced', async () => {
    const vm = await startVm();
    const { kvp } = vm.host;
    expect(await kvp.set(KvpPool.External, 'Datacenter', 'north-1')).toEqual({ ok: true });
    expect(await vm.call('kvp-get', { key: 'Datacenter' })).toBe('north-1');
    expect(await kvp.get(KvpPool.External, 'Datacenter')).toEqual({ ok: true, value: 'north-1' });
    expect(await kvp.remove(KvpPool.External, 'Datacenter')).toEqual({ ok: true });
    expect(await vm.call('kvp-get', { key: 'Datacenter' })).toBeNull();

    expect(await vm.call('kvp-set', { key: 'AppState', value: 'serving' })).toEqual({ ok: true });
    expect(await kvp.get(KvpPool.Guest, 'AppState')).toEqual({ ok: true, value: 'serving' });
    expect(await kvp.list(KvpPool.Guest)).toEqual({
      ok: true,
      items: [{ key: 'AppState', value: 'serving' }],
    });

    const auto = await kvp.list(KvpPool.Auto);
    if (!auto.ok) throw new Error(auto.reason);
    expect(Object.fromEntries(auto.items.map((i) => [i.key, i.value]))).toMatchObject({
      FullyQualifiedDomainName: 'guest1.viridian.test',
      OSName: 'Viridian Guest',
      OSMajorVersion: '1',
      IntegrationServicesVersion: '0.1.0',
      ProcessorArchitecture: 'x64',
      NetworkAddressIPv4: '10.0.0.2',
    });

    expect(await kvp.set(KvpPool.External, 'k'.repeat(256), 'v')).toMatchObject({
      ok: false,
      status: IcStatus.InvalidArg,
    });
    expect(await kvp.set(KvpPool.External, 'k', 'v'.repeat(1024))).toMatchObject({
      ok: false,
      status: IcStatus.InvalidArg,
    });
    expect(await vm.call('kvp-set', { key: 'x', value: 'v'.repeat(1024) })).toMatchObject({
      ok: false,
      status: IcStatus.InvalidArg,
    });
    expect(await kvp.set(KvpPool.External, 'k'.repeat(255), 'v'.repeat(1023))).toEqual({ ok: true });
  });

  it('time sync: a guest clock drifting 1 % converges to within 10 ms of host time', async () => {
    const vm = await startVm({ drift: 0.01, clockStartOffset: 90_000 });
    await vm.waitFor(() => (vm.host.timeSync().samplesAnswered ?? 0) >= 15, 20_000);
    const errors: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = (await vm.call('clock-error')) as { error: number };
      errors.push(Math.abs(r.error));
      await new Promise((r) => setTimeout(r, 37));
    }
    expect(Math.max(...errors)).toBeLessThan(10);
    const state = vm.host.timeSync();
    expect(state.channel).toBe('ready');
    expect(filetimeToUnixMs(state.lastParentTime!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('shutdown with guest cooperation: acknowledged, hooks run, the guest stops', async () => {
    const vm = await startVm();
    await vm.host.whenNegotiated('shutdown');
    const result = await vm.host.shutdown({ kind: 'shutdown', reason: 'Host maintenance', timeoutMs: 5_000 });
    expect(result).toEqual({ outcome: 'accepted' });
    expect(await vm.exited).toBe(0);
    expect(vm.events.find((e) => e.event === 'shutdown-hooks')).toMatchObject({
      notice: { kind: 'shutdown', reason: 'Host maintenance', force: false },
    });
  });

  it('shutdown without guest cooperation is reported as a timeout', async () => {
    const vm = await startVm();
    await vm.host.whenNegotiated('shutdown');
    await vm.call('answer-shutdown', { on: false });
    expect(await vm.host.shutdown({ kind: 'restart', timeoutMs: 500 })).toEqual({ outcome: 'timeout' });
    expect(vm.events.some((e) => e.event === 'shutdown-hooks')).toBe(false);
  });

  it('VSS: freeze → writer quiesced → thaw; and a freeze that times out', async () => {
    const vm = await startVm({ vssFreezeTimeoutMs: 800 });
    await vm.host.whenNegotiated('vss');
    await vm.call('writer', { name: 'db', freezeMs: 20, hang: false });
    expect(await vm.host.vssFreeze(5_000)).toEqual({ outcome: 'ok', flags: 0 });
    const phases = () => vm.events.filter((e) => e.event === 'writer').map((e) => `${e.name}:${e.phase}`);
    await vm.waitFor(() => phases().length === 2);
    expect(phases()).toEqual(['db:flush', 'db:quiesced']);
    expect(await vm.host.vssThaw()).toEqual({ outcome: 'ok', flags: 0 });
    await vm.waitFor(() => phases().length === 3);
    expect(phases()[2]).toBe('db:thawed');

    await vm.call('writer', { name: 'stuck', freezeMs: 0, hang: true });
    expect(await vm.host.vssFreeze(300)).toEqual({ outcome: 'timeout' });
    // The guest gives up at its own limit, thaws what it froze and reports the failure.
    await vm.waitFor(() =>
      vm.events.some((e) => e.event === 'vss' && (e.e as { kind: string }).kind === 'freeze-failed'),
    );
    await vm.waitFor(() => phases().filter((p) => p === 'db:thawed').length === 2);
  });
});
