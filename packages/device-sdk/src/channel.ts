// The channel a device sees, on either side: typed send, receive, request/response and GPA-direct
// access, over the bus's ChannelEnd. Nothing here knows which side of the bus it runs on.

import type { ChannelEnd, GpadlView, GuestRange, Packet, VmbusError } from '@viridian/vmbus';
import { PacketType } from '@viridian/vmbus';

/** Bounds-checked guest memory named by a GPA-direct packet. */
export type GuestMemoryView = GpadlView;

/** One received message. */
export interface Message {
  /** Payload bytes (padded to 8 by the ring: carry exact lengths in your protocol). */
  readonly data: Uint8Array;
  readonly transactionId: bigint;
  /** The sender waits for `reply`. */
  readonly expectsReply: boolean;
  /** True for GPA-direct packets; then `memory` gives access to the pages they name. */
  readonly isGpaDirect: boolean;
  /** The ranges of a GPA-direct packet. */
  readonly ranges: readonly GuestRange[];
  /**
   * The guest memory the ranges name, bounds-checked (root side only; undefined on the guest side, or
   * when the ranges point outside the guest's memory).
   */
  readonly memory: GuestMemoryView | undefined;
  /** Answers the message with a completion carrying `data`. Resolves false if the channel closed. */
  reply(data?: Uint8Array): Promise<boolean>;
}

/** An open channel between a VSP and its VSC. */
export interface DeviceChannel {
  /** Channel id on the bus. */
  readonly relid: number;
  /** Starts delivering messages to `handler` (replies to `request` go to the request's promise instead). */
  onMessage(handler: (message: Message) => void): void;
  /** Sends a message. Waits for ring space when the peer is slow (never drops); false if the channel closed. */
  send(data: Uint8Array): Promise<boolean>;
  /** Sends a message and resolves with the peer's reply. Rejects if the channel closes first. */
  request(data: Uint8Array): Promise<Uint8Array>;
  /** Sends a GPA-direct message naming guest pages (from the guest side) and resolves with the reply. */
  requestGpaDirect(ranges: readonly GuestRange[], data: Uint8Array): Promise<Uint8Array>;
  /** Messages waiting for ring space. */
  readonly queued: number;
  readonly closed: boolean;
  /** The error that closed the channel, if the peer broke it. */
  readonly error: VmbusError | undefined;
}

export function wrapChannel(
  relid: number,
  end: ChannelEnd,
  gpaView: ((ranges: readonly GuestRange[]) => GpadlView | VmbusError) | undefined,
): DeviceChannel {
  const toMessage = (p: Packet): Message => {
    const isGpaDirect = p.type === PacketType.GpaDirect;
    let memory: GpadlView | undefined;
    if (isGpaDirect && gpaView) {
      const v = gpaView(p.ranges);
      memory = 'byteLength' in v ? v : undefined;
    }
    return {
      data: p.payload,
      transactionId: p.transactionId,
      expectsReply: p.completionRequested,
      isGpaDirect,
      ranges: p.ranges,
      memory,
      reply: (data = new Uint8Array(0)) => end.complete(p.transactionId, data),
    };
  };
  return {
    relid,
    onMessage: (handler) => end.onPacket((p) => handler(toMessage(p))),
    send: (data) => end.send(data),
    request: async (data) => (await end.request(data)).payload,
    requestGpaDirect: async (ranges, data) => (await end.requestGpaDirect(ranges, data)).payload,
    get queued() {
      return end.queued;
    },
    get closed() {
      return end.closed;
    },
    get error() {
      return end.error;
    },
  };
}

/** Picks the highest protocol version both sides speak, or undefined. */
export function pickVersion(ours: readonly number[], theirs: readonly number[]): number | undefined {
  let best: number | undefined;
  for (const v of ours) if (theirs.includes(v) && (best === undefined || v > best)) best = v;
  return best;
}
