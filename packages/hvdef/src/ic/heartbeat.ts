// Heartbeat body (spec vmbus.md 7.2).
import { defineLayout, type FieldsOf } from '../vmbus/layout.js';

/** openvmm's application_state. */
export const HeartbeatApplicationState = {
  Unknown: 0,
  Healthy: 1,
  Critical: 2,
  Stopped: 3,
} as const;
export type HeartbeatApplicationState = number;

const heartbeat = defineLayout(
  'Heartbeat',
  { sequenceNumber: [0, 'u64'], applicationState: [8, 'u32'] },
  // openvmm sends 16 bytes, Linux/FreeBSD model 8 + u32[8] = 40; Linux needs only the sequence number.
  { size: 16, minSize: 8, sizes: [16, 40] },
);

/** Heartbeat body: `size` 16 (openvmm), `sizeLinux` 40, `minSize` 8. */
export const HeartbeatMessage = {
  ...heartbeat.offsets,
  reserved: 12,
  size: 16,
  sizeLinux: 40,
  minSize: 8,
} as const;
export type HeartbeatFields = FieldsOf<typeof heartbeat.fields>;

export const encodeHeartbeat = (
  view: DataView,
  offset: number,
  fields: HeartbeatFields,
  size?: number,
): number => heartbeat.encode(view, offset, fields, size);
export const decodeHeartbeat = (view: DataView, offset: number, length: number) =>
  heartbeat.decode(view, offset, length);
