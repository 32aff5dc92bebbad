import {
  ICMSG_BODY_OFFSET,
  ICMSG_HEADER_SIZE,
  IcMsgHeader,
  type IcVersion,
  PIPE_HEADER_SIZE,
  PIPE_MAX_PAYLOAD,
  PipePacketType,
} from './defs.js';

/** The decoded icmsg_hdr. */
export interface IcHeader {
  readonly framework: IcVersion;
  readonly messageType: number;
  readonly messageVersion: IcVersion;
  /** icmsgsize: length of the body in bytes. */
  readonly messageSize: number;
  readonly status: number;
  readonly transactionId: number;
  readonly flags: number;
}

/** Why a packet was not accepted as an IC message. Such packets are dropped without a reply. */
export const IcFrameError = {
  /** Fewer than 28 bytes (pipe header + icmsg_hdr). */
  TooShort: 'too-short',
  /** Pipe packet type other than DATA. */
  NotData: 'not-data',
  /** Pipe msgsize larger than the packet or beyond the pipe maximum. */
  PipeSize: 'pipe-size',
  /** icmsgsize larger than the bytes that follow the header. */
  MessageSize: 'message-size',
} as const;
export type IcFrameError = (typeof IcFrameError)[keyof typeof IcFrameError];

export interface IcFrame {
  readonly ok: true;
  readonly header: IcHeader;
  /** The body: exactly icmsgsize bytes starting at payload offset 28. */
  readonly body: DataView;
  /** The whole pipe message (pipe header through the end of msgsize), the unit a guest echoes back. */
  readonly message: Uint8Array;
}

export interface IcFrameFailure {
  readonly ok: false;
  readonly error: IcFrameError;
  readonly detail: string;
}

/**
 * Decodes one IC packet payload. Every length comes from the peer and is checked against the bytes
 * actually present; trailing bytes beyond the pipe's msgsize (ring padding) are ignored.
 */
export function decodeIcPacket(bytes: Uint8Array): IcFrame | IcFrameFailure {
  if (bytes.byteLength < ICMSG_BODY_OFFSET) {
    return fail(IcFrameError.TooShort, `${bytes.byteLength} bytes, need ${ICMSG_BODY_OFFSET}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pipeType = view.getUint32(0, true);
  if (pipeType !== PipePacketType.Data) return fail(IcFrameError.NotData, `pipe packet type ${pipeType}`);
  const msgSize = view.getUint32(4, true);
  if (
    msgSize < ICMSG_HEADER_SIZE ||
    msgSize > PIPE_MAX_PAYLOAD ||
    PIPE_HEADER_SIZE + msgSize > bytes.byteLength
  ) {
    return fail(IcFrameError.PipeSize, `pipe msgsize ${msgSize} with ${bytes.byteLength} bytes present`);
  }
  const h = PIPE_HEADER_SIZE;
  const header: IcHeader = {
    framework: {
      major: view.getUint16(h + IcMsgHeader.frameworkMajor, true),
      minor: view.getUint16(h + 2, true),
    },
    messageType: view.getUint16(h + IcMsgHeader.messageType, true),
    messageVersion: {
      major: view.getUint16(h + IcMsgHeader.messageMajor, true),
      minor: view.getUint16(h + IcMsgHeader.messageMinor, true),
    },
    messageSize: view.getUint16(h + IcMsgHeader.messageSize, true),
    status: view.getUint32(h + IcMsgHeader.status, true),
    transactionId: view.getUint8(h + IcMsgHeader.transactionId),
    flags: view.getUint8(h + IcMsgHeader.flags),
  };
  if (header.messageSize > msgSize - ICMSG_HEADER_SIZE) {
    return fail(
      IcFrameError.MessageSize,
      `icmsgsize ${header.messageSize} but ${msgSize - ICMSG_HEADER_SIZE} body bytes present`,
    );
  }
  return {
    ok: true,
    header,
    body: new DataView(bytes.buffer, bytes.byteOffset + ICMSG_BODY_OFFSET, header.messageSize),
    message: bytes.subarray(0, PIPE_HEADER_SIZE + msgSize),
  };
}

function fail(error: IcFrameError, detail: string): IcFrameFailure {
  return { ok: false, error, detail };
}

/** Writes a pipe header (DATA) and an icmsg_hdr at the start of `packet`. */
export function writeIcHeader(packet: Uint8Array, header: IcHeader): void {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  view.setUint32(0, PipePacketType.Data, true);
  view.setUint32(4, packet.byteLength - PIPE_HEADER_SIZE, true);
  const h = PIPE_HEADER_SIZE;
  view.setUint16(h + IcMsgHeader.frameworkMajor, header.framework.major, true);
  view.setUint16(h + IcMsgHeader.frameworkMinor, header.framework.minor, true);
  view.setUint16(h + IcMsgHeader.messageType, header.messageType, true);
  view.setUint16(h + IcMsgHeader.messageMajor, header.messageVersion.major, true);
  view.setUint16(h + IcMsgHeader.messageMinor, header.messageVersion.minor, true);
  view.setUint16(h + IcMsgHeader.messageSize, header.messageSize, true);
  view.setUint32(h + IcMsgHeader.status, header.status >>> 0, true);
  view.setUint8(h + IcMsgHeader.transactionId, header.transactionId);
  view.setUint8(h + IcMsgHeader.flags, header.flags);
  view.setUint16(h + IcMsgHeader.reserved, 0, true);
}

/** Builds a complete IC packet payload: pipe header, icmsg_hdr (icmsgsize = body length) and body. */
export function encodeIcPacket(header: Omit<IcHeader, 'messageSize'>, body: Uint8Array): Uint8Array {
  const packet = new Uint8Array(ICMSG_BODY_OFFSET + body.byteLength);
  writeIcHeader(packet, { ...header, messageSize: body.byteLength });
  packet.set(body, ICMSG_BODY_OFFSET);
  return packet;
}

/** Edits the status and flags of an icmsg_hdr in place (a guest's echo reply). */
export function setIcResponse(message: Uint8Array, status: number, flags: number): void {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  view.setUint32(PIPE_HEADER_SIZE + IcMsgHeader.status, status >>> 0, true);
  view.setUint8(PIPE_HEADER_SIZE + IcMsgHeader.flags, flags);
}

/** A DataView over the body region of a whole message (for in-place edits before an echo reply). */
export function bodyView(message: Uint8Array): DataView {
  return new DataView(
    message.buffer,
    message.byteOffset + ICMSG_BODY_OFFSET,
    message.byteLength - ICMSG_BODY_OFFSET,
  );
}
