/** Base class of every error this package throws; `code` is stable and meant for programs. */
export class VhdError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Stable codes of {@link VhdFormatError}: the file is not a valid (or not a supported) disk image. */
export const VhdFormatErrorCode = {
  UnknownFormat: 'UNKNOWN_FORMAT',
  Truncated: 'TRUNCATED',
  BadSignature: 'BAD_SIGNATURE',
  BadChecksum: 'BAD_CHECKSUM',
  BadField: 'BAD_FIELD',
  Unsupported: 'UNSUPPORTED',
  BatEntryBeyondEof: 'BAT_ENTRY_BEYOND_EOF',
  BatOverlap: 'BAT_OVERLAP',
  BadLog: 'BAD_LOG',
  ParentNotFound: 'PARENT_NOT_FOUND',
  ParentMismatch: 'PARENT_MISMATCH',
  ParentChainTooDeep: 'PARENT_CHAIN_TOO_DEEP',
} as const;
export type VhdFormatErrorCode = (typeof VhdFormatErrorCode)[keyof typeof VhdFormatErrorCode];

/** The file's content is corrupt, truncated or uses a feature this package does not support. */
export class VhdFormatError extends VhdError {
  declare readonly code: VhdFormatErrorCode;
  constructor(code: VhdFormatErrorCode, message: string) {
    super(code, message);
  }
}

/** Stable codes of {@link VhdOperationError}: a valid disk, but the requested operation cannot be done. */
export const VhdOperationErrorCode = {
  InvalidArgument: 'INVALID_ARGUMENT',
  OutOfRange: 'OUT_OF_RANGE',
  ReadOnly: 'READ_ONLY',
  Closed: 'CLOSED',
  ShrinkWouldLoseData: 'SHRINK_WOULD_LOSE_DATA',
  NotDifferencing: 'NOT_DIFFERENCING',
  /** A proposed parent differs from the child in format, virtual size or logical sector size. */
  ParentIncompatible: 'PARENT_INCOMPATIBLE',
} as const;
export type VhdOperationErrorCode = (typeof VhdOperationErrorCode)[keyof typeof VhdOperationErrorCode];

export class VhdOperationError extends VhdError {
  declare readonly code: VhdOperationErrorCode;
  constructor(code: VhdOperationErrorCode, message: string) {
    super(code, message);
  }
}

export function formatError(code: VhdFormatErrorCode, message: string): VhdFormatError {
  return new VhdFormatError(code, message);
}
