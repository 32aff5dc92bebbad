import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from './allocator.js';
import { GuestError } from './errors.js';

describe('PageAllocator', () => {
  it('never hands out unusable pages, aligns runs, and refuses double frees', () => {
    const a = new PageAllocator(16, (p) => p !== 0 && p !== 5);
    expect(a.freePages).toBe(14);
    expect(a.allocate(4)).toBe(1);
    expect(a.allocate(2)).toBe(6); // 5 is unusable, so the run starts after it
    expect(a.allocate(4, 4)).toBe(8);
    expect(a.free(6, 2)).toBe(true);
    expect(a.free(6, 2)).toBe(false);
    expect(a.free(5, 1)).toBe(false); // never usable, never freeable
    expect(a.allocate(20)).toBe(-1);
    expect(() => a.allocateOrThrow(20)).toThrow(GuestError);
  });

  it('keeps every live run disjoint and inside usable pages (property)', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('alloc' as const),
        count: fc.integer({ min: 1, max: 9 }),
        align: fc.constantFrom(1, 2, 4),
      }),
      fc.record({ kind: fc.constant('free' as const), index: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.nat({ max: 63 })),
        fc.array(op, { maxLength: 80 }),
        (size, holes, ops) => {
          const unusable = new Set(holes.filter((h) => h < size));
          const a = new PageAllocator(size, (p) => !unusable.has(p));
          const live: [number, number][] = [];
          for (const o of ops) {
            if (o.kind === 'alloc') {
              const first = a.allocate(o.count, o.align);
              if (first < 0) continue;
              expect(first % o.align).toBe(0);
              for (let p = first; p < first + o.count; p++) {
                expect(unusable.has(p)).toBe(false);
                for (const [f, n] of live) expect(p >= f && p < f + n).toBe(false);
              }
              live.push([first, o.count]);
            } else if (live.length > 0) {
              const [f, n] = live.splice(o.index % live.length, 1)[0] as [number, number];
              expect(a.free(f, n)).toBe(true);
            }
            const used = live.reduce((s, [, n]) => s + n, 0);
            expect(a.freePages).toBe(size - unusable.size - used);
          }
        },
      ),
    );
  });
});
