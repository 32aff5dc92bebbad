// A key-value store driven through KVP: the host writes `kv.<key>` items in its pool, the program
// keeps them and publishes `kv.count` in the guest pool. Health follows the item `kv.health` the host
// may set ("critical" makes heartbeat report "Applications critical").
import type { Guest } from '../runtime.js';

export async function main(guest: Guest): Promise<void> {
  const store = new Map<string, string>();
  const publish = () => {
    guest.kvp.set('kv.count', String(store.size));
    guest.setHealth(store.get('health') === 'critical' ? 'critical' : 'healthy');
  };
  for (const [k, v] of guest.kvp.entries()) if (k.startsWith('kv.')) store.set(k.slice(3), v);
  publish();
  guest.kvp.onChange(({ key, value }) => {
    if (!key.startsWith('kv.')) return;
    if (value === undefined) store.delete(key.slice(3));
    else store.set(key.slice(3), value);
    publish();
  });
  guest.onShutdown(() => {
    guest.kvp.set('kv.final', JSON.stringify(Object.fromEntries(store)));
  });
  while (await guest.sleep(1_000)) {
    // state changes arrive through KVP
  }
}
