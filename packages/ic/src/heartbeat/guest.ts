import type { IcProtocolError } from '../core/errors.js';
import { IcGuestEndpoint } from '../core/guest-endpoint.js';
import { decodeHeartbeat, isBodyError } from '../wire/bodies.js';
import {
  HeartbeatApplicationState,
  HeartbeatBody,
  IcMessageType,
  IcMessageVersions,
  IcStatus,
  type IcVersion,
} from '../wire/defs.js';

export interface HeartbeatGuestOptions {
  readonly send: (packet: Uint8Array) => void;
  /** Newest first (default 3.0, 1.0). */
  readonly messageVersions?: readonly IcVersion[];
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/** Guest side of the heartbeat IC: answers seq + 1 with the application state the guest program set. */
export class HeartbeatGuest {
  readonly endpoint: IcGuestEndpoint;
  #appState: number = HeartbeatApplicationState.Unknown;
  #answering = true;
  #answered = 0;

  constructor(options: HeartbeatGuestOptions) {
    this.endpoint = new IcGuestEndpoint({
      messageType: IcMessageType.Heartbeat,
      messageVersions: options.messageVersions ?? [...IcMessageVersions.heartbeat].reverse(),
      send: options.send,
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
      handle: (req) => {
        const hb = decodeHeartbeat(req.body);
        if (isBodyError(hb)) {
          // Linux drops a heartbeat too short to carry the sequence number.
          this.endpoint.reportBodyError(`heartbeat body ${hb.have} < ${hb.need}`);
          return;
        }
        if (!this.#answering) return;
        req.body.setBigUint64(HeartbeatBody.sequence, BigInt.asUintN(64, hb.sequence + 1n), true);
        if (req.body.byteLength >= HeartbeatBody.applicationState + 4) {
          req.body.setUint32(HeartbeatBody.applicationState, this.#appState, true);
        }
        this.#answered++;
        req.respond(IcStatus.Ok);
      },
    });
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  /** Application health reported with every answer (0 unknown, 1 healthy, 2 critical, 3 stopped). */
  set applicationState(state: number) {
    this.#appState = state >>> 0;
  }

  get applicationState(): number {
    return this.#appState;
  }

  /** Stop or resume answering (what a hung guest looks like to the host). */
  set answering(on: boolean) {
    this.#answering = on;
  }

  get answered(): number {
    return this.#answered;
  }
}
