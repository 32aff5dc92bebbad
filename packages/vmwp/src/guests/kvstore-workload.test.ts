import { describe, expect, it } from 'vitest';
import { KEY_SPACE, transactionPuts, workloadProblem } from './kvstore-workload.js';

/** The map a reader gets by applying transactions 1 … committed in order. */
function replayed(committed: number): Map<string, string> {
  const map = new Map<string, string>();
  for (let s = 1; s <= committed; s++) for (const [k, v] of transactionPuts(s)) map.set(k, v);
  return map;
}

describe('kvstore workload', () => {
  it('derives every put from the sequence number', () => {
    expect(transactionPuts(1)).toEqual([
      ['k1', 'v1'],
      ['k2', 'v2'],
      ['k3', 'v3'],
    ]);
    expect(transactionPuts(33)).toEqual([
      ['k0', 'v97'],
      ['k1', 'v98'],
      ['k2', 'v99'],
    ]);
  });

  it('accepts exactly the map the committed transactions leave', () => {
    for (const committed of [0, 1, 20, 32, 33, 34, 100, 1000]) {
      const map = replayed(committed);
      expect(map.size).toBe(Math.min(KEY_SPACE, committed * 3));
      expect(workloadProblem(map, committed)).toBeUndefined();
    }
  });

  it('names what is wrong with any other map', () => {
    expect(workloadProblem(replayed(40), 41)).toBe('key k24 is "v24", expected v121 at sequence 41');
    expect(workloadProblem(replayed(41), 40)).toBe('key k24 is "v121", expected v24 at sequence 40');
    expect(workloadProblem(replayed(2), 3)).toBe('6 keys after sequence 3, expected 9');
    const moved = replayed(2);
    moved.delete('k1');
    moved.set('k50', 'v50');
    expect(workloadProblem(moved, 2)).toBe('key k1 is absent, expected v1 at sequence 2');
    const early = replayed(2);
    early.delete('k6');
    early.set('k0', 'v0');
    expect(workloadProblem(early, 2)).toBe('key k0 is present before any put wrote it');
  });
});
