// Pipe framing (spec vmbus.md 6.1): every IC message is one in-band packet whose payload starts with an
// 8-byte pipe header carrying the real length (ring payloads are padded to 8 bytes).
import {
  availableBytes,
  decoded,
  invalidField,
  oversized,
  truncated,
  type VmbusDecoded,
} from '../vmbus/errors.js';

export const PipeMessageType = {
  Invalid: 0,
  Data: 1,
  /** Partially consumed data: the size field is then {data_size u16, offset u16}. Never written by a peer. */
  Partial: 2,
  SetupGpaDirect: 3,
  TeardownGpaDirect: 4,
  IndicationComplete: 5,
} as const;
export type PipeMessageType = number;

/** vmbuspipe_hdr. */
export const PipeHeader = {
  packetType: 0,
  dataSize: 4,
  size: 8,
} as const;

/** Largest pipe payload (bytes after the pipe header). */
export const PIPE_MAX_PAYLOAD = 16384;

export interface PipeHeaderFields {
  packetType: PipeMessageType;
  /** Bytes that follow the pipe header. */
  dataSize: number;
}

export function encodePipeHeader(view: DataView, offset: number, f: PipeHeaderFields): number {
  view.setUint32(offset + PipeHeader.packetType, f.packetType, true);
  view.setUint32(offset + PipeHeader.dataSize, f.dataSize, true);
  return PipeHeader.size;
}

/**
 * Decode a pipe header from a packet payload of `length` bytes. Only DATA is accepted, and the
 * declared size must fit in the payload and in {@link PIPE_MAX_PAYLOAD}.
 */
export function decodePipeHeader(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<PipeHeaderFields> {
  const name = 'PipeHeader';
  const avail = availableBytes(view, offset, length);
  if (avail < PipeHeader.size) return truncated(name, PipeHeader.size, Math.max(avail, 0));
  const packetType = view.getUint32(offset + PipeHeader.packetType, true);
  const dataSize = view.getUint32(offset + PipeHeader.dataSize, true);
  if (packetType !== PipeMessageType.Data)
    return invalidField(name, 'packetType', `expected DATA (1), got ${packetType}`);
  if (dataSize > PIPE_MAX_PAYLOAD) return oversized(name, PIPE_MAX_PAYLOAD, dataSize);
  if (PipeHeader.size + dataSize > avail) return truncated(name, PipeHeader.size + dataSize, avail);
  return decoded({ packetType, dataSize });
}
