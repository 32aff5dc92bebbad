// The VMBus server of one VM (root side): the control-plane core wired to a transport, rings built
// over each channel's ring GPADL in the guest's memory, and devices handed an open ChannelEnd.

import { IncomingRing, OutgoingRing, RingMemoryError } from '@viridian/vmbus-ring';
import { ChannelEnd } from './channel.js';
import { VmbusError, VmbusErrorCode } from './errors.js';
import { GpadlView, type GuestRange, ringMemoryFromGpadl } from './gpadl-view.js';
import {
  type CloseReason,
  type OfferSpec,
  type OpenRequest,
  type ServerCoreOptions,
  VmbusServerCore,
} from './server-core.js';
import type { ServerTransport } from './transport.js';

/** What a device (VSP) supplies to the server. */
export interface HostedDevice {
  readonly offer: OfferSpec;
  /** The guest opened the channel. Return (or resolve) false to refuse the open. */
  open(channel: ChannelEnd, request: OpenRequest): boolean | Promise<boolean>;
  /** The channel closed (guest close, rescind, unload, or a corrupt ring). */
  close?(reason: CloseReason): void;
}

export interface VmbusServerOptions
  extends Omit<ServerCoreOptions, 'sendMessage' | 'guestPageCount' | 'onOpen' | 'onClose'> {
  /** The guest's memory (GPA 0 at byte 0). */
  readonly memory: SharedArrayBuffer;
  readonly transport: ServerTransport;
}

export class VmbusServer {
  readonly core: VmbusServerCore;
  readonly #memory: SharedArrayBuffer;
  readonly #transport: ServerTransport;
  readonly #devices = new Map<number, HostedDevice>();
  readonly #channels = new Map<number, ChannelEnd>();
  readonly #onError: ((e: VmbusError) => void) | undefined;

  constructor(options: VmbusServerOptions) {
    this.#memory = options.memory;
    this.#transport = options.transport;
    this.#onError = options.onError;
    this.core = new VmbusServerCore({
      ...options,
      guestPageCount: Math.floor(options.memory.byteLength / 4096),
      sendMessage: (bytes) => this.#transport.sendMessage(bytes),
      onOpen: (request) => this.#open(request),
      onClose: (relid, reason) => this.#closed(relid, reason),
    });
    this.#transport.onMessage((bytes, connectionId) => this.core.handleMessage(bytes, connectionId));
  }

  /** Offers a device to the guest; returns its relid. */
  addDevice(device: HostedDevice): number {
    const relid = this.core.offer(device.offer);
    this.#devices.set(relid, device);
    return relid;
  }

  /** Hot-removes a device (RESCIND_CHANNELOFFER); an open channel closes at once. */
  removeDevice(relid: number): void {
    this.core.rescind(relid);
    this.#devices.delete(relid);
  }

  /**
   * Bounds-checked access to guest memory named by a GPA-direct packet's ranges (or any ranges the
   * guest supplied): every page must lie inside the guest's memory.
   */
  gpaView(ranges: readonly GuestRange[]): GpadlView | VmbusError {
    return GpadlView.create(this.#memory, ranges);
  }

  /** The open channel of `relid`, if any. */
  channel(relid: number): ChannelEnd | undefined {
    return this.#channels.get(relid);
  }

  close(): void {
    for (const ch of this.#channels.values()) ch.close();
    this.#channels.clear();
    this.#transport.close();
  }

  #report(error: VmbusError): void {
    try {
      this.#onError?.(error);
    } catch {
      // logging must not break the bus
    }
  }

  #open(request: OpenRequest): void {
    const relid = request.relid;
    const device = this.#devices.get(relid);
    const rings = ringMemoryFromGpadl(this.#memory, request.gpadl, request.downstreamPageOffset);
    if (!device || rings instanceof VmbusError) {
      if (rings instanceof VmbusError) this.#report(rings);
      this.core.completeOpen(relid, false);
      return;
    }
    const { doorbell, index } = this.#transport.hostDoorbell(relid);
    const signal = () => this.#transport.signalGuest(relid);
    const incoming = IncomingRing.open(rings.incoming, { signal, doorbell, doorbellIndex: index });
    const outgoing = OutgoingRing.open(rings.outgoing, { signal, doorbell, doorbellIndex: index });
    if (incoming instanceof RingMemoryError || outgoing instanceof RingMemoryError) {
      const e = incoming instanceof RingMemoryError ? incoming : (outgoing as RingMemoryError);
      this.#report(
        new VmbusError(VmbusErrorCode.BadRingGpadl, `channel ${relid}: ${e.code} ${e.message}`, relid),
      );
      this.core.completeOpen(relid, false);
      return;
    }
    const channel = new ChannelEnd(outgoing, incoming, {
      signalPeer: signal,
      doorbell,
      doorbellIndex: index,
      // The root stops reading a guest that does not read its answers.
      maxQueued: 256,
      onCorrupt: (error) => {
        // A corrupt ring ends this channel only: rescind it; the bus and other channels go on.
        this.core.fail(relid, new VmbusError(VmbusErrorCode.RingCorrupt, error.message, relid));
      },
    });
    this.#channels.set(relid, channel);
    Promise.resolve()
      .then(() => device.open(channel, request))
      .then(
        (accepted) => this.core.completeOpen(relid, accepted),
        (e: unknown) => {
          this.#report(new VmbusError(VmbusErrorCode.OpenRefused, `device open failed: ${String(e)}`, relid));
          this.core.completeOpen(relid, false);
        },
      )
      .finally(() => {
        if (this.core.channelState(relid) !== 'open') {
          channel.close();
          if (this.#channels.get(relid) === channel) this.#channels.delete(relid);
        }
      });
  }

  #closed(relid: number, reason: CloseReason): void {
    const channel = this.#channels.get(relid);
    this.#channels.delete(relid);
    // What the guest wrote before closing (for example an IC's reply just before the guest unloads
    // VMBus on shutdown) reaches the device before its close hook, whether or not the channel's read
    // loop ran in between. A rescind is the host's own act: nothing of the guest's is ordered before it.
    if (reason !== 'rescind') channel?.drainNow();
    channel?.close(new VmbusError(VmbusErrorCode.InvalidState, `channel ${relid} closed (${reason})`, relid));
    try {
      this.#devices.get(relid)?.close?.(reason);
    } catch {
      // a device's close hook must not break the bus
    }
  }
}
