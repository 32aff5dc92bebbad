/** Why a page list cannot carry a ring. */
export const RingMemoryErrorCode = {
  NotShared: 'RING_MEMORY_NOT_SHARED',
  TooFewPages: 'RING_TOO_FEW_PAGES',
  PageUnaligned: 'RING_PAGE_UNALIGNED',
  PageOutOfRange: 'RING_PAGE_OUT_OF_RANGE',
  PageDuplicate: 'RING_PAGE_DUPLICATE',
  TooLarge: 'RING_TOO_LARGE',
  BadIndex: 'RING_BAD_INITIAL_INDEX',
} as const;
export type RingMemoryErrorCode = (typeof RingMemoryErrorCode)[keyof typeof RingMemoryErrorCode];

/** The memory offered for a ring (page list, buffer, initial indices) is unusable. Returned, not thrown. */
export class RingMemoryError extends Error {
  override readonly name = 'RingMemoryError';
  constructor(
    readonly code: RingMemoryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What the peer did to the shared ring that the ring refuses to interpret. */
export const RingCorruptCode = {
  /** A peer-owned index is outside the data area or not 8-byte aligned. */
  BadIndex: 'RING_BAD_INDEX',
  /** The bytes between read and write index cannot hold even a descriptor and trailer. */
  BadAvailable: 'RING_BAD_AVAILABLE',
  /** offset8 < 2, len8 < offset8, or an extended header shorter than its type needs. */
  BadDescriptorLengths: 'RING_BAD_DESCRIPTOR_LENGTHS',
  /** len8 * 8 + trailer is more than the bytes the writer published. */
  PacketPastAvailable: 'RING_PACKET_PAST_AVAILABLE',
  BadDescriptorFlags: 'RING_BAD_DESCRIPTOR_FLAGS',
  BadDescriptorType: 'RING_BAD_DESCRIPTOR_TYPE',
  /** A GPA-direct packet with range_count 0, or ranges that overrun the header area. */
  BadGpaRanges: 'RING_BAD_GPA_RANGES',
  /** The trailer after a packet does not name the packet's start offset. */
  BadTrailer: 'RING_BAD_TRAILER',
} as const;
export type RingCorruptCode = (typeof RingCorruptCode)[keyof typeof RingCorruptCode];

/**
 * The peer corrupted the ring. The ring that detects it stops (every later call reports corrupt)
 * and keeps this error for its owner, which closes the channel.
 */
export class RingCorruptError extends Error {
  override readonly name = 'RingCorruptError';
  constructor(
    readonly code: RingCorruptCode,
    message: string,
    /** Data offset at which the problem was found. */
    readonly offset: number,
  ) {
    super(message);
  }
}
