import { describe, expect, it } from 'vitest';
import { errorLog, Link, ManualClock, run } from '../test-util.test-fixture.js';
import { encodeKvpGetSet } from '../wire/bodies.js';
import { IcMessageType, IcStatus, KvpPool, KvpValueRecord } from '../wire/defs.js';
import { decodeIcPacket, encodeIcPacket } from '../wire/framing.js';
import { type KvpChange, KvpGuest } from './guest.js';
import { KvpHost } from './host.js';

async function setup() {
  const clock = new ManualClock();
  const link = new Link();
  const log = errorLog();
  const changes: KvpChange[] = [];
  const host = new KvpHost({
    send: link.sendToGuest,
    clock,
    timeoutMs: 1_000,
    onProtocolError: log.onProtocolError,
  });
  const guest = new KvpGuest({
    send: link.sendToHost,
    onChange: (c) => changes.push(c),
    intrinsics: () => ({
      FullyQualifiedDomainName: 'vm1.viridian.test',
      IntegrationServicesVersion: '0.1.0',
      NetworkAddressIPv4: '10.0.0.2',
      OSName: 'Viridian Guest',
      OSMajorVersion: '1',
      ProcessorArchitecture: 'x64',
    }),
  });
  link.host = host;
  link.guest = guest;
  host.open();
  await link.flush();
  /** Runs one host call to completion. */
  const call = async <T>(p: Promise<T>): Promise<T> => {
    await link.flush();
    return p;
  };
  return { clock, link, host, guest, changes, log, call };
}

describe('KVP exchange', () => {
  it('host-to-guest pool: add, modify, read back, enumerate, delete', async () => {
    const { host, guest, changes, call } = await setup();
    expect(await call(host.set(KvpPool.External, 'Role', 'web'))).toEqual({ ok: true });
    expect(guest.get('Role')).toBe('web');
    expect(await call(host.set(KvpPool.External, 'Role', 'db'))).toEqual({ ok: true });
    expect(await call(host.set(KvpPool.External, 'Zone', 'ünïcødé ✓'))).toEqual({ ok: true });
    expect(guest.get('Zone')).toBe('ünïcødé ✓');
    expect(await call(host.get(KvpPool.External, 'Role'))).toEqual({ ok: true, value: 'db' });
    expect(await call(host.enumerate(KvpPool.External))).toEqual({
      ok: true,
      items: [
        { key: 'Role', value: 'db' },
        { key: 'Zone', value: 'ünïcødé ✓' },
      ],
    });
    expect(await call(host.delete(KvpPool.External, 'Role'))).toEqual({ ok: true });
    expect(guest.get('Role')).toBeUndefined();
    expect(await call(host.delete(KvpPool.External, 'Role'))).toEqual({
      ok: false,
      reason: 'guest-status',
      status: IcStatus.Fail,
    });
    expect(changes.map((c) => [c.key, c.value])).toEqual([
      ['Role', 'web'],
      ['Role', 'db'],
      ['Zone', 'ünïcødé ✓'],
      ['Role', undefined],
    ]);
  });

  it('guest pool: items the guest sets are readable by the host, and the host cannot write them', async () => {
    const { host, guest, call } = await setup();
    expect(guest.set('AppVersion', '2.4')).toEqual({ ok: true });
    expect(guest.set('Health', 'green')).toEqual({ ok: true });
    expect(await call(host.get(KvpPool.Guest, 'AppVersion'))).toEqual({ ok: true, value: '2.4' });
    expect(await call(host.enumerate(KvpPool.Guest))).toEqual({
      ok: true,
      items: [
        { key: 'AppVersion', value: '2.4' },
        { key: 'Health', value: 'green' },
      ],
    });
    expect(await call(host.get(KvpPool.Guest, 'Missing'))).toMatchObject({
      ok: false,
      reason: 'guest-status',
    });
    expect(await call(host.set(KvpPool.Guest, 'AppVersion', 'x'))).toMatchObject({
      ok: false,
      status: IcStatus.Fail,
    });
    expect(guest.get('AppVersion', KvpPool.Guest)).toBe('2.4');
  });

  it('auto pool: intrinsic items in the fixed index order', async () => {
    const { host, call } = await setup();
    const r = await call(host.enumerate(KvpPool.Auto));
    if (!r.ok) throw new Error(r.reason);
    expect(r.items.map((i) => i.key)).toEqual([
      'FullyQualifiedDomainName',
      'IntegrationServicesVersion',
      'NetworkAddressIPv4',
      'NetworkAddressIPv6',
      'OSBuildNumber',
      'OSName',
      'OSMajorVersion',
      'OSMinorVersion',
      'OSVersion',
      'ProcessorArchitecture',
    ]);
    expect(r.items[5]).toEqual({ key: 'OSName', value: 'Viridian Guest' });
    expect(await call(host.get(KvpPool.Auto, 'ProcessorArchitecture'))).toEqual({ ok: true, value: 'x64' });
  });

  it('size limits: 255 characters of key and 1023 of value fit, one more is the protocol error', async () => {
    const { host, guest, call, link } = await setup();
    const key = 'k'.repeat(255);
    const value = 'v'.repeat(1023);
    expect(await call(host.set(KvpPool.External, key, value))).toEqual({ ok: true });
    expect(guest.get(key)).toBe(value);
    const sent = link.sentToGuest.length;
    expect(await call(host.set(KvpPool.External, `${key}k`, 'x'))).toEqual({
      ok: false,
      reason: 'invalid-argument',
      status: IcStatus.InvalidArg,
    });
    expect(await call(host.set(KvpPool.External, 'k', `${value}v`))).toMatchObject({
      status: IcStatus.InvalidArg,
    });
    expect(link.sentToGuest.length).toBe(sent); // refused before reaching the wire
    expect(guest.set(`${key}k`, 'x')).toMatchObject({ ok: false, status: IcStatus.InvalidArg });
    expect(guest.set('k', `${value}v`)).toMatchObject({ ok: false, status: IcStatus.InvalidArg });
  });

  it('a hostile host declaring oversize key/value sizes gets INVALIDARG from the guest', async () => {
    const { guest, link } = await setup();
    const header = {
      framework: { major: 3, minor: 0 },
      messageType: IcMessageType.KvpExchange,
      messageVersion: { major: 4, minor: 0 },
      status: 0,
      transactionId: 77,
      flags: 3,
    };
    const answers: number[] = [];
    for (const [field, size] of [
      [KvpValueRecord.keySize, 514],
      [KvpValueRecord.valueSize, 2050],
      [KvpValueRecord.keySize, 0xffffffff],
    ] as const) {
      const body = encodeKvpGetSet(1, KvpPool.External, 'key', 'value');
      new DataView(body.buffer).setUint32(4 + field, size, true);
      guest.receive(encodeIcPacket(header, body));
      const reply = decodeIcPacket(link.toHost.shift()!);
      if (!reply.ok) throw new Error('reply');
      answers.push(reply.header.status);
    }
    expect(answers).toEqual([IcStatus.InvalidArg, IcStatus.InvalidArg, IcStatus.InvalidArg]);
    expect(guest.entries(KvpPool.External)).toEqual([]);
    // A body too short for its operation and an unknown pool.
    guest.receive(encodeIcPacket(header, encodeKvpGetSet(1, KvpPool.External, 'k').subarray(0, 100)));
    const badPool = encodeKvpGetSet(1, KvpPool.External, 'k', 'v');
    badPool[1] = 9;
    guest.receive(encodeIcPacket(header, badPool));
    const statuses = link.toHost.splice(0).map((p) => {
      const f = decodeIcPacket(p);
      return f.ok ? f.header.status : -1;
    });
    expect(statuses).toEqual([IcStatus.InvalidArg, IcStatus.InvalidArg]);
  });

  it('an unanswered request times out; the late reply is dropped as stale', async () => {
    const { clock, host, link, log, guest, call } = await setup();
    guest.set('a', '1');
    link.dropToGuest = true;
    const p = host.get(KvpPool.Guest, 'a');
    await run(clock, link, 1_100, 100);
    expect(await p).toEqual({ ok: false, reason: 'timeout', status: IcStatus.Fail });
    link.dropToGuest = false;
    guest.receive(link.sentToGuest.at(-1)!);
    await link.flush();
    expect(log.errors.map((e) => e.code)).toEqual(['stale-response']);
    expect(await call(host.get(KvpPool.Guest, 'a'))).toEqual({ ok: true, value: '1' });
  });

  it('a hostile guest that never stops enumerating is cut off', async () => {
    const clock = new ManualClock();
    const link = new Link();
    const host = new KvpHost({ send: link.sendToGuest, clock, maxEnumerate: 50 });
    const guest = new KvpGuest({ send: link.sendToHost, intrinsics: () => ({}) });
    link.host = host;
    link.guest = {
      receive: (p) => {
        // Answer every ENUMERATE index as if the pool were endless.
        const f = decodeIcPacket(p);
        if (f.ok && f.header.messageType === IcMessageType.KvpExchange) {
          const c = new Uint8Array(p);
          const v = new DataView(c.buffer);
          v.setUint32(36, 1, true);
          v.setUint32(40, 4, true);
          v.setUint16(48, 0x41, true);
          c[25] = 5;
          link.sendToHost(c);
          return;
        }
        guest.receive(p);
      },
    };
    host.open();
    await link.flush();
    const p = host.enumerate(KvpPool.Guest);
    await link.flush();
    const r = await p;
    expect(r.ok && r.items.length).toBe(50);
  });
});
