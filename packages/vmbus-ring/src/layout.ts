// Wire constants the ring needs (spec vmbus.md 1 and 2). They mirror @viridian/hvdef's vmbus
// definitions; the ring keeps them as plain literals so the hot path reads no objects.

/** All ring sizes and data pages count 4 KiB pages. */
export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
export const PAGE_MASK = PAGE_SIZE - 1;

/** Control-page fields as Int32Array word indices (byte offset / 4). */
export const CTL_WRITE_INDEX = 0;
export const CTL_READ_INDEX = 1;
export const CTL_INTERRUPT_MASK = 2;
export const CTL_PENDING_SEND_SIZE = 3;
export const CTL_FEATURE_BITS = 16;
/** Words of the control page the ring touches (the rest is reserved). */
export const CTL_WORDS = 32;

export const FEATURE_PENDING_SEND_SIZE = 1;

export const DESCRIPTOR_SIZE = 16;
export const TRAILER_SIZE = 8;
/** Descriptor + reserved u32 + range_count u32 of GPA-direct and transfer-page packets. */
export const EXTENDED_HEADER_SIZE = 24;
/** A writer always leaves 8 bytes unused: read == write means empty. */
export const MIN_FREE = 8;
/** len8 and offset8 are u16 counts of 8-byte units. */
export const MAX_LEN8 = 0xffff;

export const TYPE_INBAND = 0x6;
export const TYPE_TRANSFER_PAGES = 0x7;
export const TYPE_GPA_DIRECT = 0x9;
export const TYPE_COMPLETION = 0xb;

export const FLAG_COMPLETION_REQUESTED = 1;
