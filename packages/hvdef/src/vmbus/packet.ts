// Ring packets: the 16-byte descriptor (spec vmbus.md 2.1), packet types (2.2) and the type-specific
// headers of GPA-direct and transfer-page packets (2.3).
import { availableBytes, decoded, invalidField, truncated, type VmbusDecoded } from './errors.js';
import { RING_PACKET_ALIGNMENT, VMBUS_PAGE_SIZE } from './ring.js';

export const VmbusPacketType = {
  Invalid: 0x0,
  Synch: 0x1,
  AddTransferPageSet: 0x2,
  RemoveTransferPageSet: 0x3,
  EstablishGpadl: 0x4,
  TeardownGpadl: 0x5,
  DataInband: 0x6,
  DataUsingTransferPages: 0x7,
  DataUsingGpadl: 0x8,
  DataUsingGpaDirect: 0x9,
  CancelRequest: 0xa,
  Completion: 0xb,
  DataUsingAdditionalPacket: 0xc,
  AdditionalData: 0xd,
} as const;
/** Open: a peer may send any u16. */
export type VmbusPacketType = number;

export const VmbusPacketFlags = {
  None: 0,
  CompletionRequested: 1,
} as const;
export type VmbusPacketFlags = number;

/** Byte offsets of vmpacket_descriptor fields. */
export const PacketDescriptor = {
  type: 0,
  offset8: 2,
  len8: 4,
  flags: 6,
  transactionId: 8,
  size: 16,
} as const;

/** Smallest legal offset8: the payload cannot start inside the descriptor. */
export const PACKET_MIN_OFFSET8 = PacketDescriptor.size / RING_PACKET_ALIGNMENT;

export interface PacketDescriptorFields {
  type: VmbusPacketType;
  /** Payload start from the descriptor start, in 8-byte units. */
  offset8: number;
  /** Whole packet length (descriptor, headers, payload, padding; not the trailer) in 8-byte units. */
  len8: number;
  flags: VmbusPacketFlags;
  transactionId: bigint;
}

export function encodePacketDescriptor(view: DataView, offset: number, fields: PacketDescriptorFields): void {
  view.setUint16(offset + PacketDescriptor.type, fields.type, true);
  view.setUint16(offset + PacketDescriptor.offset8, fields.offset8, true);
  view.setUint16(offset + PacketDescriptor.len8, fields.len8, true);
  view.setUint16(offset + PacketDescriptor.flags, fields.flags, true);
  view.setBigUint64(offset + PacketDescriptor.transactionId, fields.transactionId, true);
}

/** Result of {@link checkPacketDescriptor}; a number so the ring's hot path allocates nothing. */
export const PacketCheck = {
  Ok: 0,
  /** Fewer than 16 bytes available. */
  Truncated: 1,
  /** offset8 < 2. */
  OffsetTooSmall: 2,
  /** len8 < offset8. */
  LengthBeforeOffset: 3,
  /** len8 * 8 exceeds the bytes available. */
  LengthTooLarge: 4,
} as const;
export type PacketCheck = (typeof PacketCheck)[keyof typeof PacketCheck];

/**
 * Structural check of a descriptor at `offset` with `available` bytes of packet behind it, without
 * allocating. Types and flags are left to the caller (the ring decides which it accepts).
 */
export function checkPacketDescriptor(view: DataView, offset: number, available: number): PacketCheck {
  const avail = availableBytes(view, offset, available);
  if (avail < PacketDescriptor.size) return PacketCheck.Truncated;
  const offset8 = view.getUint16(offset + PacketDescriptor.offset8, true);
  const len8 = view.getUint16(offset + PacketDescriptor.len8, true);
  if (offset8 < PACKET_MIN_OFFSET8) return PacketCheck.OffsetTooSmall;
  if (len8 < offset8) return PacketCheck.LengthBeforeOffset;
  if (len8 * RING_PACKET_ALIGNMENT > avail) return PacketCheck.LengthTooLarge;
  return PacketCheck.Ok;
}

/** Decode and structurally validate a descriptor; `length` = bytes of the packet available at `offset`. */
export function decodePacketDescriptor(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<PacketDescriptorFields> {
  const layout = 'PacketDescriptor';
  const check = checkPacketDescriptor(view, offset, length);
  switch (check) {
    case PacketCheck.Ok:
      break;
    case PacketCheck.Truncated:
      return truncated(layout, PacketDescriptor.size, Math.max(0, availableBytes(view, offset, length)));
    case PacketCheck.OffsetTooSmall:
      return invalidField(layout, 'offset8', `must be >= ${PACKET_MIN_OFFSET8}`);
    case PacketCheck.LengthBeforeOffset:
      return invalidField(layout, 'len8', 'smaller than offset8');
    default:
      return invalidField(layout, 'len8', 'packet extends past the bytes available');
  }
  return decoded({
    type: view.getUint16(offset + PacketDescriptor.type, true),
    offset8: view.getUint16(offset + PacketDescriptor.offset8, true),
    len8: view.getUint16(offset + PacketDescriptor.len8, true),
    flags: view.getUint16(offset + PacketDescriptor.flags, true),
    transactionId: view.getBigUint64(offset + PacketDescriptor.transactionId, true),
  });
}

/** len8 of an in-band (or completion) packet carrying `payloadLength` bytes. */
export function inbandPacketLen8(payloadLength: number): number {
  return Math.ceil((PacketDescriptor.size + payloadLength) / RING_PACKET_ALIGNMENT);
}

/** Largest payload a packet can describe: len8 is a u16 of 8-byte units. */
export const PACKET_MAX_LENGTH = 0xffff * RING_PACKET_ALIGNMENT;

// ---- GPA ranges (shared by GPA-direct packets and GPADL messages) ----

/** gpa_range: byte_count u32, byte_offset u32, then ceil((offset+count)/4096) PFNs (u64 each). */
export const GpaRange = {
  byteCount: 0,
  byteOffset: 4,
  pfns: 8,
  /** Size of the fixed part before the PFN array. */
  headerSize: 8,
} as const;

export interface GpaRangeFields {
  byteCount: number;
  byteOffset: number;
  /** Guest page frame numbers (GPA >> 12). */
  pfns: readonly bigint[];
}

/** PFNs a range of `byteCount` bytes starting `byteOffset` into its first page spans. */
export function gpaRangePfnCount(byteOffset: number, byteCount: number): number {
  return Math.ceil((byteOffset + byteCount) / VMBUS_PAGE_SIZE);
}

/** Encoded size of one gpa_range. */
export function gpaRangeSize(byteOffset: number, byteCount: number): number {
  return GpaRange.headerSize + 8 * gpaRangePfnCount(byteOffset, byteCount);
}

/**
 * Write `ranges` at `offset`; returns the bytes written. The PFN count written for each range is the
 * one its offset and count imply; a mismatching `pfns` array is a caller bug and throws.
 */
export function encodeGpaRanges(view: DataView, offset: number, ranges: readonly GpaRangeFields[]): number {
  let at = offset;
  for (const r of ranges) {
    const n = gpaRangePfnCount(r.byteOffset, r.byteCount);
    if (r.pfns.length !== n) {
      throw new RangeError(`gpa_range of ${r.byteCount} bytes at offset ${r.byteOffset} needs ${n} PFNs`);
    }
    view.setUint32(at + GpaRange.byteCount, r.byteCount, true);
    view.setUint32(at + GpaRange.byteOffset, r.byteOffset, true);
    at += GpaRange.pfns;
    for (const pfn of r.pfns) {
      view.setBigUint64(at, pfn, true);
      at += 8;
    }
  }
  return at - offset;
}

/**
 * Read `count` gpa_ranges from `[offset, offset + length)`. Counts come from the peer, so every range
 * is checked to fit before its PFNs are read. Returns the ranges and the bytes they occupied.
 */
export function decodeGpaRanges(
  view: DataView,
  offset: number,
  length: number,
  count: number,
  layout = 'GpaRange',
): VmbusDecoded<{ ranges: GpaRangeFields[]; size: number }> {
  const avail = availableBytes(view, offset, length);
  if (avail < 0) return truncated(layout, GpaRange.headerSize, 0);
  const ranges: GpaRangeFields[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (avail - at < GpaRange.headerSize) return truncated(layout, at + GpaRange.headerSize, avail);
    const byteCount = view.getUint32(offset + at + GpaRange.byteCount, true);
    const byteOffset = view.getUint32(offset + at + GpaRange.byteOffset, true);
    const n = gpaRangePfnCount(byteOffset, byteCount);
    const size = GpaRange.headerSize + 8 * n;
    if (avail - at < size) return truncated(layout, at + size, avail);
    const pfns: bigint[] = new Array(n);
    for (let p = 0; p < n; p++) pfns[p] = view.getBigUint64(offset + at + GpaRange.pfns + 8 * p, true);
    ranges.push({ byteCount, byteOffset, pfns });
    at += size;
  }
  return decoded({ ranges, size: at });
}

// ---- GPA-direct packets (type 9) ----

/** Offsets from the descriptor start of a VM_PKT_DATA_USING_GPA_DIRECT packet. */
export const GpaDirectPacket = {
  reserved: 16,
  rangeCount: 20,
  ranges: 24,
} as const;

/** Page-buffer form: at most this many single-PFN ranges (Linux MAX_PAGE_BUFFER_COUNT). */
export const GPA_DIRECT_MAX_PAGE_BUFFERS = 32;

export interface GpaDirectPacketFields {
  flags: VmbusPacketFlags;
  transactionId: bigint;
  ranges: readonly GpaRangeFields[];
  /** Payload after the ranges. */
  payload: Uint8Array;
}

/** Total len8*8 size of a GPA-direct packet. */
export function gpaDirectPacketSize(
  ranges: readonly Pick<GpaRangeFields, 'byteCount' | 'byteOffset'>[],
  payloadLength: number,
): number {
  let headers = GpaDirectPacket.ranges;
  for (const r of ranges) headers += gpaRangeSize(r.byteOffset, r.byteCount);
  return Math.ceil((headers + payloadLength) / RING_PACKET_ALIGNMENT) * RING_PACKET_ALIGNMENT;
}

/** Encode a whole GPA-direct packet (descriptor, ranges, payload, zero padding); returns its size. */
export function encodeGpaDirectPacket(view: DataView, offset: number, fields: GpaDirectPacketFields): number {
  const headerEnd =
    GpaDirectPacket.ranges + encodeGpaRanges(view, offset + GpaDirectPacket.ranges, fields.ranges);
  const total =
    Math.ceil((headerEnd + fields.payload.length) / RING_PACKET_ALIGNMENT) * RING_PACKET_ALIGNMENT;
  // Headers are 8-aligned (24 + 8-multiples), so offset8 is exact.
  encodePacketDescriptor(view, offset, {
    type: VmbusPacketType.DataUsingGpaDirect,
    offset8: headerEnd / RING_PACKET_ALIGNMENT,
    len8: total / RING_PACKET_ALIGNMENT,
    flags: fields.flags,
    transactionId: fields.transactionId,
  });
  view.setUint32(offset + GpaDirectPacket.reserved, 0, true);
  view.setUint32(offset + GpaDirectPacket.rangeCount, fields.ranges.length, true);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, total);
  bytes.set(fields.payload, headerEnd);
  bytes.fill(0, headerEnd + fields.payload.length);
  return total;
}

/**
 * Decode a GPA-direct packet from `[offset, offset + length)`. The ranges must fit inside offset8*8
 * and there must be at least one (openvmm rejects range_count 0).
 */
export function decodeGpaDirectPacket(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<GpaDirectPacketFields & { offset8: number; len8: number }> {
  const layout = 'GpaDirectPacket';
  const desc = decodePacketDescriptor(view, offset, length);
  if (!desc.ok) return desc;
  const d = desc.value;
  if (d.type !== VmbusPacketType.DataUsingGpaDirect) {
    return invalidField(layout, 'type', `expected ${VmbusPacketType.DataUsingGpaDirect}, got ${d.type}`);
  }
  const headerLimit = d.offset8 * RING_PACKET_ALIGNMENT;
  if (headerLimit < GpaDirectPacket.ranges)
    return invalidField(layout, 'offset8', 'too small for the range header');
  const rangeCount = view.getUint32(offset + GpaDirectPacket.rangeCount, true);
  if (rangeCount === 0) return invalidField(layout, 'rangeCount', 'must be at least 1');
  const r = decodeGpaRanges(
    view,
    offset + GpaDirectPacket.ranges,
    headerLimit - GpaDirectPacket.ranges,
    rangeCount,
    layout,
  );
  if (!r.ok) return invalidField(layout, 'rangeCount', `ranges do not fit in offset8 (${r.error.message})`);
  const payload = new Uint8Array(
    view.buffer,
    view.byteOffset + offset + headerLimit,
    (d.len8 - d.offset8) * RING_PACKET_ALIGNMENT,
  ).slice();
  return decoded({
    flags: d.flags,
    transactionId: d.transactionId,
    ranges: r.value.ranges,
    payload,
    offset8: d.offset8,
    len8: d.len8,
  });
}

// ---- Transfer-page packets (type 7) ----

/** Offsets from the descriptor start of a VM_PKT_DATA_USING_XFER_PAGES packet. */
export const TransferPagePacket = {
  transferPageSetId: 16,
  senderOwnsSet: 18,
  reserved: 19,
  rangeCount: 20,
  ranges: 24,
} as const;

/** One transfer-page range: {byte_count u32, byte_offset u32}. */
export const TransferPageRange = {
  byteCount: 0,
  byteOffset: 4,
  size: 8,
} as const;

export interface TransferPageRangeFields {
  byteCount: number;
  byteOffset: number;
}

export interface TransferPagePacketFields {
  flags: VmbusPacketFlags;
  transactionId: bigint;
  transferPageSetId: number;
  senderOwnsSet: boolean;
  ranges: readonly TransferPageRangeFields[];
}

/** Encode a transfer-page packet (descriptor, header, ranges; the payload is the ranges). */
export function encodeTransferPagePacket(
  view: DataView,
  offset: number,
  fields: TransferPagePacketFields,
): number {
  const end = TransferPagePacket.ranges + TransferPageRange.size * fields.ranges.length;
  encodePacketDescriptor(view, offset, {
    type: VmbusPacketType.DataUsingTransferPages,
    offset8: end / RING_PACKET_ALIGNMENT,
    len8: end / RING_PACKET_ALIGNMENT,
    flags: fields.flags,
    transactionId: fields.transactionId,
  });
  view.setUint16(offset + TransferPagePacket.transferPageSetId, fields.transferPageSetId, true);
  view.setUint8(offset + TransferPagePacket.senderOwnsSet, fields.senderOwnsSet ? 1 : 0);
  view.setUint8(offset + TransferPagePacket.reserved, 0);
  view.setUint32(offset + TransferPagePacket.rangeCount, fields.ranges.length, true);
  let at = offset + TransferPagePacket.ranges;
  for (const r of fields.ranges) {
    view.setUint32(at + TransferPageRange.byteCount, r.byteCount, true);
    view.setUint32(at + TransferPageRange.byteOffset, r.byteOffset, true);
    at += TransferPageRange.size;
  }
  return end;
}

/** Decode a transfer-page packet; the ranges must fit inside offset8*8. */
export function decodeTransferPagePacket(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<TransferPagePacketFields & { offset8: number; len8: number }> {
  const layout = 'TransferPagePacket';
  const desc = decodePacketDescriptor(view, offset, length);
  if (!desc.ok) return desc;
  const d = desc.value;
  if (d.type !== VmbusPacketType.DataUsingTransferPages) {
    return invalidField(layout, 'type', `expected ${VmbusPacketType.DataUsingTransferPages}, got ${d.type}`);
  }
  const headerLimit = d.offset8 * RING_PACKET_ALIGNMENT;
  if (headerLimit < TransferPagePacket.ranges)
    return invalidField(layout, 'offset8', 'too small for the header');
  const rangeCount = view.getUint32(offset + TransferPagePacket.rangeCount, true);
  if (rangeCount > (headerLimit - TransferPagePacket.ranges) / TransferPageRange.size) {
    return invalidField(layout, 'rangeCount', 'ranges do not fit in offset8');
  }
  const ranges: TransferPageRangeFields[] = new Array(rangeCount);
  for (let i = 0; i < rangeCount; i++) {
    const at = offset + TransferPagePacket.ranges + i * TransferPageRange.size;
    ranges[i] = {
      byteCount: view.getUint32(at + TransferPageRange.byteCount, true),
      byteOffset: view.getUint32(at + TransferPageRange.byteOffset, true),
    };
  }
  return decoded({
    flags: d.flags,
    transactionId: d.transactionId,
    transferPageSetId: view.getUint16(offset + TransferPagePacket.transferPageSetId, true),
    senderOwnsSet: view.getUint8(offset + TransferPagePacket.senderOwnsSet) !== 0,
    ranges,
    offset8: d.offset8,
    len8: d.len8,
  });
}

// ---- Legacy GPADL packets (types 4/5), unused by modern drivers ----

/** Offsets from the descriptor start of VM_PKT_ESTABLISH_GPADL / VM_PKT_TEARDOWN_GPADL. */
export const GpadlPacket = {
  gpadl: 16,
  rangeCount: 20,
  ranges: 24,
} as const;
