/** Stable codes for what an IC endpoint refused from its peer. Such input is dropped or answered, never thrown. */
export const IcProtocolErrorCode = {
  FrameTooShort: 'frame-too-short',
  FrameNotData: 'frame-not-data',
  FramePipeSize: 'frame-pipe-size',
  FrameMessageSize: 'frame-message-size',
  BadNegotiate: 'bad-negotiate',
  UnexpectedType: 'unexpected-type',
  UnexpectedResponse: 'unexpected-response',
  StaleResponse: 'stale-response',
  BodyTooShort: 'body-too-short',
  BadReply: 'bad-reply',
  NotNegotiated: 'not-negotiated',
} as const;
export type IcProtocolErrorCode = (typeof IcProtocolErrorCode)[keyof typeof IcProtocolErrorCode];

export interface IcProtocolError {
  readonly code: IcProtocolErrorCode;
  readonly detail: string;
}

/** Thrown only for programming errors by the local caller (never for anything the peer sends). */
export class IcUsageError extends Error {
  override readonly name = 'IcUsageError';
  constructor(
    readonly code: 'invalid-argument' | 'closed',
    message: string,
  ) {
    super(message);
  }
}
