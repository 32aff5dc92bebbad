// The root side of one VM's VMBus control plane as a state machine without I/O: bytes in through
// `handleMessage`, bytes out through the injected `sendMessage`, device notifications through
// callbacks. Every guest message is hostile: a bad one is answered with the protocol's failure status
// where the protocol has one, otherwise dropped, and in both cases reported to `onError`. Nothing the
// guest sends makes a method of this class throw.

import { VmbusError, VmbusErrorCode } from './errors.js';
import { type Gpadl, GpadlBuilder, validateRingGpadl } from './gpadl.js';
import {
  type ChannelMessage,
  ChannelStatus,
  ConnectionState,
  decodeMessage,
  encodeMessage,
  guidBytes,
  MESSAGE_CONNECTION_ID,
  MESSAGE_CONNECTION_ID_4,
  MessageType,
  type OfferChannelMessage,
  USER_DEFINED_SIZE,
  VmbusVersion,
} from './wire.js';

/** A device offer as the root describes it. GUIDs as strings or 16 wire bytes. */
export interface OfferSpec {
  readonly interfaceId: string | Uint8Array;
  readonly instanceId: string | Uint8Array;
  /** chn_flags (spec 3.3). Default 0. */
  readonly flags?: number;
  readonly mmioMegabytes?: number;
  /** Up to 120 bytes of offer user data (pipe mode and the like). */
  readonly userDefined?: Uint8Array;
  readonly subchannelIndex?: number;
}

/** A guest's request to open a channel, after validation, for the device to accept or refuse. */
export interface OpenRequest {
  readonly relid: number;
  readonly openId: number;
  /** The ring GPADL: ranges[0] holds both rings. */
  readonly gpadl: Gpadl;
  readonly targetVp: number;
  /** First page of the host-to-guest ring within the GPADL. */
  readonly downstreamPageOffset: number;
  readonly userData: Uint8Array;
}

export type CloseReason = 'guest' | 'rescind' | 'unload' | 'reconnect';

export interface ConnectInfo {
  readonly version: number;
  readonly targetVcpu: number;
  /** Connection id the guest uses for its later messages. */
  readonly messageConnectionId: number;
}

export interface ServerCoreOptions {
  /** Sends one channel message (at most 240 bytes) to the guest. */
  sendMessage(bytes: Uint8Array): void;
  /** Number of 4 KiB pages of guest memory; every GPADL PFN must be below it. */
  readonly guestPageCount: number;
  /** Versions this server accepts. Default: Win8 (2.4) through 5.3. */
  readonly versions?: readonly number[];
  /** Connection id named in VERSION_RESPONSE for 5.0+. Default 1. */
  readonly messageConnectionId?: number;
  /** connection_id put in each offer (the id the guest signals the host with). Default 0x2000 | relid. */
  connectionIdFor?(relid: number): number;
  /** GPADLs being assembled at once. Default 64. */
  readonly maxGpadlsInProgress?: number;
  /** GPADLs a connection may hold. Default 1024. */
  readonly maxGpadls?: number;
  /** Message budget: a burst of `burst` messages, refilled at `perSecond`. Default 1024 / 50000. */
  readonly messageBudget?: { readonly burst: number; readonly perSecond: number };
  /** Clock for the message budget, in ms. Default performance.now. */
  now?(): number;
  /** Every refusal, as a typed error (the owner logs it). */
  onError?(error: VmbusError): void;
  onConnect?(info: ConnectInfo): void;
  /** The guest unloaded or reconnected: every channel was closed and every GPADL dropped. */
  onDisconnect?(reason: 'unload' | 'reconnect'): void;
  /**
   * The guest asks to open a channel. The device answers with `completeOpen`, now or later.
   * Without this callback every open is accepted.
   */
  onOpen?(request: OpenRequest): void;
  /** An open channel closed (the device must stop using its rings). */
  onClose?(relid: number, reason: CloseReason): void;
  onGpadlCreated?(gpadl: Gpadl): void;
  onGpadlTornDown?(gpadl: Gpadl): void;
  /** The guest released a rescinded channel; its relid is free again. */
  onReleased?(relid: number): void;
}

/** The versions the server speaks: per-channel event flags (Win8+) up to 5.3; 6.0 feature flags are not implemented. */
export const SERVER_VERSIONS: readonly number[] = [
  VmbusVersion.Win8,
  VmbusVersion.Win8_1,
  VmbusVersion.Win10,
  VmbusVersion.Win10V4_1,
  VmbusVersion.Win10V5,
  VmbusVersion.Win10V5_1,
  VmbusVersion.Win10V5_2,
  VmbusVersion.Win10V5_3,
];

export type ChannelState = 'unsent' | 'offered' | 'opening' | 'open' | 'revoked';

interface Channel {
  readonly relid: number;
  readonly connectionId: number;
  readonly offer: OfferChannelMessage;
  state: ChannelState;
  open: OpenRequest | undefined;
  /** Set when rescinded while the device was deciding on an open. */
  revokedWhileOpening: boolean;
}

interface GpadlEntry {
  readonly relid: number;
  builder: GpadlBuilder | undefined;
  gpadl: Gpadl | undefined;
  /** Torn down by the guest while it still backs an open ring: answered when the channel closes. */
  teardownPending: boolean;
}

/** Counters for tests and monitoring. */
export interface ServerCoreStats {
  received: number;
  refused: number;
  dropped: number;
  floodDropped: number;
}

export class VmbusServerCore {
  private readonly opts: ServerCoreOptions;
  private readonly versions: ReadonlySet<number>;
  private readonly channels = new Map<number, Channel>();
  private readonly gpadls = new Map<number, GpadlEntry>();
  private inProgress = 0;
  private connected: ConnectInfo | undefined;
  private offersSent = false;
  private tokens: number;
  private lastRefill: number;
  private floodReported = false;
  readonly stats: ServerCoreStats = { received: 0, refused: 0, dropped: 0, floodDropped: 0 };

  constructor(options: ServerCoreOptions) {
    this.opts = options;
    this.versions = new Set(options.versions ?? SERVER_VERSIONS);
    this.tokens = options.messageBudget?.burst ?? 1024;
    this.lastRefill = this.now();
  }

  /** The negotiated connection, or undefined while disconnected. */
  get connection(): ConnectInfo | undefined {
    return this.connected;
  }

  channelState(relid: number): ChannelState | undefined {
    return this.channels.get(relid)?.state;
  }

  /** The connection id the guest signals the host with for this channel. */
  channelConnectionId(relid: number): number | undefined {
    return this.channels.get(relid)?.connectionId;
  }

  /** Open parameters of an open channel. */
  openRequest(relid: number): OpenRequest | undefined {
    const c = this.channels.get(relid);
    return c?.state === 'open' ? c.open : undefined;
  }

  gpadl(handle: number): Gpadl | undefined {
    return this.gpadls.get(handle)?.gpadl;
  }

  /** Adds a device offer; sent to the guest now if it has asked for offers, else when it does. */
  offer(spec: OfferSpec): number {
    let relid = 1;
    while (this.channels.has(relid)) relid++;
    const userDefined = new Uint8Array(USER_DEFINED_SIZE);
    if (spec.userDefined) userDefined.set(spec.userDefined.subarray(0, USER_DEFINED_SIZE));
    const connectionId = this.opts.connectionIdFor?.(relid) ?? 0x2000 | relid;
    const channel: Channel = {
      relid,
      connectionId,
      offer: {
        type: MessageType.OfferChannel,
        interfaceId: typeof spec.interfaceId === 'string' ? guidBytes(spec.interfaceId) : spec.interfaceId,
        instanceId: typeof spec.instanceId === 'string' ? guidBytes(spec.instanceId) : spec.instanceId,
        flags: spec.flags ?? 0,
        mmioMegabytes: spec.mmioMegabytes ?? 0,
        userDefined,
        subchannelIndex: spec.subchannelIndex ?? 0,
        relid,
        monitorId: 0xff,
        monitorAllocated: false,
        isDedicatedInterrupt: true,
        connectionId,
      },
      state: 'unsent',
      open: undefined,
      revokedWhileOpening: false,
    };
    this.channels.set(relid, channel);
    if (this.connected && this.offersSent) this.sendOffer(channel);
    return relid;
  }

  /**
   * Hot-removes a device. An open channel is closed on the device side at once; the guest is told with
   * RESCIND_CHANNELOFFER and the relid stays taken until the guest answers RELID_RELEASED.
   */
  rescind(relid: number) {
    const c = this.channels.get(relid);
    if (!c || c.state === 'revoked') return;
    if (c.state === 'unsent') {
      this.removeChannel(c);
      return;
    }
    if (c.state === 'open') this.closeDevice(c, 'rescind');
    if (c.state === 'opening') c.revokedWhileOpening = true;
    c.state = 'revoked';
    this.send({ type: MessageType.RescindChannelOffer, relid });
  }

  /** The device's answer to `onOpen`. */
  completeOpen(relid: number, accept: boolean) {
    const c = this.channels.get(relid);
    if (!c?.open) return;
    if (c.revokedWhileOpening) {
      c.revokedWhileOpening = false;
      c.open = undefined;
      // The device opened a channel the guest can no longer use: close it again at once.
      if (accept) this.opts.onClose?.(relid, 'rescind');
      return;
    }
    if (c.state !== 'opening') return;
    const openId = c.open.openId;
    if (accept) {
      c.state = 'open';
    } else {
      c.state = 'offered';
      c.open = undefined;
      this.report(
        new VmbusError(VmbusErrorCode.OpenRefused, `device refused to open channel ${relid}`, relid),
      );
    }
    this.send({
      type: MessageType.OpenChannelResult,
      relid,
      openId,
      status: accept ? ChannelStatus.Success : ChannelStatus.Unsuccessful,
    });
  }

  /**
   * Closes an open channel from the host side because its ring was corrupted or the device failed.
   * The guest is not told through the control plane (Hyper-V has no host-initiated close); the channel
   * is rescinded so the guest drops it.
   */
  fail(relid: number, error: VmbusError) {
    this.report(error);
    this.rescind(relid);
  }

  /** Handles one message from the guest. `connectionId` is the id it was posted to, when known. */
  handleMessage(bytes: Uint8Array, connectionId?: number) {
    this.stats.received++;
    if (!this.takeToken()) {
      this.stats.floodDropped++;
      if (!this.floodReported) {
        this.floodReported = true;
        this.report(
          new VmbusError(VmbusErrorCode.MessageFlood, 'guest exceeds the channel-message budget; dropping'),
        );
      }
      return;
    }
    this.floodReported = false;
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) return this.drop(decoded.error);
    const m = decoded.message;
    if (connectionId !== undefined && !this.connectionIdAllowed(m.type, connectionId)) {
      return this.drop(
        new VmbusError(
          VmbusErrorCode.WrongConnectionId,
          `message type ${m.type} posted to connection ${connectionId}`,
        ),
      );
    }
    if (m.type === MessageType.InitiateContact) return this.onInitiateContact(m);
    if (m.type === MessageType.Unload) return this.onUnload();
    if (!this.connected) {
      return this.drop(
        new VmbusError(VmbusErrorCode.InvalidState, `message type ${m.type} before INITIATE_CONTACT`),
      );
    }
    switch (m.type) {
      case MessageType.RequestOffers:
        return this.onRequestOffers();
      case MessageType.GpadlHeader:
        return this.onGpadlHeader(m);
      case MessageType.GpadlBody:
        return this.onGpadlBody(m);
      case MessageType.GpadlTeardown:
        return this.onGpadlTeardown(m.relid, m.gpadl);
      case MessageType.OpenChannel:
        return this.onOpenChannel(m);
      case MessageType.CloseChannel:
        return this.onCloseChannel(m.relid);
      case MessageType.RelidReleased:
        return this.onRelidReleased(m.relid);
      default:
        return this.drop(
          new VmbusError(
            VmbusErrorCode.UnexpectedMessage,
            `message type ${m.type === -1 ? m.rawType : m.type} is not accepted from a guest`,
          ),
        );
    }
  }

  // --- connection -------------------------------------------------------------------------------

  private connectionIdAllowed(type: number, connectionId: number): boolean {
    if (type === MessageType.InitiateContact) {
      return connectionId === MESSAGE_CONNECTION_ID || connectionId === MESSAGE_CONNECTION_ID_4;
    }
    const expected =
      this.connected && this.connected.version >= VmbusVersion.Win10V5
        ? this.connected.messageConnectionId
        : MESSAGE_CONNECTION_ID;
    // UNLOAD may race a version change; accept it on either message connection.
    return (
      connectionId === expected || (type === MessageType.Unload && connectionId === MESSAGE_CONNECTION_ID)
    );
  }

  private onInitiateContact(m: Extract<ChannelMessage, { type: 14 }>) {
    if (this.connected) this.disconnect('reconnect');
    const v5 = m.version >= VmbusVersion.Win10V5;
    if (!this.versions.has(m.version)) {
      this.refuse(
        new VmbusError(
          VmbusErrorCode.UnexpectedMessage,
          `guest asked for unsupported version 0x${m.version.toString(16)}`,
        ),
      );
      this.send({
        type: MessageType.VersionResponse,
        supported: false,
        connectionState: 0,
        connectionIdOrVersion: 0,
      });
      return;
    }
    const sint = Number(m.interruptPageOrTarget & 0xffn);
    const vtl = Number((m.interruptPageOrTarget >> 8n) & 0xffn);
    const monitorsConsistent = (m.monitorPage1 === 0n) === (m.monitorPage2 === 0n);
    if (!monitorsConsistent || (v5 && (sint !== 2 || vtl !== 0))) {
      this.refuse(
        new VmbusError(
          VmbusErrorCode.MalformedMessage,
          monitorsConsistent
            ? `message SINT ${sint} / VTL ${vtl} not served`
            : 'exactly one monitor page given',
        ),
      );
      this.send({
        type: MessageType.VersionResponse,
        supported: true,
        connectionState: ConnectionState.FailedUnknownFailure,
        connectionIdOrVersion: 0,
      });
      return;
    }
    const messageConnectionId = v5
      ? (this.opts.messageConnectionId ?? MESSAGE_CONNECTION_ID)
      : MESSAGE_CONNECTION_ID;
    this.connected = { version: m.version, targetVcpu: m.targetVcpu, messageConnectionId };
    this.offersSent = false;
    this.send({
      type: MessageType.VersionResponse,
      supported: true,
      connectionState: ConnectionState.Successful,
      connectionIdOrVersion: v5 ? messageConnectionId : m.version,
    });
    this.opts.onConnect?.(this.connected);
  }

  private onRequestOffers() {
    if (this.offersSent) {
      return this.drop(new VmbusError(VmbusErrorCode.OffersAlreadySent, 'REQUESTOFFERS a second time'));
    }
    this.offersSent = true;
    const list = [...this.channels.values()].sort((a, b) => a.relid - b.relid);
    for (const c of list) this.sendOffer(c);
    this.send({ type: MessageType.AllOffersDelivered });
  }

  private onUnload() {
    this.disconnect('unload');
    this.send({ type: MessageType.UnloadResponse });
  }

  /** Closes every channel, drops every GPADL, forgets rescinded offers and returns to disconnected. */
  private disconnect(reason: 'unload' | 'reconnect') {
    const wasConnected = this.connected !== undefined;
    for (const c of [...this.channels.values()]) {
      if (c.state === 'open') this.closeDevice(c, reason);
      if (c.state === 'opening') {
        c.open = undefined;
        c.revokedWhileOpening = false;
      }
      if (c.state === 'revoked') {
        this.removeChannel(c);
        continue;
      }
      c.state = 'unsent';
    }
    for (const [handle, g] of this.gpadls) {
      this.gpadls.delete(handle);
      if (g.gpadl) this.opts.onGpadlTornDown?.(g.gpadl);
    }
    this.inProgress = 0;
    this.connected = undefined;
    this.offersSent = false;
    if (wasConnected) this.opts.onDisconnect?.(reason);
  }

  // --- GPADLs -----------------------------------------------------------------------------------

  private onGpadlHeader(m: Extract<ChannelMessage, { type: 8 }>) {
    const fail = (error: VmbusError) => {
      this.refuse(error);
      this.send({
        type: MessageType.GpadlCreated,
        relid: m.relid,
        gpadl: m.gpadl,
        status: ChannelStatus.Unsuccessful,
      });
    };
    const c = this.channels.get(m.relid);
    if (!c || c.state === 'unsent') {
      return fail(
        new VmbusError(VmbusErrorCode.UnknownRelid, `GPADL_HEADER for unknown channel ${m.relid}`, m.relid),
      );
    }
    if (c.state === 'revoked') {
      return fail(
        new VmbusError(VmbusErrorCode.InvalidState, `GPADL_HEADER for rescinded channel ${m.relid}`, m.relid),
      );
    }
    if (this.gpadls.has(m.gpadl)) {
      // The existing GPADL is left untouched; answering would confuse the guest about which one failed.
      return this.drop(
        new VmbusError(VmbusErrorCode.DuplicateGpadl, `GPADL handle ${m.gpadl} already in use`, m.relid),
      );
    }
    if (
      this.inProgress >= (this.opts.maxGpadlsInProgress ?? 64) ||
      this.gpadls.size >= (this.opts.maxGpadls ?? 1024)
    ) {
      return fail(new VmbusError(VmbusErrorCode.GpadlLimit, `too many GPADLs (handle ${m.gpadl})`, m.relid));
    }
    const bad = GpadlBuilder.validateHeader(m.relid, m.rangeCount, m.rangeBufLen);
    if (bad) return fail(bad);
    const builder = new GpadlBuilder(m.gpadl, m.relid, m.rangeCount, m.rangeBufLen);
    builder.appendUpTo(m.values);
    if (builder.complete) {
      const done = builder.finish(this.opts.guestPageCount);
      if (done instanceof VmbusError) return fail(done);
      this.gpadls.set(m.gpadl, { relid: m.relid, builder: undefined, gpadl: done, teardownPending: false });
      this.gpadlCreated(done);
      return;
    }
    this.inProgress++;
    this.gpadls.set(m.gpadl, { relid: m.relid, builder, gpadl: undefined, teardownPending: false });
  }

  private onGpadlBody(m: Extract<ChannelMessage, { type: 9 }>) {
    const entry = this.gpadls.get(m.gpadl);
    const builder = entry?.builder;
    if (!entry || !builder) {
      // A body names no channel, so there is nobody to answer (spec 4).
      return this.drop(
        new VmbusError(VmbusErrorCode.UnknownGpadl, `GPADL_BODY for unknown handle ${m.gpadl}`),
      );
    }
    const overrun = builder.append(m.values);
    const result = overrun ?? (builder.complete ? builder.finish(this.opts.guestPageCount) : undefined);
    if (result === undefined) return;
    this.inProgress--;
    if (result instanceof VmbusError) {
      this.gpadls.delete(m.gpadl);
      this.refuse(result);
      this.send({
        type: MessageType.GpadlCreated,
        relid: entry.relid,
        gpadl: m.gpadl,
        status: ChannelStatus.Unsuccessful,
      });
      return;
    }
    entry.builder = undefined;
    entry.gpadl = result;
    this.gpadlCreated(result);
  }

  private gpadlCreated(gpadl: Gpadl) {
    this.send({
      type: MessageType.GpadlCreated,
      relid: gpadl.relid,
      gpadl: gpadl.handle,
      status: ChannelStatus.Success,
    });
    this.opts.onGpadlCreated?.(gpadl);
  }

  private onGpadlTeardown(relid: number, handle: number) {
    const entry = this.gpadls.get(handle);
    if (!entry || entry.relid !== relid) {
      return this.drop(
        new VmbusError(
          VmbusErrorCode.UnknownGpadl,
          `GPADL_TEARDOWN of unknown handle ${handle} on ${relid}`,
          relid,
        ),
      );
    }
    if (!entry.gpadl || entry.teardownPending) {
      return this.drop(
        new VmbusError(VmbusErrorCode.InvalidState, `GPADL_TEARDOWN of incomplete GPADL ${handle}`, relid),
      );
    }
    const c = this.channels.get(relid);
    if (c?.open?.gpadl.handle === handle && (c.state === 'open' || c.state === 'opening')) {
      entry.teardownPending = true;
      return;
    }
    this.tearDown(handle, entry.gpadl);
  }

  private tearDown(handle: number, gpadl: Gpadl) {
    this.gpadls.delete(handle);
    this.opts.onGpadlTornDown?.(gpadl);
    this.send({ type: MessageType.GpadlTorndown, gpadl: handle });
  }

  // --- channels ---------------------------------------------------------------------------------

  private onOpenChannel(m: Extract<ChannelMessage, { type: 5 }>) {
    const c = this.channels.get(m.relid);
    const fail = (error: VmbusError) => {
      this.refuse(error);
      this.send({
        type: MessageType.OpenChannelResult,
        relid: m.relid,
        openId: m.openId,
        status: ChannelStatus.Unsuccessful,
      });
    };
    if (!c || c.state === 'unsent') {
      return fail(
        new VmbusError(VmbusErrorCode.UnknownRelid, `OPENCHANNEL for unknown channel ${m.relid}`, m.relid),
      );
    }
    if (c.state !== 'offered') {
      return fail(
        new VmbusError(VmbusErrorCode.InvalidState, `OPENCHANNEL on a channel in state ${c.state}`, m.relid),
      );
    }
    const entry = this.gpadls.get(m.gpadl);
    if (!entry?.gpadl || entry.relid !== m.relid || entry.teardownPending) {
      return fail(
        new VmbusError(VmbusErrorCode.UnknownGpadl, `OPENCHANNEL names unusable GPADL ${m.gpadl}`, m.relid),
      );
    }
    const bad = validateRingGpadl(entry.gpadl, m.downstreamPageOffset);
    if (bad) return fail(bad);
    const request: OpenRequest = {
      relid: m.relid,
      openId: m.openId,
      gpadl: entry.gpadl,
      targetVp: m.targetVp,
      downstreamPageOffset: m.downstreamPageOffset,
      userData: m.userData,
    };
    c.state = 'opening';
    c.open = request;
    if (this.opts.onOpen) this.opts.onOpen(request);
    else this.completeOpen(m.relid, true);
  }

  private onCloseChannel(relid: number) {
    const c = this.channels.get(relid);
    if (!c || c.state === 'unsent') {
      return this.drop(
        new VmbusError(VmbusErrorCode.UnknownRelid, `CLOSECHANNEL for unknown channel ${relid}`, relid),
      );
    }
    if (c.state === 'revoked') return; // the guest cleaning up after a rescind
    if (c.state === 'opening') {
      c.open = undefined;
      c.state = 'offered';
      return;
    }
    if (c.state !== 'open') {
      return this.drop(
        new VmbusError(VmbusErrorCode.InvalidState, `CLOSECHANNEL on a closed channel ${relid}`, relid),
      );
    }
    this.closeDevice(c, 'guest');
    c.state = 'offered';
  }

  private onRelidReleased(relid: number) {
    const c = this.channels.get(relid);
    if (c?.state !== 'revoked') {
      return this.drop(
        new VmbusError(
          VmbusErrorCode.InvalidState,
          `RELID_RELEASED for channel ${relid} that was not rescinded`,
          relid,
        ),
      );
    }
    this.removeChannel(c);
    this.opts.onReleased?.(relid);
  }

  private closeDevice(c: Channel, reason: CloseReason) {
    const ring = c.open?.gpadl.handle;
    c.open = undefined;
    this.opts.onClose?.(c.relid, reason);
    if (ring !== undefined) {
      const entry = this.gpadls.get(ring);
      if (entry?.teardownPending && entry.gpadl) this.tearDown(ring, entry.gpadl);
    }
  }

  private removeChannel(c: Channel) {
    this.channels.delete(c.relid);
    for (const [handle, g] of this.gpadls) {
      if (g.relid !== c.relid) continue;
      if (g.builder) this.inProgress--;
      this.gpadls.delete(handle);
      if (g.gpadl) this.opts.onGpadlTornDown?.(g.gpadl);
    }
  }

  private sendOffer(c: Channel) {
    c.state = 'offered';
    this.send(c.offer);
  }

  // --- plumbing ---------------------------------------------------------------------------------

  private send(m: Exclude<ChannelMessage, { type: -1 }>) {
    this.opts.sendMessage(encodeMessage(m));
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }

  private takeToken(): boolean {
    const budget = this.opts.messageBudget ?? { burst: 1024, perSecond: 50_000 };
    const t = this.now();
    const elapsed = Math.max(0, t - this.lastRefill);
    this.lastRefill = t;
    this.tokens = Math.min(budget.burst, this.tokens + (elapsed * budget.perSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** A message refused with an answer on the wire. */
  private refuse(error: VmbusError) {
    this.stats.refused++;
    this.report(error);
  }

  /** A message dropped without an answer. */
  private drop(error: VmbusError) {
    this.stats.dropped++;
    this.report(error);
  }

  private report(error: VmbusError) {
    try {
      this.opts.onError?.(error);
    } catch {
      // A failing logger must not take the control plane down.
    }
  }
}
