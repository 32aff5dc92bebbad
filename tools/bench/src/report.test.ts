import { expect, test } from 'vitest';
import { formatTable } from './report.js';

test('the table aligns columns and shows baseline and ratio', () => {
  const text = formatTable([
    {
      name: 'ring 64 B',
      value: 2_500_000,
      unit: 'pkt/s',
      baseline: 'MessagePort',
      baselineValue: 500_000,
      ratio: 5,
    },
    { name: 'memcpy', value: 12.5, unit: 'GB/s' },
  ]);
  const lines = text.split('\n');
  expect(lines[0]).toMatch(/^benchmark\s+value\s+baseline \(same run\)\s+ratio$/);
  expect(lines[2]).toContain('2,500,000 pkt/s');
  expect(lines[2]).toContain('MessagePort: 500,000 pkt/s');
  expect(lines[2]).toMatch(/5\.00x$/);
  expect(lines[3]).toBe('memcpy     12.5 GB/s');
});
