// Offer details beyond the message layout (spec vmbus.md 3.3, 6.1, 7.1): offer flags, pipe modes
// in user_defined, and the hv_sock parameters and service-id mapping.
import { availableBytes, decoded, truncated, type VmbusDecoded } from './errors.js';
import { type GuidString, readGuid, writeGuid } from './guid.js';

/** OFFERCHANNEL.chn_flags. */
export const VmbusOfferFlags = {
  EnumerateDeviceInterface: 0x1,
  /** Linux: SERVER_SUPPORTS_TRANSFER_PAGES; openvmm: confidential ring buffer. */
  ConfidentialRingBuffer: 0x2,
  /** Linux: SERVER_SUPPORTS_GPADLS; openvmm: confidential external memory. */
  ConfidentialExternalMemory: 0x4,
  /** openvmm: require pinned external memory. */
  RequirePinnedExternalMemory: 0x8,
  NamedPipeMode: 0x10,
  LoopbackOffer: 0x100,
  ParentOffer: 0x200,
  RequestMonitoredNotification: 0x400,
  /** hv_sock offer. */
  TlnpiProvider: 0x2000,
} as const;
export type VmbusOfferFlags = number;

/** Offer flags of an integration-component channel: a message-mode pipe. */
export const IC_OFFER_FLAGS = VmbusOfferFlags.EnumerateDeviceInterface | VmbusOfferFlags.NamedPipeMode;
/** Offer flags openvmm uses for hv_sock offers. */
export const HVSOCK_OFFER_FLAGS =
  VmbusOfferFlags.TlnpiProvider | VmbusOfferFlags.NamedPipeMode | VmbusOfferFlags.EnumerateDeviceInterface;

/** Pipe mode, the first u32 of user_defined for pipe offers. */
export const VmbusPipeMode = {
  Byte: 0,
  Message: 4,
} as const;
export type VmbusPipeMode = number;

/** Size of OFFERCHANNEL.user_defined / OPENCHANNEL.userdata. */
export const VMBUS_USER_DEFINED_SIZE = 120;

/** hv_sock user_defined parameters (offsets inside the 120-byte user_defined area). */
export const HvsockUserDefined = {
  pipeType: 0,
  isForGuestAccept: 4,
  isForGuestContainer: 5,
  /** u32, unaligned. */
  version: 6,
  /** GUID, unaligned. */
  siloId: 10,
  size: 28,
} as const;

export const HvsockParametersVersion = {
  PreRs5: 0,
  Rs5: 1,
} as const;

export interface HvsockUserDefinedFields {
  pipeType: number;
  isForGuestAccept: boolean;
  isForGuestContainer: boolean;
  version: number;
  siloId: GuidString;
}

export function encodeHvsockUserDefined(view: DataView, offset: number, f: HvsockUserDefinedFields): number {
  new Uint8Array(view.buffer, view.byteOffset + offset, HvsockUserDefined.size).fill(0);
  view.setUint32(offset + HvsockUserDefined.pipeType, f.pipeType, true);
  view.setUint8(offset + HvsockUserDefined.isForGuestAccept, f.isForGuestAccept ? 1 : 0);
  view.setUint8(offset + HvsockUserDefined.isForGuestContainer, f.isForGuestContainer ? 1 : 0);
  view.setUint32(offset + HvsockUserDefined.version, f.version, true);
  writeGuid(view, offset + HvsockUserDefined.siloId, f.siloId);
  return HvsockUserDefined.size;
}

export function decodeHvsockUserDefined(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<HvsockUserDefinedFields> {
  const avail = availableBytes(view, offset, length);
  if (avail < HvsockUserDefined.size)
    return truncated('HvsockUserDefined', HvsockUserDefined.size, Math.max(avail, 0));
  return decoded({
    pipeType: view.getUint32(offset + HvsockUserDefined.pipeType, true),
    isForGuestAccept: view.getUint8(offset + HvsockUserDefined.isForGuestAccept) !== 0,
    isForGuestContainer: view.getUint8(offset + HvsockUserDefined.isForGuestContainer) !== 0,
    version: view.getUint32(offset + HvsockUserDefined.version, true),
    siloId: readGuid(view, offset + HvsockUserDefined.siloId),
  });
}

/** Linux AF_VSOCK service-id template: Data1 is the port. */
export const HVSOCK_VSOCK_TEMPLATE_SUFFIX = '-facb-11e6-bd58-64006a7986d3';

/** Service id a Linux AF_VSOCK port maps to. */
export function hvsockServiceIdForPort(port: number): GuidString {
  return `${(port >>> 0).toString(16).padStart(8, '0')}${HVSOCK_VSOCK_TEMPLATE_SUFFIX}`;
}

/** The AF_VSOCK port of a templated service id, or undefined if the id is not of that form. */
export function hvsockPortFromServiceId(serviceId: GuidString): number | undefined {
  const s = serviceId.toLowerCase();
  if (s.length !== 36 || !s.endsWith(HVSOCK_VSOCK_TEMPLATE_SUFFIX)) return undefined;
  const head = s.slice(0, 8);
  return /^[0-9a-f]{8}$/.test(head) ? Number.parseInt(head, 16) : undefined;
}
