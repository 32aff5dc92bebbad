// How channel messages and channel signals travel (spec vmbus.md 5): connection and port ids, the
// SINT, the pre-Win8 interrupt page and the monitor (MNF) pages. Hypercall codes and the SynIC message
// and PostMessage layouts themselves are hypervisor definitions (see the hv area).

/** Connection ids VMBus uses with HvPostMessage / HvSignalEvent. */
export const VmbusConnectionId = {
  /** Channel messages (and INITIATE_CONTACT below 5.0). */
  Message: 1,
  /** Shared event connection of WS2008 (pre-Win7 channel signals). */
  Event: 2,
  /** Monitor (MNF) connection. */
  Monitor: 3,
  /** INITIATE_CONTACT from 5.0 on (multi-client); later messages use the id the host returns. */
  MessageV5: 4,
  /** openvmm's connection id for messages redirected to a paravisor. */
  MessageRedirect: 0x800074,
} as const;
export type VmbusConnectionId = number;

/** Host-side port ids matching the connection ids above. */
export const VmbusPortId = {
  Message: 1,
  Event: 2,
  Monitor: 3,
} as const;

/** Host-to-guest channel messages arrive on SINT 2. */
export const VMBUS_MESSAGE_SINT = 2;
/** SynIC message type of a VMBus channel message (HvPostMessage message_type). */
export const VMBUS_SYNIC_MESSAGE_TYPE = 1;
/** openvmm's redirect target for paravisor interrupts. */
export const VMBUS_REDIRECT_SINT = 7;
export const VMBUS_REDIRECT_VTL = 2;

/**
 * openvmm's per-channel connection id: `relid | sint << 12 | vtl << 16` (0x2000 + relid for VTL0 /
 * SINT 2). Hyper-V's own numbering is not documented; any id the host offers is valid.
 */
export function vmbusChannelConnectionId(relid: number, sint = VMBUS_MESSAGE_SINT, vtl = 0): number {
  return ((relid & 0xfff) | ((sint & 0xf) << 12) | ((vtl & 0xf) << 16)) >>> 0;
}

/** Linux retries a failed HvPostMessage this many times, doubling its delay up to 256 ms. */
export const VMBUS_POST_MESSAGE_RETRIES = 100;
export const VMBUS_POST_MESSAGE_MAX_BACKOFF_MS = 256;

/**
 * Interrupt page (INITIATE_CONTACT.interrupt_page, versions before 2.4): bit `relid` set in the
 * host-to-guest half or the guest-to-host half.
 */
export const VmbusInterruptPage = {
  hostToGuest: 0,
  guestToHost: 2048,
  halfSize: 2048,
  size: 4096,
} as const;

/** Monitor page (hv_monitor_page). Page 1 is parent-to-child, page 2 child-to-parent. */
export const VmbusMonitorPage = {
  /** u32: bits 0..3 enable trigger groups. */
  triggerState: 0,
  /** 4 x {pending u32, armed u32}. */
  triggerGroups: 8,
  /** s32[4][32]. */
  nextCheckTime: 64,
  /** u16[4][32]. */
  latency: 576,
  /** 4 x 32 x {connection_id u32, flag_number u16, reserved u16}. */
  parameters: 1088,
  size: 4096,
} as const;

export const VmbusMonitorTriggerGroup = { pending: 0, armed: 4, size: 8 } as const;
export const VmbusMonitorParameter = { connectionId: 0, flagNumber: 4, size: 8 } as const;

export const VMBUS_MONITOR_GROUPS = 4;
export const VMBUS_MONITORS_PER_GROUP = 32;
/** Monitor ids 0..127; an offer's monitor_id of 0xFF means none is allocated. */
export const VMBUS_MONITOR_COUNT = VMBUS_MONITOR_GROUPS * VMBUS_MONITORS_PER_GROUP;
export const VMBUS_MONITOR_ID_NONE = 0xff;

/** Where the guest sets a monitor id's pending bit: byte offset of the u32 and the bit in it. */
export function vmbusMonitorPendingBit(monitorId: number): { offset: number; bit: number } {
  const group = Math.trunc(monitorId / VMBUS_MONITORS_PER_GROUP);
  return {
    offset:
      VmbusMonitorPage.triggerGroups +
      group * VmbusMonitorTriggerGroup.size +
      VmbusMonitorTriggerGroup.pending,
    bit: monitorId % VMBUS_MONITORS_PER_GROUP,
  };
}

/** Byte offset of a monitor id's latency (u16). */
export function vmbusMonitorLatencyOffset(monitorId: number): number {
  return VmbusMonitorPage.latency + 2 * monitorId;
}

/** Byte offset of a monitor id's parameter record {connection_id u32, flag_number u16}. */
export function vmbusMonitorParameterOffset(monitorId: number): number {
  return VmbusMonitorPage.parameters + VmbusMonitorParameter.size * monitorId;
}

/** True for a monitor id that names a slot in the page (0..127). */
export function isValidMonitorId(monitorId: number): boolean {
  return Number.isInteger(monitorId) && monitorId >= 0 && monitorId < VMBUS_MONITOR_COUNT;
}
