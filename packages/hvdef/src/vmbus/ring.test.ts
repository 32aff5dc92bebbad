import { describe, expect, it } from 'vitest';
import {
  alignToPacket,
  isValidRingIndex,
  isValidRingSize,
  RING_CONTROL_PAGE_SIZE,
  RING_FEATURE_PENDING_SEND_SIZE,
  RING_MIN_FREE_BYTES,
  RING_PACKET_ALIGNMENT,
  RING_TRAILER_SIZE,
  RingControl,
  ringAdvance,
  ringBytesToRead,
  ringBytesToWrite,
  ringDataSize,
  ringPacketFootprint,
  ringTrailerValue,
  VMBUS_PAGE_SIZE,
} from './ring.js';
import { hex, zeroView } from './test-util.test-fixture.js';

describe('ring control page (spec 1.1)', () => {
  it('pins every offset and constant', () => {
    expect(RingControl).toEqual({
      writeIndex: 0,
      readIndex: 4,
      interruptMask: 8,
      pendingSendSize: 12,
      featureBits: 64,
    });
    expect(RING_CONTROL_PAGE_SIZE).toBe(4096);
    expect(VMBUS_PAGE_SIZE).toBe(4096);
    expect(RING_FEATURE_PENDING_SEND_SIZE).toBe(1);
    expect(RING_PACKET_ALIGNMENT).toBe(8);
    expect(RING_TRAILER_SIZE).toBe(8);
    expect(RING_MIN_FREE_BYTES).toBe(8);
  });

  it('TV1: an empty control page as Linux initialises it', () => {
    const { bytes, view } = zeroView(RING_CONTROL_PAGE_SIZE);
    view.setUint32(RingControl.featureBits, RING_FEATURE_PENDING_SEND_SIZE, true);
    expect(bytes.subarray(0x40, 0x44)).toEqual(hex('01 00 00 00'));
    expect(bytes.filter((b) => b !== 0).length).toBe(1);
    expect(view.getUint32(RingControl.writeIndex, true)).toBe(0);
    expect(view.getUint32(RingControl.readIndex, true)).toBe(0);
  });
});

describe('ring arithmetic (spec 1.2, 1.3)', () => {
  it('sizes: multiple of 4 KiB with at least one data page', () => {
    expect(isValidRingSize(8192)).toBe(true);
    expect(isValidRingSize(4096 * 4)).toBe(true);
    expect(isValidRingSize(4096)).toBe(false);
    expect(isValidRingSize(0)).toBe(false);
    expect(isValidRingSize(8192 + 8)).toBe(false);
    expect(isValidRingSize(-8192)).toBe(false);
    expect(isValidRingSize(Number.NaN)).toBe(false);
    expect(ringDataSize(8192)).toBe(4096);
  });

  it('indices: inside the data area and 8-aligned', () => {
    expect(isValidRingIndex(0, 4096)).toBe(true);
    expect(isValidRingIndex(4088, 4096)).toBe(true);
    expect(isValidRingIndex(4096, 4096)).toBe(false);
    expect(isValidRingIndex(4, 4096)).toBe(false);
    expect(isValidRingIndex(-8, 4096)).toBe(false);
  });

  it('bytes to read / write, empty and wrapped', () => {
    expect(ringBytesToRead(0, 0, 4096)).toBe(0);
    expect(ringBytesToWrite(0, 0, 4096)).toBe(4096);
    expect(ringBytesToRead(40, 0, 4096)).toBe(40);
    expect(ringBytesToWrite(40, 0, 4096)).toBe(4056);
    expect(ringBytesToRead(16, 4072, 4096)).toBe(40);
    expect(ringBytesToWrite(16, 4072, 4096)).toBe(4056);
  });

  it('TV2: two 16-byte inband packets advance write_index 0 -> 40 -> 80, trailers carry the start', () => {
    expect(ringPacketFootprint(4)).toBe(40);
    expect(ringAdvance(0, 40, 4096)).toBe(40);
    expect(ringAdvance(40, 40, 4096)).toBe(80);
    expect(ringTrailerValue(0)).toBe(0n);
    const { bytes, view } = zeroView(8);
    view.setBigUint64(0, ringTrailerValue(40), true);
    expect(bytes).toEqual(hex('00 00 00 00 28 00 00 00'));
  });

  it('TV3: wrap at 4072 in a 4096-byte data area ends at 16 with the trailer at 8', () => {
    const start = 4072;
    const trailerAt = ringAdvance(start, 32, 4096);
    expect(trailerAt).toBe(8);
    expect(ringAdvance(start, ringPacketFootprint(4), 4096)).toBe(16);
    const { bytes, view } = zeroView(8);
    view.setBigUint64(0, ringTrailerValue(start), true);
    expect(bytes).toEqual(hex('00 00 00 00 e8 0f 00 00'));
  });

  it('TV3: the wrapped packet lands in two pieces and its trailer at data offset 8', () => {
    const data = new Uint8Array(4096);
    const packet = new Uint8Array(40);
    const pv = new DataView(packet.buffer);
    pv.setUint16(0, 6, true);
    pv.setUint16(2, 2, true);
    pv.setUint16(4, 4, true);
    pv.setUint16(6, 1, true);
    pv.setBigUint64(8, 0x1122334455667788n, true);
    for (let i = 0; i < 16; i++) packet[16 + i] = i;
    pv.setBigUint64(32, ringTrailerValue(4072), true);
    // Plain modular addressing, as the spec describes it.
    let at = 4072;
    for (const b of packet) {
      data[at] = b;
      at = ringAdvance(at, 1, 4096);
    }
    expect(at).toBe(16);
    expect(data.subarray(4072, 4096)).toEqual(packet.subarray(0, 24));
    expect(data.subarray(0, 16)).toEqual(packet.subarray(24, 40));
    expect(data.subarray(8, 16)).toEqual(hex('00 00 00 00 e8 0f 00 00'));
    expect(ringBytesToRead(16, 4072, 4096)).toBe(40);
  });

  it('TV4: the full rule refuses 4096 into an empty 4096-byte ring, accepts 4088', () => {
    const free = ringBytesToWrite(0, 0, 4096);
    // Linux: refuse when free <= total.
    expect(free <= 4096).toBe(true);
    expect(free <= 4088).toBe(false);
    expect(free - RING_MIN_FREE_BYTES >= 4088).toBe(true);
  });

  it('aligns to 8', () => {
    expect(alignToPacket(0)).toBe(0);
    expect(alignToPacket(1)).toBe(8);
    expect(alignToPacket(8)).toBe(8);
    expect(alignToPacket(44)).toBe(48);
    expect(alignToPacket(2 ** 33 + 1)).toBe(2 ** 33 + 8);
  });
});
