import { type IcClock, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import { IcHostEndpoint, type IcHostState } from '../core/host-endpoint.js';
import { decodeVss, encodeVss, isBodyError } from '../wire/bodies.js';
import { IcMessageType, IcMessageVersions, IcStatus, type IcVersion, VssOperation } from '../wire/defs.js';

export type VssResult =
  | { readonly outcome: 'ok'; readonly flags: number }
  | { readonly outcome: 'failed'; readonly status: number }
  | { readonly outcome: 'timeout' }
  | { readonly outcome: 'not-ready'; readonly state: IcHostState };

export interface VssHostOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock?: IcClock;
  readonly messageVersions?: readonly IcVersion[];
  readonly negotiateTimeoutMs?: number;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/** Host side of the VSS (backup) IC. Typical sequence: hotBackup → freeze → (snapshot) → thaw → backupComplete. */
export class VssHost {
  readonly endpoint: IcHostEndpoint;

  constructor(options: VssHostOptions) {
    this.endpoint = new IcHostEndpoint({
      messageType: IcMessageType.Vss,
      messageVersions: options.messageVersions ?? IcMessageVersions.vss,
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

  /** Ask the guest to flush and quiesce its writers (default wait 900 s, the guest's own limit). */
  freeze(timeoutMs = 900_000): Promise<VssResult> {
    return this.#op(VssOperation.Freeze, timeoutMs);
  }

  thaw(timeoutMs = 30_000): Promise<VssResult> {
    return this.#op(VssOperation.Thaw, timeoutMs);
  }

  /** Capability check; a Linux-style guest answers flags VSS_HBU_NO_AUTO_RECOVERY. */
  hotBackup(timeoutMs = 30_000): Promise<VssResult> {
    return this.#op(VssOperation.HotBackup, timeoutMs);
  }

  backupComplete(timeoutMs = 30_000): Promise<VssResult> {
    return this.#op(VssOperation.BuComplete, timeoutMs);
  }

  async #op(operation: number, timeoutMs: number): Promise<VssResult> {
    const reply = await this.endpoint.request(encodeVss({ operation, flags: 0 }), timeoutMs);
    if (reply.kind === 'timeout') return { outcome: 'timeout' };
    if (reply.kind === 'not-ready') return { outcome: 'not-ready', state: reply.state };
    if (reply.status !== IcStatus.Ok) return { outcome: 'failed', status: reply.status };
    const msg = decodeVss(reply.body);
    if (isBodyError(msg) || msg.operation !== operation) return { outcome: 'failed', status: IcStatus.Fail };
    return { outcome: 'ok', flags: msg.flags };
  }
}
