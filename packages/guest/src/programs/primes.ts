// A CPU-bound guest program: counts primes in slices, yielding (the scheduler's safe point) after
// every slice, and publishes its progress in the KVP guest pool.
import type { Guest } from '../runtime.js';

/** Primes in [from, to) by trial division. */
export function countPrimes(from: number, to: number): { count: number; largest: number } {
  let count = 0;
  let largest = 0;
  for (let n = Math.max(2, from); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) {
      count++;
      largest = n;
    }
  }
  return { count, largest };
}

export async function main(guest: Guest): Promise<void> {
  guest.setHealth('healthy');
  let next = 2;
  let found = 0;
  let largest = 0;
  let slices = 0;
  while (!guest.stopping) {
    const r = countPrimes(next, next + 2_000);
    next += 2_000;
    found += r.count;
    if (r.largest) largest = r.largest;
    if (++slices % 50 === 0) {
      guest.kvp.set('PrimesFound', String(found));
      guest.kvp.set('LargestPrime', String(largest));
    }
    await guest.yield();
  }
}
