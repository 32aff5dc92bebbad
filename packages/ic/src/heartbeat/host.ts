import { type IcClock, type IcTimer, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import { IcHostEndpoint, type IcHostState } from '../core/host-endpoint.js';
import { decodeHeartbeat, encodeHeartbeat, isBodyError } from '../wire/bodies.js';
import {
  HeartbeatApplicationState,
  IcMessageType,
  IcMessageVersions,
  IcStatus,
  type IcVersion,
} from '../wire/defs.js';

/** Heartbeat status, named as Hyper-V management reports it (VMHeartbeatStatus). */
export const HeartbeatStatus = {
  NoContact: 'NoContact',
  LostCommunication: 'LostCommunication',
  OkApplicationsUnknown: 'OkApplicationsUnknown',
  OkApplicationsHealthy: 'OkApplicationsHealthy',
  OkApplicationsCritical: 'OkApplicationsCritical',
} as const;
export type HeartbeatStatus = (typeof HeartbeatStatus)[keyof typeof HeartbeatStatus];

/** The text Hyper-V Manager shows for each status. */
export const heartbeatStatusText: Readonly<Record<HeartbeatStatus, string>> = {
  NoContact: 'No Contact',
  LostCommunication: 'Lost Communication',
  OkApplicationsUnknown: 'OK',
  OkApplicationsHealthy: 'OK (Applications healthy)',
  OkApplicationsCritical: 'Applications critical',
};

export interface HeartbeatReport {
  readonly status: HeartbeatStatus;
  readonly text: string;
  /** Wall-clock time (ms since the Unix epoch) of the last valid answer. */
  readonly lastAnswerAt: number | undefined;
  /** application_state of the last answer (0 unknown, 1 healthy, 2 critical, 3 stopped). */
  readonly applicationState: number;
  readonly answers: number;
  readonly channel: IcHostState;
}

/** Outcome of one on-demand heartbeat (`probe`). */
export type HeartbeatProbe =
  | { readonly answered: true; readonly applicationState: number }
  /** timeout: no answer in time; invalid: an answer with a failure status or the wrong sequence. */
  | { readonly answered: false; readonly reason: 'timeout' | 'invalid' | 'not-ready' };

export interface HeartbeatHostOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock?: IcClock;
  /** Wall clock for lastAnswerAt (default Date.now). */
  readonly wallClock?: () => number;
  /** Request period (default 2 s, the period Linux documents). */
  readonly intervalMs?: number;
  /** Silence after the last answer that means Lost Communication (default 5 periods = 10 s). */
  readonly lostAfterMs?: number;
  readonly messageVersions?: readonly IcVersion[];
  readonly negotiateTimeoutMs?: number;
  readonly onStatusChange?: (report: HeartbeatReport) => void;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/**
 * Host side of the heartbeat IC: one sequence number per period, the guest answers seq + 1. Status is
 * No Contact until the first valid answer, OK (with the application health the guest reports) while
 * answers keep arriving, and Lost Communication once none has arrived for `lostAfterMs`.
 */
export class HeartbeatHost {
  readonly #endpoint: IcHostEndpoint;
  readonly #clock: IcClock;
  readonly #wall: () => number;
  readonly #interval: number;
  readonly #lostAfter: number;
  readonly #onStatusChange: ((r: HeartbeatReport) => void) | undefined;
  #sequence = 0n;
  #lastAnswerMono: number | undefined;
  #lastAnswerWall: number | undefined;
  #appState = 0;
  #answers = 0;
  #tick: IcTimer | undefined;
  #watchdog: IcTimer | undefined;
  #lastStatus: HeartbeatStatus = HeartbeatStatus.NoContact;
  #running = false;

  constructor(options: HeartbeatHostOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#wall = options.wallClock ?? Date.now;
    this.#interval = options.intervalMs ?? 2_000;
    this.#lostAfter = options.lostAfterMs ?? 5 * this.#interval;
    this.#onStatusChange = options.onStatusChange;
    this.#endpoint = new IcHostEndpoint({
      messageType: IcMessageType.Heartbeat,
      messageVersions: options.messageVersions ?? IcMessageVersions.heartbeat,
      send: options.send,
      clock: this.#clock,
      ...(options.negotiateTimeoutMs !== undefined ? { negotiateTimeoutMs: options.negotiateTimeoutMs } : {}),
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
    });
  }

  get endpoint(): IcHostEndpoint {
    return this.#endpoint;
  }

  open(): void {
    this.#running = true;
    this.#endpoint.open();
    void this.#endpoint.whenNegotiated().then((o) => {
      if (o.kind === 'ready' && this.#running) this.#beat();
    });
  }

  close(): void {
    this.#running = false;
    this.#tick?.cancel();
    this.#watchdog?.cancel();
    this.#endpoint.close();
  }

  receive(packet: Uint8Array): void {
    this.#endpoint.receive(packet);
  }

  report(): HeartbeatReport {
    const status = this.#status();
    return {
      status,
      text: heartbeatStatusText[status],
      lastAnswerAt: this.#lastAnswerWall,
      applicationState: this.#appState,
      answers: this.#answers,
      channel: this.#endpoint.state,
    };
  }

  #status(): HeartbeatStatus {
    if (this.#lastAnswerMono === undefined) return HeartbeatStatus.NoContact;
    if (this.#clock.now() - this.#lastAnswerMono > this.#lostAfter) return HeartbeatStatus.LostCommunication;
    switch (this.#appState) {
      case HeartbeatApplicationState.Healthy:
        return HeartbeatStatus.OkApplicationsHealthy;
      case HeartbeatApplicationState.Critical:
        return HeartbeatStatus.OkApplicationsCritical;
      default:
        return HeartbeatStatus.OkApplicationsUnknown;
    }
  }

  /**
   * Sends one heartbeat now, besides the periodic ones, and resolves when the guest has answered it (an
   * answer counts towards status as any other). Queues behind a heartbeat already in flight.
   */
  async probe(timeoutMs: number = this.#interval): Promise<HeartbeatProbe> {
    const reply = await this.#exchange(timeoutMs);
    if (typeof reply === 'number') return { answered: true, applicationState: reply };
    return { answered: false, reason: reply };
  }

  #beat(): void {
    if (!this.#running) return;
    const sentAt = this.#clock.now();
    void this.#exchange(this.#interval).then((outcome) => {
      if (outcome === 'not-ready' || !this.#running) return;
      const wait = Math.max(0, sentAt + this.#interval - this.#clock.now());
      this.#tick = this.#clock.setTimer(wait, () => this.#beat());
    });
  }

  /** One request/answer; resolves with the answer's application state, or why there was none. */
  async #exchange(timeoutMs: number): Promise<number | 'timeout' | 'invalid' | 'not-ready'> {
    const seq = this.#sequence;
    this.#sequence = BigInt.asUintN(64, this.#sequence + 1n);
    const reply = await this.#endpoint.request(
      encodeHeartbeat({ sequence: seq, applicationState: 0 }),
      timeoutMs,
    );
    if (reply.kind !== 'reply') return reply.kind;
    const hb = decodeHeartbeat(reply.body);
    if (reply.status !== IcStatus.Ok || isBodyError(hb) || hb.sequence !== BigInt.asUintN(64, seq + 1n)) {
      return 'invalid';
    }
    this.#answered(hb.applicationState);
    return hb.applicationState;
  }

  #answered(appState: number): void {
    this.#lastAnswerMono = this.#clock.now();
    this.#lastAnswerWall = this.#wall();
    this.#appState = appState;
    this.#answers++;
    this.#watchdog?.cancel();
    this.#watchdog = this.#clock.setTimer(this.#lostAfter + 1, () => this.#checkStatus());
    this.#checkStatus();
  }

  #checkStatus(): void {
    const status = this.#status();
    if (status !== this.#lastStatus) {
      this.#lastStatus = status;
      this.#onStatusChange?.(this.report());
    }
  }
}
