import { VmbusError, VmbusErrorCode } from '../errors.js';

/** Why the SynIC transport failed or dropped something. Stable strings for logs and tests. */
export const SynicErrorReason = {
  /** Enabling the SynIC or creating/connecting a port failed (the status says why). */
  Setup: 'ERR_SYNIC_SETUP',
  /** HvPostMessage failed for good (not a transient buffer shortage), or retries ran out. */
  PostFailed: 'ERR_SYNIC_POST_FAILED',
  /** HvSignalEvent failed. */
  SignalFailed: 'ERR_SYNIC_SIGNAL_FAILED',
  /** A SynIC message that is not a VMBus channel message, or from a port this transport does not own. */
  UnexpectedMessage: 'ERR_SYNIC_UNEXPECTED_MESSAGE',
  /** Too many messages wait for the peer to free message buffers; the newest is dropped. */
  QueueOverflow: 'ERR_SYNIC_QUEUE_OVERFLOW',
  /** A message handler threw; the interrupt handler went on. */
  Handler: 'ERR_SYNIC_HANDLER',
} as const;
export type SynicErrorReason = (typeof SynicErrorReason)[keyof typeof SynicErrorReason];

/** A failure of the SynIC transport: a `VmbusError` with code `ERR_VMBUS_TRANSPORT` plus a reason. */
export class SynicTransportError extends VmbusError {
  override readonly name = 'VmbusError';
  constructor(
    readonly reason: SynicErrorReason,
    message: string,
    /** The HV_STATUS the hypervisor returned, when a hypercall failed. */
    readonly status?: number,
    relid?: number,
  ) {
    super(VmbusErrorCode.Transport, message, relid);
  }
}
