// A child partition on the real hypervisor boots the guest runtime: enlightenment, then VMBus over
// SynIC with every integration component served by IcHost on a root VP in this thread.
import { KvpPool } from '@viridian/ic';
import { describe, expect, it } from 'vitest';
import {
  exitOf,
  guestEvent,
  hypervisor,
  PROGRAMS,
  startVm,
  stopVm,
  until,
} from './vm-harness.test-fixture.js';

describe('the runtime over VMBus on SynIC', () => {
  it('boots, binds every IC and serves heartbeat, KVP, time sync and shutdown', async () => {
    const vm = await startVm(`${PROGRAMS.href}?p=probe`, { drift: 0.01 });
    const booted = await guestEvent(vm.id, (d) => d.event === 'booted');
    expect(booted.vmbus).toBe(true);
    expect(booted.drivers).toEqual(['ic-heartbeat', 'ic-kvp', 'ic-timeSync', 'ic-shutdown', 'ic-vss']);

    // Heartbeat: the program said it is healthy.
    await until('heartbeat OK', () => vm.ics.heartbeat().text === 'OK (Applications healthy)');

    // KVP: the auto pool carries the identity; the guest pool what the program set; host → guest.
    const auto = await vm.ics.kvp.get(KvpPool.Auto, 'OSName');
    expect(auto).toMatchObject({ ok: true, value: 'Viridian Guest' });
    expect(await vm.ics.kvp.get(KvpPool.Auto, 'FullyQualifiedDomainName')).toMatchObject({
      value: 'probe.example',
    });
    expect(await vm.ics.kvp.get(KvpPool.Guest, 'Probe')).toMatchObject({ ok: true, value: 'ready' });
    const change = guestEvent(vm.id, (d) => d.test === 'kvp-change' && d.key === 'Role');
    expect(await vm.ics.kvp.set(KvpPool.External, 'Role', 'web')).toMatchObject({ ok: true });
    expect(await change).toMatchObject({ value: 'web' });

    // Time sync: a clock 1 % fast converges to within 10 ms of the host's clock.
    const clockReports = () =>
      hypervisor()
        .events.filter((e) => e.type === 'guest' && e.partitionId === vm.id)
        .map((e) => (e as { data: Record<string, unknown> }).data)
        .filter((d) => d.test === 'clock');
    const settled = await until(
      () =>
        `clock within 10 ms: ${JSON.stringify(clockReports().slice(-5))} ${JSON.stringify(vm.ics.timeSync(), (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
      () => {
        const last = clockReports().slice(-3);
        return last.length === 3 &&
          last.every((d) => (d.corrections as number) >= 2 && Math.abs(d.errorMs as number) < 10)
          ? last
          : undefined;
      },
      20_000,
    );
    expect(settled).toHaveLength(3);
    // The oscillator runs 1 % fast: time sync's rate correction cancels it (rate ≈ 1 / 1.01).
    const rate = settled[2]?.rate as number;
    expect(Math.abs(rate * 1.01 - 1)).toBeLessThan(0.005);

    // Shutdown: acknowledged, the program's hook runs, then the VP stops.
    const hook = guestEvent(vm.id, (d) => d.test === 'hook');
    const exit = exitOf(vm.id);
    const result = await vm.ics.shutdown({ kind: 'shutdown', reason: 'Maintenance', timeoutMs: 10_000 });
    expect(result).toMatchObject({ outcome: 'accepted' });
    expect(await hook).toMatchObject({ notice: { kind: 'shutdown', reason: 'Maintenance', by: 'host' } });
    const stopped = await guestEvent(vm.id, (d) => d.test === 'stopped');
    expect(stopped.notice).toMatchObject({ kind: 'shutdown', by: 'host' });
    expect((await exit).error).toBeUndefined();
    stopVm(vm);
  });
});
