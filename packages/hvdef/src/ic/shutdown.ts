// Shutdown body (spec vmbus.md 7.3).
import { defineLayout, type FieldsOf } from '../vmbus/layout.js';

export const ShutdownFlags = {
  Force: 0x1,
  Restart: 0x2,
  Hibernate: 0x4,
} as const;
export type ShutdownFlags = number;

/** SHTDN_REASON_FLAG_PLANNED, the reason openvmm sends. */
export const SHTDN_REASON_FLAG_PLANNED = 0x8000_0000;
/** Size of the display_message field. */
export const SHUTDOWN_DISPLAY_MESSAGE_SIZE = 2048;

const shutdown = defineLayout(
  'Shutdown',
  {
    reasonCode: [0, 'u32'],
    timeoutSeconds: [4, 'u32'],
    flags: [8, 'u32'],
    displayMessage: [12, { bytes: SHUTDOWN_DISPLAY_MESSAGE_SIZE }],
  },
  // Linux refuses a shorter body.
  { size: 2060 },
);

export const ShutdownMessage = { ...shutdown.offsets, size: 2060 } as const;
export type ShutdownFields = FieldsOf<typeof shutdown.fields>;

export const encodeShutdown = (view: DataView, offset: number, fields: ShutdownFields): number =>
  shutdown.encode(view, offset, fields);
export const decodeShutdown = (view: DataView, offset: number, length: number) =>
  shutdown.decode(view, offset, length);
