import {
  IC_FLAGS_REQUEST,
  IC_FRAMEWORK_VERSIONS,
  IcFlags,
  IcMessageType,
  type IcVersion,
} from '../wire/defs.js';
import { decodeIcPacket, encodeIcPacket, type IcHeader } from '../wire/framing.js';
import {
  decodeNegotiateResponse,
  encodeNegotiateRequest,
  type NegotiatedVersions,
  type NegotiateOffer,
} from '../wire/negotiate.js';
import type { IcClock, IcTimer } from './clock.js';
import { type IcProtocolError, IcProtocolErrorCode } from './errors.js';

/** Where the host side of one IC channel stands. */
export type IcHostState = 'closed' | 'negotiating' | 'ready' | 'refused' | 'no-reply';

/** Outcome of version negotiation as the host sees it. */
export type NegotiationOutcome =
  | { readonly kind: 'ready'; readonly versions: NegotiatedVersions }
  /** The guest answered with no common version: "version not supported". */
  | { readonly kind: 'refused' }
  /** The guest never answered the negotiate request. */
  | { readonly kind: 'no-reply' }
  | { readonly kind: 'closed' };

/** Outcome of one host request. Every case is an expected result, not an exception. */
export type IcReply =
  | { readonly kind: 'reply'; readonly header: IcHeader; readonly status: number; readonly body: DataView }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'not-ready'; readonly state: IcHostState };

export interface IcHostEndpointOptions {
  readonly messageType: number;
  /** Message versions the host offers (any order). */
  readonly messageVersions: readonly IcVersion[];
  readonly frameworkVersions?: readonly IcVersion[];
  readonly send: (packet: Uint8Array) => void;
  readonly clock: IcClock;
  /** How long to wait for the guest's negotiate reply (default 55 s, HV_UTIL_NEGO_TIMEOUT). */
  readonly negotiateTimeoutMs?: number;
  readonly onProtocolError?: (error: IcProtocolError) => void;
  readonly onStateChange?: (state: IcHostState) => void;
}

interface Pending {
  readonly body: Uint8Array;
  readonly timeoutMs: number;
  readonly resolve: (reply: IcReply) => void;
  transactionId: number;
  timer: IcTimer | undefined;
}

/**
 * Host side of one IC channel: sends the negotiate offer when opened, then carries requests one at a time
 * (hosts never keep more than one IC transaction outstanding). Replies are matched by message type and
 * icmsg transaction id; anything else from the guest is dropped and reported, never thrown.
 */
export class IcHostEndpoint {
  readonly #o: IcHostEndpointOptions;
  readonly #offer: NegotiateOffer;
  #state: IcHostState = 'closed';
  #versions: NegotiatedVersions | undefined;
  #negotiateTimer: IcTimer | undefined;
  #outcome: NegotiationOutcome | undefined;
  #outcomeWaiters: ((o: NegotiationOutcome) => void)[] = [];
  readonly #queue: Pending[] = [];
  #inFlight: Pending | undefined;
  #nextTransactionId = 1;
  #protocolErrors = 0;

  constructor(options: IcHostEndpointOptions) {
    this.#o = options;
    this.#offer = {
      framework: options.frameworkVersions ?? IC_FRAMEWORK_VERSIONS,
      message: options.messageVersions,
    };
  }

  get state(): IcHostState {
    return this.#state;
  }

  get versions(): NegotiatedVersions | undefined {
    return this.#versions;
  }

  get protocolErrors(): number {
    return this.#protocolErrors;
  }

  /** The channel opened: offer versions. */
  open(): void {
    this.#reset();
    this.#setState('negotiating');
    this.#negotiateTimer = this.#o.clock.setTimer(this.#o.negotiateTimeoutMs ?? 55_000, () => {
      if (this.#state === 'negotiating') this.#finishNegotiation({ kind: 'no-reply' }, 'no-reply');
    });
    this.#o.send(encodeNegotiateRequest(this.#offer));
  }

  /** The channel closed (or was rescinded): pending requests end as not-ready. */
  close(): void {
    this.#reset();
    this.#setState('closed');
  }

  /** Resolves once negotiation has an outcome (immediately if it already has one). */
  whenNegotiated(): Promise<NegotiationOutcome> {
    if (this.#outcome) return Promise.resolve(this.#outcome);
    if (this.#state === 'closed') return Promise.resolve({ kind: 'closed' });
    return new Promise((resolve) => this.#outcomeWaiters.push(resolve));
  }

  /**
   * Sends one request body of this IC's message type and resolves with the guest's reply, a timeout, or
   * not-ready when negotiation has failed or the channel is closed. Requests queue behind the one in flight.
   */
  request(body: Uint8Array, timeoutMs: number): Promise<IcReply> {
    if (this.#state !== 'ready' && this.#state !== 'negotiating') {
      return Promise.resolve({ kind: 'not-ready', state: this.#state });
    }
    return new Promise((resolve) => {
      this.#queue.push({ body, timeoutMs, resolve, transactionId: 0, timer: undefined });
      this.#pump();
    });
  }

  /** True while a request is waiting for its reply. */
  get busy(): boolean {
    return this.#inFlight !== undefined;
  }

  /** One packet from the guest. */
  receive(packet: Uint8Array): void {
    const frame = decodeIcPacket(packet);
    if (!frame.ok) {
      this.#error(`frame-${frame.error}` as IcProtocolErrorCode, frame.detail);
      return;
    }
    const { header, body } = frame;
    if ((header.flags & IcFlags.Response) === 0) {
      this.#error(IcProtocolErrorCode.UnexpectedType, `guest sent a non-response (flags ${header.flags})`);
      return;
    }
    if (header.messageType === IcMessageType.Negotiate) {
      if (this.#state !== 'negotiating') {
        this.#error(IcProtocolErrorCode.StaleResponse, 'negotiate reply outside negotiation');
        return;
      }
      const r = decodeNegotiateResponse(header, body, this.#offer);
      if (r.kind === 'invalid') {
        this.#error(IcProtocolErrorCode.BadNegotiate, r.detail);
        return;
      }
      if (r.kind === 'refused') {
        this.#finishNegotiation({ kind: 'refused' }, 'refused');
        return;
      }
      this.#versions = r.versions;
      this.#finishNegotiation({ kind: 'ready', versions: r.versions }, 'ready');
      this.#pump();
      return;
    }
    const p = this.#inFlight;
    if (!p || header.messageType !== this.#o.messageType || header.transactionId !== p.transactionId) {
      this.#error(
        IcProtocolErrorCode.StaleResponse,
        `reply type ${header.messageType} txid ${header.transactionId} matches no outstanding request`,
      );
      return;
    }
    p.timer?.cancel();
    this.#inFlight = undefined;
    // Copy: the packet memory belongs to the channel and may be reused after this call.
    const copy = new Uint8Array(body.byteLength);
    copy.set(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    p.resolve({ kind: 'reply', header, status: header.status, body: new DataView(copy.buffer) });
    this.#pump();
  }

  #pump(): void {
    if (this.#state !== 'ready' || this.#inFlight) return;
    const p = this.#queue.shift();
    if (!p || !this.#versions) return;
    this.#inFlight = p;
    p.transactionId = this.#nextTransactionId;
    this.#nextTransactionId = (this.#nextTransactionId % 255) + 1;
    p.timer = this.#o.clock.setTimer(p.timeoutMs, () => {
      if (this.#inFlight !== p) return;
      this.#inFlight = undefined;
      p.resolve({ kind: 'timeout' });
      this.#pump();
    });
    this.#o.send(
      encodeIcPacket(
        {
          framework: this.#versions.framework,
          messageType: this.#o.messageType,
          messageVersion: this.#versions.message,
          status: 0,
          transactionId: p.transactionId,
          flags: IC_FLAGS_REQUEST,
        },
        p.body,
      ),
    );
  }

  #finishNegotiation(outcome: NegotiationOutcome, state: IcHostState): void {
    this.#negotiateTimer?.cancel();
    this.#negotiateTimer = undefined;
    this.#outcome = outcome;
    this.#setState(state);
    const waiters = this.#outcomeWaiters;
    this.#outcomeWaiters = [];
    for (const w of waiters) w(outcome);
    if (state !== 'ready') this.#failQueued();
  }

  #failQueued(): void {
    const state = this.#state;
    const all = this.#inFlight ? [this.#inFlight, ...this.#queue] : [...this.#queue];
    this.#inFlight = undefined;
    this.#queue.length = 0;
    for (const p of all) {
      p.timer?.cancel();
      p.resolve({ kind: 'not-ready', state });
    }
  }

  #reset(): void {
    this.#negotiateTimer?.cancel();
    this.#negotiateTimer = undefined;
    this.#versions = undefined;
    this.#outcome = undefined;
    this.#state = 'closed';
    this.#failQueued();
    const waiters = this.#outcomeWaiters;
    this.#outcomeWaiters = [];
    for (const w of waiters) w({ kind: 'closed' });
  }

  #setState(state: IcHostState): void {
    this.#state = state;
    this.#o.onStateChange?.(state);
  }

  #error(code: IcProtocolErrorCode, detail: string): void {
    this.#protocolErrors++;
    this.#o.onProtocolError?.({ code, detail });
  }
}
