// VSS (backup) bodies (spec vmbus.md 7.6).
import { availableBytes, decoded, invalidField, truncated, type VmbusDecoded } from '../vmbus/errors.js';
import { type GuidString, readGuid, writeGuid } from '../vmbus/guid.js';
import { defineLayout, type FieldsOf } from '../vmbus/layout.js';
import type { IcVersion } from './header.js';

export const VssOperation = {
  Create: 0,
  Delete: 1,
  /** Check hot backup. */
  HotBackup: 2,
  GetDmInfo: 3,
  BuComplete: 4,
  Freeze: 5,
  Thaw: 6,
  AutoRecover: 7,
  /** openvmm, message version >= 6.0. */
  QueryGuestClusterInformation: 8,
} as const;
export type VssOperation = number;
/** Linux VSS_OP_COUNT (operations 0..7). */
export const VSS_OPERATION_COUNT = 8;

/** Lowest message version each operation needs (older operations: any). */
export const VssOperationMinVersion: ReadonlyMap<number, IcVersion> = new Map([
  [VssOperation.BuComplete, { major: 4, minor: 0 }],
  [VssOperation.Freeze, { major: 5, minor: 0 }],
  [VssOperation.Thaw, { major: 5, minor: 0 }],
  [VssOperation.AutoRecover, { major: 5, minor: 0 }],
  [VssOperation.QueryGuestClusterInformation, { major: 6, minor: 0 }],
]);

/** HOT_BACKUP reply flags of a Linux guest: no auto-recovery. */
export const VSS_HBU_NO_AUTO_RECOVERY = 0x5;

const basic = defineLayout('Vss', { operation: [0, 'u8'], flags: [8, 'u32'] }, { size: 12 });
/** hv_vss_msg: operation u8, reserved[7], flags u32 (check-feature / dm-info flags). */
export const VssMessage = { ...basic.offsets, reserved: 1, size: 12 } as const;
export type VssFields = FieldsOf<typeof basic.fields>;
export const encodeVss = (view: DataView, offset: number, fields: VssFields): number =>
  basic.encode(view, offset, fields);
export const decodeVss = (view: DataView, offset: number, length: number) =>
  basic.decode(view, offset, length);

/** Most LUNs a freeze / auto-recover message lists. */
export const VSS_MAX_LUNS = 260;

/** LunInfo record of VssMessage2. */
export const VssLunInfo = { busType: 0, controller: 4, port: 20, target: 21, lun: 22, size: 24 } as const;

/** openvmm Message2 (freeze / auto-recover with LUN list). */
export const VssMessage2 = {
  operation: 0,
  backupType: 8,
  flags: 12,
  lunCount: 16,
  luns: 20,
  size: 20 + VSS_MAX_LUNS * VssLunInfo.size,
} as const;

export interface VssLunInfoFields {
  busType: number;
  controller: GuidString;
  port: number;
  target: number;
  lun: number;
}

export interface VssMessage2Fields {
  operation: VssOperation;
  backupType: number;
  flags: number;
  luns: VssLunInfoFields[];
}

export function encodeVssMessage2(view: DataView, offset: number, f: VssMessage2Fields): number {
  if (f.luns.length > VSS_MAX_LUNS) throw new RangeError(`at most ${VSS_MAX_LUNS} LUNs`);
  new Uint8Array(view.buffer, view.byteOffset + offset, VssMessage2.size).fill(0);
  view.setUint8(offset + VssMessage2.operation, f.operation);
  view.setUint32(offset + VssMessage2.backupType, f.backupType, true);
  view.setUint32(offset + VssMessage2.flags, f.flags, true);
  view.setUint32(offset + VssMessage2.lunCount, f.luns.length, true);
  f.luns.forEach((l, i) => {
    const at = offset + VssMessage2.luns + i * VssLunInfo.size;
    view.setUint8(at + VssLunInfo.busType, l.busType);
    writeGuid(view, at + VssLunInfo.controller, l.controller);
    view.setUint8(at + VssLunInfo.port, l.port);
    view.setUint8(at + VssLunInfo.target, l.target);
    view.setUint8(at + VssLunInfo.lun, l.lun);
  });
  return VssMessage2.size;
}

/** Decode Message2; only the first lun_count records are read, and lun_count must fit. */
export function decodeVssMessage2(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<VssMessage2Fields> {
  const name = 'VssMessage2';
  const avail = availableBytes(view, offset, length);
  if (avail < VssMessage2.luns) return truncated(name, VssMessage2.luns, Math.max(avail, 0));
  const lunCount = view.getUint32(offset + VssMessage2.lunCount, true);
  if (lunCount > VSS_MAX_LUNS) return invalidField(name, 'lunCount', `${lunCount} > ${VSS_MAX_LUNS}`);
  const need = VssMessage2.luns + lunCount * VssLunInfo.size;
  if (avail < need) return truncated(name, need, avail);
  const luns: VssLunInfoFields[] = [];
  for (let i = 0; i < lunCount; i++) {
    const at = offset + VssMessage2.luns + i * VssLunInfo.size;
    luns.push({
      busType: view.getUint8(at + VssLunInfo.busType),
      controller: readGuid(view, at + VssLunInfo.controller),
      port: view.getUint8(at + VssLunInfo.port),
      target: view.getUint8(at + VssLunInfo.target),
      lun: view.getUint8(at + VssLunInfo.lun),
    });
  }
  return decoded({
    operation: view.getUint8(offset + VssMessage2.operation),
    backupType: view.getUint32(offset + VssMessage2.backupType, true),
    flags: view.getUint32(offset + VssMessage2.flags, true),
    luns,
  });
}
