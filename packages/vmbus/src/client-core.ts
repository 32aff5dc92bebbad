// The guest side of the VMBus control plane as a state machine without I/O, the mirror of
// VmbusServerCore: it negotiates a version (newest first, falling back on refusal), collects offers,
// splits GPADLs into header and body messages, and reports the host's answers through callbacks.

import { VmbusError, VmbusErrorCode } from './errors.js';
import { encodeRanges, GPADL_BODY_VALUES, GPADL_HEADER_VALUES, type GpadlRange } from './gpadl.js';
import {
  type ChannelMessage,
  ConnectionState,
  decodeMessage,
  encodeMessage,
  MESSAGE_CONNECTION_ID,
  MESSAGE_CONNECTION_ID_4,
  MessageType,
  type OfferChannelMessage,
  USER_DEFINED_SIZE,
  VmbusVersion,
} from './wire.js';

/** Versions the client asks for, newest first. */
export const CLIENT_VERSIONS: readonly number[] = [
  VmbusVersion.Win10V5_3,
  VmbusVersion.Win10V5_2,
  VmbusVersion.Win10V5_1,
  VmbusVersion.Win10V5,
  VmbusVersion.Win10V4_1,
  VmbusVersion.Win10,
  VmbusVersion.Win8_1,
  VmbusVersion.Win8,
];

/** First GPADL handle a client hands out (Linux starts at 0xE1E10 as well). */
export const FIRST_GPADL_HANDLE = 0xe1e10;

export interface ClientCoreOptions {
  /** Posts one channel message to the host on `connectionId`. */
  sendMessage(bytes: Uint8Array, connectionId: number): void;
  /** Versions to try, newest first. Default CLIENT_VERSIONS. */
  readonly versions?: readonly number[];
  /** VP that receives channel messages. Default 0. */
  readonly targetVcpu?: number;
  onConnected?(version: number): void;
  /** Every version was refused, or the host reported a connection failure. */
  onConnectFailed?(error: VmbusError): void;
  onOffer?(offer: OfferChannelMessage): void;
  onAllOffersDelivered?(offers: readonly OfferChannelMessage[]): void;
  onRescind?(relid: number): void;
  onGpadlCreated?(relid: number, handle: number, status: number): void;
  onGpadlTorndown?(handle: number): void;
  onOpenResult?(relid: number, openId: number, status: number): void;
  onUnloaded?(): void;
  onError?(error: VmbusError): void;
}

type ClientState = 'idle' | 'contacting' | 'connected' | 'unloading';

export class VmbusClientCore {
  private readonly opts: ClientCoreOptions;
  private readonly versions: readonly number[];
  private state: ClientState = 'idle';
  private versionIndex = 0;
  private negotiated = 0;
  private messageConnectionId = MESSAGE_CONNECTION_ID;
  private nextHandle = FIRST_GPADL_HANDLE;
  private readonly offerList = new Map<number, OfferChannelMessage>();

  constructor(options: ClientCoreOptions) {
    this.opts = options;
    this.versions = options.versions ?? CLIENT_VERSIONS;
  }

  get version(): number | undefined {
    return this.state === 'connected' ? this.negotiated : undefined;
  }

  get offers(): ReadonlyMap<number, OfferChannelMessage> {
    return this.offerList;
  }

  /** Starts version negotiation with the newest version. */
  connect() {
    this.state = 'contacting';
    this.versionIndex = 0;
    this.offerList.clear();
    this.sendContact();
  }

  /** Sends a GPADL (header plus as many bodies as needed); returns its handle. */
  createGpadl(relid: number, ranges: readonly GpadlRange[]): number {
    const handle = this.nextHandle++;
    const values = encodeRanges(ranges);
    this.send({
      type: MessageType.GpadlHeader,
      relid,
      gpadl: handle,
      rangeBufLen: values.length * 8,
      rangeCount: ranges.length,
      values: values.slice(0, GPADL_HEADER_VALUES),
    });
    for (let at = GPADL_HEADER_VALUES; at < values.length; at += GPADL_BODY_VALUES) {
      this.send({
        type: MessageType.GpadlBody,
        msgNumber: 0,
        gpadl: handle,
        values: values.slice(at, at + GPADL_BODY_VALUES),
      });
    }
    return handle;
  }

  openChannel(
    relid: number,
    gpadl: number,
    downstreamPageOffset: number,
    options: { openId?: number; targetVp?: number; userData?: Uint8Array } = {},
  ): void {
    const userData = new Uint8Array(USER_DEFINED_SIZE);
    if (options.userData) userData.set(options.userData.subarray(0, USER_DEFINED_SIZE));
    this.send({
      type: MessageType.OpenChannel,
      relid,
      openId: options.openId ?? relid,
      gpadl,
      targetVp: options.targetVp ?? 0,
      downstreamPageOffset,
      userData,
    });
  }

  closeChannel(relid: number) {
    this.send({ type: MessageType.CloseChannel, relid });
  }

  teardownGpadl(relid: number, handle: number) {
    this.send({ type: MessageType.GpadlTeardown, relid, gpadl: handle });
  }

  /** Answers a rescind once the channel is closed and its GPADLs are torn down. */
  releaseRelid(relid: number) {
    this.offerList.delete(relid);
    this.send({ type: MessageType.RelidReleased, relid });
  }

  unload() {
    this.state = 'unloading';
    this.send({ type: MessageType.Unload });
  }

  /** Handles one message from the host. */
  handleMessage(bytes: Uint8Array) {
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) return this.report(decoded.error);
    const m = decoded.message;
    switch (m.type) {
      case MessageType.VersionResponse:
        return this.onVersionResponse(m);
      case MessageType.OfferChannel:
        if (this.state !== 'connected') return this.unexpected(m);
        this.offerList.set(m.relid, m);
        this.opts.onOffer?.(m);
        return;
      case MessageType.AllOffersDelivered:
        if (this.state !== 'connected') return this.unexpected(m);
        this.opts.onAllOffersDelivered?.([...this.offerList.values()]);
        return;
      case MessageType.RescindChannelOffer:
        if (!this.offerList.has(m.relid)) {
          return this.report(
            new VmbusError(VmbusErrorCode.UnknownRelid, `rescind of unknown channel ${m.relid}`, m.relid),
          );
        }
        this.opts.onRescind?.(m.relid);
        return;
      case MessageType.GpadlCreated:
        this.opts.onGpadlCreated?.(m.relid, m.gpadl, m.status);
        return;
      case MessageType.GpadlTorndown:
        this.opts.onGpadlTorndown?.(m.gpadl);
        return;
      case MessageType.OpenChannelResult:
        this.opts.onOpenResult?.(m.relid, m.openId, m.status);
        return;
      case MessageType.UnloadResponse:
        this.state = 'idle';
        this.offerList.clear();
        this.opts.onUnloaded?.();
        return;
      default:
        return this.unexpected(m);
    }
  }

  private onVersionResponse(m: Extract<ChannelMessage, { type: 15 }>) {
    if (this.state !== 'contacting') return this.unexpected(m);
    const asked = this.versions[this.versionIndex]!;
    if (!m.supported) {
      this.versionIndex++;
      if (this.versionIndex < this.versions.length) return this.sendContact();
      this.state = 'idle';
      this.opts.onConnectFailed?.(
        new VmbusError(VmbusErrorCode.UnexpectedMessage, 'host refused every VMBus version'),
      );
      return;
    }
    if (m.connectionState !== ConnectionState.Successful) {
      this.state = 'idle';
      this.opts.onConnectFailed?.(
        new VmbusError(VmbusErrorCode.InvalidState, `host connection state ${m.connectionState}`),
      );
      return;
    }
    this.negotiated = asked;
    this.messageConnectionId =
      asked >= VmbusVersion.Win10V5 ? m.connectionIdOrVersion : MESSAGE_CONNECTION_ID;
    this.state = 'connected';
    this.opts.onConnected?.(asked);
    this.send({ type: MessageType.RequestOffers });
  }

  private sendContact() {
    const version = this.versions[this.versionIndex]!;
    const v5 = version >= VmbusVersion.Win10V5;
    const bytes = encodeMessage({
      type: MessageType.InitiateContact,
      version,
      targetVcpu: this.opts.targetVcpu ?? 0,
      // From 5.0 these 8 bytes carry msg_sint = 2, msg_vtl = 0, feature flags 0.
      interruptPageOrTarget: v5 ? 2n : 0n,
      monitorPage1: 0n,
      monitorPage2: 0n,
    });
    this.opts.sendMessage(bytes, v5 ? MESSAGE_CONNECTION_ID_4 : MESSAGE_CONNECTION_ID);
  }

  private send(m: Exclude<ChannelMessage, { type: -1 }>) {
    this.opts.sendMessage(encodeMessage(m), this.messageConnectionId);
  }

  private unexpected(m: ChannelMessage) {
    const type = m.type === -1 ? m.rawType : m.type;
    this.report(
      new VmbusError(VmbusErrorCode.UnexpectedMessage, `host message type ${type} in state ${this.state}`),
    );
  }

  private report(error: VmbusError) {
    try {
      this.opts.onError?.(error);
    } catch {
      // A failing logger must not stop the client.
    }
  }
}
