// Guest programs used by the end-to-end tests.
import { parentPort } from 'node:worker_threads';
import type { Guest } from './runtime.js';

const which = new URL(import.meta.url).searchParams.get('p');

export async function main(guest: Guest): Promise<void> {
  const post = (m: unknown) => parentPort?.postMessage(m);
  if (which === 'crash') {
    await guest.sleep(50);
    throw new Error('guest program fault: deliberate');
  }
  // 'probe': reports the clock error against the host's clock and KVP items on request.
  guest.setHealth('healthy');
  guest.kvp.set('Probe', 'ready');
  guest.onShutdown(async (n) => {
    guest.kvp.set('ShutdownSeen', n.reason);
    post({ test: 'hook', notice: n });
  });
  guest.kvp.onChange((c) => post({ test: 'kvp-change', key: c.key, value: c.value }));
  while (await guest.sleep(100)) {
    post({
      test: 'clock',
      errorMs: guest.clock.now() - Date.now(),
      corrections: guest.clock.corrections.length,
      rate: guest.clock.rate,
    });
  }
}
