// Decoding failures shared by every VMBus and integration-component decoder. Bytes from the other
// side are hostile, so a decoder returns one of these as a value instead of throwing or reading past
// the end of its input.

export const VmbusDecodeErrorCode = {
  /** Fewer bytes than the layout needs. */
  Truncated: 'ERR_VMBUS_TRUNCATED',
  /** More bytes than the layout allows (e.g. a channel message over 240 bytes). */
  Oversized: 'ERR_VMBUS_OVERSIZED',
  /** A field holds a value the layout cannot accept (count, offset, length out of range). */
  InvalidField: 'ERR_VMBUS_INVALID_FIELD',
} as const;
export type VmbusDecodeErrorCode = (typeof VmbusDecodeErrorCode)[keyof typeof VmbusDecodeErrorCode];

export class VmbusDecodeError extends Error {
  override readonly name = 'VmbusDecodeError';
  readonly code: VmbusDecodeErrorCode;
  /** Name of the layout being decoded, e.g. `OfferChannel`. */
  readonly layout: string;
  /** Field at fault, when one can be named. */
  readonly field: string | undefined;

  constructor(code: VmbusDecodeErrorCode, layout: string, message: string, field?: string) {
    super(`${layout}: ${message}`);
    this.code = code;
    this.layout = layout;
    this.field = field;
  }
}

export type VmbusDecoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: VmbusDecodeError };

export function decoded<T>(value: T): VmbusDecoded<T> {
  return { ok: true, value };
}

export function truncated<T>(layout: string, needed: number, available: number): VmbusDecoded<T> {
  return {
    ok: false,
    error: new VmbusDecodeError(
      VmbusDecodeErrorCode.Truncated,
      layout,
      `needs ${needed} bytes, got ${available}`,
    ),
  };
}

export function oversized<T>(layout: string, max: number, available: number): VmbusDecoded<T> {
  return {
    ok: false,
    error: new VmbusDecodeError(
      VmbusDecodeErrorCode.Oversized,
      layout,
      `at most ${max} bytes, got ${available}`,
    ),
  };
}

export function invalidField<T>(layout: string, field: string, message: string): VmbusDecoded<T> {
  return {
    ok: false,
    error: new VmbusDecodeError(VmbusDecodeErrorCode.InvalidField, layout, `${field}: ${message}`, field),
  };
}

/**
 * Usable byte count of a region `[offset, offset + length)` inside `view`, clamped so a caller-supplied
 * length can never reach past the view. Returns -1 when `offset` itself is outside the view.
 */
export function availableBytes(view: DataView, offset: number, length: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset > view.byteLength) return -1;
  if (!Number.isInteger(length) || length < 0) return -1;
  return Math.min(length, view.byteLength - offset);
}
