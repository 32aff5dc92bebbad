// Channel-management messages (spec vmbus.md 3.1, 3.3): types, layouts, encoders and decoders. Every
// message starts with an 8-byte header {type u32, padding u32} and fits one 240-byte SynIC payload.
import { availableBytes, decoded, invalidField, oversized, truncated, type VmbusDecoded } from './errors.js';
import type { GuidString } from './guid.js';
import { defineLayout, type FieldsOf, type FieldTable, type Layout } from './layout.js';
import { VmbusVersion } from './version.js';

export const VmbusChannelMessageType = {
  Invalid: 0,
  OfferChannel: 1,
  RescindChannelOffer: 2,
  RequestOffers: 3,
  AllOffersDelivered: 4,
  OpenChannel: 5,
  OpenChannelResult: 6,
  CloseChannel: 7,
  GpadlHeader: 8,
  GpadlBody: 9,
  GpadlCreated: 10,
  GpadlTeardown: 11,
  GpadlTorndown: 12,
  RelidReleased: 13,
  InitiateContact: 14,
  VersionResponse: 15,
  Unload: 16,
  UnloadResponse: 17,
  OpenReservedChannel: 18,
  CloseReservedChannel: 19,
  CloseReservedResponse: 20,
  TlConnectRequest: 21,
  ModifyChannel: 22,
  TlConnectResult: 23,
  ModifyChannelResponse: 24,
  ModifyConnection: 25,
  ModifyConnectionResponse: 26,
  Pause: 27,
  PauseResponse: 28,
  Resume: 29,
} as const;
/** Open: a peer may send any u32. */
export type VmbusChannelMessageType = number;

export type VmbusChannelMessageName = Exclude<keyof typeof VmbusChannelMessageType, 'Invalid'>;

/** Who sends a message: guest to host or host to guest. */
export type VmbusMessageDirection = 'guestToHost' | 'hostToGuest';

export interface VmbusChannelMessageInfo {
  readonly name: VmbusChannelMessageName;
  readonly direction: VmbusMessageDirection;
  /** Lowest protocol version in which the message may be sent (0: any, including before contact). */
  readonly minVersion: number;
  /** 6.0 feature flag that must also be negotiated, if any. */
  readonly feature?: number;
}

const G2H = 'guestToHost';
const H2G = 'hostToGuest';

/** Direction and minimum version of every message type (openvmm's table). */
export const VMBUS_CHANNEL_MESSAGES: ReadonlyMap<number, VmbusChannelMessageInfo> = new Map<
  number,
  VmbusChannelMessageInfo
>([
  [1, { name: 'OfferChannel', direction: H2G, minVersion: VmbusVersion.Ws2008 }],
  [2, { name: 'RescindChannelOffer', direction: H2G, minVersion: VmbusVersion.Ws2008 }],
  [3, { name: 'RequestOffers', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [4, { name: 'AllOffersDelivered', direction: H2G, minVersion: VmbusVersion.Ws2008 }],
  [5, { name: 'OpenChannel', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [6, { name: 'OpenChannelResult', direction: H2G, minVersion: VmbusVersion.Ws2008 }],
  [7, { name: 'CloseChannel', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [8, { name: 'GpadlHeader', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [9, { name: 'GpadlBody', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [10, { name: 'GpadlCreated', direction: H2G, minVersion: VmbusVersion.Ws2008 }],
  [11, { name: 'GpadlTeardown', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [12, { name: 'GpadlTorndown', direction: H2G, minVersion: VmbusVersion.Ws2008 }],
  [13, { name: 'RelidReleased', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [14, { name: 'InitiateContact', direction: G2H, minVersion: 0 }],
  [15, { name: 'VersionResponse', direction: H2G, minVersion: 0 }],
  [16, { name: 'Unload', direction: G2H, minVersion: VmbusVersion.Ws2008 }],
  [17, { name: 'UnloadResponse', direction: H2G, minVersion: VmbusVersion.Win7 }],
  [18, { name: 'OpenReservedChannel', direction: G2H, minVersion: VmbusVersion.Win10 }],
  [19, { name: 'CloseReservedChannel', direction: G2H, minVersion: VmbusVersion.Win10 }],
  [20, { name: 'CloseReservedResponse', direction: H2G, minVersion: VmbusVersion.Win10 }],
  [21, { name: 'TlConnectRequest', direction: G2H, minVersion: VmbusVersion.Win10 }],
  [22, { name: 'ModifyChannel', direction: G2H, minVersion: VmbusVersion.Win10V4_1 }],
  [23, { name: 'TlConnectResult', direction: H2G, minVersion: VmbusVersion.Win10V4_1 }],
  [24, { name: 'ModifyChannelResponse', direction: H2G, minVersion: VmbusVersion.Win10V5_3 }],
  [25, { name: 'ModifyConnection', direction: G2H, minVersion: VmbusVersion.Win10V6_0, feature: 0x4 }],
  [
    26,
    { name: 'ModifyConnectionResponse', direction: H2G, minVersion: VmbusVersion.Win10V6_0, feature: 0x4 },
  ],
  [27, { name: 'Pause', direction: G2H, minVersion: VmbusVersion.Win10V6_0, feature: 0x20 }],
  [28, { name: 'PauseResponse', direction: H2G, minVersion: VmbusVersion.Win10V6_0, feature: 0x20 }],
  [29, { name: 'Resume', direction: G2H, minVersion: VmbusVersion.Win10V6_0, feature: 0x20 }],
]);

/** Largest channel message: one SynIC message payload. */
export const VMBUS_MESSAGE_MAX_SIZE = 240;

/** The header every channel message starts with. */
export const ChannelMessageHeader = {
  messageType: 0,
  padding: 4,
  size: 8,
} as const;

/** Relid 0 is never a channel; Linux uses all-ones as "no relid". */
export const VMBUS_RELID_RESERVED = 0;
export const VMBUS_INVALID_RELID = 0xffff_ffff;

/** OPENCHANNEL.target_vp value that disables host-to-guest interrupts (openvmm). */
export const VMBUS_VP_INDEX_DISABLE_INTERRUPT = 0xffff_ffff;

/** VERSION_RESPONSE / MODIFY_CONNECTION_RESPONSE connection_state. */
export const VmbusConnectionState = {
  Successful: 0,
  FailedLowResources: 1,
  FailedUnknownFailure: 2,
} as const;
export type VmbusConnectionState = number;

/** NTSTATUS values carried in channel messages (as unsigned u32). */
export const VmbusMessageStatus = {
  Success: 0x0000_0000,
  /** openvmm's GPADL_CREATED / OPENCHANNEL_RESULT failure. */
  Unsuccessful: 0x8000_ffff,
  /** hv_sock connection refused (TL_CONNECT_RESULT). */
  ConnectionRefused: 0xc000_0236,
} as const;
export type VmbusMessageStatus = number;

/** OpenChannel2 flags (6.0 with channel_interrupt_redirection). */
export const VmbusOpenChannelFlags = {
  RedirectInterrupt: 0x1,
} as const;

// ---- fixed-layout messages ----

type Sizes = { size: number; minSize?: number; sizes?: readonly number[] };

function message<const F extends FieldTable>(
  name: VmbusChannelMessageName,
  fields: F,
  sizes: Sizes,
): Layout<F> {
  return defineLayout(name, fields, {
    ...sizes,
    tag: VmbusChannelMessageType[name],
    maxInput: VMBUS_MESSAGE_MAX_SIZE,
  });
}

const HEADER_ONLY = { size: 8 } as const;

const offerChannel = message(
  'OfferChannel',
  {
    interfaceType: [8, 'guid'],
    interfaceInstance: [24, 'guid'],
    flags: [56, 'u16'],
    mmioMegabytes: [58, 'u16'],
    userDefined: [60, { bytes: 120 }],
    subChannelIndex: [180, 'u16'],
    mmioMegabytesOptional: [182, 'u16'],
    childRelid: [184, 'u32'],
    monitorId: [188, 'u8'],
    monitorAllocated: [189, 'u8'],
    isDedicatedInterrupt: [190, 'u16'],
    connectionId: [192, 'u32'],
  },
  // Before Win7 the offer ended at 190 (no is_dedicated_interrupt / connection_id).
  { size: 196, minSize: 190, sizes: [190, 196] },
);
/** OFFERCHANNEL (1). `size` 196; `sizeWs2008` 190 (no dedicated-interrupt/connection-id fields). */
export const OfferChannel = { ...offerChannel.offsets, reserved: 40, size: 196, sizeWs2008: 190 } as const;
export type OfferChannelFields = FieldsOf<typeof offerChannel.fields>;

const rescindChannelOffer = message('RescindChannelOffer', { childRelid: [8, 'u32'] }, { size: 12 });
export const RescindChannelOffer = { ...rescindChannelOffer.offsets, size: 12 } as const;
export type RescindChannelOfferFields = FieldsOf<typeof rescindChannelOffer.fields>;

const requestOffers = message('RequestOffers', {}, HEADER_ONLY);
const allOffersDelivered = message('AllOffersDelivered', {}, HEADER_ONLY);
const unload = message('Unload', {}, HEADER_ONLY);
const unloadResponse = message('UnloadResponse', {}, HEADER_ONLY);
const pause = message('Pause', {}, HEADER_ONLY);
const pauseResponse = message('PauseResponse', {}, HEADER_ONLY);
const resume = message('Resume', {}, HEADER_ONLY);
/** Size of the header-only messages (REQUESTOFFERS, ALLOFFERS_DELIVERED, UNLOAD, UNLOAD_RESPONSE, PAUSE, PAUSE_RESPONSE, RESUME). */
export const HEADER_ONLY_MESSAGE_SIZE = 8;
export type EmptyMessageFields = Record<string, never>;

const openChannel = message(
  'OpenChannel',
  {
    childRelid: [8, 'u32'],
    openId: [12, 'u32'],
    ringBufferGpadl: [16, 'u32'],
    targetVp: [20, 'u32'],
    downstreamRingBufferPageOffset: [24, 'u32'],
    userData: [28, { bytes: 120 }],
    connectionId: [148, 'u32'],
    eventFlag: [152, 'u16'],
    flags: [154, 'u16'],
  },
  { size: 148, sizes: [148, 156] },
);
/** OPENCHANNEL (5): `size` 148; `size2` 156 (OpenChannel2, 6.0 with signal/redirect features). */
export const OpenChannel = { ...openChannel.offsets, size: 148, size2: 156 } as const;
export type OpenChannelFields = FieldsOf<typeof openChannel.fields>;

const openChannelResult = message(
  'OpenChannelResult',
  { childRelid: [8, 'u32'], openId: [12, 'u32'], status: [16, 'u32'] },
  { size: 20 },
);
export const OpenChannelResult = { ...openChannelResult.offsets, size: 20 } as const;
export type OpenChannelResultFields = FieldsOf<typeof openChannelResult.fields>;

const closeChannel = message('CloseChannel', { childRelid: [8, 'u32'] }, { size: 12 });
export const CloseChannel = { ...closeChannel.offsets, size: 12 } as const;
export type CloseChannelFields = FieldsOf<typeof closeChannel.fields>;

const gpadlCreated = message(
  'GpadlCreated',
  { childRelid: [8, 'u32'], gpadl: [12, 'u32'], creationStatus: [16, 'u32'] },
  { size: 20 },
);
export const GpadlCreated = { ...gpadlCreated.offsets, size: 20 } as const;
export type GpadlCreatedFields = FieldsOf<typeof gpadlCreated.fields>;

const gpadlTeardown = message('GpadlTeardown', { childRelid: [8, 'u32'], gpadl: [12, 'u32'] }, { size: 16 });
export const GpadlTeardown = { ...gpadlTeardown.offsets, size: 16 } as const;
export type GpadlTeardownFields = FieldsOf<typeof gpadlTeardown.fields>;

const gpadlTorndown = message('GpadlTorndown', { gpadl: [8, 'u32'] }, { size: 12 });
export const GpadlTorndown = { ...gpadlTorndown.offsets, size: 12 } as const;
export type GpadlTorndownFields = FieldsOf<typeof gpadlTorndown.fields>;

const relidReleased = message('RelidReleased', { childRelid: [8, 'u32'] }, { size: 12 });
export const RelidReleased = { ...relidReleased.offsets, size: 12 } as const;
export type RelidReleasedFields = FieldsOf<typeof relidReleased.fields>;

const versionResponse = message(
  'VersionResponse',
  {
    versionSupported: [8, 'u8'],
    connectionState: [9, 'u8'],
    /** >= 5.0: the connection id for all later guest-to-host messages; earlier: the selected version. */
    selectedVersionOrConnectionId: [12, 'u32'],
    supportedFeatures: [16, 'u32'],
    parentToChildMonitorPage: [24, 'u64'],
    childToParentMonitorPage: [32, 'u64'],
  },
  { size: 16, sizes: [16, 20, 40] },
);
/**
 * VERSION_RESPONSE (15): `size` 16; `size2` 20 (6.0: supported_features); `size3` 40 (6.0 with
 * server-specified monitor pages). A shorter response decodes the missing fields as zero.
 */
export const VersionResponse = {
  ...versionResponse.offsets,
  padding: 10,
  size: 16,
  size2: 20,
  size3: 40,
} as const;
export type VersionResponseFields = FieldsOf<typeof versionResponse.fields>;

const openReservedChannel = message(
  'OpenReservedChannel',
  {
    childRelid: [8, 'u32'],
    targetVp: [12, 'u32'],
    targetSint: [16, 'u32'],
    ringBufferGpadl: [20, 'u32'],
    downstreamPageOffset: [24, 'u32'],
  },
  { size: 28 },
);
export const OpenReservedChannel = { ...openReservedChannel.offsets, size: 28 } as const;
export type OpenReservedChannelFields = FieldsOf<typeof openReservedChannel.fields>;

const closeReservedChannel = message(
  'CloseReservedChannel',
  { childRelid: [8, 'u32'], targetVp: [12, 'u32'], targetSint: [16, 'u32'] },
  { size: 20 },
);
export const CloseReservedChannel = { ...closeReservedChannel.offsets, size: 20 } as const;
export type CloseReservedChannelFields = FieldsOf<typeof closeReservedChannel.fields>;

const closeReservedResponse = message('CloseReservedResponse', { childRelid: [8, 'u32'] }, { size: 12 });
export const CloseReservedResponse = { ...closeReservedResponse.offsets, size: 12 } as const;
export type CloseReservedResponseFields = FieldsOf<typeof closeReservedResponse.fields>;

const tlConnectRequest = message(
  'TlConnectRequest',
  { endpointId: [8, 'guid'], serviceId: [24, 'guid'], siloId: [40, 'guid'] },
  { size: 40, sizes: [40, 56] },
);
/** TL_CONNECT_REQUEST (21): `size` 40; `size2` 56 (5.2+, with silo id). */
export const TlConnectRequest = { ...tlConnectRequest.offsets, size: 40, size2: 56 } as const;
export type TlConnectRequestFields = FieldsOf<typeof tlConnectRequest.fields>;

const modifyChannel = message(
  'ModifyChannel',
  { childRelid: [8, 'u32'], targetVp: [12, 'u32'] },
  { size: 16 },
);
export const ModifyChannel = { ...modifyChannel.offsets, size: 16 } as const;
export type ModifyChannelFields = FieldsOf<typeof modifyChannel.fields>;

const tlConnectResult = message(
  'TlConnectResult',
  { endpointId: [8, 'guid'], serviceId: [24, 'guid'], status: [40, 'u32'] },
  { size: 44 },
);
export const TlConnectResult = { ...tlConnectResult.offsets, size: 44 } as const;
export type TlConnectResultFields = FieldsOf<typeof tlConnectResult.fields>;

const modifyChannelResponse = message(
  'ModifyChannelResponse',
  { childRelid: [8, 'u32'], status: [12, 'u32'] },
  { size: 16 },
);
export const ModifyChannelResponse = { ...modifyChannelResponse.offsets, size: 16 } as const;
export type ModifyChannelResponseFields = FieldsOf<typeof modifyChannelResponse.fields>;

const modifyConnection = message(
  'ModifyConnection',
  { parentToChildMonitorPage: [8, 'u64'], childToParentMonitorPage: [16, 'u64'] },
  { size: 24 },
);
export const ModifyConnection = { ...modifyConnection.offsets, size: 24 } as const;
export type ModifyConnectionFields = FieldsOf<typeof modifyConnection.fields>;

const modifyConnectionResponse = message(
  'ModifyConnectionResponse',
  { connectionState: [8, 'u8'] },
  { size: 9 },
);
export const ModifyConnectionResponse = { ...modifyConnectionResponse.offsets, size: 9 } as const;
export type ModifyConnectionResponseFields = FieldsOf<typeof modifyConnectionResponse.fields>;

// ---- INITIATE_CONTACT: bytes 16..23 change meaning at 5.0 ----

/** INITIATE_CONTACT (14): `size` 40; `size2` 56 (6.0 with client id). */
export const InitiateContact = {
  versionRequested: 8,
  targetVcpu: 12,
  /** < 5.0: u64 interrupt page GPA. */
  interruptPage: 16,
  /** >= 5.0: u8 SINT for host-to-guest messages. */
  messageSint: 16,
  /** >= 5.0: u8 VTL. */
  messageVtl: 17,
  /** 6.0: u32 feature flags. */
  featureFlags: 20,
  parentToChildMonitorPage: 24,
  childToParentMonitorPage: 32,
  clientId: 40,
  size: 40,
  size2: 56,
} as const;

export interface InitiateContactFields {
  versionRequested: number;
  targetVcpu: number;
  /** Used when versionRequested < 5.0 (decoded as 0n otherwise). */
  interruptPage: bigint;
  /** Used when versionRequested >= 5.0 (decoded as 0 otherwise). */
  messageSint: number;
  messageVtl: number;
  featureFlags: number;
  parentToChildMonitorPage: bigint;
  childToParentMonitorPage: bigint;
  /** Meaningful only in the 56-byte form; otherwise the nil GUID. */
  clientId: GuidString;
}

const initiateContactCommon = message(
  'InitiateContact',
  {
    versionRequested: [8, 'u32'],
    targetVcpu: [12, 'u32'],
    parentToChildMonitorPage: [24, 'u64'],
    childToParentMonitorPage: [32, 'u64'],
    clientId: [40, 'guid'],
  },
  { size: 40, sizes: [40, 56] },
);

export function encodeInitiateContact(
  view: DataView,
  offset: number,
  fields: InitiateContactFields,
  size: number = InitiateContact.size,
): number {
  const n = initiateContactCommon.encode(view, offset, fields, size);
  if (fields.versionRequested >= VmbusVersion.Win10V5) {
    view.setUint8(offset + InitiateContact.messageSint, fields.messageSint);
    view.setUint8(offset + InitiateContact.messageVtl, fields.messageVtl);
    view.setUint32(offset + InitiateContact.featureFlags, fields.featureFlags, true);
  } else {
    view.setBigUint64(offset + InitiateContact.interruptPage, fields.interruptPage, true);
  }
  return n;
}

export function decodeInitiateContact(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<InitiateContactFields> {
  const common = initiateContactCommon.decode(view, offset, length);
  if (!common.ok) return common;
  const c = common.value;
  const modern = c.versionRequested >= VmbusVersion.Win10V5;
  return decoded({
    versionRequested: c.versionRequested,
    targetVcpu: c.targetVcpu,
    interruptPage: modern ? 0n : view.getBigUint64(offset + InitiateContact.interruptPage, true),
    messageSint: modern ? view.getUint8(offset + InitiateContact.messageSint) : 0,
    messageVtl: modern ? view.getUint8(offset + InitiateContact.messageVtl) : 0,
    featureFlags: modern ? view.getUint32(offset + InitiateContact.featureFlags, true) : 0,
    parentToChildMonitorPage: c.parentToChildMonitorPage,
    childToParentMonitorPage: c.childToParentMonitorPage,
    clientId: c.clientId,
  });
}

// ---- GPADL_HEADER / GPADL_BODY: variable length ----

/** GPADL_HEADER (8), packed. The range buffer starts at `ranges` and continues in GPADL_BODY messages. */
export const GpadlHeader = {
  childRelid: 8,
  gpadl: 12,
  rangeBufferLength: 16,
  rangeCount: 18,
  ranges: 20,
  /** Fixed part before the range data. */
  size: 20,
} as const;

export interface GpadlHeaderFields {
  childRelid: number;
  gpadl: number;
  /** Total bytes of all gpa_range records (8 + 8 * pfnCount each), across header and bodies. */
  rangeBufferLength: number;
  rangeCount: number;
  /** The part of the range buffer this message carries (a multiple of 8 bytes). */
  data: Uint8Array;
}

/** GPADL_BODY (9): continues the range buffer of the GPADL named by `gpadl`. */
export const GpadlBody = {
  messageNumber: 8,
  gpadl: 12,
  pfns: 16,
  /** Fixed part before the data. */
  size: 16,
} as const;

export interface GpadlBodyFields {
  /** Linux leaves 0; openvmm calls it reserved. */
  messageNumber: number;
  gpadl: number;
  /** The next part of the range buffer (a multiple of 8 bytes). */
  data: Uint8Array;
}

function encodeVariable(
  name: string,
  view: DataView,
  offset: number,
  fixed: number,
  type: number,
  data: Uint8Array,
): number {
  const size = fixed + data.length;
  if (data.length % 8 !== 0) throw new RangeError(`${name}: data must be a multiple of 8 bytes`);
  if (size > VMBUS_MESSAGE_MAX_SIZE)
    throw new RangeError(`${name}: ${size} bytes exceeds ${VMBUS_MESSAGE_MAX_SIZE}`);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, size);
  bytes.fill(0, 0, fixed);
  bytes.set(data, fixed);
  view.setUint32(offset, type, true);
  return size;
}

export function encodeGpadlHeader(view: DataView, offset: number, fields: GpadlHeaderFields): number {
  const n = encodeVariable(
    'GpadlHeader',
    view,
    offset,
    GpadlHeader.size,
    VmbusChannelMessageType.GpadlHeader,
    fields.data,
  );
  view.setUint32(offset + GpadlHeader.childRelid, fields.childRelid, true);
  view.setUint32(offset + GpadlHeader.gpadl, fields.gpadl, true);
  view.setUint16(offset + GpadlHeader.rangeBufferLength, fields.rangeBufferLength, true);
  view.setUint16(offset + GpadlHeader.rangeCount, fields.rangeCount, true);
  return n;
}

export function encodeGpadlBody(view: DataView, offset: number, fields: GpadlBodyFields): number {
  const n = encodeVariable(
    'GpadlBody',
    view,
    offset,
    GpadlBody.size,
    VmbusChannelMessageType.GpadlBody,
    fields.data,
  );
  view.setUint32(offset + GpadlBody.messageNumber, fields.messageNumber, true);
  view.setUint32(offset + GpadlBody.gpadl, fields.gpadl, true);
  return n;
}

function checkVariable<T>(
  name: string,
  view: DataView,
  offset: number,
  length: number,
  fixed: number,
  type: number,
): VmbusDecoded<T> | number {
  if (length > VMBUS_MESSAGE_MAX_SIZE) return oversized(name, VMBUS_MESSAGE_MAX_SIZE, length);
  const avail = availableBytes(view, offset, length);
  if (avail < fixed) return truncated(name, fixed, Math.max(avail, 0));
  const got = view.getUint32(offset, true);
  if (got !== type) return invalidField(name, 'messageType', `expected ${type}, got ${got}`);
  return avail;
}

/**
 * Decode a GPADL_HEADER. The range buffer length must be a whole number of u64s and leave room for
 * `rangeCount` range headers; data past `rangeBufferLength` or a trailing partial u64 is rejected.
 */
export function decodeGpadlHeader(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<GpadlHeaderFields> {
  const name = 'GpadlHeader';
  const avail = checkVariable<GpadlHeaderFields>(
    name,
    view,
    offset,
    length,
    GpadlHeader.size,
    VmbusChannelMessageType.GpadlHeader,
  );
  if (typeof avail !== 'number') return avail;
  const rangeBufferLength = view.getUint16(offset + GpadlHeader.rangeBufferLength, true);
  const rangeCount = view.getUint16(offset + GpadlHeader.rangeCount, true);
  const dataLength = avail - GpadlHeader.size;
  if (rangeCount === 0) return invalidField(name, 'rangeCount', 'must be at least 1');
  if (rangeBufferLength % 8 !== 0) return invalidField(name, 'rangeBufferLength', 'not a multiple of 8');
  if (rangeBufferLength < 8 * rangeCount)
    return invalidField(name, 'rangeBufferLength', 'too small for rangeCount ranges');
  if (dataLength % 8 !== 0) return invalidField(name, 'data', 'not a multiple of 8 bytes');
  if (dataLength > rangeBufferLength) return invalidField(name, 'data', 'longer than rangeBufferLength');
  return decoded({
    childRelid: view.getUint32(offset + GpadlHeader.childRelid, true),
    gpadl: view.getUint32(offset + GpadlHeader.gpadl, true),
    rangeBufferLength,
    rangeCount,
    data: new Uint8Array(view.buffer, view.byteOffset + offset + GpadlHeader.size, dataLength).slice(),
  });
}

export function decodeGpadlBody(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<GpadlBodyFields> {
  const name = 'GpadlBody';
  const avail = checkVariable<GpadlBodyFields>(
    name,
    view,
    offset,
    length,
    GpadlBody.size,
    VmbusChannelMessageType.GpadlBody,
  );
  if (typeof avail !== 'number') return avail;
  const dataLength = avail - GpadlBody.size;
  if (dataLength % 8 !== 0) return invalidField(name, 'data', 'not a multiple of 8 bytes');
  return decoded({
    messageNumber: view.getUint32(offset + GpadlBody.messageNumber, true),
    gpadl: view.getUint32(offset + GpadlBody.gpadl, true),
    data: new Uint8Array(view.buffer, view.byteOffset + offset + GpadlBody.size, dataLength).slice(),
  });
}

// ---- per-message encoders / decoders ----

type Enc<T> = (view: DataView, offset: number, fields: T, size?: number) => number;
type Dec<T> = (view: DataView, offset: number, length: number) => VmbusDecoded<T>;

function enc<F extends FieldTable>(l: Layout<F>): Enc<FieldsOf<F>> {
  return (view, offset, fields, size) => l.encode(view, offset, fields, size);
}
function dec<F extends FieldTable>(l: Layout<F>): Dec<FieldsOf<F>> {
  return (view, offset, length) => l.decode(view, offset, length);
}

/** Encoders write the whole message (header included) at `offset` and return its size. */
export const encodeOfferChannel = enc(offerChannel);
export const decodeOfferChannel = dec(offerChannel);
export const encodeRescindChannelOffer = enc(rescindChannelOffer);
export const decodeRescindChannelOffer = dec(rescindChannelOffer);
export const encodeRequestOffers = enc(requestOffers);
export const decodeRequestOffers = dec(requestOffers);
export const encodeAllOffersDelivered = enc(allOffersDelivered);
export const decodeAllOffersDelivered = dec(allOffersDelivered);
export const encodeOpenChannel = enc(openChannel);
export const decodeOpenChannel = dec(openChannel);
export const encodeOpenChannelResult = enc(openChannelResult);
export const decodeOpenChannelResult = dec(openChannelResult);
export const encodeCloseChannel = enc(closeChannel);
export const decodeCloseChannel = dec(closeChannel);
export const encodeGpadlCreated = enc(gpadlCreated);
export const decodeGpadlCreated = dec(gpadlCreated);
export const encodeGpadlTeardown = enc(gpadlTeardown);
export const decodeGpadlTeardown = dec(gpadlTeardown);
export const encodeGpadlTorndown = enc(gpadlTorndown);
export const decodeGpadlTorndown = dec(gpadlTorndown);
export const encodeRelidReleased = enc(relidReleased);
export const decodeRelidReleased = dec(relidReleased);
export const encodeVersionResponse = enc(versionResponse);
export const decodeVersionResponse = dec(versionResponse);
export const encodeUnload = enc(unload);
export const decodeUnload = dec(unload);
export const encodeUnloadResponse = enc(unloadResponse);
export const decodeUnloadResponse = dec(unloadResponse);
export const encodeOpenReservedChannel = enc(openReservedChannel);
export const decodeOpenReservedChannel = dec(openReservedChannel);
export const encodeCloseReservedChannel = enc(closeReservedChannel);
export const decodeCloseReservedChannel = dec(closeReservedChannel);
export const encodeCloseReservedResponse = enc(closeReservedResponse);
export const decodeCloseReservedResponse = dec(closeReservedResponse);
export const encodeTlConnectRequest = enc(tlConnectRequest);
export const decodeTlConnectRequest = dec(tlConnectRequest);
export const encodeModifyChannel = enc(modifyChannel);
export const decodeModifyChannel = dec(modifyChannel);
export const encodeTlConnectResult = enc(tlConnectResult);
export const decodeTlConnectResult = dec(tlConnectResult);
export const encodeModifyChannelResponse = enc(modifyChannelResponse);
export const decodeModifyChannelResponse = dec(modifyChannelResponse);
export const encodeModifyConnection = enc(modifyConnection);
export const decodeModifyConnection = dec(modifyConnection);
export const encodeModifyConnectionResponse = enc(modifyConnectionResponse);
export const decodeModifyConnectionResponse = dec(modifyConnectionResponse);
export const encodePause = enc(pause);
export const decodePause = dec(pause);
export const encodePauseResponse = enc(pauseResponse);
export const decodePauseResponse = dec(pauseResponse);
export const encodeResume = enc(resume);
export const decodeResume = dec(resume);

// ---- the discriminated union ----

/** Field types of each known message, by name. */
export interface VmbusChannelMessageFieldMap {
  OfferChannel: OfferChannelFields;
  RescindChannelOffer: RescindChannelOfferFields;
  RequestOffers: EmptyMessageFields;
  AllOffersDelivered: EmptyMessageFields;
  OpenChannel: OpenChannelFields;
  OpenChannelResult: OpenChannelResultFields;
  CloseChannel: CloseChannelFields;
  GpadlHeader: GpadlHeaderFields;
  GpadlBody: GpadlBodyFields;
  GpadlCreated: GpadlCreatedFields;
  GpadlTeardown: GpadlTeardownFields;
  GpadlTorndown: GpadlTorndownFields;
  RelidReleased: RelidReleasedFields;
  InitiateContact: InitiateContactFields;
  VersionResponse: VersionResponseFields;
  Unload: EmptyMessageFields;
  UnloadResponse: EmptyMessageFields;
  OpenReservedChannel: OpenReservedChannelFields;
  CloseReservedChannel: CloseReservedChannelFields;
  CloseReservedResponse: CloseReservedResponseFields;
  TlConnectRequest: TlConnectRequestFields;
  ModifyChannel: ModifyChannelFields;
  TlConnectResult: TlConnectResultFields;
  ModifyChannelResponse: ModifyChannelResponseFields;
  ModifyConnection: ModifyConnectionFields;
  ModifyConnectionResponse: ModifyConnectionResponseFields;
  Pause: EmptyMessageFields;
  PauseResponse: EmptyMessageFields;
  Resume: EmptyMessageFields;
}

export type KnownVmbusChannelMessage = {
  [K in VmbusChannelMessageName]: { readonly kind: K; readonly fields: VmbusChannelMessageFieldMap[K] };
}[VmbusChannelMessageName];

/** A message whose type has no layout here (including INVALID, 0): kept whole so it can be answered. */
export interface UnknownVmbusChannelMessage {
  readonly kind: 'Unknown';
  readonly messageType: number;
  /** The whole message, header included. */
  readonly bytes: Uint8Array;
}

export type VmbusChannelMessage = KnownVmbusChannelMessage | UnknownVmbusChannelMessage;

interface Codec<T> {
  readonly encode: Enc<T>;
  readonly decode: Dec<T>;
}

const CODECS: { readonly [K in VmbusChannelMessageName]: Codec<VmbusChannelMessageFieldMap[K]> } = {
  OfferChannel: { encode: encodeOfferChannel, decode: decodeOfferChannel },
  RescindChannelOffer: { encode: encodeRescindChannelOffer, decode: decodeRescindChannelOffer },
  RequestOffers: { encode: encodeRequestOffers, decode: decodeRequestOffers },
  AllOffersDelivered: { encode: encodeAllOffersDelivered, decode: decodeAllOffersDelivered },
  OpenChannel: { encode: encodeOpenChannel, decode: decodeOpenChannel },
  OpenChannelResult: { encode: encodeOpenChannelResult, decode: decodeOpenChannelResult },
  CloseChannel: { encode: encodeCloseChannel, decode: decodeCloseChannel },
  GpadlHeader: { encode: encodeGpadlHeader, decode: decodeGpadlHeader },
  GpadlBody: { encode: encodeGpadlBody, decode: decodeGpadlBody },
  GpadlCreated: { encode: encodeGpadlCreated, decode: decodeGpadlCreated },
  GpadlTeardown: { encode: encodeGpadlTeardown, decode: decodeGpadlTeardown },
  GpadlTorndown: { encode: encodeGpadlTorndown, decode: decodeGpadlTorndown },
  RelidReleased: { encode: encodeRelidReleased, decode: decodeRelidReleased },
  InitiateContact: { encode: encodeInitiateContact, decode: decodeInitiateContact },
  VersionResponse: { encode: encodeVersionResponse, decode: decodeVersionResponse },
  Unload: { encode: encodeUnload, decode: decodeUnload },
  UnloadResponse: { encode: encodeUnloadResponse, decode: decodeUnloadResponse },
  OpenReservedChannel: { encode: encodeOpenReservedChannel, decode: decodeOpenReservedChannel },
  CloseReservedChannel: { encode: encodeCloseReservedChannel, decode: decodeCloseReservedChannel },
  CloseReservedResponse: { encode: encodeCloseReservedResponse, decode: decodeCloseReservedResponse },
  TlConnectRequest: { encode: encodeTlConnectRequest, decode: decodeTlConnectRequest },
  ModifyChannel: { encode: encodeModifyChannel, decode: decodeModifyChannel },
  TlConnectResult: { encode: encodeTlConnectResult, decode: decodeTlConnectResult },
  ModifyChannelResponse: { encode: encodeModifyChannelResponse, decode: decodeModifyChannelResponse },
  ModifyConnection: { encode: encodeModifyConnection, decode: decodeModifyConnection },
  ModifyConnectionResponse: {
    encode: encodeModifyConnectionResponse,
    decode: decodeModifyConnectionResponse,
  },
  Pause: { encode: encodePause, decode: decodePause },
  PauseResponse: { encode: encodePauseResponse, decode: decodePauseResponse },
  Resume: { encode: encodeResume, decode: decodeResume },
};

/** Name of a known message type, or undefined. */
export function vmbusChannelMessageName(type: number): VmbusChannelMessageName | undefined {
  return VMBUS_CHANNEL_MESSAGES.get(type)?.name;
}

/**
 * Decode one channel message (a SynIC payload) by its type header. Unknown types come back as
 * `kind: 'Unknown'`; a known type that is truncated, oversized or malformed is an error result.
 */
export function decodeChannelMessage(bytes: Uint8Array): VmbusDecoded<VmbusChannelMessage> {
  if (bytes.length > VMBUS_MESSAGE_MAX_SIZE)
    return oversized('ChannelMessage', VMBUS_MESSAGE_MAX_SIZE, bytes.length);
  if (bytes.length < ChannelMessageHeader.size)
    return truncated('ChannelMessage', ChannelMessageHeader.size, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const messageType = view.getUint32(ChannelMessageHeader.messageType, true);
  const name = vmbusChannelMessageName(messageType);
  if (name === undefined) return decoded({ kind: 'Unknown', messageType, bytes: bytes.slice() });
  const r = (CODECS[name] as Codec<unknown>).decode(view, 0, bytes.length);
  if (!r.ok) return r;
  return decoded({ kind: name, fields: r.value } as KnownVmbusChannelMessage);
}

/**
 * Encode a message into a new buffer of exactly its size. `size` picks a variant for layouts that
 * have several (e.g. `OpenChannel.size2`); by default the base size is written.
 */
export function encodeChannelMessage(message: VmbusChannelMessage, size?: number): Uint8Array {
  if (message.kind === 'Unknown') return message.bytes.slice();
  const buf = new Uint8Array(VMBUS_MESSAGE_MAX_SIZE);
  const view = new DataView(buf.buffer);
  const n = (CODECS[message.kind] as Codec<unknown>).encode(view, 0, message.fields, size);
  return buf.slice(0, n);
}
