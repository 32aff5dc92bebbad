// The guest's VMBus client: the client core wired to a transport, with promises for the control-plane
// round trips and ring setup in the guest's own memory.

import { IncomingRing, OutgoingRing, RingMemoryError } from '@viridian/vmbus-ring';
import { ChannelEnd } from './channel.js';
import { VmbusClientCore } from './client-core.js';
import { VmbusError, VmbusErrorCode } from './errors.js';
import type { ClientTransport } from './transport.js';
import { guidString, type OfferChannelMessage } from './wire.js';

export interface VmbusClientOptions {
  /** The guest's own memory (GPA 0 at byte 0). */
  readonly memory: SharedArrayBuffer;
  readonly transport: ClientTransport;
  /** Reserves `count` contiguous zeroed 4 KiB pages; returns the first page number. */
  allocatePages(count: number): number;
  /** Versions to try, newest first. */
  readonly versions?: readonly number[];
  onError?(error: VmbusError): void;
  /** The host rescinded a channel. Called first; the client then closes it, tears down its GPADL and releases the relid. */
  onRescind?(relid: number): void;
}

export interface OpenOptions {
  /** Pages per ring, control page included. Default 8 (28 KiB of data each way). */
  readonly ringPages?: number;
  readonly userData?: Uint8Array;
}

/** An open channel in the guest. */
export interface GuestChannel {
  readonly relid: number;
  readonly offer: OfferChannelMessage;
  readonly end: ChannelEnd;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
}

interface OpenState {
  readonly relid: number;
  readonly gpadl: number;
  end: ChannelEnd | undefined;
}

export class VmbusClient {
  readonly core: VmbusClientCore;
  readonly #opts: VmbusClientOptions;
  #connect: Waiter<number> | undefined;
  #offersReady: Promise<void>;
  #offersDone!: () => void;
  readonly #gpadlWaiters = new Map<number, Waiter<void>>();
  readonly #tornWaiters = new Map<number, Waiter<void>>();
  readonly #openWaiters = new Map<number, Waiter<number>>();
  readonly #open = new Map<number, OpenState>();
  #unload: Waiter<void> | undefined;

  constructor(options: VmbusClientOptions) {
    this.#opts = options;
    this.#offersReady = new Promise((r) => {
      this.#offersDone = r;
    });
    const t = options.transport;
    this.core = new VmbusClientCore({
      ...(options.versions ? { versions: options.versions } : {}),
      sendMessage: (bytes, connectionId) => t.sendMessage(bytes, connectionId),
      onConnected: (v) => this.#connect?.resolve(v),
      onConnectFailed: (e) => this.#connect?.reject(e),
      onAllOffersDelivered: () => this.#offersDone(),
      onGpadlCreated: (_relid, handle, status) => {
        const w = this.#gpadlWaiters.get(handle);
        this.#gpadlWaiters.delete(handle);
        if (status === 0) w?.resolve();
        else
          w?.reject(
            new VmbusError(
              VmbusErrorCode.MalformedGpadl,
              `host refused GPADL ${handle}: 0x${status.toString(16)}`,
            ),
          );
      },
      onGpadlTorndown: (handle) => {
        this.#tornWaiters.get(handle)?.resolve();
        this.#tornWaiters.delete(handle);
      },
      onOpenResult: (relid, _openId, status) => {
        this.#openWaiters.get(relid)?.resolve(status);
        this.#openWaiters.delete(relid);
      },
      onRescind: (relid) => void this.#rescinded(relid),
      onUnloaded: () => this.#unload?.resolve(),
      ...(options.onError ? { onError: options.onError } : {}),
    });
    t.onMessage((bytes) => this.core.handleMessage(bytes));
  }

  /** Negotiates a version and waits for the host's offers; resolves with the version. */
  async connect(): Promise<number> {
    const version = await new Promise<number>((resolve, reject) => {
      this.#connect = { resolve, reject };
      this.core.connect();
    });
    await this.#offersReady;
    return version;
  }

  get offers(): readonly OfferChannelMessage[] {
    return [...this.core.offers.values()];
  }

  /** The first offer with this interface GUID. */
  findOffer(interfaceId: string): OfferChannelMessage | undefined {
    const want = interfaceId.toLowerCase();
    return this.offers.find((o) => guidString(o.interfaceId) === want);
  }

  /** Allocates rings, creates the ring GPADL, opens the channel. */
  async open(offer: OfferChannelMessage, options: OpenOptions = {}): Promise<GuestChannel> {
    const relid = offer.relid;
    const ringPages = options.ringPages ?? 8;
    const first = this.#opts.allocatePages(2 * ringPages);
    const pfns = Array.from({ length: 2 * ringPages }, (_, i) => first + i);
    new Uint8Array(this.#opts.memory, first * 4096, 2 * ringPages * 4096).fill(0);
    const state = { relid, gpadl: 0, end: undefined as ChannelEnd | undefined };
    const created = new Promise<void>((resolve, reject) => {
      const handle = this.core.createGpadl(relid, [{ byteCount: pfns.length * 4096, byteOffset: 0, pfns }]);
      this.#gpadlWaiters.set(handle, { resolve, reject });
      state.gpadl = handle;
    });
    await created;
    const { doorbell, index } = this.#opts.transport.guestDoorbell(relid);
    const signal = () => this.#opts.transport.signalHost(relid, offer.connectionId);
    const page = (p: number) => p * 4096;
    const outgoing = OutgoingRing.open(
      { buffer: this.#opts.memory, pages: pfns.slice(0, ringPages).map(page) },
      {
        signal,
        doorbell,
        doorbellIndex: index,
      },
    );
    const incoming = IncomingRing.open(
      { buffer: this.#opts.memory, pages: pfns.slice(ringPages).map(page) },
      {
        signal,
        doorbell,
        doorbellIndex: index,
      },
    );
    if (outgoing instanceof RingMemoryError || incoming instanceof RingMemoryError) {
      throw new VmbusError(VmbusErrorCode.BadRingGpadl, 'ring setup failed', relid);
    }
    const status = await new Promise<number>((resolve, reject) => {
      this.#openWaiters.set(relid, { resolve, reject });
      this.core.openChannel(
        relid,
        state.gpadl,
        ringPages,
        options.userData ? { userData: options.userData } : {},
      );
    });
    if (status !== 0) {
      await this.#teardown(relid, state.gpadl);
      throw new VmbusError(
        VmbusErrorCode.OpenRefused,
        `host refused to open channel ${relid}: 0x${status.toString(16)}`,
        relid,
      );
    }
    const end = new ChannelEnd(outgoing, incoming, {
      signalPeer: signal,
      doorbell,
      doorbellIndex: index,
      onCorrupt: (e) => this.#opts.onError?.(e),
    });
    state.end = end;
    this.#open.set(relid, state);
    return { relid, offer, end };
  }

  /** Closes a channel and tears its ring GPADL down. */
  async close(relid: number): Promise<void> {
    const state = this.#open.get(relid);
    if (!state) return;
    this.#open.delete(relid);
    state.end?.close();
    this.core.closeChannel(relid);
    await this.#teardown(relid, state.gpadl);
  }

  /** Sends UNLOAD and waits for the host's UNLOAD_RESPONSE. */
  async unload(): Promise<void> {
    for (const s of this.#open.values()) s.end?.close();
    this.#open.clear();
    await new Promise<void>((resolve, reject) => {
      this.#unload = { resolve, reject };
      this.core.unload();
    });
  }

  #teardown(relid: number, gpadl: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#tornWaiters.set(gpadl, { resolve, reject });
      this.core.teardownGpadl(relid, gpadl);
    });
  }

  async #rescinded(relid: number): Promise<void> {
    this.#opts.onRescind?.(relid);
    const state = this.#open.get(relid);
    this.#open.delete(relid);
    // Fail an open still waiting for its result.
    this.#openWaiters.get(relid)?.resolve(0x8000ffff);
    this.#openWaiters.delete(relid);
    if (state) {
      state.end?.close(new VmbusError(VmbusErrorCode.InvalidState, `channel ${relid} rescinded`, relid));
      this.core.closeChannel(relid);
      await this.#teardown(relid, state.gpadl);
    }
    this.core.releaseRelid(relid);
  }
}
