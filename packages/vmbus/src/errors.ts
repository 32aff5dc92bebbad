/** Why the VMBus layer refused or dropped something the other side sent. Stable strings for logs and tests. */
export const VmbusErrorCode = {
  /** A channel message shorter than its layout, longer than 240 bytes, or with a bad field. */
  MalformedMessage: 'ERR_VMBUS_MALFORMED_MESSAGE',
  /** A message type that this side does not accept (unknown, wrong direction, or needs a newer version). */
  UnexpectedMessage: 'ERR_VMBUS_UNEXPECTED_MESSAGE',
  /** The message is valid but not in the current connection or channel state. */
  InvalidState: 'ERR_VMBUS_INVALID_STATE',
  /** A message arrived on the wrong connection id for the negotiated version. */
  WrongConnectionId: 'ERR_VMBUS_WRONG_CONNECTION_ID',
  UnknownRelid: 'ERR_VMBUS_UNKNOWN_RELID',
  UnknownGpadl: 'ERR_VMBUS_UNKNOWN_GPADL',
  DuplicateGpadl: 'ERR_VMBUS_DUPLICATE_GPADL',
  /** A GPADL's range list is inconsistent (counts, offsets, lengths, more PFNs than announced). */
  MalformedGpadl: 'ERR_VMBUS_MALFORMED_GPADL',
  /** A GPADL names a page outside the guest's memory. */
  GpadlPageOutOfRange: 'ERR_VMBUS_GPADL_PAGE_OUT_OF_RANGE',
  /** Too many GPADLs in progress or in total for this connection. */
  GpadlLimit: 'ERR_VMBUS_GPADL_LIMIT',
  /** A ring GPADL or open request that cannot carry two rings. */
  BadRingGpadl: 'ERR_VMBUS_BAD_RING_GPADL',
  /** The guest sends channel messages faster than the budget allows. */
  MessageFlood: 'ERR_VMBUS_MESSAGE_FLOOD',
  OffersAlreadySent: 'ERR_VMBUS_OFFERS_ALREADY_SENT',
  /** The device refused to open the channel. */
  OpenRefused: 'ERR_VMBUS_OPEN_REFUSED',
  /** A channel's ring was corrupted by the peer; the channel was closed. */
  RingCorrupt: 'ERR_VMBUS_RING_CORRUPT',
  /** An access through a GPADL view fell outside the pages the GPADL grants. */
  GpadlAccessOutOfRange: 'ERR_VMBUS_GPADL_ACCESS_OUT_OF_RANGE',
  /** The transport (hypercalls, SynIC) reported a failure. */
  Transport: 'ERR_VMBUS_TRANSPORT',
} as const;
export type VmbusErrorCode = (typeof VmbusErrorCode)[keyof typeof VmbusErrorCode];

/**
 * A refusal by the VMBus layer. Cores never throw these out of message handling: they pass them to the
 * owner's `onError` (log) callback and answer with the protocol's own status where one exists.
 */
export class VmbusError extends Error {
  override readonly name = 'VmbusError';
  constructor(
    readonly code: VmbusErrorCode,
    message: string,
    /** Channel the error concerns, when known. */
    readonly relid?: number,
  ) {
    super(message);
  }
}
