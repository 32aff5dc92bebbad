// The guest's end of VMBus over the hypervisor: channel messages posted with HvPostMessage to the
// connection id the client core names (1, or 4 for INITIATE_CONTACT from 5.0), messages from the host
// taken from SIMP slot 2, signals to the host with HvSignalEvent (fast) on the offer's connection id
// and flag 0, signals from the host as SINT 2 event flags numbered by relid.

import { HvStatus, VMBUS_MESSAGE_SINT, VMBUS_SYNIC_MESSAGE_TYPE } from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import type { VmbusError } from '../errors.js';
import type { ClientTransport } from '../transport.js';
import { SynicErrorReason, SynicTransportError } from './errors.js';
import type { SynicTransportStats } from './server.js';
import { InterruptPump, PostQueue, SYNIC_FLAG_COUNT, SynicPort, safeReport } from './synic.js';

export interface SynicClientTransportOptions {
  /**
   * Program the SINT with AutoEOI (default true, as Linux does unless the hypervisor recommends
   * against it): one trap less per interrupt.
   */
  readonly autoEoi?: boolean;
  /** Interrupt vector for SINT 2. Default 0x52. */
  readonly vector?: number;
  /** SIM and SIEF pages (guest GPAs) to program when the VP has none enabled. */
  readonly simpGpa?: number;
  readonly siefpGpa?: number;
  /** Messages waiting for host message buffers before new ones are dropped. Default 1024. */
  readonly maxQueued?: number;
  /** Take the VP's interrupts whenever this thread idles (default true); false if the guest runs its own loop. */
  readonly pump?: boolean;
  onError?(error: VmbusError): void;
}

function sampled(count: number): boolean {
  return count === 1 || (count & 1023) === 0;
}

export class SynicClientTransport implements ClientTransport {
  readonly stats: SynicTransportStats = {
    messagesIn: 0,
    messagesOut: 0,
    messagesDropped: 0,
    signalsIn: 0,
    signalsOut: 0,
    signalsFailed: 0,
  };
  readonly #vp: GuestVp;
  readonly #port: SynicPort;
  readonly #pump: InterruptPump | undefined;
  readonly #queue: PostQueue;
  readonly #onError: ((e: VmbusError) => void) | undefined;
  readonly #doorbells = new Int32Array(new SharedArrayBuffer(4 * SYNIC_FLAG_COUNT));
  #handler: ((bytes: Uint8Array) => void) | undefined;
  #closed = false;

  constructor(vp: GuestVp, options: SynicClientTransportOptions = {}) {
    this.#vp = vp;
    this.#onError = options.onError;
    this.#port = new SynicPort(vp, {
      sint: VMBUS_MESSAGE_SINT,
      vector: options.vector ?? 0x52,
      autoEoi: options.autoEoi ?? true,
      simpGpa: options.simpGpa,
      siefpGpa: options.siefpGpa,
    });
    this.#queue = new PostQueue(
      (bytes, connectionId) => vp.postMessage(connectionId, VMBUS_SYNIC_MESSAGE_TYPE, bytes),
      (e) => {
        this.stats.messagesDropped++;
        this.#report(e);
      },
      options.maxQueued ?? 1024,
      true,
    );
    vp.onInterrupt(this.#port.vector, () => this.#interrupt());
    this.#port.enable();
    if (options.pump ?? true) {
      this.#pump = new InterruptPump(vp);
      this.#pump.start();
    }
  }

  sendMessage(bytes: Uint8Array, connectionId: number): void {
    if (this.#closed) return;
    this.stats.messagesOut++;
    this.#queue.send(bytes, connectionId);
  }

  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.#handler = handler;
    // Messages already waiting go to the handler from a fresh task, never from inside this call: the
    // caller (a VMBus server being constructed) finishes its set-up, e.g. adding its devices, first.
    queueMicrotask(() => this.#drain());
  }

  signalHost(relid: number, connectionId: number): void {
    if (this.#closed) return;
    const status = this.#vp.signalEvent(connectionId, 0);
    this.stats.signalsOut++;
    if (status !== HvStatus.Success && sampled(++this.stats.signalsFailed)) {
      this.#report(
        new SynicTransportError(
          SynicErrorReason.SignalFailed,
          `HvSignalEvent on connection 0x${connectionId.toString(16)}: status 0x${status.toString(16)}`,
          status,
          relid,
        ),
      );
    }
  }

  guestDoorbell(relid: number): { readonly doorbell: Int32Array; readonly index: number } {
    const index = relid > 0 && relid < SYNIC_FLAG_COUNT ? relid : 0;
    return { doorbell: this.#doorbells, index };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pump?.stop();
    this.#port.disable();
    this.#queue.close();
  }

  #interrupt(): void {
    this.#drain();
    this.#port.eoi();
    if (this.#queue.queued > 0) this.#queue.flush();
  }

  #drain(): void {
    if (this.#closed || !this.#handler) return;
    try {
      for (;;) {
        const m = this.#port.take();
        if (!m) break;
        if (m.type !== VMBUS_SYNIC_MESSAGE_TYPE) {
          if (sampled(++this.stats.messagesDropped)) {
            this.#report(
              new SynicTransportError(
                SynicErrorReason.UnexpectedMessage,
                `SynIC message type 0x${m.type.toString(16)} on SINT 2 dropped`,
              ),
            );
          }
          continue;
        }
        this.stats.messagesIn++;
        try {
          this.#handler(m.payload);
        } catch (e) {
          this.#report(new SynicTransportError(SynicErrorReason.Handler, `message handler: ${String(e)}`));
        }
      }
      this.#port.scanFlags(this.#flag);
    } catch (e) {
      this.#report(new SynicTransportError(SynicErrorReason.Handler, `interrupt handler: ${String(e)}`));
    }
  }

  readonly #flag = (flag: number): void => {
    if (flag === 0) return;
    this.stats.signalsIn++;
    Atomics.add(this.#doorbells, flag, 1);
    Atomics.notify(this.#doorbells, flag);
  };

  #report(e: VmbusError): void {
    safeReport(this.#onError, e);
  }
}

/**
 * Creates the guest's VMBus transport on `vp` (the VP whose index the client names in
 * INITIATE_CONTACT, 0 by default): enables SIMP, SIEFP, SINT 2 and the SynIC, and takes the VP's
 * interrupts whenever the thread idles. Hypercalls must already be enabled (GUEST_OS_ID, HYPERCALL).
 */
export function createSynicClientTransport(
  vp: GuestVp,
  options: SynicClientTransportOptions = {},
): SynicClientTransport {
  return new SynicClientTransport(vp, options);
}
