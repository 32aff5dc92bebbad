import { IC_FLAGS_RESPONSE, IcFlags, IcMessageType, IcStatus, type IcVersion } from '../wire/defs.js';
import { decodeIcPacket, type IcHeader, setIcResponse } from '../wire/framing.js';
import {
  decodeNegotiateBody,
  encodeNegotiateResponse,
  type NegotiatedVersions,
  selectVersions,
} from '../wire/negotiate.js';
import { type IcProtocolError, IcProtocolErrorCode } from './errors.js';

/** One host request handed to an IC's guest logic. */
export interface IcGuestRequest {
  readonly header: IcHeader;
  readonly versions: NegotiatedVersions;
  /** The body (icmsgsize bytes) inside the reply buffer: edits here travel back to the host. */
  readonly body: DataView;
  /** Sends the reply: the received message echoed with `status` and TRANSACTION|RESPONSE. At most once. */
  respond(status: number): void;
}

export interface IcGuestEndpointOptions {
  readonly messageType: number;
  /** Framework versions this guest speaks, newest first (default 3.0, 1.0). */
  readonly frameworkVersions?: readonly IcVersion[];
  /** Message versions this guest speaks, newest first. */
  readonly messageVersions: readonly IcVersion[];
  readonly send: (packet: Uint8Array) => void;
  readonly handle: (request: IcGuestRequest) => void;
  readonly onProtocolError?: (error: IcProtocolError) => void;
  readonly onNegotiated?: (versions: NegotiatedVersions | undefined) => void;
}

const GUEST_FRAMEWORK_VERSIONS: readonly IcVersion[] = [
  { major: 3, minor: 0 },
  { major: 1, minor: 0 },
];

/**
 * Guest side of one IC channel, following the Linux utility drivers: negotiation picks the newest common
 * version from the guest's list; a reply echoes the whole received message edited in place; packets too
 * short to carry the headers are dropped; a message of a type this IC does not handle is answered E_FAIL.
 */
export class IcGuestEndpoint {
  readonly #o: IcGuestEndpointOptions;
  #versions: NegotiatedVersions | undefined;
  #protocolErrors = 0;

  constructor(options: IcGuestEndpointOptions) {
    this.#o = options;
  }

  get versions(): NegotiatedVersions | undefined {
    return this.#versions;
  }

  get protocolErrors(): number {
    return this.#protocolErrors;
  }

  receive(packet: Uint8Array): void {
    const frame = decodeIcPacket(packet);
    if (!frame.ok) {
      this.#error(`frame-${frame.error}` as IcProtocolError['code'], frame.detail);
      return;
    }
    const { header } = frame;
    if ((header.flags & IcFlags.Response) !== 0) {
      this.#error(IcProtocolErrorCode.UnexpectedResponse, 'host sent a response');
      return;
    }
    // Own the bytes: the reply is built in this copy and the channel may reuse the packet memory.
    const message = new Uint8Array(frame.message);
    if (header.messageType === IcMessageType.Negotiate) {
      const offer = decodeNegotiateBody(frame.body);
      if (typeof offer === 'string') {
        this.#error(IcProtocolErrorCode.BadNegotiate, offer);
        return;
      }
      const chosen = selectVersions(offer, {
        framework: this.#o.frameworkVersions ?? GUEST_FRAMEWORK_VERSIONS,
        message: this.#o.messageVersions,
      });
      this.#versions = chosen;
      this.#o.send(encodeNegotiateResponse(message, chosen));
      this.#o.onNegotiated?.(chosen);
      return;
    }
    const versions = this.#versions;
    if (header.messageType !== this.#o.messageType || !versions) {
      this.#error(
        versions ? IcProtocolErrorCode.UnexpectedType : IcProtocolErrorCode.NotNegotiated,
        `message type ${header.messageType}`,
      );
      setIcResponse(message, IcStatus.Fail, IC_FLAGS_RESPONSE);
      this.#o.send(message);
      return;
    }
    let answered = false;
    this.#o.handle({
      header,
      versions,
      body: new DataView(message.buffer, 28, header.messageSize),
      respond: (status) => {
        if (answered) return;
        answered = true;
        setIcResponse(message, status, IC_FLAGS_RESPONSE);
        this.#o.send(message);
      },
    });
  }

  /** Report a body the IC logic found malformed (counted with the endpoint's protocol errors). */
  reportBodyError(detail: string): void {
    this.#error(IcProtocolErrorCode.BodyTooShort, detail);
  }

  #error(code: IcProtocolError['code'], detail: string): void {
    this.#protocolErrors++;
    this.#o.onProtocolError?.({ code, detail });
  }
}
