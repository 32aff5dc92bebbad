// The VMBus ring buffer: one direction of a channel, byte-compatible with Hyper-V.
export {
  RingCorruptCode,
  RingCorruptError,
  RingMemoryError,
  RingMemoryErrorCode,
} from './errors.js';
export { type GpaRange, gpaRangePageCount, gpaRangesSize } from './gpa.js';
export { IncomingRing, type IncomingRingOptions, ReadStatus } from './incoming.js';
export { contiguousRingMemory, MAX_RING_DATA_SIZE, type RingMemory } from './memory.js';
export { type RingOptions, WaitStatus } from './options.js';
export { gpaDirectPacketSize, inbandPacketSize, OutgoingRing, WriteStatus } from './outgoing.js';
export { type DecodedGpaRange, PacketView } from './packet-view.js';
