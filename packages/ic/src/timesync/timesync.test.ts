import { describe, expect, it } from 'vitest';
import { Link, ManualClock, run } from '../test-util.test-fixture.js';
import { icVersion, TimeSyncFlags } from '../wire/defs.js';
import { decodeIcPacket } from '../wire/framing.js';
import { TimeSyncGuest } from './guest.js';
import { DriftingClock } from './guest-clock.js';
import { TimeSyncHost } from './host.js';
import { filetimeToUnixMs, unixMsToFiletime } from './time.js';

const EPOCH = Date.UTC(2025, 0, 1);

function setup(opts: {
  drift: number;
  guestStartOffset: number;
  hostVersions?: ReturnType<typeof icVersion>[];
}) {
  const clock = new ManualClock();
  const link = new Link();
  // True time: the manual clock. Host UTC = EPOCH + t; partition reference time = t (100 ns units).
  const reference = (): bigint => BigInt(Math.round(clock.now() * 10_000));
  const host = new TimeSyncHost({
    send: link.sendToGuest,
    clock,
    hostTime: () => unixMsToFiletime(EPOCH + clock.now()),
    referenceTime: reference,
    samplePeriodMs: 5_000,
    ...(opts.hostVersions ? { messageVersions: opts.hostVersions } : {}),
  });
  const guestClock = new DriftingClock(() => clock.now(), EPOCH + opts.guestStartOffset, opts.drift);
  const guest = new TimeSyncGuest({ send: link.sendToHost, clock: guestClock, referenceTime: reference });
  link.host = host;
  link.guest = guest;
  const error = () => guestClock.now() - (EPOCH + clock.now());
  return { clock, link, host, guest, guestClock, error };
}

describe('time sync', () => {
  it('converts between 100 ns ticks since 1601 and Unix milliseconds', () => {
    expect(unixMsToFiletime(0)).toBe(116444736000000000n);
    expect(filetimeToUnixMs(116444736000000000n + 10_000n)).toBe(1);
    expect(filetimeToUnixMs(unixMsToFiletime(EPOCH + 0.5))).toBeCloseTo(EPOCH + 0.5, 3);
  });

  it('SYNC first steps the clock, then SAMPLEs keep a 1 % fast clock within 10 ms', async () => {
    const { clock, link, host, guest, error } = setup({ drift: 0.01, guestStartOffset: 3_600_000 });
    host.open();
    await link.flush();
    expect(guest.history[0]).toMatchObject({ action: 'step', flags: TimeSyncFlags.Sync });
    expect(guest.history[0]!.offsetMs).toBeCloseTo(-3_600_000, 0);
    expect(Math.abs(error())).toBeLessThan(1);
    // Without correction 1 % over 5 s is 50 ms; after the first SAMPLE the rate is corrected.
    await run(clock, link, 60_000, 250);
    const samples = guest.history.filter((c) => c.action === 'discipline');
    expect(samples.length).toBeGreaterThanOrEqual(10);
    expect(Math.abs(samples[0]!.offsetMs)).toBeGreaterThan(40);
    for (const s of samples.slice(2)) expect(Math.abs(s.offsetMs)).toBeLessThan(10);
    // Checked between samples too, where drift would show.
    for (let i = 0; i < 20; i++) {
      await run(clock, link, 700, 100);
      expect(Math.abs(error())).toBeLessThan(10);
    }
    expect(guest.history.at(-1)!.rate).toBeCloseTo(1 / 1.01, 6);
    expect(host.state).toMatchObject({ channel: 'ready', messageVersion: icVersion(4, 0) });
    expect(host.state.samplesAnswered).toBe(host.state.samplesSent);
  });

  it('a slow clock (−1 %) converges the same way', async () => {
    const { clock, link, host, error } = setup({ drift: -0.01, guestStartOffset: -5_000 });
    host.open();
    await run(clock, link, 30_000, 500);
    await run(clock, link, 2_500, 100);
    expect(Math.abs(error())).toBeLessThan(10);
  });

  it('resume sends SYNC again', async () => {
    const { clock, link, host } = setup({ drift: 0, guestStartOffset: 0 });
    host.open();
    await run(clock, link, 11_000, 1000);
    host.resume();
    await link.flush();
    const flags = link.sentToGuest.slice(1).map((p) => {
      const f = decodeIcPacket(p);
      return f.ok ? f.body.getUint8(16) : -1;
    });
    expect(flags).toEqual([1, 2, 2, 1]);
  });

  it('negotiates v3 with an older host: 28-byte bodies without reference time', async () => {
    const { clock, link, host, guest, error } = setup({
      drift: 0.01,
      guestStartOffset: 1_000,
      hostVersions: [icVersion(1, 0), icVersion(3, 0)],
    });
    host.open();
    await run(clock, link, 20_000, 500);
    expect(host.state.messageVersion).toEqual(icVersion(3, 0));
    const f = decodeIcPacket(link.sentToGuest[1]!);
    expect(f.ok && f.header.messageSize).toBe(28);
    expect(guest.history.length).toBeGreaterThan(3);
    expect(Math.abs(error())).toBeLessThan(10);
  });

  it('a sample older than the stale limit is ignored', async () => {
    const clock = new ManualClock(1_000_000);
    const link = new Link();
    const reference = (): bigint => BigInt(Math.round(clock.now() * 10_000));
    const host = new TimeSyncHost({
      send: link.sendToGuest,
      clock,
      hostTime: () => unixMsToFiletime(EPOCH),
      // The host claims the sample was taken 700 s ago.
      referenceTime: () => reference() - 7_000_000_000n,
    });
    const guestClock = new DriftingClock(() => clock.now(), EPOCH + 42, 0);
    const guest = new TimeSyncGuest({ send: link.sendToHost, clock: guestClock, referenceTime: reference });
    link.host = host;
    link.guest = guest;
    host.open();
    await link.flush();
    expect(guest.history).toMatchObject([{ action: 'stale' }]);
    expect(guestClock.now()).toBe(EPOCH + 42);
  });
});
