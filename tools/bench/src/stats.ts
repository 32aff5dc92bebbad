/** Small, allocation-light statistics for benchmark samples. */

/** The q-quantile (0..1) of `samples` by nearest rank; sorts a copy. */
export function quantile(samples: ArrayLike<number>, q: number): number {
  if (samples.length === 0) throw new RangeError('quantile of an empty sample');
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (samples: ArrayLike<number>): number => quantile(samples, 0.5);

/** Builds a record with its baseline and ratio filled in. */
export function compared(
  name: string,
  value: number,
  unit: string,
  baseline: string,
  baselineValue: number,
): { name: string; value: number; unit: string; baseline: string; baselineValue: number; ratio: number } {
  return {
    name,
    value,
    unit,
    baseline,
    baselineValue,
    ratio: baselineValue === 0 ? Number.NaN : value / baselineValue,
  };
}

/** Runs `body` repeatedly for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(ms: number, body: () => void): number {
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 64; i++) body();
    ops += 64;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}
