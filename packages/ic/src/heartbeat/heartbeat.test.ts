import { describe, expect, it } from 'vitest';
import { errorLog, Link, ManualClock, run } from '../test-util.test-fixture.js';
import { HeartbeatApplicationState, IcStatus } from '../wire/defs.js';
import { decodeIcPacket } from '../wire/framing.js';
import { HeartbeatGuest } from './guest.js';
import { HeartbeatHost, type HeartbeatReport } from './host.js';

function setup() {
  const clock = new ManualClock();
  const link = new Link();
  const changes: HeartbeatReport[] = [];
  const log = errorLog();
  let wall = 1_700_000_000_000;
  const host = new HeartbeatHost({
    send: link.sendToGuest,
    clock,
    wallClock: () => wall + clock.now(),
    intervalMs: 100,
    lostAfterMs: 500,
    onStatusChange: (r) => changes.push(r),
    onProtocolError: log.onProtocolError,
  });
  const guest = new HeartbeatGuest({ send: link.sendToHost });
  link.host = host;
  link.guest = guest;
  return { clock, link, host, guest, changes, log, setWall: (w: number) => (wall = w) };
}

describe('heartbeat', () => {
  it('No Contact before any answer, then OK with the time of the last answer', async () => {
    const { clock, link, host } = setup();
    expect(host.report().status).toBe('NoContact');
    expect(host.report().text).toBe('No Contact');
    link.dropToGuest = true;
    host.open();
    await run(clock, link, 300);
    expect(host.report()).toMatchObject({ status: 'NoContact', answers: 0, lastAnswerAt: undefined });
  });

  it('walks NoContact → OK → application health → Lost Communication → OK', async () => {
    const { clock, link, host, guest, changes } = setup();
    host.open();
    await run(clock, link, 250);
    expect(host.report()).toMatchObject({ status: 'OkApplicationsUnknown', text: 'OK' });
    expect(host.report().answers).toBeGreaterThanOrEqual(3);
    expect(host.report().lastAnswerAt).toBe(1_700_000_000_000 + 200);

    guest.applicationState = HeartbeatApplicationState.Healthy;
    await run(clock, link, 100);
    expect(host.report()).toMatchObject({
      status: 'OkApplicationsHealthy',
      text: 'OK (Applications healthy)',
    });
    guest.applicationState = HeartbeatApplicationState.Critical;
    await run(clock, link, 100);
    expect(host.report()).toMatchObject({ status: 'OkApplicationsCritical', text: 'Applications critical' });

    guest.answering = false;
    const stoppedAt = clock.now();
    const lastAnswer = host.report().lastAnswerAt;
    await run(clock, link, 400);
    expect(host.report().status).toBe('OkApplicationsCritical');
    await run(clock, link, 200);
    expect(host.report()).toMatchObject({
      status: 'LostCommunication',
      text: 'Lost Communication',
      lastAnswerAt: lastAnswer,
    });
    const lost = changes.find((c) => c.status === 'LostCommunication');
    expect(lost).toBeDefined();
    // Reported within lostAfterMs (+ one period of slack) of the last answer.
    expect(clock.now() - stoppedAt).toBeLessThanOrEqual(600);

    guest.answering = true;
    await run(clock, link, 150);
    expect(host.report().status).toBe('OkApplicationsCritical');
    expect(changes.map((c) => c.status)).toEqual([
      'OkApplicationsUnknown',
      'OkApplicationsHealthy',
      'OkApplicationsCritical',
      'LostCommunication',
      'OkApplicationsCritical',
    ]);
  });

  it('the guest answers seq + 1 with its application state, echoing the request', async () => {
    const { link, host, guest } = setup();
    guest.applicationState = HeartbeatApplicationState.Healthy;
    host.open();
    await link.flush();
    const request = link.sentToGuest[1]!;
    const reply = link.sentToHost[1]!;
    expect(reply.byteLength).toBe(request.byteLength);
    const rq = decodeIcPacket(request);
    const rp = decodeIcPacket(reply);
    if (!rq.ok || !rp.ok) throw new Error('decode');
    expect(rp.body.getBigUint64(0, true)).toBe(rq.body.getBigUint64(0, true) + 1n);
    expect(rp.body.getUint32(8, true)).toBe(1);
    expect(rp.header).toMatchObject({
      status: IcStatus.Ok,
      flags: 5,
      transactionId: rq.header.transactionId,
    });
  });

  it('a wrong sequence in an answer does not count as contact', async () => {
    const { clock, link, host, guest } = setup();
    host.open();
    await link.flush();
    const answers = host.report().answers;
    // Tamper with every reply: seq + 2 instead of + 1.
    link.host = {
      receive: (p) => {
        const c = new Uint8Array(p);
        const v = new DataView(c.buffer);
        v.setBigUint64(28, v.getBigUint64(28, true) + 1n, true);
        host.receive(c);
      },
    };
    await run(clock, link, 300);
    expect(host.report().answers).toBe(answers);
    expect(guest.answered).toBeGreaterThan(answers);
  });

  it('a truncated heartbeat body is dropped by the guest', async () => {
    const { link, host, guest } = setup();
    host.open();
    await link.flush();
    const req = new Uint8Array(link.sentToGuest[1]!);
    const v = new DataView(req.buffer);
    v.setUint16(18, 4, true); // icmsgsize 4 < 8
    const before = link.sentToHost.length;
    guest.receive(req);
    expect(link.sentToHost.length).toBe(before);
    expect(guest.endpoint.protocolErrors).toBe(1);
  });

  it('probe: one heartbeat on demand, answered with the application state and counted as contact', async () => {
    const { clock, link, host, guest } = setup();
    guest.applicationState = HeartbeatApplicationState.Critical;
    host.open();
    await link.flush();
    const answers = host.report().answers;
    const sent = link.sentToGuest.length;
    const probe = host.probe();
    await link.flush();
    expect(await probe).toEqual({ answered: true, applicationState: HeartbeatApplicationState.Critical });
    expect(link.sentToGuest.length).toBe(sent + 1);
    expect(host.report().answers).toBe(answers + 1);
    // The periodic heartbeats go on after it.
    await run(clock, link, 250);
    expect(host.report().answers).toBeGreaterThan(answers + 1);
  });

  it('probe: no answer is a timeout, a tampered answer is invalid, a closed channel is not ready', async () => {
    const { clock, link, host, guest } = setup();
    host.open();
    await link.flush();
    guest.answering = false;
    const silent = host.probe(50);
    await run(clock, link, 60);
    expect(await silent).toEqual({ answered: false, reason: 'timeout' });

    guest.answering = true;
    link.host = {
      receive: (p) => {
        const c = new Uint8Array(p);
        const v = new DataView(c.buffer);
        v.setBigUint64(28, v.getBigUint64(28, true) + 1n, true);
        host.receive(c);
      },
    };
    const answers = host.report().answers;
    const tampered = host.probe(50);
    await run(clock, link, 60);
    expect(await tampered).toEqual({ answered: false, reason: 'invalid' });
    expect(host.report().answers).toBe(answers);

    host.close();
    expect(await host.probe()).toEqual({ answered: false, reason: 'not-ready' });
  });
});
