import { type IcClock, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import { IcHostEndpoint, type IcHostState } from '../core/host-endpoint.js';
import { encodeShutdown } from '../wire/bodies.js';
import {
  IcMessageType,
  IcMessageVersions,
  IcStatus,
  type IcVersion,
  SHTDN_REASON_FLAG_PLANNED,
  ShutdownFlags,
} from '../wire/defs.js';

export type ShutdownKind = 'shutdown' | 'restart' | 'hibernate';

export interface ShutdownRequest {
  readonly kind: ShutdownKind;
  readonly force?: boolean;
  /** Display message shown to the guest's users. */
  readonly reason?: string;
  /** Reason code (default SHTDN_REASON_FLAG_PLANNED). */
  readonly reasonCode?: number;
  /** How long to wait for the guest's answer (default 30 s). */
  readonly timeoutMs?: number;
}

export type ShutdownResult =
  /** The guest acknowledged and is shutting down. */
  | { readonly outcome: 'accepted' }
  /** The guest answered with a failure status (for example hibernate not supported). */
  | { readonly outcome: 'refused'; readonly status: number }
  /** The guest never answered. */
  | { readonly outcome: 'timeout' }
  /** The IC is not available (channel closed, never negotiated, or refused every version). */
  | { readonly outcome: 'not-ready'; readonly state: IcHostState }
  | { readonly outcome: 'in-progress' };

export interface ShutdownHostOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock?: IcClock;
  readonly messageVersions?: readonly IcVersion[];
  readonly negotiateTimeoutMs?: number;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

export function shutdownFlags(kind: ShutdownKind, force = false): number {
  const base =
    kind === 'restart' ? ShutdownFlags.Restart : kind === 'hibernate' ? ShutdownFlags.Hibernate : 0;
  return base | (force ? ShutdownFlags.Force : 0);
}

/** Host side of the shutdown IC: one request at a time; the answer arrives before the guest acts. */
export class ShutdownHost {
  readonly endpoint: IcHostEndpoint;
  #inProgress = false;

  constructor(options: ShutdownHostOptions) {
    this.endpoint = new IcHostEndpoint({
      messageType: IcMessageType.Shutdown,
      messageVersions: options.messageVersions ?? IcMessageVersions.shutdown,
      send: options.send,
      clock: options.clock ?? systemClock,
      ...(options.negotiateTimeoutMs !== undefined ? { negotiateTimeoutMs: options.negotiateTimeoutMs } : {}),
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
    });
  }

  open(): void {
    this.endpoint.open();
  }

  close(): void {
    this.endpoint.close();
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  async request(req: ShutdownRequest): Promise<ShutdownResult> {
    if (this.#inProgress) return { outcome: 'in-progress' };
    this.#inProgress = true;
    try {
      const body = encodeShutdown({
        reasonCode: req.reasonCode ?? SHTDN_REASON_FLAG_PLANNED,
        timeoutSeconds: Math.ceil((req.timeoutMs ?? 30_000) / 1000),
        flags: shutdownFlags(req.kind, req.force),
        message: req.reason ?? '',
      });
      const reply = await this.endpoint.request(body, req.timeoutMs ?? 30_000);
      if (reply.kind === 'timeout') return { outcome: 'timeout' };
      if (reply.kind === 'not-ready') return { outcome: 'not-ready', state: reply.state };
      return reply.status === IcStatus.Ok
        ? { outcome: 'accepted' }
        : { outcome: 'refused', status: reply.status };
    } finally {
      this.#inProgress = false;
    }
  }
}
