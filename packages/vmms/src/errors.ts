/**
 * The closed set of error codes the management API can answer with. Every failure inside VMMS
 * is mapped to one of these before it leaves the service.
 */
export const ErrorCode = {
  NotFound: 'NotFound',
  InvalidState: 'InvalidState',
  InvalidArgument: 'InvalidArgument',
  Unauthorized: 'Unauthorized',
  Conflict: 'Conflict',
  Internal: 'Internal',
  VersionMismatch: 'VersionMismatch',
  Corrupt: 'Corrupt',
  Timeout: 'Timeout',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const CODES = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODES.has(value);
}

/** A failure with a stable code; the message is for people and may change. */
export class VmmsError extends Error {
  override readonly name = 'VmmsError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Maps anything thrown to a VmmsError; unknown failures become Internal without leaking stacks. */
export function toVmmsError(error: unknown): VmmsError {
  if (error instanceof VmmsError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new VmmsError(ErrorCode.Internal, message);
}
