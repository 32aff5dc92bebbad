import { type IcClock, type IcTimer, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import { IcHostEndpoint, type IcHostState } from '../core/host-endpoint.js';
import { encodeTimeSync } from '../wire/bodies.js';
import { IcMessageType, IcStatus, type IcVersion, icVersion, TimeSyncFlags } from '../wire/defs.js';
import { hostFiletimeNow } from './time.js';

export interface TimeSyncHostState {
  readonly channel: IcHostState;
  readonly messageVersion: IcVersion | undefined;
  readonly samplesSent: number;
  readonly samplesAnswered: number;
  readonly lastFlags: number | undefined;
  /** Host time (100 ns since 1601) of the last sample sent. */
  readonly lastParentTime: bigint | undefined;
}

export interface TimeSyncHostOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock?: IcClock;
  /** Host UTC time, 100 ns since 1601 (default: this process's clock). */
  readonly hostTime?: () => bigint;
  /** The guest partition's reference time, 100 ns units (v4 vmreferencetime). */
  readonly referenceTime: () => bigint;
  /** SAMPLE period (default 5 s, as openvmm). */
  readonly samplePeriodMs?: number;
  /** Offered message versions (default 4.0 only, as openvmm; 1.0 and 3.0 carry no reference time). */
  readonly messageVersions?: readonly IcVersion[];
  readonly negotiateTimeoutMs?: number;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/** Host side of time sync: SYNC once after negotiation (and after resume), then SAMPLE every period. */
export class TimeSyncHost {
  readonly endpoint: IcHostEndpoint;
  readonly #o: TimeSyncHostOptions;
  readonly #clock: IcClock;
  readonly #period: number;
  #timer: IcTimer | undefined;
  #running = false;
  #nextFlags: number = TimeSyncFlags.Sync;
  #sent = 0;
  #answered = 0;
  #lastFlags: number | undefined;
  #lastParent: bigint | undefined;

  constructor(options: TimeSyncHostOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#period = options.samplePeriodMs ?? 5_000;
    this.endpoint = new IcHostEndpoint({
      messageType: IcMessageType.TimeSync,
      messageVersions: options.messageVersions ?? [icVersion(4, 0)],
      send: options.send,
      clock: this.#clock,
      ...(options.negotiateTimeoutMs !== undefined ? { negotiateTimeoutMs: options.negotiateTimeoutMs } : {}),
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
    });
  }

  open(): void {
    this.#running = true;
    this.#nextFlags = TimeSyncFlags.Sync;
    this.endpoint.open();
    void this.endpoint.whenNegotiated().then((o) => {
      if (o.kind === 'ready' && this.#running) this.#sample();
    });
  }

  close(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.endpoint.close();
  }

  /** After a resume or restore the next message is a SYNC (hard set). */
  resume(): void {
    this.#nextFlags = TimeSyncFlags.Sync;
    if (this.#running && this.endpoint.state === 'ready' && !this.endpoint.busy) {
      this.#timer?.cancel();
      this.#sample();
    }
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  get state(): TimeSyncHostState {
    return {
      channel: this.endpoint.state,
      messageVersion: this.endpoint.versions?.message,
      samplesSent: this.#sent,
      samplesAnswered: this.#answered,
      lastFlags: this.#lastFlags,
      lastParentTime: this.#lastParent,
    };
  }

  #sample(): void {
    const versions = this.endpoint.versions;
    if (!this.#running || !versions) return;
    const flags = this.#nextFlags;
    this.#nextFlags = TimeSyncFlags.Sample;
    const parentTime = (this.#o.hostTime ?? hostFiletimeNow)();
    const referenceTime = this.#o.referenceTime();
    this.#sent++;
    this.#lastFlags = flags;
    this.#lastParent = parentTime;
    const body = encodeTimeSync(
      { parentTime, referenceTime, roundTripTime: 0n, flags, leapFlags: 0, stratum: 0 },
      versions.message.major >= 4,
    );
    void this.endpoint.request(body, this.#period).then((reply) => {
      if (reply.kind === 'reply' && reply.status === IcStatus.Ok) this.#answered++;
      if (reply.kind === 'not-ready' || !this.#running) return;
      this.#timer = this.#clock.setTimer(this.#period, () => this.#sample());
    });
  }
}
