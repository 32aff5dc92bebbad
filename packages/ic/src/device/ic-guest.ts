import { type IcClock, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import type { IcGuestEndpoint } from '../core/guest-endpoint.js';
import { HeartbeatGuest } from '../heartbeat/guest.js';
import { type KvpChange, KvpGuest, type KvpIntrinsics } from '../kvp/guest.js';
import { ShutdownGuest, type ShutdownNotice } from '../shutdown/guest.js';
import { type TimeSyncCorrection, TimeSyncGuest } from '../timesync/guest.js';
import { DriftingClock } from '../timesync/guest-clock.js';
import { type VssEvent, VssGuest } from '../vss/guest.js';
import type { IcVersion } from '../wire/defs.js';
import type { IcChannel } from './channel.js';
import type { IcName } from './devices.js';

export interface IcGuestOptions {
  /** The partition reference counter, 100 ns units (from the reference TSC page). */
  readonly referenceTime: () => bigint;
  /** Guest oscillator error (0.01 = 1 % fast). */
  readonly clockDrift?: number;
  /** The guest clock's reading at start, ms since the Unix epoch (default: the host's clock). */
  readonly clockStart?: number;
  readonly clock?: IcClock;
  readonly intrinsics?: () => KvpIntrinsics;
  readonly hibernateSupported?: boolean;
  readonly vssFreezeTimeoutMs?: number;
  /** Message versions this guest speaks per IC, newest first (to model older guests). */
  readonly messageVersions?: Partial<Record<IcName, readonly IcVersion[]>>;
  readonly onShutdown?: (notice: ShutdownNotice) => void;
  readonly onKvpChange?: (change: KvpChange) => void;
  readonly onTimeCorrection?: (c: TimeSyncCorrection) => void;
  readonly onVssEvent?: (e: VssEvent) => void;
  readonly onProtocolError?: (ic: IcName, error: IcProtocolError) => void;
}

/** The guest side of all integration components: what a guest runtime binds to the IC channels it is offered. */
export class IcGuest {
  readonly heartbeat: HeartbeatGuest;
  readonly kvp: KvpGuest;
  readonly timeSync: TimeSyncGuest;
  readonly shutdown: ShutdownGuest;
  readonly vss: VssGuest;
  /** The guest's wall clock, corrected by time sync. */
  readonly clock: DriftingClock;
  readonly #channels = new Map<IcName, IcChannel>();

  constructor(options: IcGuestOptions) {
    const sendTo = (ic: IcName) => (p: Uint8Array) => this.#channels.get(ic)?.send(p);
    const common = (ic: IcName) => ({
      send: sendTo(ic),
      onProtocolError: (e: IcProtocolError) => options.onProtocolError?.(ic, e),
      ...(options.messageVersions?.[ic] ? { messageVersions: options.messageVersions[ic] } : {}),
    });
    const refMs = () => Number(options.referenceTime()) / 10_000;
    this.clock = new DriftingClock(refMs, options.clockStart ?? Date.now(), options.clockDrift ?? 0);
    this.heartbeat = new HeartbeatGuest(common('heartbeat'));
    this.kvp = new KvpGuest({
      ...common('kvp'),
      ...(options.intrinsics ? { intrinsics: options.intrinsics } : {}),
      ...(options.onKvpChange ? { onChange: options.onKvpChange } : {}),
    });
    this.timeSync = new TimeSyncGuest({
      ...common('timeSync'),
      clock: this.clock,
      referenceTime: options.referenceTime,
      ...(options.onTimeCorrection ? { onCorrection: options.onTimeCorrection } : {}),
    });
    this.shutdown = new ShutdownGuest({
      ...common('shutdown'),
      onShutdown: (n) => options.onShutdown?.(n),
      ...(options.hibernateSupported !== undefined ? { hibernateSupported: options.hibernateSupported } : {}),
    });
    this.vss = new VssGuest({
      ...common('vss'),
      clock: options.clock ?? systemClock,
      ...(options.vssFreezeTimeoutMs !== undefined ? { freezeTimeoutMs: options.vssFreezeTimeoutMs } : {}),
      ...(options.onVssEvent ? { onEvent: options.onVssEvent } : {}),
    });
  }

  #endpoint(ic: IcName): { receive(p: Uint8Array): void; endpoint: IcGuestEndpoint } {
    return {
      heartbeat: this.heartbeat,
      kvp: this.kvp,
      timeSync: this.timeSync,
      shutdown: this.shutdown,
      vss: this.vss,
    }[ic];
  }

  /** Bind an offered IC channel (the VSC driver for that interface GUID). */
  attach(ic: IcName, channel: IcChannel): void {
    this.#channels.set(ic, channel);
    const target = this.#endpoint(ic);
    channel.onPacket((p) => {
      if (this.#channels.get(ic) === channel) target.receive(p);
    });
  }

  detach(ic: IcName): void {
    this.#channels.get(ic)?.close?.();
    this.#channels.delete(ic);
  }

  negotiatedVersion(ic: IcName): IcVersion | undefined {
    return this.#endpoint(ic).endpoint.versions?.message;
  }
}
