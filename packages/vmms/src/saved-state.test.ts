import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { decodeSavedState, encodeSavedState, readSavedState, writeSavedState } from './saved-state.js';

const header = { vmId: '00000000-0000-4000-8000-000000000000', image: 'counter', savedAt: 1 };

test('round-trips structured-cloneable state (maps, dates, typed arrays, cycles)', () => {
  const state: Record<string, unknown> = {
    n: 1,
    m: new Map([[1, 'a']]),
    d: new Date(5),
    b: new Uint8Array([1, 2]),
  };
  state['self'] = state;
  const dir = mkdtempSync(join(tmpdir(), 'ss-'));
  try {
    writeSavedState(join(dir, 'x.vrss'), header, state);
    const back = readSavedState(join(dir, 'x.vrss'));
    expect(back.header).toEqual(header);
    const s = back.state as Record<string, unknown>;
    expect(s['m']).toEqual(new Map([[1, 'a']]));
    expect(s['self']).toBe(s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown version is refused naming both versions; damage is reported as Corrupt', () => {
  const bytes = encodeSavedState(header, { n: 1 });
  const future = Buffer.from(bytes);
  future.writeUInt32LE(9, 8);
  expect(() => decodeSavedState(future)).toThrow(
    /saved-state format version 9 is not supported \(this host reads version 1\)/,
  );
  expect(() => decodeSavedState(bytes.subarray(0, 10))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
  const longHeader = Buffer.from(bytes);
  longHeader.writeUInt32LE(0xffffffff, 12);
  expect(() => decodeSavedState(longHeader)).toThrow(/header length/);
  expect(() => decodeSavedState(Buffer.from('hello world, not a saved state'))).toThrow(
    /not a saved-state file/,
  );
  const dir = mkdtempSync(join(tmpdir(), 'ss-'));
  try {
    writeFileSync(join(dir, 'bad.vrss'), Buffer.concat([bytes.subarray(0, bytes.length - 3)]));
    expect(() => readSavedState(join(dir, 'bad.vrss'))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
