import { describe, expect, it } from 'vitest';
import { errorLog, Link, ManualClock, run } from '../test-util.test-fixture.js';
import { IC_FLAGS_RESPONSE, IcMessageType, IcStatus, icVersion } from '../wire/defs.js';
import { decodeIcPacket, encodeIcPacket } from '../wire/framing.js';
import { IcGuestEndpoint } from './guest-endpoint.js';
import { IcHostEndpoint } from './host-endpoint.js';

function pair(
  hostVersions = [icVersion(1, 0), icVersion(3, 0)],
  guestVersions = [icVersion(3, 0), icVersion(1, 0)],
) {
  const clock = new ManualClock();
  const link = new Link();
  const hostLog = errorLog();
  const guestLog = errorLog();
  const handled: number[] = [];
  const host = new IcHostEndpoint({
    messageType: IcMessageType.Heartbeat,
    messageVersions: hostVersions,
    send: link.sendToGuest,
    clock,
    negotiateTimeoutMs: 1_000,
    onProtocolError: hostLog.onProtocolError,
  });
  const guest = new IcGuestEndpoint({
    messageType: IcMessageType.Heartbeat,
    messageVersions: guestVersions,
    send: link.sendToHost,
    onProtocolError: guestLog.onProtocolError,
    handle: (req) => {
      handled.push(req.header.transactionId);
      req.respond(IcStatus.Ok);
    },
  });
  link.host = host;
  link.guest = guest;
  return { clock, link, host, guest, hostLog, guestLog, handled };
}

describe('negotiation', () => {
  it('the guest picks the newest common framework and message version', async () => {
    const { link, host, guest } = pair();
    host.open();
    await link.flush();
    expect(await host.whenNegotiated()).toEqual({
      kind: 'ready',
      versions: { framework: icVersion(3, 0), message: icVersion(3, 0) },
    });
    expect(guest.versions).toEqual(host.versions);
  });

  it('no common version: the guest answers zero counts and the host reports refused', async () => {
    const { link, host, guest } = pair([icVersion(5, 0)], [icVersion(3, 0), icVersion(1, 0)]);
    host.open();
    await link.flush();
    expect(await host.whenNegotiated()).toEqual({ kind: 'refused' });
    expect(host.state).toBe('refused');
    expect(guest.versions).toBeUndefined();
    expect(await host.request(new Uint8Array(16), 100)).toEqual({ kind: 'not-ready', state: 'refused' });
  });

  it('a guest that never answers: negotiation ends as no-reply and queued requests fail', async () => {
    const { clock, link, host } = pair();
    link.dropToGuest = true;
    host.open();
    const pending = host.request(new Uint8Array(16), 100);
    await run(clock, link, 1_100, 100);
    expect(await host.whenNegotiated()).toEqual({ kind: 'no-reply' });
    expect(await pending).toEqual({ kind: 'not-ready', state: 'no-reply' });
  });

  it('a reply naming a version that was not offered is refused as a protocol error', async () => {
    const { link, host, hostLog } = pair();
    host.open();
    const offer = link.toGuest.shift()!;
    const forged = new Uint8Array(offer);
    const v = new DataView(forged.buffer);
    v.setUint16(18, 16, true);
    forged[25] = IC_FLAGS_RESPONSE;
    v.setUint16(28, 1, true);
    v.setUint16(30, 1, true);
    v.setUint16(36, 9, true); // framework 9.0: never offered
    v.setUint16(40, 3, true);
    host.receive(forged);
    expect(hostLog.errors.map((e) => e.code)).toEqual(['bad-negotiate']);
    expect(host.state).toBe('negotiating');
  });
});

describe('transactions', () => {
  it('requests run one at a time with distinct transaction ids', async () => {
    const { link, host, handled } = pair();
    host.open();
    const pending = Promise.all([1, 2, 3].map(() => host.request(new Uint8Array(16), 1000)));
    await link.flush();
    const replies = await pending;
    expect(replies.map((r) => r.kind)).toEqual(['reply', 'reply', 'reply']);
    expect(handled).toEqual([1, 2, 3]);
  });

  it('a stale reply (earlier transaction id) is dropped and reported', async () => {
    const { clock, link, host, hostLog } = pair();
    host.open();
    await link.flush();
    link.dropToGuest = true;
    const first = host.request(new Uint8Array(16), 100);
    await run(clock, link, 150, 50);
    expect(await first).toEqual({ kind: 'timeout' });
    const lateRequest = link.sentToGuest.at(-1)!;
    link.dropToGuest = false;
    const second = host.request(new Uint8Array(16), 100);
    // The guest's late answer to the first request arrives now.
    const late = new Uint8Array(lateRequest);
    late[25] = IC_FLAGS_RESPONSE;
    host.receive(late);
    expect(hostLog.errors.map((e) => e.code)).toContain('stale-response');
    await link.flush();
    expect((await second).kind).toBe('reply');
  });

  it('the guest echoes unknown message types with E_FAIL and drops host responses and runts', async () => {
    const { link, host, guest, guestLog, handled } = pair();
    host.open();
    await link.flush();
    const hdr = {
      framework: icVersion(3, 0),
      messageType: 42,
      messageVersion: icVersion(3, 0),
      status: 0,
      transactionId: 9,
      flags: 3,
    };
    guest.receive(encodeIcPacket(hdr, new Uint8Array(4)));
    const reply = decodeIcPacket(link.toHost.shift()!);
    expect(reply.ok && reply.header.status).toBe(IcStatus.Fail);
    expect(reply.ok && reply.header.flags).toBe(IC_FLAGS_RESPONSE);
    guest.receive(
      encodeIcPacket({ ...hdr, messageType: IcMessageType.Heartbeat, flags: 5 }, new Uint8Array(4)),
    );
    guest.receive(new Uint8Array(27));
    expect(link.toHost).toHaveLength(0);
    expect(handled).toEqual([]);
    expect(guestLog.errors.map((e) => e.code)).toEqual([
      'unexpected-type',
      'unexpected-response',
      'frame-too-short',
    ]);
  });

  it('close ends pending requests as not-ready', async () => {
    const { link, host } = pair();
    host.open();
    await link.flush();
    link.dropToGuest = true;
    const p = host.request(new Uint8Array(16), 10_000);
    host.close();
    expect(await p).toEqual({ kind: 'not-ready', state: 'closed' });
  });
});
