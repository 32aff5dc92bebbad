// Ports, connections and the monitor page (spec section 5.5).
import { checkUint, checkUint64 } from './errors.js';

/** HV_PORT_TYPE. */
export const HvPortType = {
  Message: 1,
  Event: 2,
  /** TLFS 2.0. */
  Monitor: 3,
  /** Current TLFS (root partition only). */
  Doorbell: 4,
} as const;
export type HvPortType = number;

/** A port or connection ID keeps its ID in bits 23:0; bits 31:24 must be zero. */
export const HV_PORT_ID_MASK = 0x00ff_ffff;

/** True if `id` is a u32 whose bits 31:24 are clear (else INVALID_PORT_ID / INVALID_CONNECTION_ID). */
export function isValidPortId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= HV_PORT_ID_MASK;
}
export const isValidConnectionId = isValidPortId;

/** Port property codes of Get/SetPortProperty. */
export const HvPortProperty = { PostCount: 0, PreferredTargetVp: 1 } as const;
export type HvPortProperty = number;

/** Message buffers each message port owns (taken from the port owner's pool at CreatePort). */
export const HV_PORT_MESSAGE_BUFFER_COUNT = 16;

/** HV_PORT_INFO (24 bytes): PortType, padding, then the member matching PortType at offset 8. */
export const HvPortInfoLayout = {
  portType: 0,
  reserved: 4,
  /** Message, event and doorbell ports: the target SINT (1..15; SINT0 is reserved for intercepts). */
  targetSint: 8,
  /** Message, event and doorbell ports: the target VP (or HV_ANY_VP). */
  targetVp: 12,
  /** Event ports: first flag of the port's range (0..2047). */
  baseFlagNumber: 16,
  /** Event ports: number of flags (>= 1, base + count <= 2048). */
  flagCount: 18,
  /** Monitor ports: page-aligned GPA of the monitor page. */
  monitorAddress: 8,
  size: 24,
} as const;

/** HV_CONNECTION_INFO (32 bytes; message/event connections use only the first 16). */
export const HvConnectionInfoLayout = {
  portType: 0,
  reserved: 4,
  /** Monitor connections: the connection side's monitor page GPA. */
  monitorAddress: 8,
  /** Doorbell connections. */
  doorbellGpa: 8,
  doorbellTriggerValue: 16,
  doorbellFlags: 24,
  size: 32,
} as const;

/** Doorbell connection flags: trigger size in the low bits, "any value" in bit 31. */
export const HvDoorbellFlags = {
  TriggerSizeAny: 0x0,
  TriggerSizeByte: 0x1,
  TriggerSizeWord: 0x2,
  TriggerSizeDword: 0x3,
  TriggerSizeQword: 0x4,
  TriggerAnyValue: 0x8000_0000,
} as const;

/** The decoded HV_PORT_INFO. Fields not used by `portType` are absent. */
export type HvPortInfo =
  | { portType: typeof HvPortType.Message | typeof HvPortType.Doorbell; targetSint: number; targetVp: number }
  | {
      portType: typeof HvPortType.Event;
      targetSint: number;
      targetVp: number;
      baseFlagNumber: number;
      flagCount: number;
    }
  | { portType: typeof HvPortType.Monitor; monitorAddress: bigint };

function checkView(view: DataView, offset: number, size: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > view.byteLength) {
    throw new RangeError(`${what} at ${offset} does not fit a ${view.byteLength}-byte view`);
  }
}

/** Writes a 24-byte HV_PORT_INFO, zeroing the bytes the port type does not use. */
export function encodePortInfo(view: DataView, offset: number, info: HvPortInfo): void {
  checkView(view, offset, HvPortInfoLayout.size, 'HV_PORT_INFO');
  new Uint8Array(view.buffer, view.byteOffset + offset, HvPortInfoLayout.size).fill(0);
  view.setUint32(offset + HvPortInfoLayout.portType, info.portType, true);
  if (info.portType === HvPortType.Monitor) {
    view.setBigUint64(
      offset + HvPortInfoLayout.monitorAddress,
      checkUint64('monitorAddress', info.monitorAddress, 0xffff_ffff_ffff_ffffn),
      true,
    );
    return;
  }
  view.setUint32(
    offset + HvPortInfoLayout.targetSint,
    checkUint('targetSint', info.targetSint, 0xffff_ffff),
    true,
  );
  view.setUint32(offset + HvPortInfoLayout.targetVp, checkUint('targetVp', info.targetVp, 0xffff_ffff), true);
  if (info.portType === HvPortType.Event) {
    view.setUint16(
      offset + HvPortInfoLayout.baseFlagNumber,
      checkUint('baseFlagNumber', info.baseFlagNumber, 0xffff),
      true,
    );
    view.setUint16(offset + HvPortInfoLayout.flagCount, checkUint('flagCount', info.flagCount, 0xffff), true);
  }
}

/**
 * Reads an HV_PORT_INFO as the caller wrote it. No field is trusted: an unknown port type comes
 * back as `{ portType }` only, and `reservedBitsSet` reports non-zero RsvdZ bytes of the used member.
 * Range rules (SINT 1..15, flags within 2048) are the hypervisor's to apply with the right status.
 */
export function decodePortInfo(
  view: DataView,
  offset: number,
): { info: HvPortInfo | { portType: number }; reservedBitsSet: boolean } {
  checkView(view, offset, HvPortInfoLayout.size, 'HV_PORT_INFO');
  const portType = view.getUint32(offset + HvPortInfoLayout.portType, true);
  const padding = view.getUint32(offset + HvPortInfoLayout.reserved, true);
  const sint = view.getUint32(offset + HvPortInfoLayout.targetSint, true);
  const vp = view.getUint32(offset + HvPortInfoLayout.targetVp, true);
  switch (portType) {
    case HvPortType.Message:
    case HvPortType.Doorbell:
      return {
        info: { portType, targetSint: sint, targetVp: vp },
        reservedBitsSet: padding !== 0 || view.getBigUint64(offset + 16, true) !== 0n,
      };
    case HvPortType.Event:
      return {
        info: {
          portType,
          targetSint: sint,
          targetVp: vp,
          baseFlagNumber: view.getUint16(offset + HvPortInfoLayout.baseFlagNumber, true),
          flagCount: view.getUint16(offset + HvPortInfoLayout.flagCount, true),
        },
        reservedBitsSet: padding !== 0 || view.getUint32(offset + 20, true) !== 0,
      };
    case HvPortType.Monitor:
      return {
        info: { portType, monitorAddress: view.getBigUint64(offset + HvPortInfoLayout.monitorAddress, true) },
        reservedBitsSet: padding !== 0 || view.getBigUint64(offset + 16, true) !== 0n,
      };
    default:
      return { info: { portType }, reservedBitsSet: padding !== 0 };
  }
}

/**
 * Monitor page (4096 bytes), written by the guest, polled by the hypervisor: every Pending bit of
 * an enabled group becomes an internal SignalEvent on that slot's connection.
 */
export const HvMonitorPageLayout = {
  /** u32: bits 3:0 GroupEnable (one per trigger group), bit 4 MonitorDisabled. */
  triggerState: 0,
  /** 4 x { Pending u32, Armed u32 }. */
  triggerGroups: 8,
  triggerGroupSize: 8,
  triggerGroupPending: 0,
  triggerGroupArmed: 4,
  /** i32[4][32] next check times (hypervisor-private). */
  nextCheckTime: 64,
  /** u16[4][32] latency hints in 100 ns units. */
  latency: 576,
  /** 4 x 32 x { ConnectionId u32, FlagNumber u16, RsvdZ u16 }. */
  parameters: 1088,
  parameterSize: 8,
  parameterConnectionId: 0,
  parameterFlagNumber: 4,
  size: 4096,
} as const;

export const HV_MONITOR_TRIGGER_GROUPS = 4;
export const HV_MONITOR_SLOTS_PER_GROUP = 32;
/** TriggerState bits. */
export const HvMonitorTriggerState = { GroupEnableMask: 0x0f, MonitorDisabled: 0x10 } as const;

/** Byte offset of the Pending word of trigger group `group` (0..3). */
export function monitorPendingOffset(group: number): number {
  return (
    HvMonitorPageLayout.triggerGroups +
    checkUint('group', group, HV_MONITOR_TRIGGER_GROUPS - 1) * HvMonitorPageLayout.triggerGroupSize +
    HvMonitorPageLayout.triggerGroupPending
  );
}

/** Byte offset of the Armed word of trigger group `group` (0..3). */
export function monitorArmedOffset(group: number): number {
  return monitorPendingOffset(group) + HvMonitorPageLayout.triggerGroupArmed;
}

/** Byte offset of the latency hint of slot (group, slot). */
export function monitorLatencyOffset(group: number, slot: number): number {
  const g = checkUint('group', group, HV_MONITOR_TRIGGER_GROUPS - 1);
  const s = checkUint('slot', slot, HV_MONITOR_SLOTS_PER_GROUP - 1);
  return HvMonitorPageLayout.latency + (g * HV_MONITOR_SLOTS_PER_GROUP + s) * 2;
}

/** Byte offset of the parameter (ConnectionId, FlagNumber) of slot (group, slot). */
export function monitorParameterOffset(group: number, slot: number): number {
  const g = checkUint('group', group, HV_MONITOR_TRIGGER_GROUPS - 1);
  const s = checkUint('slot', slot, HV_MONITOR_SLOTS_PER_GROUP - 1);
  return (
    HvMonitorPageLayout.parameters + (g * HV_MONITOR_SLOTS_PER_GROUP + s) * HvMonitorPageLayout.parameterSize
  );
}
