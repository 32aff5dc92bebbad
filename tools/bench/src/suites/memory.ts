import { compared, opsPerSecond } from '../stats.js';
import type { BenchRecord, BenchSuite } from '../types.js';

/**
 * Reference figures every other suite is read against: how fast this machine copies bytes
 * between typed arrays over a SharedArrayBuffer, and how fast Atomics operate on one word.
 */
const ARENA = 1 << 20;

/** GB/s of `set` copies of `size` bytes walking through `target`, as a ring writer does. */
function copyRate(target: Uint8Array, size: number): number {
  const src = new Uint8Array(size).fill(7);
  let offset = 0;
  const ops = opsPerSecond(300, () => {
    target.set(src, offset);
    offset = (offset + size) % ARENA;
  });
  return (ops * size) / 1e9;
}

export const suite: BenchSuite = {
  name: 'memory',
  async run(): Promise<BenchRecord[]> {
    const records: BenchRecord[] = [];
    for (const size of [64, 4096, 65536]) {
      const shared = copyRate(new Uint8Array(new SharedArrayBuffer(ARENA)), size);
      const plain = copyRate(new Uint8Array(ARENA), size);
      records.push(
        compared(`copy ${size} B into SharedArrayBuffer`, shared, 'GB/s', 'plain ArrayBuffer', plain),
      );
    }
    const word = new Int32Array(new SharedArrayBuffer(4));
    const atomicOps = opsPerSecond(300, () => Atomics.add(word, 0, 1));
    const plainWord = new Int32Array(1);
    const plainOps = opsPerSecond(300, () => {
      plainWord[0]! += 1;
    });
    records.push(
      compared('Atomics.add on a shared word', atomicOps / 1e6, 'Mops/s', 'plain increment', plainOps / 1e6),
    );
    return records;
  },
};
