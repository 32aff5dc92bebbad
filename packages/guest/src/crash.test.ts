// A crashing guest program takes down only its own partition: another VM on the same hypervisor
// keeps answering heartbeat and KVP.
import { KvpPool } from '@viridian/ic';
import { describe, expect, it } from 'vitest';
import { exitOf, guestEvent, PROGRAMS, startVm, stopVm, until } from './vm-harness.test-fixture.js';

describe('the runtime over VMBus on SynIC', () => {
  it('a crashing guest program takes down only its partition, and says why', async () => {
    const healthy = await startVm(`${PROGRAMS.href}?p=probe`);
    await until('heartbeat OK', () => healthy.ics.heartbeat().text === 'OK (Applications healthy)');
    const crashing = await startVm(`${PROGRAMS.href}?p=crash`);
    const crashed = guestEvent(crashing.id, (d) => d.event === 'crashed');
    const exit = await exitOf(crashing.id);
    expect(String((await crashed).error)).toContain('deliberate');
    expect(`${exit.error ?? ''}`).toContain('deliberate');
    // The crashed guest stops answering; the other keeps answering.
    await until('lost communication', () => crashing.ics.heartbeat().status === 'LostCommunication');
    expect(healthy.ics.heartbeat().text).toBe('OK (Applications healthy)');
    expect(await healthy.ics.kvp.get(KvpPool.Guest, 'Probe')).toMatchObject({ value: 'ready' });
    for (const vm of [healthy, crashing]) stopVm(vm);
  });
});
