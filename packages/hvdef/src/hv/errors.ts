/**
 * Thrown by an encoder when the caller passes a field value that does not fit its bit field.
 * Encoders are fed by our own code, so this is a programming error; decoders never throw.
 */
export class HvFieldRangeError extends RangeError {
  readonly code = 'ERR_HV_FIELD_RANGE';
  readonly field: string;

  constructor(field: string, value: unknown, range: string) {
    super(`${field} = ${String(value)} is outside ${range}`);
    this.name = 'HvFieldRangeError';
    this.field = field;
  }
}

/** @internal Checks that `value` is an integer in [0, max]. */
export function checkUint(field: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new HvFieldRangeError(field, value, `0..${max}`);
  }
  return value;
}

/** @internal Checks that `value` is a bigint in [0, max]. */
export function checkUint64(field: string, value: bigint, max: bigint): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > max) {
    throw new HvFieldRangeError(field, value, `0..${max}`);
  }
  return value;
}

/** @internal The unsigned 64-bit view of a bigint (what a register or a u64 field would hold). */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
