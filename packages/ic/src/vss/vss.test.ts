import { describe, expect, it } from 'vitest';
import { errorLog, Link, ManualClock, run } from '../test-util.test-fixture.js';
import { IcStatus, VSS_HBU_NO_AUTO_RECOVERY } from '../wire/defs.js';
import { type VssEvent, VssGuest, type VssWriter } from './guest.js';
import { VssHost } from './host.js';

async function setup(freezeTimeoutMs = 10_000, holdTimeoutMs = 60_000) {
  const clock = new ManualClock();
  const link = new Link();
  const events: VssEvent[] = [];
  const log = errorLog();
  const host = new VssHost({ send: link.sendToGuest, clock, onProtocolError: log.onProtocolError });
  const guest = new VssGuest({
    send: link.sendToHost,
    clock,
    freezeTimeoutMs,
    holdTimeoutMs,
    onEvent: (e) => events.push(e),
  });
  link.host = host;
  link.guest = guest;
  host.open();
  await link.flush();
  return { clock, link, host, guest, events, log };
}

function writer(
  name: string,
  trace: string[],
  opts: { failFreeze?: boolean; hang?: boolean } = {},
): VssWriter {
  return {
    name,
    async freeze() {
      trace.push(`${name}:flush`);
      if (opts.hang) await new Promise(() => {});
      if (opts.failFreeze) throw new Error(`${name} cannot quiesce`);
      trace.push(`${name}:quiesced`);
    },
    thaw() {
      trace.push(`${name}:thaw`);
    },
  };
}

describe('VSS', () => {
  it('negotiates 5.0 and answers the hot-backup check', async () => {
    const { host, link } = await setup();
    expect(host.endpoint.versions).toEqual({
      framework: { major: 3, minor: 0 },
      message: { major: 5, minor: 0 },
    });
    const p = host.hotBackup();
    await link.flush();
    expect(await p).toEqual({ outcome: 'ok', flags: VSS_HBU_NO_AUTO_RECOVERY });
  });

  it('freeze → writers flush and quiesce → thaw in reverse order', async () => {
    const { host, guest, link, events } = await setup();
    const trace: string[] = [];
    guest.register(writer('db', trace));
    guest.register(writer('log', trace));
    const f = host.freeze(5_000);
    await link.flush();
    expect(await f).toEqual({ outcome: 'ok', flags: 0 });
    expect(guest.frozen).toBe(true);
    expect(trace).toEqual(['db:flush', 'db:quiesced', 'log:flush', 'log:quiesced']);
    const t = host.thaw();
    await link.flush();
    expect(await t).toEqual({ outcome: 'ok', flags: 0 });
    expect(trace.slice(4)).toEqual(['log:thaw', 'db:thaw']);
    expect(guest.frozen).toBe(false);
    expect(events.map((e) => e.kind)).toEqual(['frozen', 'thawed']);
    const c = host.backupComplete();
    await link.flush();
    expect((await c).outcome).toBe('ok');
  });

  it('a writer that fails to quiesce: E_FAIL to the host and the frozen ones are thawed', async () => {
    const { host, guest, link, events } = await setup();
    const trace: string[] = [];
    guest.register(writer('db', trace));
    guest.register(writer('cache', trace, { failFreeze: true }));
    const f = host.freeze(5_000);
    await link.flush();
    expect(await f).toEqual({ outcome: 'failed', status: IcStatus.Fail });
    expect(trace).toEqual(['db:flush', 'db:quiesced', 'cache:flush', 'db:thaw']);
    expect(events[0]).toEqual({ kind: 'freeze-failed', writer: 'cache', error: 'cache cannot quiesce' });
    expect(guest.frozen).toBe(false);
  });

  it('the host freeze times out; the guest gives up at its own limit and the late answer is stale', async () => {
    const { host, guest, link, clock, events, log } = await setup(3_000);
    const trace: string[] = [];
    guest.register(writer('db', trace));
    guest.register(writer('stuck', trace, { hang: true }));
    const f = host.freeze(1_000);
    await run(clock, link, 1_100, 100);
    expect(await f).toEqual({ outcome: 'timeout' });
    await run(clock, link, 2_000, 100);
    expect(events[0]).toEqual({ kind: 'freeze-failed', writer: 'stuck', error: 'timed out' });
    expect(trace).toEqual(['db:flush', 'db:quiesced', 'stuck:flush', 'db:thaw']);
    expect(log.errors.map((e) => e.code)).toEqual(['stale-response']);
    // The channel carries on.
    const h = host.hotBackup();
    await link.flush();
    expect((await h).outcome).toBe('ok');
  });

  it('no thaw within the hold window: the writers thaw by themselves and the late thaw gets E_FAIL', async () => {
    const { host, guest, link, clock, events } = await setup(10_000, 5_000);
    const trace: string[] = [];
    guest.register(writer('db', trace));
    const f = host.freeze(5_000);
    await link.flush();
    expect((await f).outcome).toBe('ok');
    await run(clock, link, 4_900, 100);
    expect(guest.frozen).toBe(true);
    await run(clock, link, 200, 100);
    expect(guest.frozen).toBe(false);
    expect(trace).toEqual(['db:flush', 'db:quiesced', 'db:thaw']);
    expect(events.map((e) => e.kind)).toEqual(['frozen', 'thawed', 'auto-thawed']);
    // The host learns its freeze window ran out; the next cycle starts afresh.
    const late = host.thaw();
    await link.flush();
    expect(await late).toEqual({ outcome: 'failed', status: IcStatus.Fail });
    const again = host.freeze(5_000);
    await link.flush();
    expect((await again).outcome).toBe('ok');
    const thawed = host.thaw();
    await link.flush();
    expect((await thawed).outcome).toBe('ok');
    // A thaw in time cancelled the window: nothing thaws twice.
    await run(clock, link, 6_000, 500);
    expect(trace.filter((t) => t === 'db:thaw')).toHaveLength(2);
  });

  it('a second freeze while frozen is refused', async () => {
    const { host, guest, link } = await setup();
    guest.register(writer('db', []));
    const a = host.freeze();
    await link.flush();
    const b = host.freeze();
    await link.flush();
    expect([(await a).outcome, await b]).toEqual(['ok', { outcome: 'failed', status: IcStatus.Fail }]);
  });
});
