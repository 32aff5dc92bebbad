// Version negotiation body (spec vmbus.md 6.3, icmsgtype 0) and the versions each IC speaks.
import { availableBytes, decoded, invalidField, truncated, type VmbusDecoded } from '../vmbus/errors.js';
import type { IcVersion } from './header.js';

export const IcNegotiate = {
  frameworkVersionCount: 0,
  messageVersionCount: 2,
  reserved: 4,
  versions: 8,
  /** Fixed part before the version array. */
  size: 8,
} as const;

/** Bytes per version entry {major u16, minor u16}. */
export const IC_VERSION_SIZE = 4;
/** Linux refuses a negotiate message with more than this many framework or message versions. */
export const IC_NEGOTIATE_MAX_VERSION_COUNT = 100;

export interface IcNegotiateFields {
  frameworkVersions: readonly IcVersion[];
  messageVersions: readonly IcVersion[];
}

/** Body size of a negotiate message with F framework and M message versions. */
export function icNegotiateSize(frameworkCount: number, messageCount: number): number {
  return IcNegotiate.size + IC_VERSION_SIZE * (frameworkCount + messageCount);
}

export function encodeIcNegotiate(view: DataView, offset: number, f: IcNegotiateFields): number {
  view.setUint16(offset + IcNegotiate.frameworkVersionCount, f.frameworkVersions.length, true);
  view.setUint16(offset + IcNegotiate.messageVersionCount, f.messageVersions.length, true);
  view.setUint32(offset + IcNegotiate.reserved, 0, true);
  let at = offset + IcNegotiate.versions;
  for (const v of [...f.frameworkVersions, ...f.messageVersions]) {
    view.setUint16(at, v.major, true);
    view.setUint16(at + 2, v.minor, true);
    at += IC_VERSION_SIZE;
  }
  return at - offset;
}

/** Decode a negotiate body; the counts come from the peer and must fit in `length`. */
export function decodeIcNegotiate(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<IcNegotiateFields> {
  const name = 'IcNegotiate';
  const avail = availableBytes(view, offset, length);
  if (avail < IcNegotiate.size) return truncated(name, IcNegotiate.size, Math.max(avail, 0));
  const f = view.getUint16(offset + IcNegotiate.frameworkVersionCount, true);
  const m = view.getUint16(offset + IcNegotiate.messageVersionCount, true);
  if (f > IC_NEGOTIATE_MAX_VERSION_COUNT)
    return invalidField(name, 'frameworkVersionCount', `${f} > ${IC_NEGOTIATE_MAX_VERSION_COUNT}`);
  if (m > IC_NEGOTIATE_MAX_VERSION_COUNT)
    return invalidField(name, 'messageVersionCount', `${m} > ${IC_NEGOTIATE_MAX_VERSION_COUNT}`);
  const need = icNegotiateSize(f, m);
  if (avail < need) return truncated(name, need, avail);
  const read = (i: number): IcVersion => ({
    major: view.getUint16(offset + IcNegotiate.versions + IC_VERSION_SIZE * i, true),
    minor: view.getUint16(offset + IcNegotiate.versions + IC_VERSION_SIZE * i + 2, true),
  });
  const frameworkVersions: IcVersion[] = [];
  const messageVersions: IcVersion[] = [];
  for (let i = 0; i < f; i++) frameworkVersions.push(read(i));
  for (let i = 0; i < m; i++) messageVersions.push(read(f + i));
  return decoded({ frameworkVersions, messageVersions });
}

const v = (major: number, minor: number): IcVersion => Object.freeze({ major, minor });

/** Every known version of each IC, newest first (which side uses which: see the README). */
export const IcKnownVersions = {
  /** IC framework: 3.0, 1.0. */
  Framework: [v(3, 0), v(1, 0)],
  Heartbeat: [v(3, 0), v(1, 0)],
  /** 3.1 adds restart, 3.2 hibernate (inferred from naming; not stated by the sources). */
  Shutdown: [v(3, 2), v(3, 1), v(3, 0), v(1, 0)],
  /** 4.0 uses the reference-time layout. */
  TimeSync: [v(4, 0), v(3, 0), v(1, 0)],
  /** 1.0 WS2008, 3.0 Win7, 4.0 Win8, 5.0 binary IP info (openvmm). */
  Kvp: [v(5, 0), v(4, 0), v(3, 0), v(1, 0)],
  /** 4.0 Win8, 5.0 WinBlue (freeze/thaw/auto-recover), 6.0, 7.0. */
  Vss: [v(7, 0), v(6, 0), v(5, 0), v(4, 0)],
  /** Linux fcopy daemon: WIN8_SRV_VERSION 1.1. */
  FileCopy: [v(1, 1)],
} as const satisfies Record<string, readonly IcVersion[]>;
