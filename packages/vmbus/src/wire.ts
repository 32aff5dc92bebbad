// Channel-management messages as this package handles them: plain objects in, exact bytes out.
// The byte layouts and their validation are @viridian/hvdef's (decodeChannelMessage and the
// per-message encoders); this module only maps hvdef's decoded fields to the objects the client
// and server cores work with. Decoding treats every byte as hostile: a short, oversized or
// inconsistent message is refused, never read past its end.

import {
  decodeChannelMessage,
  encodeChannelMessage,
  formatGuid,
  GpadlHeader,
  VmbusVersion as HvdefVmbusVersion,
  type KnownVmbusChannelMessage,
  NIL_GUID,
  parseGuid,
  VMBUS_MESSAGE_MAX_SIZE,
  VMBUS_USER_DEFINED_SIZE,
  VmbusChannelMessageType,
  VmbusConnectionState,
  VmbusMessageStatus,
} from '@viridian/hvdef';
import { VmbusError, VmbusErrorCode } from './errors.js';

/** Channel message types (spec 3.1). Open: unknown numbers stay representable. */
export const MessageType = VmbusChannelMessageType;
export type MessageType = number;

/** VMBus protocol versions, `(major << 16) | minor` (spec 3.2). */
export const VmbusVersion = HvdefVmbusVersion;
export type VmbusVersion = number;

/** `INITIATE_CONTACT` goes to connection id 4 from 5.0, else 1; later messages use the id the host names. */
export const MESSAGE_CONNECTION_ID = 1;
export const MESSAGE_CONNECTION_ID_4 = 4;
/** Largest channel message: one SynIC message payload. */
export const MAX_MESSAGE_SIZE = VMBUS_MESSAGE_MAX_SIZE;

export const ConnectionState = VmbusConnectionState;

/** Status words carried by OPENCHANNEL_RESULT and GPADL_CREATED. openvmm answers failures with 0x8000FFFF. */
export const ChannelStatus = {
  Success: VmbusMessageStatus.Success,
  Unsuccessful: VmbusMessageStatus.Unsuccessful,
} as const;

/** Bytes of an offer's user-defined area and of an open's user data. */
export const USER_DEFINED_SIZE = VMBUS_USER_DEFINED_SIZE;

export interface OfferChannelMessage {
  readonly type: typeof MessageType.OfferChannel;
  readonly interfaceId: Uint8Array;
  readonly instanceId: Uint8Array;
  readonly flags: number;
  readonly mmioMegabytes: number;
  readonly userDefined: Uint8Array;
  readonly subchannelIndex: number;
  readonly relid: number;
  readonly monitorId: number;
  readonly monitorAllocated: boolean;
  readonly isDedicatedInterrupt: boolean;
  readonly connectionId: number;
}
export interface RelidMessage {
  readonly type:
    | typeof MessageType.RescindChannelOffer
    | typeof MessageType.CloseChannel
    | typeof MessageType.RelidReleased;
  readonly relid: number;
}
export interface EmptyMessage {
  readonly type:
    | typeof MessageType.RequestOffers
    | typeof MessageType.AllOffersDelivered
    | typeof MessageType.Unload
    | typeof MessageType.UnloadResponse;
}
export interface OpenChannelMessage {
  readonly type: typeof MessageType.OpenChannel;
  readonly relid: number;
  readonly openId: number;
  readonly gpadl: number;
  readonly targetVp: number;
  readonly downstreamPageOffset: number;
  readonly userData: Uint8Array;
}
export interface OpenResultMessage {
  readonly type: typeof MessageType.OpenChannelResult;
  readonly relid: number;
  readonly openId: number;
  readonly status: number;
}
export interface GpadlHeaderMessage {
  readonly type: typeof MessageType.GpadlHeader;
  readonly relid: number;
  readonly gpadl: number;
  /** Bytes of all gpa_range records (range headers and PFNs). */
  readonly rangeBufLen: number;
  readonly rangeCount: number;
  /** The u64 values this message carries (range headers and PFNs), in order. */
  readonly values: readonly bigint[];
}
export interface GpadlBodyMessage {
  readonly type: typeof MessageType.GpadlBody;
  readonly msgNumber: number;
  readonly gpadl: number;
  readonly values: readonly bigint[];
}
export interface GpadlCreatedMessage {
  readonly type: typeof MessageType.GpadlCreated;
  readonly relid: number;
  readonly gpadl: number;
  readonly status: number;
}
export interface GpadlTeardownMessage {
  readonly type: typeof MessageType.GpadlTeardown;
  readonly relid: number;
  readonly gpadl: number;
}
export interface GpadlTorndownMessage {
  readonly type: typeof MessageType.GpadlTorndown;
  readonly gpadl: number;
}
export interface InitiateContactMessage {
  readonly type: typeof MessageType.InitiateContact;
  readonly version: number;
  readonly targetVcpu: number;
  /** < 5.0: the interrupt page GPA. From 5.0 the same 8 bytes hold sint, vtl and feature flags. */
  readonly interruptPageOrTarget: bigint;
  readonly monitorPage1: bigint;
  readonly monitorPage2: bigint;
}
export interface VersionResponseMessage {
  readonly type: typeof MessageType.VersionResponse;
  readonly supported: boolean;
  readonly connectionState: number;
  /** From 5.0: the connection id for all later guest messages; before: the selected version. */
  readonly connectionIdOrVersion: number;
}
export interface UnknownMessage {
  readonly type: -1;
  readonly rawType: number;
}

export type ChannelMessage =
  | OfferChannelMessage
  | RelidMessage
  | EmptyMessage
  | OpenChannelMessage
  | OpenResultMessage
  | GpadlHeaderMessage
  | GpadlBodyMessage
  | GpadlCreatedMessage
  | GpadlTeardownMessage
  | GpadlTorndownMessage
  | InitiateContactMessage
  | VersionResponseMessage
  | UnknownMessage;

export type DecodeResult =
  | { readonly ok: true; readonly message: ChannelMessage }
  | { readonly ok: false; readonly error: VmbusError };

function malformed(message: string): DecodeResult {
  return { ok: false, error: new VmbusError(VmbusErrorCode.MalformedMessage, message) };
}

function u64s(bytes: Uint8Array): bigint[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  for (let at = 0; at + 8 <= bytes.byteLength; at += 8) out.push(view.getBigUint64(at, true));
  return out;
}

function u64Bytes(values: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setBigUint64(8 * i, v, true);
  });
  return out;
}

/** Bytes 16..23 of INITIATE_CONTACT as one u64: the interrupt page (< 5.0) or SINT, VTL and feature flags. */
function contactTarget(f: Extract<KnownVmbusChannelMessage, { kind: 'InitiateContact' }>['fields']): bigint {
  if (f.versionRequested < VmbusVersion.Win10V5) return f.interruptPage;
  return BigInt(f.messageSint) | (BigInt(f.messageVtl) << 8n) | (BigInt(f.featureFlags >>> 0) << 32n);
}

/**
 * A GPADL_HEADER hvdef refuses for an inconsistent range description (range count, buffer length)
 * still names a relid and a handle the guest waits on: it is handed to the server, whose GPADL
 * checks answer it with GPADL_CREATED and a failure status instead of leaving the guest waiting.
 */
function gpadlHeaderForAnswer(bytes: Uint8Array): DecodeResult | undefined {
  if (bytes.byteLength < GpadlHeader.size || bytes.byteLength > MAX_MESSAGE_SIZE) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== MessageType.GpadlHeader) return undefined;
  return {
    ok: true,
    message: {
      type: MessageType.GpadlHeader,
      relid: v.getUint32(GpadlHeader.childRelid, true),
      gpadl: v.getUint32(GpadlHeader.gpadl, true),
      rangeBufLen: v.getUint16(GpadlHeader.rangeBufferLength, true),
      rangeCount: v.getUint16(GpadlHeader.rangeCount, true),
      values: u64s(bytes.subarray(GpadlHeader.ranges)),
    },
  };
}

/** Decodes one channel message (hvdef's layouts and checks); never reads past `bytes`. */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  const r = decodeChannelMessage(bytes);
  if (!r.ok) return gpadlHeaderForAnswer(bytes) ?? malformed(r.error.message);
  const m = r.value;
  switch (m.kind) {
    case 'OfferChannel': {
      const f = m.fields;
      return {
        ok: true,
        message: {
          type: MessageType.OfferChannel,
          interfaceId: parseGuid(f.interfaceType),
          instanceId: parseGuid(f.interfaceInstance),
          flags: f.flags,
          mmioMegabytes: f.mmioMegabytes,
          userDefined: f.userDefined,
          subchannelIndex: f.subChannelIndex,
          relid: f.childRelid,
          monitorId: f.monitorId,
          monitorAllocated: (f.monitorAllocated & 1) !== 0,
          isDedicatedInterrupt: (f.isDedicatedInterrupt & 1) !== 0,
          connectionId: f.connectionId,
        },
      };
    }
    case 'RescindChannelOffer':
    case 'CloseChannel':
    case 'RelidReleased':
      return { ok: true, message: { type: MessageType[m.kind], relid: m.fields.childRelid } };
    case 'RequestOffers':
    case 'AllOffersDelivered':
    case 'Unload':
    case 'UnloadResponse':
      return { ok: true, message: { type: MessageType[m.kind] } };
    case 'OpenChannel': {
      const f = m.fields;
      return {
        ok: true,
        message: {
          type: MessageType.OpenChannel,
          relid: f.childRelid,
          openId: f.openId,
          gpadl: f.ringBufferGpadl,
          targetVp: f.targetVp,
          downstreamPageOffset: f.downstreamRingBufferPageOffset,
          userData: f.userData,
        },
      };
    }
    case 'OpenChannelResult': {
      const f = m.fields;
      const message = {
        type: MessageType.OpenChannelResult,
        relid: f.childRelid,
        openId: f.openId,
        status: f.status,
      };
      return { ok: true, message };
    }
    case 'GpadlHeader': {
      const f = m.fields;
      const message = {
        type: MessageType.GpadlHeader,
        relid: f.childRelid,
        gpadl: f.gpadl,
        rangeBufLen: f.rangeBufferLength,
        rangeCount: f.rangeCount,
        values: u64s(f.data),
      };
      return { ok: true, message };
    }
    case 'GpadlBody': {
      const f = m.fields;
      const message = {
        type: MessageType.GpadlBody,
        msgNumber: f.messageNumber,
        gpadl: f.gpadl,
        values: u64s(f.data),
      };
      return { ok: true, message };
    }
    case 'GpadlCreated': {
      const f = m.fields;
      const message = {
        type: MessageType.GpadlCreated,
        relid: f.childRelid,
        gpadl: f.gpadl,
        status: f.creationStatus,
      };
      return { ok: true, message };
    }
    case 'GpadlTeardown':
      return {
        ok: true,
        message: { type: MessageType.GpadlTeardown, relid: m.fields.childRelid, gpadl: m.fields.gpadl },
      };
    case 'GpadlTorndown':
      return { ok: true, message: { type: MessageType.GpadlTorndown, gpadl: m.fields.gpadl } };
    case 'InitiateContact': {
      const f = m.fields;
      return {
        ok: true,
        message: {
          type: MessageType.InitiateContact,
          version: f.versionRequested,
          targetVcpu: f.targetVcpu,
          interruptPageOrTarget: contactTarget(f),
          monitorPage1: f.parentToChildMonitorPage,
          monitorPage2: f.childToParentMonitorPage,
        },
      };
    }
    case 'VersionResponse': {
      const f = m.fields;
      return {
        ok: true,
        message: {
          type: MessageType.VersionResponse,
          supported: f.versionSupported !== 0,
          connectionState: f.connectionState,
          connectionIdOrVersion: f.selectedVersionOrConnectionId,
        },
      };
    }
    case 'Unknown':
      return { ok: true, message: { type: -1, rawType: m.messageType } };
    default:
      // A type hvdef knows that this package does not handle.
      return { ok: true, message: { type: -1, rawType: MessageType[m.kind] } };
  }
}

/** Encodes a message this package sends (hvdef's encoders). GUIDs and user data are 16 and 120 bytes. */
export function encodeMessage(m: Exclude<ChannelMessage, UnknownMessage>): Uint8Array {
  return encodeChannelMessage(toHvdef(m));
}

function toHvdef(m: Exclude<ChannelMessage, UnknownMessage>): KnownVmbusChannelMessage {
  switch (m.type) {
    case MessageType.OfferChannel:
      return {
        kind: 'OfferChannel',
        fields: {
          interfaceType: guidString(m.interfaceId),
          interfaceInstance: guidString(m.instanceId),
          flags: m.flags,
          mmioMegabytes: m.mmioMegabytes,
          userDefined: fixed(m.userDefined, USER_DEFINED_SIZE),
          subChannelIndex: m.subchannelIndex,
          mmioMegabytesOptional: 0,
          childRelid: m.relid,
          monitorId: m.monitorId,
          monitorAllocated: m.monitorAllocated ? 1 : 0,
          isDedicatedInterrupt: m.isDedicatedInterrupt ? 1 : 0,
          connectionId: m.connectionId,
        },
      };
    case MessageType.RescindChannelOffer:
      return { kind: 'RescindChannelOffer', fields: { childRelid: m.relid } };
    case MessageType.CloseChannel:
      return { kind: 'CloseChannel', fields: { childRelid: m.relid } };
    case MessageType.RelidReleased:
      return { kind: 'RelidReleased', fields: { childRelid: m.relid } };
    case MessageType.RequestOffers:
      return { kind: 'RequestOffers', fields: {} };
    case MessageType.AllOffersDelivered:
      return { kind: 'AllOffersDelivered', fields: {} };
    case MessageType.Unload:
      return { kind: 'Unload', fields: {} };
    case MessageType.UnloadResponse:
      return { kind: 'UnloadResponse', fields: {} };
    case MessageType.OpenChannel:
      return {
        kind: 'OpenChannel',
        fields: {
          childRelid: m.relid,
          openId: m.openId,
          ringBufferGpadl: m.gpadl,
          targetVp: m.targetVp,
          downstreamRingBufferPageOffset: m.downstreamPageOffset,
          userData: fixed(m.userData, USER_DEFINED_SIZE),
          connectionId: 0,
          eventFlag: 0,
          flags: 0,
        },
      };
    case MessageType.OpenChannelResult:
      return {
        kind: 'OpenChannelResult',
        fields: { childRelid: m.relid, openId: m.openId, status: m.status >>> 0 },
      };
    case MessageType.GpadlHeader:
      return {
        kind: 'GpadlHeader',
        fields: {
          childRelid: m.relid,
          gpadl: m.gpadl,
          rangeBufferLength: m.rangeBufLen,
          rangeCount: m.rangeCount,
          data: u64Bytes(m.values),
        },
      };
    case MessageType.GpadlBody:
      return {
        kind: 'GpadlBody',
        fields: { messageNumber: m.msgNumber, gpadl: m.gpadl, data: u64Bytes(m.values) },
      };
    case MessageType.GpadlCreated:
      return {
        kind: 'GpadlCreated',
        fields: { childRelid: m.relid, gpadl: m.gpadl, creationStatus: m.status >>> 0 },
      };
    case MessageType.GpadlTeardown:
      return { kind: 'GpadlTeardown', fields: { childRelid: m.relid, gpadl: m.gpadl } };
    case MessageType.GpadlTorndown:
      return { kind: 'GpadlTorndown', fields: { gpadl: m.gpadl } };
    case MessageType.InitiateContact: {
      const t = m.interruptPageOrTarget;
      return {
        kind: 'InitiateContact',
        fields: {
          versionRequested: m.version,
          targetVcpu: m.targetVcpu,
          interruptPage: t,
          messageSint: Number(t & 0xffn),
          messageVtl: Number((t >> 8n) & 0xffn),
          featureFlags: Number((t >> 32n) & 0xffff_ffffn),
          parentToChildMonitorPage: m.monitorPage1,
          childToParentMonitorPage: m.monitorPage2,
          clientId: NIL_GUID,
        },
      };
    }
    case MessageType.VersionResponse:
      return {
        kind: 'VersionResponse',
        fields: {
          versionSupported: m.supported ? 1 : 0,
          connectionState: m.connectionState,
          selectedVersionOrConnectionId: m.connectionIdOrVersion,
          supportedFeatures: 0,
          parentToChildMonitorPage: 0n,
          childToParentMonitorPage: 0n,
        },
      };
  }
}

/** `bytes` cut or zero-padded to `size`. */
function fixed(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.byteLength === size) return bytes;
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, size));
  return out;
}

/** Parses a GUID string into its 16 wire bytes (Windows layout: Data1-3 little-endian). */
export function guidBytes(guid: string): Uint8Array {
  return parseGuid(guid);
}

/** Formats (the first) 16 wire bytes as a lower-case GUID string. */
export function guidString(bytes: Uint8Array): string {
  return formatGuid(bytes.subarray(0, 16));
}
