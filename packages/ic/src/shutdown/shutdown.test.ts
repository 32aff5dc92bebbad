import { describe, expect, it } from 'vitest';
import { Link, ManualClock, run } from '../test-util.test-fixture.js';
import { IcStatus, SHUTDOWN_BODY_SIZE } from '../wire/defs.js';
import { decodeIcPacket } from '../wire/framing.js';
import { ShutdownGuest, type ShutdownNotice } from './guest.js';
import { ShutdownHost } from './host.js';

async function setup(hibernateSupported = false) {
  const clock = new ManualClock();
  const link = new Link();
  const notices: ShutdownNotice[] = [];
  const order: string[] = [];
  const host = new ShutdownHost({ send: link.sendToGuest, clock });
  const guest = new ShutdownGuest({
    send: (p) => {
      order.push('ack');
      link.sendToHost(p);
    },
    hibernateSupported,
    onShutdown: (n) => {
      order.push(`hooks:${n.kind}`);
      notices.push(n);
    },
  });
  link.host = host;
  link.guest = guest;
  host.open();
  await link.flush();
  order.length = 0;
  return { clock, link, host, guest, notices, order };
}

describe('shutdown', () => {
  it('shutdown with a reason: the guest acknowledges first, then runs its hooks', async () => {
    const { link, host, notices, order } = await setup();
    const p = host.request({ kind: 'shutdown', reason: 'Maintenance window', timeoutMs: 5_000 });
    await link.flush();
    expect(await p).toEqual({ outcome: 'accepted' });
    expect(order).toEqual(['ack', 'hooks:shutdown']);
    expect(notices[0]).toEqual({
      kind: 'shutdown',
      force: false,
      reason: 'Maintenance window',
      reasonCode: 0x80000000,
      timeoutSeconds: 5,
    });
    const req = decodeIcPacket(link.sentToGuest.at(-1)!);
    expect(req.ok && req.header.messageSize).toBe(SHUTDOWN_BODY_SIZE);
  });

  it('restart and forced restart', async () => {
    const { link, host, notices } = await setup();
    const a = host.request({ kind: 'restart' });
    await link.flush();
    const b = host.request({ kind: 'restart', force: true });
    await link.flush();
    expect([await a, await b]).toEqual([{ outcome: 'accepted' }, { outcome: 'accepted' }]);
    expect(notices.map((n) => [n.kind, n.force])).toEqual([
      ['restart', false],
      ['restart', true],
    ]);
  });

  it('hibernate: refused with E_FAIL unless the guest supports it', async () => {
    const a = await setup(false);
    const r = a.host.request({ kind: 'hibernate' });
    await a.link.flush();
    expect(await r).toEqual({ outcome: 'refused', status: IcStatus.Fail });
    expect(a.notices).toEqual([]);
    const b = await setup(true);
    const s = b.host.request({ kind: 'hibernate' });
    await b.link.flush();
    expect(await s).toEqual({ outcome: 'accepted' });
  });

  it('a guest that never answers is reported as a timeout', async () => {
    const { clock, link, host, guest, notices } = await setup();
    guest.answering = false;
    const p = host.request({ kind: 'shutdown', timeoutMs: 2_000 });
    expect(await host.request({ kind: 'shutdown' })).toEqual({ outcome: 'in-progress' });
    await run(clock, link, 2_100, 100);
    expect(await p).toEqual({ outcome: 'timeout' });
    expect(notices).toEqual([]);
  });

  it('unknown flag combinations are refused; short bodies are dropped', async () => {
    const { link, guest } = await setup();
    const pkt = new Uint8Array(28 + SHUTDOWN_BODY_SIZE);
    const v = new DataView(pkt.buffer);
    v.setUint32(0, 1, true);
    v.setUint32(4, pkt.byteLength - 8, true);
    v.setUint16(8, 3, true);
    v.setUint16(12, 3, true); // type shutdown
    v.setUint16(14, 3, true);
    v.setUint16(18, SHUTDOWN_BODY_SIZE, true);
    pkt[25] = 3;
    v.setUint32(28 + 8, 6, true); // restart|hibernate
    guest.receive(pkt);
    const reply = decodeIcPacket(link.toHost.shift()!);
    expect(reply.ok && reply.header.status).toBe(IcStatus.Fail);
    v.setUint16(18, SHUTDOWN_BODY_SIZE - 1, true);
    guest.receive(pkt);
    expect(link.toHost).toHaveLength(0);
    expect(guest.endpoint.protocolErrors).toBe(1);
  });
});
