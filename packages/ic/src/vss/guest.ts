import type { IcClock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import { IcGuestEndpoint, type IcGuestRequest } from '../core/guest-endpoint.js';
import { decodeVss, isBodyError } from '../wire/bodies.js';
import {
  IcMessageType,
  IcMessageVersions,
  IcStatus,
  type IcVersion,
  VSS_HBU_NO_AUTO_RECOVERY,
  VssBody,
  VssOperation,
} from '../wire/defs.js';

/** A guest program's participant in a backup: flush and quiesce on freeze, resume on thaw. */
export interface VssWriter {
  readonly name: string;
  freeze(): void | Promise<void>;
  thaw(): void | Promise<void>;
}

export type VssEvent =
  | { readonly kind: 'frozen'; readonly writers: readonly string[] }
  | { readonly kind: 'freeze-failed'; readonly writer: string; readonly error: string }
  | { readonly kind: 'thawed' }
  /** No thaw came within the hold window: the writers were thawed without the host. */
  | { readonly kind: 'auto-thawed' }
  | { readonly kind: 'thaw-failed'; readonly writer: string; readonly error: string };

export interface VssGuestOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock?: IcClock;
  /** Time allowed for all writers to freeze (default 900 s as Linux) before answering E_FAIL and thawing. */
  readonly freezeTimeoutMs?: number;
  /** Time allowed for thaw (default 30 s). */
  readonly thawTimeoutMs?: number;
  /**
   * How long writers stay frozen waiting for the host's thaw (default 60 s, the window Windows VSS
   * gives writers between freeze and thaw). A host that never thaws (it died, or lost the channel)
   * must not stop the guest's writers for good; the late thaw is then answered E_FAIL so the host
   * knows its snapshot may have been taken after the guest resumed writing.
   */
  readonly holdTimeoutMs?: number;
  readonly messageVersions?: readonly IcVersion[];
  readonly onEvent?: (event: VssEvent) => void;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

class WriterTimeout extends Error {}

/** Guest side of the VSS IC: runs registered writers on freeze and thaw, and reports the result. */
export class VssGuest {
  readonly endpoint: IcGuestEndpoint;
  readonly #writers: VssWriter[] = [];
  readonly #o: VssGuestOptions;
  readonly #clock: IcClock;
  #frozen: VssWriter[] = [];
  #busy = false;
  #holdTimer: { cancel(): void } | undefined;
  /** The hold window ran out since the last freeze: the next thaw is answered E_FAIL. */
  #holdExpired = false;

  constructor(options: VssGuestOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.endpoint = new IcGuestEndpoint({
      messageType: IcMessageType.Vss,
      frameworkVersions: [{ major: 3, minor: 0 }],
      messageVersions: options.messageVersions ?? [...IcMessageVersions.vss].reverse(),
      send: options.send,
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
      handle: (req) => void this.#handle(req),
    });
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  /** Register a writer; returns a function that unregisters it. */
  register(writer: VssWriter): () => void {
    this.#writers.push(writer);
    return () => {
      const i = this.#writers.indexOf(writer);
      if (i >= 0) this.#writers.splice(i, 1);
    };
  }

  get frozen(): boolean {
    return this.#frozen.length > 0;
  }

  async #handle(req: IcGuestRequest): Promise<void> {
    const msg = decodeVss(req.body);
    if (isBodyError(msg)) {
      // Linux's VSS handler drops what it cannot read.
      this.endpoint.reportBodyError(`vss body ${msg.have} < ${msg.need}`);
      return;
    }
    switch (msg.operation) {
      case VssOperation.HotBackup:
        req.body.setUint32(VssBody.flags, VSS_HBU_NO_AUTO_RECOVERY, true);
        return req.respond(IcStatus.Ok);
      case VssOperation.GetDmInfo:
        req.body.setUint32(VssBody.flags, 0, true);
        return req.respond(IcStatus.Ok);
      case VssOperation.Freeze:
        if (this.#busy || this.frozen) return req.respond(IcStatus.Fail);
        this.#busy = true;
        this.#holdExpired = false;
        try {
          const frozen = await this.#freeze();
          if (frozen) this.#startHold();
          return req.respond(frozen ? IcStatus.Ok : IcStatus.Fail);
        } finally {
          this.#busy = false;
        }
      case VssOperation.Thaw: {
        if (this.#busy) return req.respond(IcStatus.Fail);
        this.#busy = true;
        this.#holdTimer?.cancel();
        this.#holdTimer = undefined;
        const expired = this.#holdExpired;
        this.#holdExpired = false;
        try {
          const thawed = await this.#thaw();
          return req.respond(thawed && !expired ? IcStatus.Ok : IcStatus.Fail);
        } finally {
          this.#busy = false;
        }
      }
      default:
        return req.respond(IcStatus.Ok);
    }
  }

  /** Thaws the writers by itself if the host's thaw does not come within the hold window. */
  #startHold(): void {
    this.#holdTimer = this.#clock.setTimer(this.#o.holdTimeoutMs ?? 60_000, () => {
      this.#holdTimer = undefined;
      if (this.#busy || !this.frozen) return;
      this.#holdExpired = true;
      this.#busy = true;
      void this.#thaw()
        .then(() => this.#o.onEvent?.({ kind: 'auto-thawed' }))
        .finally(() => {
          this.#busy = false;
        });
    });
  }

  async #freeze(): Promise<boolean> {
    const deadline = this.#clock.now() + (this.#o.freezeTimeoutMs ?? 900_000);
    for (const w of [...this.#writers]) {
      try {
        await this.#bounded(() => w.freeze(), deadline - this.#clock.now());
        this.#frozen.push(w);
      } catch (e) {
        const error = e instanceof WriterTimeout ? 'timed out' : String(e instanceof Error ? e.message : e);
        this.#o.onEvent?.({ kind: 'freeze-failed', writer: w.name, error });
        await this.#thaw();
        return false;
      }
    }
    this.#o.onEvent?.({ kind: 'frozen', writers: this.#frozen.map((w) => w.name) });
    return true;
  }

  async #thaw(): Promise<boolean> {
    let ok = true;
    const frozen = this.#frozen;
    this.#frozen = [];
    for (const w of frozen.reverse()) {
      try {
        await this.#bounded(() => w.thaw(), this.#o.thawTimeoutMs ?? 30_000);
      } catch (e) {
        ok = false;
        const error = e instanceof WriterTimeout ? 'timed out' : String(e instanceof Error ? e.message : e);
        this.#o.onEvent?.({ kind: 'thaw-failed', writer: w.name, error });
      }
    }
    if (ok) this.#o.onEvent?.({ kind: 'thawed' });
    return ok;
  }

  #bounded(fn: () => void | Promise<void>, ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimer(Math.max(0, ms), () => reject(new WriterTimeout()));
      Promise.resolve()
        .then(fn)
        .then(
          () => {
            timer.cancel();
            resolve();
          },
          (e: unknown) => {
            timer.cancel();
            reject(e);
          },
        );
    });
  }
}
