import {
  IC_FLAGS_REQUEST,
  IC_FLAGS_RESPONSE,
  ICMSG_BODY_OFFSET,
  IcFlags,
  IcMessageType,
  IcMsgHeader,
  type IcVersion,
  NEGOTIATE_MAX_VERSIONS,
  NegotiateBody,
  PIPE_HEADER_SIZE,
  versionEquals,
} from './defs.js';
import { encodeIcPacket, type IcHeader } from './framing.js';

export interface NegotiateOffer {
  readonly framework: readonly IcVersion[];
  readonly message: readonly IcVersion[];
}

export interface NegotiatedVersions {
  readonly framework: IcVersion;
  readonly message: IcVersion;
}

/** The host's negotiate request (openvmm form: header versions 0, flags TRANSACTION|REQUEST, txid 0). */
export function encodeNegotiateRequest(offer: NegotiateOffer): Uint8Array {
  const count = offer.framework.length + offer.message.length;
  const body = new Uint8Array(NegotiateBody.versions + 4 * count);
  const view = new DataView(body.buffer);
  view.setUint16(NegotiateBody.frameworkCount, offer.framework.length, true);
  view.setUint16(NegotiateBody.messageCount, offer.message.length, true);
  let at = NegotiateBody.versions;
  for (const v of [...offer.framework, ...offer.message]) {
    view.setUint16(at, v.major, true);
    view.setUint16(at + 2, v.minor, true);
    at += 4;
  }
  return encodeIcPacket(
    {
      framework: { major: 0, minor: 0 },
      messageType: IcMessageType.Negotiate,
      messageVersion: { major: 0, minor: 0 },
      status: 0,
      transactionId: 0,
      flags: IC_FLAGS_REQUEST,
    },
    body,
  );
}

export type NegotiateDecodeError = 'too-short' | 'too-many-versions';

/** Reads a negotiate body; the version counts are the peer's and are checked against the body size. */
export function decodeNegotiateBody(body: DataView): NegotiateOffer | NegotiateDecodeError {
  if (body.byteLength < NegotiateBody.versions) return 'too-short';
  const f = body.getUint16(NegotiateBody.frameworkCount, true);
  const m = body.getUint16(NegotiateBody.messageCount, true);
  if (f > NEGOTIATE_MAX_VERSIONS || m > NEGOTIATE_MAX_VERSIONS) return 'too-many-versions';
  if (body.byteLength < NegotiateBody.versions + 4 * (f + m)) return 'too-short';
  const read = (i: number): IcVersion => ({
    major: body.getUint16(NegotiateBody.versions + 4 * i, true),
    minor: body.getUint16(NegotiateBody.versions + 4 * i + 2, true),
  });
  const framework: IcVersion[] = [];
  const message: IcVersion[] = [];
  for (let i = 0; i < f; i++) framework.push(read(i));
  for (let i = 0; i < m; i++) message.push(read(f + i));
  return { framework, message };
}

/** Guest rule (spec 6.3): walk our own list newest first and take the first one the host offered. */
export function pickVersion(
  offered: readonly IcVersion[],
  supportedNewestFirst: readonly IcVersion[],
): IcVersion | undefined {
  return supportedNewestFirst.find((mine) => offered.some((o) => versionEquals(o, mine)));
}

export function selectVersions(
  offer: NegotiateOffer,
  supported: { readonly framework: readonly IcVersion[]; readonly message: readonly IcVersion[] },
): NegotiatedVersions | undefined {
  const framework = pickVersion(offer.framework, supported.framework);
  const message = pickVersion(offer.message, supported.message);
  return framework && message ? { framework, message } : undefined;
}

/**
 * The guest's reply, built from the received message as Linux does: icmsgsize 16, one framework and one
 * message version (or zero counts when nothing matched), flags TRANSACTION|RESPONSE, the rest left as received.
 */
export function encodeNegotiateResponse(
  received: Uint8Array,
  chosen: NegotiatedVersions | undefined,
): Uint8Array {
  const reply = new Uint8Array(Math.max(received.byteLength, ICMSG_BODY_OFFSET + 16));
  reply.set(received);
  const view = new DataView(reply.buffer);
  view.setUint32(4, reply.byteLength - PIPE_HEADER_SIZE, true);
  view.setUint16(PIPE_HEADER_SIZE + IcMsgHeader.messageSize, 16, true);
  view.setUint8(PIPE_HEADER_SIZE + IcMsgHeader.flags, IC_FLAGS_RESPONSE);
  const b = ICMSG_BODY_OFFSET;
  if (chosen) {
    view.setUint16(b + NegotiateBody.frameworkCount, 1, true);
    view.setUint16(b + NegotiateBody.messageCount, 1, true);
    view.setUint16(b + 8, chosen.framework.major, true);
    view.setUint16(b + 10, chosen.framework.minor, true);
    view.setUint16(b + 12, chosen.message.major, true);
    view.setUint16(b + 14, chosen.message.minor, true);
  } else {
    view.setUint16(b + NegotiateBody.frameworkCount, 0, true);
    view.setUint16(b + NegotiateBody.messageCount, 0, true);
  }
  return reply;
}

export type NegotiateResponse =
  | { readonly kind: 'accepted'; readonly versions: NegotiatedVersions }
  | { readonly kind: 'refused' }
  | { readonly kind: 'invalid'; readonly detail: string };

/** Host side: judge a guest's negotiate reply against what was offered. */
export function decodeNegotiateResponse(
  header: IcHeader,
  body: DataView,
  offer: NegotiateOffer,
): NegotiateResponse {
  if ((header.flags & IcFlags.Response) === 0)
    return { kind: 'invalid', detail: 'negotiate reply lacks RESPONSE' };
  if (header.transactionId !== 0)
    return { kind: 'invalid', detail: `transaction id ${header.transactionId}` };
  const decoded = decodeNegotiateBody(body);
  if (typeof decoded === 'string') return { kind: 'invalid', detail: `negotiate body ${decoded}` };
  if (decoded.framework.length === 0 || decoded.message.length === 0) return { kind: 'refused' };
  const framework = decoded.framework[0];
  const message = decoded.message[0];
  if (decoded.framework.length !== 1 || decoded.message.length !== 1 || !framework || !message) {
    return {
      kind: 'invalid',
      detail: `reply names ${decoded.framework.length}+${decoded.message.length} versions`,
    };
  }
  if (
    !offer.framework.some((v) => versionEquals(v, framework)) ||
    !offer.message.some((v) => versionEquals(v, message))
  ) {
    return { kind: 'invalid', detail: 'reply picks a version that was not offered' };
  }
  return { kind: 'accepted', versions: { framework, message } };
}
