// A guest image (main(vp) in a child VP thread) that uses VMBus over the SynIC. The scenario comes
// from the image URL's query; results go to the host as hypervisor 'guest' events.
import { parentPort } from 'node:worker_threads';
import { HvMsr } from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import { VmbusClient } from '../client.js';
import { guidString } from '../wire.js';
import { createSynicClientTransport } from './client.js';

export const ECHO = '5a5a0000-0000-4000-8000-00000000ec40';
const query = new URL(import.meta.url).searchParams;
const scenario = query.get('scenario') ?? 'echo';
const report = (data: Record<string, unknown>): void => parentPort?.postMessage(data);

function bytes(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, j) => (seed * 31 + j) & 0xff);
}

async function echo(vp: GuestVp): Promise<void> {
  const errors: string[] = [];
  const transport = createSynicClientTransport(vp, {
    simpGpa: 0x2000,
    siefpGpa: 0x3000,
    onError: (e) => errors.push(`${e.code} ${e.message}`),
  });
  let next = 16;
  let rescinded: (relid: number) => void = () => undefined;
  const rescind = new Promise<number>((r) => {
    rescinded = r;
  });
  const client = new VmbusClient({
    memory: vp.memory.ram,
    transport,
    allocatePages: (n) => {
      next += n;
      return next - n;
    },
    onRescind: (relid) => rescinded(relid),
  });
  const version = await client.connect();
  const offer = client.findOffer(ECHO);
  if (!offer) throw new Error('no echo offer');
  const { relid, end } = await client.open(offer, { ringPages: 8 });
  let ok = 0;
  const count = Number(query.get('count') ?? 200);
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const data = bytes([1, 64, 1000, 4000][i % 4] as number, i);
    pending.push(
      end.request(data).then((p) => {
        if (Buffer.from(p.payload.subarray(0, data.length)).equals(Buffer.from(data))) ok++;
      }),
    );
  }
  await Promise.all(pending);
  report({
    version,
    offers: client.offers.map((o) => guidString(o.interfaceId)),
    relid,
    connectionId: offer.connectionId,
    ok,
    stats: { ...transport.stats },
    errors,
  });
  const gone = await rescind;
  const after = await end.request(bytes(8, 1)).then(
    () => 'answered',
    (e: { code?: string }) => e.code ?? 'rejected',
  );
  // The relid is released only after the close/teardown round trips over the SynIC finished.
  for (let i = 0; i < 200 && client.core.offers.has(gone); i++) await vp.haltFor(10);
  report({ rescinded: gone, after, released: !client.core.offers.has(gone), errors });
  for (;;) await vp.halt();
}

/** Posts garbage and signals connections it does not own, as fast as the hypervisor lets it. */
async function hostile(vp: GuestVp): Promise<void> {
  vp.wrmsr(HvMsr.Simp, 0x2000n | 1n);
  vp.wrmsr(HvMsr.Scontrol, 1n);
  const statuses: Record<string, number> = {};
  const count = (s: number) => {
    statuses[s] = (statuses[s] ?? 0) + 1;
  };
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const rounds = Number(query.get('rounds') ?? 3000);
  for (let i = 0; i < rounds; i++) {
    const len = rnd() % 241;
    const payload = new Uint8Array(len).map(() => rnd() & 0xff);
    // Sometimes a plausible message number in front.
    if (len >= 4 && i % 3 === 0) new DataView(payload.buffer).setUint32(0, rnd() % 24, true);
    count(vp.postMessage(i % 2 === 0 ? 1 : 4, 1, payload));
    if (i % 5 === 0) count(vp.postMessage(1, 2 + (rnd() % 100), payload));
    if (i % 7 === 0) count(vp.signalEvent(0x2000 | (rnd() % 64), rnd() % 4));
    if (i % 11 === 0) count(vp.signalEvent(rnd() & 0xff_ffff, 0));
    if (i % 50 === 0) await vp.yield();
  }
  report({ hostileDone: true, statuses });
  for (;;) await vp.halt();
}

export async function main(vp: GuestVp): Promise<void> {
  vp.wrmsr(HvMsr.GuestOsId, 0x8100_0000_0000_0001n);
  vp.wrmsr(HvMsr.Hypercall, 0x1000n | 1n);
  report({ ram: vp.memory.ram });
  if (scenario === 'hostile') await hostile(vp);
  else await echo(vp);
}
