import { type IcClock, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import type { IcHostEndpoint, NegotiationOutcome } from '../core/host-endpoint.js';
import { HeartbeatHost, type HeartbeatProbe, type HeartbeatReport } from '../heartbeat/host.js';
import { type KvpGetResult, KvpHost, type KvpListResult, type KvpResult } from '../kvp/host.js';
import { ShutdownHost, type ShutdownRequest, type ShutdownResult } from '../shutdown/host.js';
import { TimeSyncHost, type TimeSyncHostState } from '../timesync/host.js';
import { VssHost, type VssResult } from '../vss/host.js';
import type { IcVersion } from '../wire/defs.js';
import type { IcChannel } from './channel.js';
import { IC_DEVICES, type IcName } from './devices.js';

export interface IcHostOptions {
  readonly clock?: IcClock;
  /** The VM's partition reference time, 100 ns units (time sync's vmreferencetime). */
  readonly referenceTime: () => bigint;
  /** Host UTC, 100 ns since 1601 (default: this process's clock). */
  readonly hostTime?: () => bigint;
  readonly heartbeat?: { readonly intervalMs?: number; readonly lostAfterMs?: number };
  readonly timeSync?: { readonly samplePeriodMs?: number };
  readonly kvpTimeoutMs?: number;
  /** Message versions offered per IC (to model older hosts; default: what Hyper-V offers). */
  readonly messageVersions?: Partial<Record<IcName, readonly IcVersion[]>>;
  readonly negotiateTimeoutMs?: number;
  readonly onHeartbeatChange?: (report: HeartbeatReport) => void;
  readonly onProtocolError?: (ic: IcName, error: IcProtocolError) => void;
}

/** Negotiation state of one IC, as management shows it. */
export type IcChannelStatus = 'not-connected' | 'negotiating' | 'ok' | 'version-not-supported' | 'no-reply';

/**
 * The host side of a VM's integration components, in the form VMMS exposes: heartbeat status, KVP pools,
 * time sync state, shutdown and VSS requests. Each IC runs when its channel opens (`attach`).
 */
export class IcHost {
  readonly #hb: HeartbeatHost;
  readonly #kvp: KvpHost;
  readonly #ts: TimeSyncHost;
  readonly #sd: ShutdownHost;
  readonly #vss: VssHost;
  readonly #channels = new Map<IcName, IcChannel>();
  readonly #cores: Record<
    IcName,
    { open(): void; close(): void; receive(p: Uint8Array): void; readonly endpoint: IcHostEndpoint }
  >;

  constructor(options: IcHostOptions) {
    const clock = options.clock ?? systemClock;
    const sendTo = (ic: IcName) => (p: Uint8Array) => this.#channels.get(ic)?.send(p);
    const common = (ic: IcName) => ({
      clock,
      ...(options.negotiateTimeoutMs !== undefined ? { negotiateTimeoutMs: options.negotiateTimeoutMs } : {}),
      messageVersions: options.messageVersions?.[ic] ?? IC_DEVICES[ic].messageVersions,
      onProtocolError: (e: IcProtocolError) => options.onProtocolError?.(ic, e),
      send: sendTo(ic),
    });
    this.#hb = new HeartbeatHost({
      ...common('heartbeat'),
      ...(options.heartbeat?.intervalMs !== undefined ? { intervalMs: options.heartbeat.intervalMs } : {}),
      ...(options.heartbeat?.lostAfterMs !== undefined ? { lostAfterMs: options.heartbeat.lostAfterMs } : {}),
      ...(options.onHeartbeatChange ? { onStatusChange: options.onHeartbeatChange } : {}),
    });
    this.#kvp = new KvpHost({
      ...common('kvp'),
      ...(options.kvpTimeoutMs !== undefined ? { timeoutMs: options.kvpTimeoutMs } : {}),
    });
    this.#ts = new TimeSyncHost({
      ...common('timeSync'),
      referenceTime: options.referenceTime,
      ...(options.hostTime ? { hostTime: options.hostTime } : {}),
      ...(options.timeSync?.samplePeriodMs !== undefined
        ? { samplePeriodMs: options.timeSync.samplePeriodMs }
        : {}),
    });
    this.#sd = new ShutdownHost(common('shutdown'));
    this.#vss = new VssHost(common('vss'));
    this.#cores = {
      heartbeat: this.#hb,
      kvp: this.#kvp,
      timeSync: this.#ts,
      shutdown: this.#sd,
      vss: this.#vss,
    };
  }

  /** The IC's channel opened: start negotiating on it. */
  attach(ic: IcName, channel: IcChannel): void {
    this.detach(ic);
    this.#channels.set(ic, channel);
    const core = this.#cores[ic];
    channel.onPacket((p) => {
      if (this.#channels.get(ic) === channel) core.receive(p);
    });
    core.open();
  }

  /** The IC's channel closed or was rescinded. */
  detach(ic: IcName): void {
    if (!this.#channels.has(ic)) return;
    this.#cores[ic].close();
    this.#channels.delete(ic);
  }

  close(): void {
    for (const ic of [...this.#channels.keys()]) this.detach(ic);
  }

  #endpoint(ic: IcName): IcHostEndpoint {
    return this.#cores[ic].endpoint;
  }

  /** Negotiation state of an IC ("version-not-supported" when the guest refused every offered version). */
  status(ic: IcName): IcChannelStatus {
    switch (this.#endpoint(ic).state) {
      case 'closed':
        return 'not-connected';
      case 'negotiating':
        return 'negotiating';
      case 'ready':
        return 'ok';
      case 'refused':
        return 'version-not-supported';
      default:
        return 'no-reply';
    }
  }

  whenNegotiated(ic: IcName): Promise<NegotiationOutcome> {
    return this.#endpoint(ic).whenNegotiated();
  }

  negotiatedVersion(ic: IcName): IcVersion | undefined {
    return this.#endpoint(ic).versions?.message;
  }

  heartbeat(): HeartbeatReport {
    return this.#hb.report();
  }

  /** One heartbeat now (a liveness check on demand); resolves when the guest answers or not. */
  heartbeatProbe(timeoutMs?: number): Promise<HeartbeatProbe> {
    return this.#hb.probe(timeoutMs);
  }

  readonly kvp = {
    get: (pool: number, key: string): Promise<KvpGetResult> => this.#kvp.get(pool, key),
    set: (pool: number, key: string, value: string): Promise<KvpResult> => this.#kvp.set(pool, key, value),
    remove: (pool: number, key: string): Promise<KvpResult> => this.#kvp.delete(pool, key),
    list: (pool: number): Promise<KvpListResult> => this.#kvp.enumerate(pool),
  };

  timeSync(): TimeSyncHostState {
    return this.#ts.state;
  }

  /** After a resume or restore: the next time sample is a SYNC. */
  resumeTimeSync(): void {
    this.#ts.resume();
  }

  shutdown(request: ShutdownRequest): Promise<ShutdownResult> {
    return this.#sd.request(request);
  }

  vssFreeze(timeoutMs?: number): Promise<VssResult> {
    return this.#vss.freeze(timeoutMs);
  }

  vssThaw(timeoutMs?: number): Promise<VssResult> {
    return this.#vss.thaw(timeoutMs);
  }

  vssHotBackup(): Promise<VssResult> {
    return this.#vss.hotBackup();
  }
}
