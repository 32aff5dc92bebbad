import type { IcProtocolError } from '../core/errors.js';
import { IcGuestEndpoint } from '../core/guest-endpoint.js';
import { decodeShutdown, isBodyError } from '../wire/bodies.js';
import { IcMessageType, IcMessageVersions, IcStatus, type IcVersion, ShutdownFlags } from '../wire/defs.js';
import type { ShutdownKind } from './host.js';

export interface ShutdownNotice {
  readonly kind: ShutdownKind;
  readonly force: boolean;
  readonly reason: string;
  readonly reasonCode: number;
  readonly timeoutSeconds: number;
}

export interface ShutdownGuestOptions {
  readonly send: (packet: Uint8Array) => void;
  /** Called after the acknowledgement has been sent: run shutdown hooks, then stop. */
  readonly onShutdown: (notice: ShutdownNotice) => void;
  /** Whether this guest can hibernate (Linux answers E_FAIL when it cannot). */
  readonly hibernateSupported?: boolean;
  readonly messageVersions?: readonly IcVersion[];
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/** Guest side of the shutdown IC, with Linux's flag rules: 0/1 power off, 2/3 restart, 4/5 hibernate. */
export class ShutdownGuest {
  readonly endpoint: IcGuestEndpoint;
  #answering = true;

  constructor(options: ShutdownGuestOptions) {
    this.endpoint = new IcGuestEndpoint({
      messageType: IcMessageType.Shutdown,
      messageVersions: options.messageVersions ?? [...IcMessageVersions.shutdown].reverse(),
      send: options.send,
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
      handle: (req) => {
        const msg = decodeShutdown(req.body);
        if (isBodyError(msg)) {
          this.endpoint.reportBodyError(`shutdown body ${msg.have} < ${msg.need}`);
          return;
        }
        if (!this.#answering) return;
        const force = (msg.flags & ShutdownFlags.Force) !== 0;
        let kind: ShutdownKind;
        switch (msg.flags & ~ShutdownFlags.Force) {
          case 0:
            kind = 'shutdown';
            break;
          case ShutdownFlags.Restart:
            kind = 'restart';
            break;
          case ShutdownFlags.Hibernate:
            if (!options.hibernateSupported) return req.respond(IcStatus.Fail);
            kind = 'hibernate';
            break;
          default:
            return req.respond(IcStatus.Fail);
        }
        req.respond(IcStatus.Ok);
        options.onShutdown({
          kind,
          force,
          reason: msg.message,
          reasonCode: msg.reasonCode,
          timeoutSeconds: msg.timeoutSeconds,
        });
      },
    });
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  /** Stop or resume answering (a guest that ignores shutdown requests). */
  set answering(on: boolean) {
    this.#answering = on;
  }
}
