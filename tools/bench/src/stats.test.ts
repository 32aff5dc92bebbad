import { expect, test } from 'vitest';
import { compared, median, quantile } from './stats.js';

test('quantiles use nearest rank on a sorted copy', () => {
  const samples = [5, 1, 4, 2, 3];
  expect(median(samples)).toBe(3);
  expect(quantile(samples, 0.99)).toBe(5);
  expect(quantile(samples, 0)).toBe(1);
  expect(samples).toEqual([5, 1, 4, 2, 3]);
  expect(() => quantile([], 0.5)).toThrow(RangeError);
});

test('compared records carry the ratio to their baseline', () => {
  expect(compared('a', 30, 'us', 'b', 10)).toMatchObject({ ratio: 3, baselineValue: 10 });
});
