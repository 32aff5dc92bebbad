// Ring-buffer control page (spec vmbus.md 1.1) and the index arithmetic every ring user shares (1.2, 1.3).

/** VMBus page size: all VMBus page numbers and ring sizes count 4 KiB pages, whatever the guest uses. */
export const VMBUS_PAGE_SIZE = 4096;

/** Size of the control page at the start of every ring; the data area follows it. */
export const RING_CONTROL_PAGE_SIZE = 4096;

/** Byte offsets of the control-page fields (u32 each). Everything not listed is reserved and zero. */
export const RingControl = {
  /** Next data offset the writer will fill ("in"). Written by the writer. */
  writeIndex: 0,
  /** Next data offset the reader will consume ("out"). Written by the reader. */
  readIndex: 4,
  /** Non-zero: the reader asks the writer not to signal on empty to non-empty. Written by the reader. */
  interruptMask: 8,
  /** 0, or the free bytes a blocked writer waits for. Written by the writer. */
  pendingSendSize: 12,
  /** Feature bits; bit 0 = pending-send-size supported. */
  featureBits: 64,
} as const;

/** Feature bit 0: the side sets pending_send_sz when blocked and honours it on the opposite ring. */
export const RING_FEATURE_PENDING_SEND_SIZE = 1;

/** Packets start at, and indices are, multiples of 8. */
export const RING_PACKET_ALIGNMENT = 8;

/** The u64 after every packet: low 32 bits zero, high 32 bits the packet's start offset. */
export const RING_TRAILER_SIZE = 8;

/**
 * Bytes a writer always leaves free: read == write means empty, so a ring can never be filled
 * completely. An empty ring of data size D accepts at most D - 8 bytes.
 */
export const RING_MIN_FREE_BYTES = 8;

/** True when `totalSize` (control page + data) is a usable ring size: a multiple of 4 KiB with data. */
export function isValidRingSize(totalSize: number): boolean {
  return (
    Number.isSafeInteger(totalSize) &&
    totalSize > RING_CONTROL_PAGE_SIZE &&
    totalSize % VMBUS_PAGE_SIZE === 0 &&
    totalSize - RING_CONTROL_PAGE_SIZE <= 0xffff_ffff
  );
}

/** Data-area size D of a ring of `totalSize` bytes (control page excluded). */
export function ringDataSize(totalSize: number): number {
  return totalSize - RING_CONTROL_PAGE_SIZE;
}

/** An index read from a control page is valid iff it is inside the data area and 8-byte aligned. */
export function isValidRingIndex(index: number, dataSize: number): boolean {
  return index >= 0 && index < dataSize && index % RING_PACKET_ALIGNMENT === 0;
}

/** Bytes the reader can consume. */
export function ringBytesToRead(writeIndex: number, readIndex: number, dataSize: number): number {
  return writeIndex >= readIndex ? writeIndex - readIndex : dataSize - readIndex + writeIndex;
}

/** Free bytes as Linux counts them (D when empty); a write of T bytes needs strictly more than T. */
export function ringBytesToWrite(writeIndex: number, readIndex: number, dataSize: number): number {
  return writeIndex >= readIndex ? dataSize - (writeIndex - readIndex) : readIndex - writeIndex;
}

/** Advance an index by `n` bytes modulo the data size. */
export function ringAdvance(index: number, n: number, dataSize: number): number {
  const next = index + n;
  return next >= dataSize ? next - dataSize : next;
}

/** Ring bytes one packet consumes: its len8*8 bytes plus the trailer. */
export function ringPacketFootprint(len8: number): number {
  return len8 * RING_PACKET_ALIGNMENT + RING_TRAILER_SIZE;
}

/** The trailer value written after a packet that starts at data offset `startOffset`. */
export function ringTrailerValue(startOffset: number): bigint {
  return BigInt(startOffset >>> 0) << 32n;
}

/** Round `n` up to the packet alignment. */
export function alignToPacket(n: number): number {
  return Math.ceil(n / RING_PACKET_ALIGNMENT) * RING_PACKET_ALIGNMENT;
}
