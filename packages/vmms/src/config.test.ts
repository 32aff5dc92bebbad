import fc from 'fast-check';
import { expect, test } from 'vitest';
import { applyVmChanges, createVmConfig, DEFAULTS, parseVmConfig } from './config.js';

test("a VM gets Hyper-V's defaults for everything not given", () => {
  const config = createVmConfig({ name: '  web  ', image: 'counter' });
  expect(config.name).toBe('web');
  expect(config.cpu).toEqual({ reservePercent: 0, limitPercent: 100, relativeWeight: 100 });
  expect(config.memoryMB).toBe(DEFAULTS.memoryMB);
  expect(config.integrationServices).toEqual({
    heartbeat: true,
    kvp: true,
    timesync: true,
    shutdown: true,
    vss: true,
  });
  expect(config.automaticStartAction).toBe('StartIfRunning');
  expect(config.automaticStopAction).toBe('Save');
  expect(config.id).toMatch(/^[0-9a-f-]{36}$/);
});

test.each([
  [{ image: 'idle' }, /name is required/],
  [{ name: 'x' }, /image is required/],
  [{ name: '', image: 'idle' }, /name must not be empty/],
  [{ name: 'a\u0007b', image: 'idle' }, /control characters/],
  [{ name: 'x', image: 'relative/path.js' }, /absolute module path/],
  [{ name: 'x', image: 'idle', memoryMB: 31 }, /memoryMB must be between 32 and/],
  [{ name: 'x', image: 'idle', memoryMB: 33 }, /multiple of 2/],
  [{ name: 'x', image: 'idle', memoryMB: 1.5 }, /memoryMB must be an integer/],
  [{ name: 'x', image: 'idle', processorCount: 0 }, /processorCount must be between 1 and 64/],
  [{ name: 'x', image: 'idle', cpu: { relativeWeight: 0 } }, /relativeWeight must be between 1 and 10000/],
  [{ name: 'x', image: 'idle', cpu: { relativeWeight: 10001 } }, /relativeWeight/],
  [
    { name: 'x', image: 'idle', cpu: { reservePercent: 50, limitPercent: 20 } },
    /must not exceed cpu.limitPercent/,
  ],
  [{ name: 'x', image: 'idle', cpu: { turbo: 1 } }, /cpu.turbo is not a known setting/],
  [{ name: 'x', image: 'idle', integrationServices: { kvp: 'yes' } }, /kvp must be true or false/],
  [{ name: 'x', image: 'idle', integrationServices: { telepathy: true } }, /not a known service/],
  [{ name: 'x', image: 'idle', automaticStartAction: 'Sometimes' }, /one of Nothing, StartIfRunning, Start/],
  [{ name: 'x', image: 'idle', automaticStopAction: 'Explode' }, /one of TurnOff, Save, ShutDown/],
  [{ name: 'x', image: 'idle', recoveryAction: 'Pray' }, /one of None, Restart/],
  [{ name: 'x', image: 'idle', devices: [{ kind: 'Disk!' }] }, /kind must be a lowercase identifier/],
  [
    { name: 'x', image: 'idle', devices: [{ kind: 'disk', settings: { path: {} } }] },
    /boolean, finite number/,
  ],
  [{ name: 'x', image: 'idle', notes: 'n'.repeat(5000) }, /notes must be at most 4096/],
  [{ name: 'x', image: 'idle', color: 'red' }, /color is not a VM setting/],
])('refuses %j', (spec, message) => {
  expect(() => createVmConfig(spec)).toThrow(message);
  expect(() => createVmConfig(spec)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
});

test('changes apply over the existing settings and never change the id', () => {
  const config = createVmConfig({ name: 'a', image: 'idle', cpu: { relativeWeight: 200 } });
  const next = applyVmChanges(config, { cpu: { limitPercent: 50 }, integrationServices: { vss: false } });
  expect(next.id).toBe(config.id);
  expect(next.cpu).toEqual({ reservePercent: 0, limitPercent: 50, relativeWeight: 200 });
  expect(next.integrationServices.vss).toBe(false);
  expect(next.integrationServices.kvp).toBe(true);
  expect(() => applyVmChanges(config, { id: 'x' })).toThrow(/id is not a VM setting/);
});

test('property: arbitrary JSON never crashes validation; it is accepted whole or refused with InvalidArgument', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
      for (const input of [a, { name: 'x', image: 'idle', cpu: a, devices: b }, { name: a, image: b }]) {
        try {
          const config = createVmConfig(input);
          expect(parseVmConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('InvalidArgument');
        }
      }
    }),
  );
});
