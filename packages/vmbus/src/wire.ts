// Channel-management messages as this package handles them: plain objects in, exact bytes out.
// Layouts are spec vmbus.md 3.3 (Linux include/linux/hyperv.h, openvmm vmbus_core protocol.rs).
// Decoders treat every byte as hostile: a short message is refused, never read past its end.

import { VmbusError, VmbusErrorCode } from './errors.js';

/** Channel message types (spec 3.1). Open: unknown numbers stay representable. */
export const MessageType = {
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
} as const;
export type MessageType = number;

/** VMBus protocol versions, `(major << 16) | minor` (spec 3.2). */
export const VmbusVersion = {
  Ws2008: 0x0000_000d,
  Win7: 0x0001_0001,
  Win8: 0x0002_0004,
  Win8_1: 0x0003_0000,
  Win10: 0x0004_0000,
  Win10V4_1: 0x0004_0001,
  Win10V5: 0x0005_0000,
  Win10V5_1: 0x0005_0001,
  Win10V5_2: 0x0005_0002,
  Win10V5_3: 0x0005_0003,
  Win10V6_0: 0x0006_0000,
} as const;
export type VmbusVersion = number;

/** `INITIATE_CONTACT` goes to connection id 4 from 5.0, else 1; later messages use the id the host names. */
export const MESSAGE_CONNECTION_ID = 1;
export const MESSAGE_CONNECTION_ID_4 = 4;
/** Largest channel message: one SynIC message payload. */
export const MAX_MESSAGE_SIZE = 240;
export const HEADER_SIZE = 8;

export const ConnectionState = { Successful: 0, FailedLowResources: 1, FailedUnknownFailure: 2 } as const;

/** Status words carried by OPENCHANNEL_RESULT and GPADL_CREATED. openvmm answers failures with 0x8000FFFF. */
export const ChannelStatus = { Success: 0, Unsuccessful: 0x8000_ffff } as const;

export const OFFER_SIZE = 196;
export const OPEN_CHANNEL_SIZE = 148;
export const INITIATE_CONTACT_SIZE = 40;
export const VERSION_RESPONSE_SIZE = 16;
export const GPADL_HEADER_FIXED = 20;
export const GPADL_BODY_FIXED = 16;
export const USER_DEFINED_SIZE = 120;

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

/** Minimum length of each known message type, header included. */
const MIN_SIZE: Readonly<Record<number, number>> = {
  [MessageType.OfferChannel]: OFFER_SIZE,
  [MessageType.RescindChannelOffer]: 12,
  [MessageType.RequestOffers]: 8,
  [MessageType.AllOffersDelivered]: 8,
  [MessageType.OpenChannel]: OPEN_CHANNEL_SIZE,
  [MessageType.OpenChannelResult]: 20,
  [MessageType.CloseChannel]: 12,
  [MessageType.GpadlHeader]: GPADL_HEADER_FIXED,
  [MessageType.GpadlBody]: GPADL_BODY_FIXED,
  [MessageType.GpadlCreated]: 20,
  [MessageType.GpadlTeardown]: 16,
  [MessageType.GpadlTorndown]: 12,
  [MessageType.RelidReleased]: 12,
  [MessageType.InitiateContact]: INITIATE_CONTACT_SIZE,
  [MessageType.VersionResponse]: VERSION_RESPONSE_SIZE,
  [MessageType.Unload]: 8,
  [MessageType.UnloadResponse]: 8,
};

function malformed(message: string): DecodeResult {
  return { ok: false, error: new VmbusError(VmbusErrorCode.MalformedMessage, message) };
}

function u64s(view: DataView, from: number, end: number): bigint[] {
  const out: bigint[] = [];
  for (let at = from; at + 8 <= end; at += 8) out.push(view.getBigUint64(at, true));
  return out;
}

/** Decodes one channel message; never reads past `bytes`. */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength < HEADER_SIZE) return malformed(`message of ${bytes.byteLength} bytes has no header`);
  if (bytes.byteLength > MAX_MESSAGE_SIZE)
    return malformed(`message of ${bytes.byteLength} bytes exceeds 240`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = v.getUint32(0, true);
  const min = MIN_SIZE[type];
  if (min === undefined) return { ok: true, message: { type: -1, rawType: type } };
  if (bytes.byteLength < min)
    return malformed(`message type ${type}: needs ${min} bytes, got ${bytes.byteLength}`);
  const u32 = (o: number) => v.getUint32(o, true);
  const copy = (o: number, n: number) => bytes.slice(o, o + n);
  switch (type) {
    case MessageType.OfferChannel:
      return {
        ok: true,
        message: {
          type,
          interfaceId: copy(8, 16),
          instanceId: copy(24, 16),
          flags: v.getUint16(56, true),
          mmioMegabytes: v.getUint16(58, true),
          userDefined: copy(60, USER_DEFINED_SIZE),
          subchannelIndex: v.getUint16(180, true),
          relid: u32(184),
          monitorId: v.getUint8(188),
          monitorAllocated: (v.getUint8(189) & 1) !== 0,
          isDedicatedInterrupt: (v.getUint16(190, true) & 1) !== 0,
          connectionId: u32(192),
        },
      };
    case MessageType.RescindChannelOffer:
    case MessageType.CloseChannel:
    case MessageType.RelidReleased:
      return { ok: true, message: { type, relid: u32(8) } };
    case MessageType.RequestOffers:
    case MessageType.AllOffersDelivered:
    case MessageType.Unload:
    case MessageType.UnloadResponse:
      return { ok: true, message: { type } };
    case MessageType.OpenChannel:
      return {
        ok: true,
        message: {
          type,
          relid: u32(8),
          openId: u32(12),
          gpadl: u32(16),
          targetVp: u32(20),
          downstreamPageOffset: u32(24),
          userData: copy(28, USER_DEFINED_SIZE),
        },
      };
    case MessageType.OpenChannelResult:
      return { ok: true, message: { type, relid: u32(8), openId: u32(12), status: u32(16) } };
    case MessageType.GpadlHeader:
      return {
        ok: true,
        message: {
          type,
          relid: u32(8),
          gpadl: u32(12),
          rangeBufLen: v.getUint16(16, true),
          rangeCount: v.getUint16(18, true),
          values: u64s(v, GPADL_HEADER_FIXED, bytes.byteLength),
        },
      };
    case MessageType.GpadlBody:
      return {
        ok: true,
        message: {
          type,
          msgNumber: u32(8),
          gpadl: u32(12),
          values: u64s(v, GPADL_BODY_FIXED, bytes.byteLength),
        },
      };
    case MessageType.GpadlCreated:
      return { ok: true, message: { type, relid: u32(8), gpadl: u32(12), status: u32(16) } };
    case MessageType.GpadlTeardown:
      return { ok: true, message: { type, relid: u32(8), gpadl: u32(12) } };
    case MessageType.GpadlTorndown:
      return { ok: true, message: { type, gpadl: u32(8) } };
    case MessageType.InitiateContact:
      return {
        ok: true,
        message: {
          type,
          version: u32(8),
          targetVcpu: u32(12),
          interruptPageOrTarget: v.getBigUint64(16, true),
          monitorPage1: v.getBigUint64(24, true),
          monitorPage2: v.getBigUint64(32, true),
        },
      };
    case MessageType.VersionResponse:
      return {
        ok: true,
        message: {
          type,
          supported: v.getUint8(8) !== 0,
          connectionState: v.getUint8(9),
          connectionIdOrVersion: u32(12),
        },
      };
    default:
      return { ok: true, message: { type: -1, rawType: type } };
  }
}

function frame(type: number, size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  return { bytes, view };
}

/** Encodes a message this package sends. GUIDs and user data are copied as given (16 and 120 bytes). */
export function encodeMessage(m: Exclude<ChannelMessage, UnknownMessage>): Uint8Array {
  switch (m.type) {
    case MessageType.OfferChannel: {
      const { bytes, view } = frame(m.type, OFFER_SIZE);
      bytes.set(m.interfaceId.subarray(0, 16), 8);
      bytes.set(m.instanceId.subarray(0, 16), 24);
      view.setUint16(56, m.flags, true);
      view.setUint16(58, m.mmioMegabytes, true);
      bytes.set(m.userDefined.subarray(0, USER_DEFINED_SIZE), 60);
      view.setUint16(180, m.subchannelIndex, true);
      view.setUint32(184, m.relid, true);
      view.setUint8(188, m.monitorId);
      view.setUint8(189, m.monitorAllocated ? 1 : 0);
      view.setUint16(190, m.isDedicatedInterrupt ? 1 : 0, true);
      view.setUint32(192, m.connectionId, true);
      return bytes;
    }
    case MessageType.RescindChannelOffer:
    case MessageType.CloseChannel:
    case MessageType.RelidReleased: {
      const { bytes, view } = frame(m.type, 12);
      view.setUint32(8, m.relid, true);
      return bytes;
    }
    case MessageType.RequestOffers:
    case MessageType.AllOffersDelivered:
    case MessageType.Unload:
    case MessageType.UnloadResponse:
      return frame(m.type, 8).bytes;
    case MessageType.OpenChannel: {
      const { bytes, view } = frame(m.type, OPEN_CHANNEL_SIZE);
      view.setUint32(8, m.relid, true);
      view.setUint32(12, m.openId, true);
      view.setUint32(16, m.gpadl, true);
      view.setUint32(20, m.targetVp, true);
      view.setUint32(24, m.downstreamPageOffset, true);
      bytes.set(m.userData.subarray(0, USER_DEFINED_SIZE), 28);
      return bytes;
    }
    case MessageType.OpenChannelResult: {
      const { bytes, view } = frame(m.type, 20);
      view.setUint32(8, m.relid, true);
      view.setUint32(12, m.openId, true);
      view.setUint32(16, m.status >>> 0, true);
      return bytes;
    }
    case MessageType.GpadlHeader: {
      const { bytes, view } = frame(m.type, GPADL_HEADER_FIXED + 8 * m.values.length);
      view.setUint32(8, m.relid, true);
      view.setUint32(12, m.gpadl, true);
      view.setUint16(16, m.rangeBufLen, true);
      view.setUint16(18, m.rangeCount, true);
      for (let i = 0; i < m.values.length; i++)
        view.setBigUint64(GPADL_HEADER_FIXED + 8 * i, m.values[i]!, true);
      return bytes;
    }
    case MessageType.GpadlBody: {
      const { bytes, view } = frame(m.type, GPADL_BODY_FIXED + 8 * m.values.length);
      view.setUint32(8, m.msgNumber, true);
      view.setUint32(12, m.gpadl, true);
      for (let i = 0; i < m.values.length; i++)
        view.setBigUint64(GPADL_BODY_FIXED + 8 * i, m.values[i]!, true);
      return bytes;
    }
    case MessageType.GpadlCreated: {
      const { bytes, view } = frame(m.type, 20);
      view.setUint32(8, m.relid, true);
      view.setUint32(12, m.gpadl, true);
      view.setUint32(16, m.status >>> 0, true);
      return bytes;
    }
    case MessageType.GpadlTeardown: {
      const { bytes, view } = frame(m.type, 16);
      view.setUint32(8, m.relid, true);
      view.setUint32(12, m.gpadl, true);
      return bytes;
    }
    case MessageType.GpadlTorndown: {
      const { bytes, view } = frame(m.type, 12);
      view.setUint32(8, m.gpadl, true);
      return bytes;
    }
    case MessageType.InitiateContact: {
      const { bytes, view } = frame(m.type, INITIATE_CONTACT_SIZE);
      view.setUint32(8, m.version, true);
      view.setUint32(12, m.targetVcpu, true);
      view.setBigUint64(16, m.interruptPageOrTarget, true);
      view.setBigUint64(24, m.monitorPage1, true);
      view.setBigUint64(32, m.monitorPage2, true);
      return bytes;
    }
    case MessageType.VersionResponse: {
      const { bytes, view } = frame(m.type, VERSION_RESPONSE_SIZE);
      view.setUint8(8, m.supported ? 1 : 0);
      view.setUint8(9, m.connectionState);
      view.setUint32(12, m.connectionIdOrVersion, true);
      return bytes;
    }
  }
}

/** Parses a GUID string into its 16 wire bytes (Windows layout: Data1-3 little-endian). */
export function guidBytes(guid: string): Uint8Array {
  const hex = guid.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a GUID: ${guid}`);
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

/** Formats 16 wire bytes as a lower-case GUID string. */
export function guidString(bytes: Uint8Array): string {
  const b = Uint8Array.from(bytes.subarray(0, 16));
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
