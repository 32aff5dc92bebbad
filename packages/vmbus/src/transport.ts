// How channel messages and signals move between the root and a guest. The bus (server and client)
// sees only these interfaces. The thread transport here carries channel messages over a MessagePort
// (the control plane is not the hot path) and signals as doorbell words in a SharedArrayBuffer, one
// per channel and direction, bumped and notified with Atomics. A SynIC transport implements the same
// interfaces with HvPostMessage / HvSignalEvent on the hypervisor.

import type { MessagePort } from 'node:worker_threads';
import { MessageChannel } from 'node:worker_threads';

/** Root side of a VM's VMBus transport. */
export interface ServerTransport {
  /** Delivers one channel message to the guest. */
  sendMessage(bytes: Uint8Array): void;
  /** Registers the receiver of guest channel messages (with the connection id they were posted to). */
  onMessage(handler: (bytes: Uint8Array, connectionId: number) => void): void;
  /** Signals the guest for channel `relid` (event flag `relid` of SINT 2 on Hyper-V). */
  signalGuest(relid: number): void;
  /** The word the root's end of channel `relid` sleeps on; the transport bumps it when the guest signals. */
  hostDoorbell(relid: number): { readonly doorbell: Int32Array; readonly index: number };
  close(): void;
}

/** Guest side of the transport. */
export interface ClientTransport {
  sendMessage(bytes: Uint8Array, connectionId: number): void;
  onMessage(handler: (bytes: Uint8Array) => void): void;
  /** Signals the host on the offer's connection id (HvSignalEvent on Hyper-V). */
  signalHost(relid: number, connectionId: number): void;
  guestDoorbell(relid: number): { readonly doorbell: Int32Array; readonly index: number };
  close(): void;
}

/** Highest relid the thread transport carries signals for. */
export const MAX_THREAD_RELID = 255;

/** What the guest thread needs to build its end (post it with `port` in the transfer list). */
export interface ThreadTransportHandle {
  readonly port: MessagePort;
  readonly doorbells: SharedArrayBuffer;
}

interface Wire {
  readonly bytes: Uint8Array;
  readonly connectionId: number;
}

function bump(words: Int32Array, index: number): void {
  Atomics.add(words, index, 1);
  Atomics.notify(words, index);
}

class HostThreadTransport implements ServerTransport {
  readonly #port: MessagePort;
  readonly #words: Int32Array;

  constructor(port: MessagePort, doorbells: SharedArrayBuffer) {
    this.#port = port;
    this.#words = new Int32Array(doorbells);
  }

  sendMessage(bytes: Uint8Array): void {
    this.#port.postMessage({ bytes, connectionId: 0 } satisfies Wire);
  }

  onMessage(handler: (bytes: Uint8Array, connectionId: number) => void): void {
    this.#port.on('message', (m: Wire) => {
      // The guest controls what arrives here: anything but the expected shape is not a message.
      if (m && m.bytes instanceof Uint8Array && typeof m.connectionId === 'number')
        handler(m.bytes, m.connectionId);
    });
  }

  signalGuest(relid: number): void {
    if (relid > 0 && relid <= MAX_THREAD_RELID) bump(this.#words, MAX_THREAD_RELID + 1 + relid);
  }

  hostDoorbell(relid: number) {
    return { doorbell: this.#words, index: relid };
  }

  close(): void {
    this.#port.close();
  }
}

class GuestThreadTransport implements ClientTransport {
  readonly #port: MessagePort;
  readonly #words: Int32Array;

  constructor(port: MessagePort, doorbells: SharedArrayBuffer) {
    this.#port = port;
    this.#words = new Int32Array(doorbells);
  }

  sendMessage(bytes: Uint8Array, connectionId: number): void {
    this.#port.postMessage({ bytes, connectionId } satisfies Wire);
  }

  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.#port.on('message', (m: Wire) => {
      if (m && m.bytes instanceof Uint8Array) handler(m.bytes);
    });
  }

  signalHost(relid: number, _connectionId: number): void {
    if (relid > 0 && relid <= MAX_THREAD_RELID) bump(this.#words, relid);
  }

  guestDoorbell(relid: number) {
    return { doorbell: this.#words, index: MAX_THREAD_RELID + 1 + relid };
  }

  close(): void {
    this.#port.close();
  }
}

/** Creates a root/guest transport pair; the guest half travels to its thread as a handle. */
export function createThreadTransport(): { host: ServerTransport; guestHandle: ThreadTransportHandle } {
  const { port1, port2 } = new MessageChannel();
  const doorbells = new SharedArrayBuffer(4 * 2 * (MAX_THREAD_RELID + 1));
  return { host: new HostThreadTransport(port1, doorbells), guestHandle: { port: port2, doorbells } };
}

/** Builds the guest half of a thread transport from its handle (in the guest's thread). */
export function connectThreadTransport(handle: ThreadTransportHandle): ClientTransport {
  return new GuestThreadTransport(handle.port, handle.doorbells);
}
