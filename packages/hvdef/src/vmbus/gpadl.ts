// GPADLs (spec vmbus.md 4): a guest-chosen u32 handle naming a list of guest page frames. The range
// buffer (one or more gpa_range records) is split over one GPADL_HEADER and zero or more GPADL_BODY
// messages, each limited to a 240-byte SynIC payload.
import {
  GpadlBody,
  type GpadlBodyFields,
  GpadlHeader,
  type GpadlHeaderFields,
  VMBUS_MESSAGE_MAX_SIZE,
} from './channel-messages.js';
import { decoded, invalidField, type VmbusDecoded } from './errors.js';
import { decodeGpaRanges, encodeGpaRanges, type GpaRangeFields, gpaRangeSize } from './packet.js';

/** u64 slots (range headers or PFNs) a GPADL_HEADER can carry after its fixed part: 27. */
export const GPADL_HEADER_MAX_SLOTS = Math.floor((VMBUS_MESSAGE_MAX_SIZE - GpadlHeader.size) / 8);
/** PFNs a GPADL_HEADER carries after a single range header: 26. */
export const GPADL_HEADER_MAX_PFNS = GPADL_HEADER_MAX_SLOTS - 1;
/** PFNs (u64 slots) each GPADL_BODY carries: 28. */
export const GPADL_BODY_MAX_PFNS = Math.floor((VMBUS_MESSAGE_MAX_SIZE - GpadlBody.size) / 8);
/** range_buflen is a u16. */
export const GPADL_MAX_RANGE_BUFFER_LENGTH = 0xfff8;
/** First handle Linux allocates (it counts up from here); any unique u32 is legal. */
export const GPADL_LINUX_FIRST_HANDLE = 0xe1e10;
/** Largest PFN count one gpa_range may name (MsvmPkg GPA_RANGE_MAX_PFN_COUNT). */
export const GPA_RANGE_MAX_PFN_COUNT = 0xfffff;

/** Byte length of the range buffer describing `ranges` (8 + 8 * pfnCount per range). */
export function gpadlRangeBufferLength(
  ranges: readonly Pick<GpaRangeFields, 'byteCount' | 'byteOffset'>[],
): number {
  let n = 0;
  for (const r of ranges) n += gpaRangeSize(r.byteOffset, r.byteCount);
  return n;
}

/** Number of GPADL_BODY messages needed after the header for a range buffer of this length. */
export function gpadlBodyCount(rangeBufferLength: number): number {
  const rest = rangeBufferLength - GPADL_HEADER_MAX_SLOTS * 8;
  return rest <= 0 ? 0 : Math.ceil(rest / (GPADL_BODY_MAX_PFNS * 8));
}

export interface GpadlMessages {
  header: GpadlHeaderFields;
  bodies: GpadlBodyFields[];
}

/**
 * Split a GPADL into its GPADL_HEADER and GPADL_BODY messages (Linux style: body message numbers 0).
 * Throws RangeError if the ranges are empty, a PFN list does not match its range, or the range buffer
 * exceeds the u16 range_buflen.
 */
export function buildGpadlMessages(
  childRelid: number,
  gpadl: number,
  ranges: readonly GpaRangeFields[],
): GpadlMessages {
  if (ranges.length === 0 || ranges.length > 0xffff) throw new RangeError('a GPADL needs 1..65535 ranges');
  const length = gpadlRangeBufferLength(ranges);
  if (length > GPADL_MAX_RANGE_BUFFER_LENGTH) {
    throw new RangeError(`range buffer of ${length} bytes exceeds ${GPADL_MAX_RANGE_BUFFER_LENGTH}`);
  }
  const buffer = new Uint8Array(length);
  encodeGpaRanges(new DataView(buffer.buffer), 0, ranges);
  const first = Math.min(length, GPADL_HEADER_MAX_SLOTS * 8);
  const header: GpadlHeaderFields = {
    childRelid,
    gpadl,
    rangeBufferLength: length,
    rangeCount: ranges.length,
    data: buffer.slice(0, first),
  };
  const bodies: GpadlBodyFields[] = [];
  for (let at = first; at < length; at += GPADL_BODY_MAX_PFNS * 8) {
    bodies.push({
      messageNumber: 0,
      gpadl,
      data: buffer.slice(at, Math.min(length, at + GPADL_BODY_MAX_PFNS * 8)),
    });
  }
  return { header, bodies };
}

/**
 * Parse a complete range buffer (header data followed by every body's data) into its ranges. The
 * buffer must hold exactly `rangeCount` ranges and nothing else.
 */
export function decodeGpadlRangeBuffer(
  buffer: Uint8Array,
  rangeCount: number,
): VmbusDecoded<GpaRangeFields[]> {
  const layout = 'GpadlRangeBuffer';
  if (rangeCount === 0) return invalidField(layout, 'rangeCount', 'must be at least 1');
  const r = decodeGpaRanges(
    new DataView(buffer.buffer, buffer.byteOffset, buffer.length),
    0,
    buffer.length,
    rangeCount,
    layout,
  );
  if (!r.ok) return r;
  if (r.value.size !== buffer.length)
    return invalidField(layout, 'rangeBufferLength', 'does not match the ranges');
  for (const range of r.value.ranges) {
    if (range.pfns.length > GPA_RANGE_MAX_PFN_COUNT)
      return invalidField(layout, 'byteCount', 'too many pages');
  }
  return decoded(r.value.ranges);
}
