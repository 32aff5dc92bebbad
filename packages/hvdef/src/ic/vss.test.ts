import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, zeroView } from '../vmbus/test-util.test-fixture.js';
import {
  decodeVss,
  decodeVssMessage2,
  encodeVss,
  encodeVssMessage2,
  VSS_HBU_NO_AUTO_RECOVERY,
  VSS_MAX_LUNS,
  VSS_OPERATION_COUNT,
  VssLunInfo,
  VssMessage,
  VssMessage2,
  VssOperation,
  VssOperationMinVersion,
} from './vss.js';

describe('VSS bodies (spec 7.6)', () => {
  it('pins operations, versions and layouts', () => {
    expect(VssOperation).toEqual({
      Create: 0,
      Delete: 1,
      HotBackup: 2,
      GetDmInfo: 3,
      BuComplete: 4,
      Freeze: 5,
      Thaw: 6,
      AutoRecover: 7,
      QueryGuestClusterInformation: 8,
    });
    expect(VSS_OPERATION_COUNT).toBe(8);
    expect([...VssOperationMinVersion]).toEqual([
      [4, { major: 4, minor: 0 }],
      [5, { major: 5, minor: 0 }],
      [6, { major: 5, minor: 0 }],
      [7, { major: 5, minor: 0 }],
      [8, { major: 6, minor: 0 }],
    ]);
    expect(VSS_HBU_NO_AUTO_RECOVERY).toBe(5);
    expect(VssMessage).toEqual({ operation: 0, reserved: 1, flags: 8, size: 12 });
    expect(VSS_MAX_LUNS).toBe(260);
    expect(VssLunInfo).toEqual({ busType: 0, controller: 4, port: 20, target: 21, lun: 22, size: 24 });
    expect(VssMessage2).toEqual({
      operation: 0,
      backupType: 8,
      flags: 12,
      lunCount: 16,
      luns: 20,
      size: 6260,
    });
  });

  it('encodes a Linux HOT_BACKUP reply', () => {
    const { bytes, view } = zeroView(12);
    expect(encodeVss(view, 0, { operation: VssOperation.HotBackup, flags: VSS_HBU_NO_AUTO_RECOVERY })).toBe(
      12,
    );
    expect(toHex(bytes)).toBe('02 00 00 00 00 00 00 00 05 00 00 00');
    expect(decodeVss(view, 0, 12)).toEqual({ ok: true, value: { operation: 2, flags: 5 } });
    expect(decodeVss(view, 0, 11).ok).toBe(false);
  });

  it('round-trips Message2 and bounds lun_count', () => {
    const lun = fc.record({
      busType: fc.integer({ min: 0, max: 255 }),
      controller: fc.uuid(),
      port: fc.integer({ min: 0, max: 255 }),
      target: fc.integer({ min: 0, max: 255 }),
      lun: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(fc.array(lun, { maxLength: 8 }), fc.integer({ min: 0, max: 0xffffffff }), (luns, flags) => {
        const { view } = zeroView(VssMessage2.size);
        const f = { operation: VssOperation.Freeze, backupType: 1, flags, luns };
        expect(encodeVssMessage2(view, 0, f)).toBe(6260);
        expect(decodeVssMessage2(view, 0, 6260)).toEqual({ ok: true, value: f });
        // Only the listed LUNs need to be present.
        expect(decodeVssMessage2(view, 0, 20 + 24 * luns.length).ok).toBe(true);
      }),
      { numRuns: 100 },
    );
    const { view } = zeroView(VssMessage2.size);
    view.setUint32(16, 261, true);
    const r = decodeVssMessage2(view, 0, 6260);
    expect(!r.ok && r.error.field).toBe('lunCount');
    view.setUint32(16, 2, true);
    expect(decodeVssMessage2(view, 0, 67).ok).toBe(false);
  });
});
