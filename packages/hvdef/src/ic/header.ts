// icmsg_hdr (spec vmbus.md 6.2): the 20-byte header after the pipe header, message types, flags,
// status codes, and a codec for a whole IC packet payload (pipe header + icmsg_hdr + body).
import { availableBytes, decoded, invalidField, truncated, type VmbusDecoded } from '../vmbus/errors.js';
import { decodePipeHeader, encodePipeHeader, PipeHeader, PipeMessageType } from './pipe.js';

/** A {major, minor} version as IC messages carry it (major u16 first, then minor u16). */
export interface IcVersion {
  readonly major: number;
  readonly minor: number;
}

export function icVersion(major: number, minor: number): IcVersion {
  return { major, minor };
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareIcVersions(a: IcVersion, b: IcVersion): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor;
}

export function formatIcVersion(v: IcVersion): string {
  return `${v.major}.${v.minor}`;
}

export const IcMessageType = {
  Negotiate: 0,
  Heartbeat: 1,
  KvpExchange: 2,
  Shutdown: 3,
  TimeSync: 4,
  Vss: 5,
  Rdv: 6,
  /** Linux ICMSGTYPE_FCOPY; openvmm calls 7 GUEST_INTERFACE. */
  FileCopy: 7,
  VmSession: 8,
} as const;
export type IcMessageType = number;

/** icflags bits. */
export const IcFlags = {
  Transaction: 0x1,
  Request: 0x2,
  Response: 0x4,
} as const;
export type IcFlags = number;

/** Flags of a host request (TRANSACTION | REQUEST). */
export const IC_REQUEST_FLAGS = IcFlags.Transaction | IcFlags.Request;
/** Flags of a guest response (TRANSACTION | RESPONSE). */
export const IC_RESPONSE_FLAGS = IcFlags.Transaction | IcFlags.Response;

/** HRESULT status codes in icmsg_hdr.status. */
export const IcStatus = {
  Success: 0x0000_0000,
  Fail: 0x8000_4005,
  /** HRESULT_FROM_WIN32(ERROR_NO_MORE_ITEMS); Linux HV_S_CONT. Ends a KVP enumeration. */
  NoMoreItems: 0x8007_0103,
  NotSupported: 0x8007_0032,
  /** WBEM_E_NOT_FOUND; Linux HV_GUID_NOTFOUND. KVP GET/DELETE miss. */
  NotFound: 0x8004_1002,
  MachineLocked: 0x8007_04f7,
  DeviceNotConnected: 0x8007_048f,
  InvalidArg: 0x8007_0057,
  AlreadyExists: 0x8007_0050,
  DiskFull: 0x8007_0070,
} as const;
export type IcStatus = number;

/** icmsg_hdr field offsets, relative to the header (which sits at payload offset 8). */
export const IcMessageHeader = {
  frameworkVersionMajor: 0,
  frameworkVersionMinor: 2,
  messageType: 4,
  messageVersionMajor: 6,
  messageVersionMinor: 8,
  messageSize: 10,
  status: 12,
  transactionId: 16,
  flags: 17,
  reserved: 18,
  size: 20,
} as const;

/** Offset of icmsg_hdr in the packet payload. */
export const IC_HEADER_OFFSET = PipeHeader.size;
/** Offset of the message body in the packet payload (Linux ICMSG_HDR). */
export const IC_BODY_OFFSET = PipeHeader.size + IcMessageHeader.size;
/** Largest IC message (openvmm / Windows IC_MAXIMUM_MESSAGE_SIZE). */
export const IC_MAX_MESSAGE_SIZE = 13312;

export interface IcMessageHeaderFields {
  frameworkVersion: IcVersion;
  messageType: IcMessageType;
  messageVersion: IcVersion;
  /** Body length in bytes (icmsgsize). */
  messageSize: number;
  status: IcStatus;
  transactionId: number;
  flags: IcFlags;
}

export function encodeIcMessageHeader(view: DataView, offset: number, f: IcMessageHeaderFields): number {
  view.setUint16(offset + IcMessageHeader.frameworkVersionMajor, f.frameworkVersion.major, true);
  view.setUint16(offset + IcMessageHeader.frameworkVersionMinor, f.frameworkVersion.minor, true);
  view.setUint16(offset + IcMessageHeader.messageType, f.messageType, true);
  view.setUint16(offset + IcMessageHeader.messageVersionMajor, f.messageVersion.major, true);
  view.setUint16(offset + IcMessageHeader.messageVersionMinor, f.messageVersion.minor, true);
  view.setUint16(offset + IcMessageHeader.messageSize, f.messageSize, true);
  view.setUint32(offset + IcMessageHeader.status, f.status, true);
  view.setUint8(offset + IcMessageHeader.transactionId, f.transactionId);
  view.setUint8(offset + IcMessageHeader.flags, f.flags);
  view.setUint16(offset + IcMessageHeader.reserved, 0, true);
  return IcMessageHeader.size;
}

export function decodeIcMessageHeader(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<IcMessageHeaderFields> {
  const avail = availableBytes(view, offset, length);
  if (avail < IcMessageHeader.size)
    return truncated('IcMessageHeader', IcMessageHeader.size, Math.max(avail, 0));
  return decoded({
    frameworkVersion: {
      major: view.getUint16(offset + IcMessageHeader.frameworkVersionMajor, true),
      minor: view.getUint16(offset + IcMessageHeader.frameworkVersionMinor, true),
    },
    messageType: view.getUint16(offset + IcMessageHeader.messageType, true),
    messageVersion: {
      major: view.getUint16(offset + IcMessageHeader.messageVersionMajor, true),
      minor: view.getUint16(offset + IcMessageHeader.messageVersionMinor, true),
    },
    messageSize: view.getUint16(offset + IcMessageHeader.messageSize, true),
    status: view.getUint32(offset + IcMessageHeader.status, true),
    transactionId: view.getUint8(offset + IcMessageHeader.transactionId),
    flags: view.getUint8(offset + IcMessageHeader.flags),
  });
}

export interface IcMessage {
  header: IcMessageHeaderFields;
  /**
   * Everything after icmsg_hdr up to the pipe header's size. It may be longer than
   * `header.messageSize` (a Linux guest echoes the whole buffer after shrinking icmsgsize).
   */
  body: Uint8Array;
}

/**
 * Encode a whole IC packet payload: pipe header (DATA, size = 20 + body), icmsg_hdr, body. The
 * header's messageSize is written as given. Returns the payload length (not padded to 8).
 */
export function encodeIcMessage(view: DataView, offset: number, message: IcMessage): number {
  const dataSize = IcMessageHeader.size + message.body.length;
  encodePipeHeader(view, offset, { packetType: PipeMessageType.Data, dataSize });
  encodeIcMessageHeader(view, offset + IC_HEADER_OFFSET, message.header);
  new Uint8Array(view.buffer, view.byteOffset + offset + IC_BODY_OFFSET, message.body.length).set(
    message.body,
  );
  return PipeHeader.size + dataSize;
}

/** Encode a whole IC packet payload into a new buffer. */
export function icMessageBytes(message: IcMessage): Uint8Array {
  const out = new Uint8Array(IC_BODY_OFFSET + message.body.length);
  encodeIcMessage(new DataView(out.buffer), 0, message);
  return out;
}

/**
 * Decode an IC packet payload of `length` bytes: DATA pipe header, a full icmsg_hdr, and a body of
 * at least icmsgsize bytes. Packets shorter than 28 bytes are truncated (Linux drops them unanswered).
 */
export function decodeIcMessage(view: DataView, offset: number, length: number): VmbusDecoded<IcMessage> {
  const name = 'IcMessage';
  const pipe = decodePipeHeader(view, offset, length);
  if (!pipe.ok) return pipe;
  const dataSize = pipe.value.dataSize;
  if (dataSize < IcMessageHeader.size) return truncated(name, IC_BODY_OFFSET, PipeHeader.size + dataSize);
  const header = decodeIcMessageHeader(view, offset + IC_HEADER_OFFSET, dataSize);
  if (!header.ok) return header;
  const bodyLength = dataSize - IcMessageHeader.size;
  if (header.value.messageSize > bodyLength) {
    return invalidField(
      name,
      'messageSize',
      `${header.value.messageSize} bytes declared, ${bodyLength} present`,
    );
  }
  const body = new Uint8Array(view.buffer, view.byteOffset + offset + IC_BODY_OFFSET, bodyLength).slice();
  return decoded({ header: header.value, body });
}
