// One end of an open channel: an outgoing and an incoming ring plus the signalling around them.
// Inbound packets are drained in batches whenever the peer signals (the doorbell word is bumped);
// outbound packets go straight into the ring, and when it is full they queue in order behind a
// pending_send_sz wait, so nothing is dropped and a caller can await the space.

import {
  type GpaRange,
  type IncomingRing,
  type OutgoingRing,
  type PacketView,
  ReadStatus,
  WaitStatus,
  WriteStatus,
} from '@viridian/vmbus-ring';
import { VmbusError, VmbusErrorCode } from './errors.js';

/** A received packet, copied out of the ring (the peer cannot change it after validation). */
export interface Packet {
  /** 6 in-band, 9 GPA direct, 11 completion. */
  readonly type: number;
  readonly transactionId: bigint;
  readonly completionRequested: boolean;
  /** Payload bytes, padded to 8 by the ring; the inner protocol carries the exact length. */
  readonly payload: Uint8Array;
  /** Ranges of a GPA-direct packet, else empty. */
  readonly ranges: readonly GpaRange[];
}

export const PacketType = { Inband: 6, GpaDirect: 9, Completion: 11 } as const;

export interface ChannelEndOptions {
  /** Tells the peer to look at the rings (SignalEvent, an event flag, or a doorbell in tests). */
  signalPeer(): void;
  /** Word this end sleeps on; whoever receives the peer's signals bumps and notifies it. */
  readonly doorbell: Int32Array;
  readonly doorbellIndex: number;
  /** The rings were corrupted by the peer (the channel is then dead). */
  onCorrupt?(error: VmbusError): void;
  /**
   * Packets waiting for ring space before this end stops reading its incoming ring, so a peer that
   * sends requests but never reads the answers cannot grow this side's memory. Set it on the serving
   * side only (if both ends stopped reading they could wait on each other). Default: no limit.
   */
  readonly maxQueued?: number;
}

interface Queued {
  readonly kind: 0 | 1 | 2;
  readonly payload: Uint8Array;
  readonly transactionId: bigint;
  readonly flags: number;
  readonly ranges: readonly GpaRange[] | null;
  resolve(written: boolean): void;
  reject(e: Error): void;
}

// Typed here so packages that compile this source with an ES2023 lib still typecheck.
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
    ): { async: false } | { async: true; value: Promise<string> };
  }
).waitAsync;

const INBAND = 0;
const COMPLETION = 1;
const GPA_DIRECT = 2;

export class ChannelEnd {
  readonly #out: OutgoingRing;
  readonly #in: IncomingRing;
  readonly #opts: ChannelEndOptions;
  readonly #queue: Queued[] = [];
  readonly #pending = new Map<bigint, { resolve(p: Packet): void; reject(e: Error): void }>();
  #handler: ((packet: Packet) => void) | undefined;
  #nextTid = 1n;
  #closed = false;
  #error: VmbusError | undefined;
  #running = false;

  constructor(outgoing: OutgoingRing, incoming: IncomingRing, options: ChannelEndOptions) {
    this.#out = outgoing;
    this.#in = incoming;
    this.#opts = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get error(): VmbusError | undefined {
    return this.#error;
  }

  /** Packets waiting for ring space. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Starts delivering packets (completions for `request` are matched first and not delivered here). */
  onPacket(handler: (packet: Packet) => void): void {
    this.#handler = handler;
    if (!this.#running) {
      this.#running = true;
      void this.#run();
    }
  }

  /**
   * Sends an in-band packet. Resolves true once it is in the ring (waiting for space as long as needed,
   * never dropping), or false if the channel closed first. Rejects only for a packet the ring can
   * never carry.
   */
  send(payload: Uint8Array, transactionId: bigint = 0n, completionRequested = false): Promise<boolean> {
    return this.#enqueue(INBAND, payload, transactionId, completionRequested ? 1 : 0, null);
  }

  /** Sends a completion for the request that carried `transactionId`. */
  complete(transactionId: bigint, payload: Uint8Array = new Uint8Array(0)): Promise<boolean> {
    return this.#enqueue(COMPLETION, payload, transactionId, 0, null);
  }

  /** Sends a GPA-direct packet naming guest memory; completion requested. */
  sendGpaDirect(ranges: readonly GpaRange[], payload: Uint8Array, transactionId: bigint): Promise<boolean> {
    return this.#enqueue(GPA_DIRECT, payload, transactionId, 1, ranges);
  }

  /** Sends a request with a fresh transaction id and resolves with the peer's completion. */
  request(payload: Uint8Array): Promise<Packet> {
    return this.#request((tid) => this.send(payload, tid, true));
  }

  /** Sends a GPA-direct request naming guest memory and resolves with the peer's completion. */
  requestGpaDirect(ranges: readonly GpaRange[], payload: Uint8Array): Promise<Packet> {
    return this.#request((tid) => this.sendGpaDirect(ranges, payload, tid));
  }

  #request(send: (tid: bigint) => Promise<boolean>): Promise<Packet> {
    const tid = this.#nextTid++;
    return new Promise<Packet>((resolve, reject) => {
      this.#pending.set(tid, { resolve, reject });
      send(tid).then(
        (written) => {
          if (written) return;
          this.#pending.delete(tid);
          reject(this.#closedError());
        },
        (e: Error) => {
          this.#pending.delete(tid);
          reject(e);
        },
      );
      if (!this.#running) this.onPacket(() => undefined);
    });
  }

  /**
   * Delivers, now, every packet the peer has already put in the incoming ring. Call it before closing
   * on a close the peer sent after those packets (CLOSECHANNEL, UNLOAD): the peer wrote them first, so
   * they are its last word on the channel, not something to drop because the read loop had not run yet.
   */
  drainNow(): void {
    if (this.#closed || !this.#handler) return;
    this.#drain();
  }

  /** Stops the end: queued sends and outstanding requests fail; the rings are left as they are. */
  close(reason: VmbusError = new VmbusError(VmbusErrorCode.InvalidState, 'channel closed')): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const q of this.#queue.splice(0)) q.resolve(false);
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
    Atomics.add(this.#opts.doorbell, this.#opts.doorbellIndex, 1);
    Atomics.notify(this.#opts.doorbell, this.#opts.doorbellIndex);
  }

  #enqueue(
    kind: 0 | 1 | 2,
    payload: Uint8Array,
    transactionId: bigint,
    flags: number,
    ranges: readonly GpaRange[] | null,
  ): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#queue.length === 0) {
      const status = this.#write(kind, payload, transactionId, flags, ranges);
      if (status === WriteStatus.Ok) return Promise.resolve(true);
      if (status === WriteStatus.Corrupt) {
        this.#corrupt();
        return Promise.resolve(false);
      }
      if (status < 0) return Promise.reject(this.#writeError(status));
    }
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ kind, payload, transactionId, flags, ranges, resolve, reject });
      if (this.#queue.length === 1) this.#armSpace();
      if (!this.#running) this.onPacket(() => undefined);
    });
  }

  #write(
    kind: number,
    payload: Uint8Array,
    tid: bigint,
    flags: number,
    ranges: readonly GpaRange[] | null,
  ): number {
    if (kind === INBAND) return this.#out.tryWriteInband(payload, tid, flags);
    if (kind === COMPLETION) return this.#out.tryWriteCompletion(tid, payload);
    return this.#out.tryWriteGpaDirect(ranges ?? [], payload, tid, flags);
  }

  #closedError(): VmbusError {
    return this.#error ?? new VmbusError(VmbusErrorCode.InvalidState, 'channel closed');
  }

  #writeError(status: number): VmbusError {
    return new VmbusError(
      VmbusErrorCode.MalformedMessage,
      status === WriteStatus.TooLarge ? 'packet larger than the ring allows' : 'invalid packet arguments',
    );
  }

  /** Sets pending_send_sz for the head of the queue so the reader signals once it has room. */
  #armSpace(): void {
    const head = this.#queue[0];
    if (!head) return;
    if (this.#out.waitForSpace(this.#footprint(head), 0) === WaitStatus.Ready) {
      // Space appeared before pending_send_sz was armed: wake the loop to flush now.
      Atomics.add(this.#opts.doorbell, this.#opts.doorbellIndex, 1);
      Atomics.notify(this.#opts.doorbell, this.#opts.doorbellIndex);
    }
  }

  #footprint(q: Queued): number {
    let header = 16;
    if (q.ranges) {
      header = 24;
      for (const r of q.ranges) header += 8 + 8 * r.pfns.length;
    }
    return header + ((q.payload.length + 7) & ~7) + 8;
  }

  /** Writes queued packets while they fit; returns false if the ring turned out corrupt. */
  #flush(): void {
    while (this.#queue.length > 0) {
      const q = this.#queue[0]!;
      const status = this.#write(q.kind, q.payload, q.transactionId, q.flags, q.ranges);
      if (status > 0) {
        // Still full: re-arm pending_send_sz; if space appeared meanwhile, loop and retry.
        if (this.#out.waitForSpace(status, 0) === WaitStatus.Ready) continue;
        return;
      }
      this.#queue.shift();
      if (status === WriteStatus.Ok) q.resolve(true);
      else if (status === WriteStatus.Corrupt) {
        q.resolve(false);
        this.#corrupt();
        return;
      } else q.reject(this.#writeError(status));
    }
  }

  #corrupt(): VmbusError {
    const ring = this.#in.error ?? this.#out.error;
    const error = new VmbusError(
      VmbusErrorCode.RingCorrupt,
      `ring corrupt: ${ring?.code ?? 'unknown'} ${ring?.message ?? ''}`,
    );
    if (!this.#error) {
      this.#error = error;
      try {
        this.#opts.onCorrupt?.(error);
      } catch {
        // the owner's logger must not break the loop
      }
      this.close(error);
    }
    return this.#error;
  }

  #drain(): void {
    const ring = this.#in;
    const max = this.#opts.maxQueued ?? Number.POSITIVE_INFINITY;
    ring.beginRead();
    for (;;) {
      while (this.#queue.length < max) {
        const s = ring.peek();
        if (s !== ReadStatus.Packet) {
          if (s === ReadStatus.Corrupt) {
            this.#corrupt();
            return;
          }
          break;
        }
        this.#deliver(ring.packet);
        ring.advance();
        if (this.#closed) return;
      }
      if (this.#queue.length >= max) {
        // Back-pressure onto the peer: stop reading until our own sends drain.
        ring.commit();
        return;
      }
      if (!ring.endRead()) break;
      ring.beginRead();
    }
    if (ring.error) this.#corrupt();
  }

  #deliver(view: PacketView): void {
    const payload = new Uint8Array(view.payloadLength);
    view.copyPayload(payload);
    let ranges: readonly GpaRange[] = [];
    if (view.type === PacketType.GpaDirect) {
      const r = view.gpaRanges();
      if (!Array.isArray(r)) {
        this.#corrupt();
        return;
      }
      ranges = r as readonly GpaRange[];
    }
    const packet: Packet = {
      type: view.type,
      transactionId: view.transactionId,
      completionRequested: view.completionRequested,
      payload,
      ranges,
    };
    if (view.type === PacketType.Completion) {
      const waiter = this.#pending.get(packet.transactionId);
      if (waiter) {
        this.#pending.delete(packet.transactionId);
        waiter.resolve(packet);
        return;
      }
    }
    try {
      this.#handler?.(packet);
    } catch {
      // A device handler's bug must not stop the channel's loop.
    }
  }

  async #run(): Promise<void> {
    const db = this.#opts.doorbell;
    const i = this.#opts.doorbellIndex;
    while (!this.#closed) {
      const seen = Atomics.load(db, i);
      this.#flush();
      if (this.#closed) break;
      this.#drain();
      if (this.#closed) break;
      if (this.#out.error || this.#in.error) {
        this.#corrupt();
        break;
      }
      const w = waitAsync(db, i, seen);
      if (w.async) await w.value;
    }
  }
}
