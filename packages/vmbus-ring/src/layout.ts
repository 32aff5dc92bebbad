// The wire constants the ring uses, taken from @viridian/hvdef once and kept as plain module
// constants so the hot path reads no objects.
import {
  PacketDescriptor,
  RING_FEATURE_PENDING_SEND_SIZE,
  RING_MIN_FREE_BYTES,
  RING_TRAILER_SIZE,
  RingControl,
  VMBUS_PAGE_SIZE,
  VmbusPacketFlags,
  VmbusPacketType,
} from '@viridian/hvdef';

/** All ring sizes and data pages count 4 KiB pages. */
export const PAGE_SIZE = VMBUS_PAGE_SIZE;
export const PAGE_SHIFT = 12;
export const PAGE_MASK = PAGE_SIZE - 1;

/** Control-page fields as Int32Array word indices. */
export const CTL_WRITE_INDEX = RingControl.writeIndex / 4;
export const CTL_READ_INDEX = RingControl.readIndex / 4;
export const CTL_INTERRUPT_MASK = RingControl.interruptMask / 4;
export const CTL_PENDING_SEND_SIZE = RingControl.pendingSendSize / 4;
export const CTL_FEATURE_BITS = RingControl.featureBits / 4;
/** Words of the control page the ring maps (the rest is reserved). */
export const CTL_WORDS = 32;

export const FEATURE_PENDING_SEND_SIZE = RING_FEATURE_PENDING_SEND_SIZE;

export const DESCRIPTOR_SIZE = PacketDescriptor.size;
export const TRAILER_SIZE = RING_TRAILER_SIZE;
/** Descriptor + reserved u32 + range_count u32 of GPA-direct and transfer-page packets. */
export const EXTENDED_HEADER_SIZE = DESCRIPTOR_SIZE + 8;
/** A writer always leaves 8 bytes unused: read == write means empty. */
export const MIN_FREE = RING_MIN_FREE_BYTES;
/** len8 and offset8 are u16 counts of 8-byte units. */
export const MAX_LEN8 = 0xffff;

export const TYPE_INBAND = VmbusPacketType.DataInband;
export const TYPE_TRANSFER_PAGES = VmbusPacketType.DataUsingTransferPages;
export const TYPE_GPA_DIRECT = VmbusPacketType.DataUsingGpaDirect;
export const TYPE_COMPLETION = VmbusPacketType.Completion;

export const FLAG_COMPLETION_REQUESTED = VmbusPacketFlags.CompletionRequested;
