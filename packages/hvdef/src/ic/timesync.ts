// Time sync bodies (spec vmbus.md 7.4): the pre-4.0 layout and the 4.0 reference-time layout.
import { defineLayout, type FieldsOf } from '../vmbus/layout.js';

export const TimeSyncFlags = {
  /** No bits: a probe. */
  Probe: 0x0,
  /** Hard set: first message after open / restore. */
  Sync: 0x1,
  /** Periodic hint. */
  Sample: 0x2,
} as const;
export type TimeSyncFlags = number;

/** 100 ns ticks between 1601-01-01 and 1970-01-01 (WLTIMEDELTA). */
export const WINDOWS_TICKS_TO_UNIX_EPOCH = 116_444_736_000_000_000n;

/** parenttime (100 ns since 1601, UTC) of a Unix time in nanoseconds; sub-100 ns is truncated. */
export function unixNanosToWindowsTicks(unixNanos: bigint): bigint {
  return unixNanos / 100n + WINDOWS_TICKS_TO_UNIX_EPOCH;
}

/** Unix time in nanoseconds of a parenttime value. */
export function windowsTicksToUnixNanos(ticks: bigint): bigint {
  return (ticks - WINDOWS_TICKS_TO_UNIX_EPOCH) * 100n;
}

const v3 = defineLayout(
  'TimeSync',
  { parentTime: [0, 'u64'], childTime: [8, 'u64'], roundTripTime: [16, 'u64'], flags: [24, 'u8'] },
  // Linux packs it to 25 bytes; openvmm pads to 28.
  { size: 28, minSize: 25, sizes: [25, 28] },
);
/** Versions below 4.0 (ictimesync_data): `size` 28 (openvmm), `sizePacked` 25 (Linux). */
export const TimeSyncMessage = { ...v3.offsets, size: 28, sizePacked: 25 } as const;
export type TimeSyncFields = FieldsOf<typeof v3.fields>;
export const encodeTimeSync = (
  view: DataView,
  offset: number,
  fields: TimeSyncFields,
  size?: number,
): number => v3.encode(view, offset, fields, size);
export const decodeTimeSync = (view: DataView, offset: number, length: number) =>
  v3.decode(view, offset, length);

const v4 = defineLayout(
  'TimeSyncRef',
  {
    parentTime: [0, 'u64'],
    vmReferenceTime: [8, 'u64'],
    flags: [16, 'u8'],
    leapFlags: [17, 'u8'],
    stratum: [18, 'u8'],
  },
  // Linux packs it to 22 bytes; openvmm pads to 24.
  { size: 24, minSize: 22, sizes: [22, 24] },
);
/** Version 4.0 (ictimesync_ref_data): `size` 24 (openvmm), `sizePacked` 22 (Linux). */
export const TimeSyncRefMessage = { ...v4.offsets, size: 24, sizePacked: 22 } as const;
export type TimeSyncRefFields = FieldsOf<typeof v4.fields>;
export const encodeTimeSyncRef = (
  view: DataView,
  offset: number,
  fields: TimeSyncRefFields,
  size?: number,
): number => v4.encode(view, offset, fields, size);
export const decodeTimeSyncRef = (view: DataView, offset: number, length: number) =>
  v4.decode(view, offset, length);
