import type { BenchRecord } from './types.js';

/** Formats records as an aligned text table: name, value, baseline, ratio. */
export function formatTable(records: readonly BenchRecord[]): string {
  const rows = records.map((r) => [
    r.name,
    `${formatNumber(r.value)} ${r.unit}`,
    r.baseline === undefined ? '' : `${r.baseline}: ${formatNumber(r.baselineValue ?? Number.NaN)} ${r.unit}`,
    r.ratio === undefined ? '' : `${formatNumber(r.ratio)}x`,
  ]);
  const header = ['benchmark', 'value', 'baseline (same run)', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 10) return n.toFixed(1);
  return n.toPrecision(3);
}
