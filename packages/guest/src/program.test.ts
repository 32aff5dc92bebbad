import { describe, expect, it } from 'vitest';
import { type GuestConsoleEvent, RateLimitedConsole } from './console.js';
import { GuestError } from './errors.js';
import {
  BUILTIN_PROGRAMS,
  guestImageUrl,
  loadProgram,
  parseImageParameters,
  withParameters,
} from './program.js';
import { countPrimes } from './programs/primes.js';

describe('image parameters', () => {
  it('round-trip through the image URL and default to the idle program', () => {
    const url = guestImageUrl({ program: 'file:///x/p.js?a=1&b=2', clockDrift: 0.01, hostName: 'h.example' });
    expect(url).toMatch(/image\.(ts|js)\?/);
    expect(parseImageParameters(url)).toEqual({
      program: 'file:///x/p.js?a=1&b=2',
      clockDrift: 0.01,
      hostName: 'h.example',
    });
    expect(parseImageParameters(guestImageUrl())).toEqual({ program: 'idle' });
    expect(parseImageParameters(withParameters('file:///i.js?scenario=run', { program: 'primes' }))).toEqual({
      program: 'primes',
    });
  });

  it('refuses a malformed drift with a typed error', () => {
    for (const drift of ['abc', '0.9', 'Infinity']) {
      expect(() => parseImageParameters(`file:///i.js?drift=${drift}`)).toThrow(GuestError);
    }
  });
});

describe('programs', () => {
  it('loads the built-ins and refuses modules without main', async () => {
    for (const name of Object.keys(BUILTIN_PROGRAMS)) {
      expect(typeof (await loadProgram(name)).main).toBe('function');
    }
    await expect(loadProgram('file:///no/such/program.js')).rejects.toMatchObject({
      code: 'ERR_GUEST_BAD_PROGRAM',
    });
    await expect(loadProgram(new URL('./errors.ts', import.meta.url).href)).rejects.toMatchObject({
      code: 'ERR_GUEST_BAD_PROGRAM',
    });
  });

  it('primes counts correctly', () => {
    expect(countPrimes(0, 100)).toEqual({ count: 25, largest: 97 });
    expect(countPrimes(2, 3)).toEqual({ count: 1, largest: 2 });
  });
});

describe('console', () => {
  it('rate-limits log lines but never lifecycle events', () => {
    const seen: GuestConsoleEvent[] = [];
    const c = new RateLimitedConsole((e) => seen.push(e), 10, 5);
    const line: GuestConsoleEvent = {
      type: 'viridian-guest',
      event: 'log',
      level: 'info',
      text: 'x',
      referenceTime: '0',
    };
    let accepted = 0;
    for (let i = 0; i < 50; i++) if (c.emit(line)) accepted++;
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(accepted).toBeLessThan(10);
    expect(c.dropped).toBe(50 - accepted);
    expect(c.emit({ type: 'viridian-guest', event: 'crashed', error: 'e' })).toBe(true);
    expect(seen.at(-1)).toMatchObject({ event: 'crashed' });
  });
});
