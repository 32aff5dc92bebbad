// The root's end of a VM's VMBus over the hypervisor, routed as Hyper-V routes it:
//  - guest → root channel messages: message ports in the ROOT partition (target: this root VP, `sint`)
//    connected from the child as connection ids 1 and 4; the root VP consumes its SIMP slot.
//  - root → guest channel messages: a message port in the CHILD (target: the VP named by
//    INITIATE_CONTACT, SINT 2) connected from the root; the root posts to it.
//  - guest → root signals: per open channel an event port in the root (flag `relid` of `sint`)
//    connected from the child as the offer's connection id 0x2000 | relid.
//  - root → guest signals: an event port in the child (SINT 2, flags 0..2047) connected from the
//    root; the root signals flag `relid`.

import { HvPortType, HvStatus, VMBUS_MESSAGE_SINT, VMBUS_SYNIC_MESSAGE_TYPE } from '@viridian/hvdef';
import { type GuestVp, PAGE_SIZE } from '@viridian/hypervisor';
import type { VmbusError } from '../errors.js';
import type { ServerTransport } from '../transport.js';
import { MESSAGE_CONNECTION_ID, MESSAGE_CONNECTION_ID_4, MessageType } from '../wire.js';
import { SynicErrorReason, SynicTransportError } from './errors.js';
import {
  InterruptPump,
  PostQueue,
  type SlotMessage,
  SYNIC_FLAG_COUNT,
  SynicPort,
  safeReport,
} from './synic.js';

export interface SynicServerTransportOptions {
  /** SINT of the root VP that takes this VM's messages and signals (one VM per SINT per root VP). Default 2. */
  readonly sint?: number;
  /**
   * Program the SINT with AutoEOI (default true, as Linux does unless the hypervisor recommends
   * against it): one trap less per interrupt.
   */
  readonly autoEoi?: boolean;
  /** Interrupt vector of that SINT. Default 0x52. */
  readonly vector?: number;
  /**
   * SIM and SIEF pages (root GPAs) to program when the root VP has none enabled. Default: two pages
   * below the hypercall parameter pages of 64 root VPs, chosen by the root VP's index.
   */
  readonly simpGpa?: number;
  readonly siefpGpa?: number;
  /** The guest VP messages and signals go to until INITIATE_CONTACT names one. Default 0. */
  readonly guestVp?: number;
  /**
   * Base of the root-partition port and connection ids this transport creates (24-bit ids; it uses
   * base .. base + 0xfff). Default `(childPartitionId & 0x7ff) << 12`, unique per child.
   */
  readonly idBase?: number;
  /** Messages waiting for guest message buffers before new ones are dropped. Default 4096. */
  readonly maxQueued?: number;
  /** Take the root VP's interrupts in this thread (default true); false if the owner runs the VP's interrupt loop. */
  readonly pump?: boolean;
  onError?(error: VmbusError): void;
}

/** What the transport has seen; counters only grow. */
export interface SynicTransportStats {
  messagesIn: number;
  messagesOut: number;
  messagesDropped: number;
  signalsIn: number;
  signalsOut: number;
  signalsFailed: number;
}

/** Child-partition port ids (the child's own port namespace holds only these two). */
const CHILD_MESSAGE_PORT = 0x100;
const CHILD_EVENT_PORT = 0x101;

/** Reports the first of a kind and then every 1024th, so a flood does not flood the log. */
function sampled(count: number): boolean {
  return count === 1 || (count & 1023) === 0;
}

export class SynicServerTransport implements ServerTransport {
  readonly stats: SynicTransportStats = {
    messagesIn: 0,
    messagesOut: 0,
    messagesDropped: 0,
    signalsIn: 0,
    signalsOut: 0,
    signalsFailed: 0,
  };
  readonly childPartitionId: bigint;
  readonly #vp: GuestVp;
  readonly #root: bigint;
  readonly #base: number;
  readonly #port: SynicPort;
  readonly #pump: InterruptPump | undefined;
  readonly #queue: PostQueue;
  readonly #onError: ((e: VmbusError) => void) | undefined;
  readonly #doorbells = new Int32Array(new SharedArrayBuffer(4 * SYNIC_FLAG_COUNT));
  readonly #eventPorts = new Set<number>();
  readonly #fromPort = new Map<bigint, number>();
  #handler: ((bytes: Uint8Array, connectionId: number) => void) | undefined;
  #guestVp: number;
  #closed = false;
  #draining = false;

  constructor(rootVp: GuestVp, childPartitionId: bigint, options: SynicServerTransportOptions = {}) {
    this.#vp = rootVp;
    this.#root = rootVp.partitionId;
    this.childPartitionId = childPartitionId;
    this.#onError = options.onError;
    this.#guestVp = options.guestVp ?? 0;
    this.#base = (options.idBase ?? Number(childPartitionId & 0x7ffn) << 12) & 0xff_f000;
    const sint = options.sint ?? VMBUS_MESSAGE_SINT;
    const top = rootVp.memory.size - PAGE_SIZE * (2 * 64 + 2 * (rootVp.vpIndex + 1));
    this.#port = new SynicPort(rootVp, {
      sint,
      vector: options.vector ?? 0x52,
      autoEoi: options.autoEoi ?? true,
      simpGpa: options.simpGpa ?? top,
      siefpGpa: options.siefpGpa ?? top + PAGE_SIZE,
    });
    this.#queue = new PostQueue(
      (bytes) => rootVp.postMessage(this.#base + 0x10, VMBUS_SYNIC_MESSAGE_TYPE, bytes),
      (e) => {
        this.stats.messagesDropped++;
        this.#report(e);
      },
      options.maxQueued ?? 4096,
    );
    try {
      for (const connectionId of [MESSAGE_CONNECTION_ID, MESSAGE_CONNECTION_ID_4]) {
        const portId = this.#base + connectionId;
        this.#must(
          rootVp.createPort(this.#root, portId, childPartitionId, {
            type: HvPortType.Message,
            sint,
            vp: rootVp.vpIndex,
          }),
          `CreatePort (root message port for connection ${connectionId})`,
        );
        this.#must(
          rootVp.connectPort(childPartitionId, connectionId, this.#root, portId, HvPortType.Message),
          `ConnectPort (child connection ${connectionId})`,
        );
        this.#fromPort.set(BigInt(portId), connectionId);
      }
      this.#connectChild();
    } catch (e) {
      this.#teardown();
      throw e;
    }
    rootVp.onInterrupt(this.#port.vector, () => this.#interrupt());
    this.#port.enable();
    if (options.pump ?? true) {
      this.#pump = new InterruptPump(rootVp);
      this.#pump.start();
    }
  }

  /** Connection id the guest signals channel `relid` on (the server core's default numbering). */
  connectionIdFor(relid: number): number {
    return 0x2000 | relid;
  }

  sendMessage(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.stats.messagesOut++;
    this.#queue.send(bytes, 0);
  }

  onMessage(handler: (bytes: Uint8Array, connectionId: number) => void): void {
    this.#handler = handler;
    // Messages already waiting go to the handler from a fresh task, never from inside this call: the
    // caller (a VMBus server being constructed) finishes its set-up, e.g. adding its devices, first.
    queueMicrotask(() => this.#drain());
  }

  signalGuest(relid: number): void {
    if (this.#closed || relid <= 0 || relid >= SYNIC_FLAG_COUNT) return;
    const status = this.#vp.signalEvent(this.#base + 0x11, relid);
    this.stats.signalsOut++;
    if (status !== HvStatus.Success && sampled(++this.stats.signalsFailed)) {
      this.#report(
        new SynicTransportError(
          SynicErrorReason.SignalFailed,
          `HvSignalEvent for channel ${relid}: status 0x${status.toString(16)} (${this.stats.signalsFailed} failed)`,
          status,
          relid,
        ),
      );
    }
  }

  hostDoorbell(relid: number): { readonly doorbell: Int32Array; readonly index: number } {
    if (relid <= 0 || relid >= SYNIC_FLAG_COUNT) return { doorbell: this.#doorbells, index: 0 };
    if (!this.#eventPorts.has(relid) && !this.#closed) this.#connectChannel(relid);
    return { doorbell: this.#doorbells, index: relid };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pump?.stop();
    this.#port.disable();
    this.#queue.close();
    this.#teardown();
  }

  // ---- setup --------------------------------------------------------------------------------

  #must(status: number, what: string): void {
    if (status !== HvStatus.Success) {
      throw new SynicTransportError(
        SynicErrorReason.Setup,
        `${what}: status 0x${status.toString(16)}`,
        status,
      );
    }
  }

  /** The child's message and event ports (target: the guest's VMBus VP, SINT 2) and the root's connections to them. */
  #connectChild(): void {
    const vp = this.#vp;
    const child = this.childPartitionId;
    const target = { sint: VMBUS_MESSAGE_SINT, vp: this.#guestVp };
    this.#must(
      vp.createPort(child, CHILD_MESSAGE_PORT, this.#root, { type: HvPortType.Message, ...target }),
      'CreatePort (child message port)',
    );
    this.#must(
      vp.connectPort(this.#root, this.#base + 0x10, child, CHILD_MESSAGE_PORT, HvPortType.Message),
      'ConnectPort (root → child messages)',
    );
    this.#must(
      vp.createPort(child, CHILD_EVENT_PORT, this.#root, {
        type: HvPortType.Event,
        ...target,
        baseFlag: 0,
        flagCount: SYNIC_FLAG_COUNT,
      }),
      'CreatePort (child event port)',
    );
    this.#must(
      vp.connectPort(this.#root, this.#base + 0x11, child, CHILD_EVENT_PORT, HvPortType.Event),
      'ConnectPort (root → child events)',
    );
  }

  #disconnectChild(): void {
    const vp = this.#vp;
    vp.disconnectPort(this.#root, this.#base + 0x10);
    vp.disconnectPort(this.#root, this.#base + 0x11);
    vp.deletePort(this.childPartitionId, CHILD_MESSAGE_PORT);
    vp.deletePort(this.childPartitionId, CHILD_EVENT_PORT);
  }

  /** The root event port of one channel and the child's connection to it (the offer's connection id). */
  #connectChannel(relid: number): void {
    const vp = this.#vp;
    const portId = this.#base + 0x800 + relid;
    try {
      this.#must(
        vp.createPort(this.#root, portId, this.childPartitionId, {
          type: HvPortType.Event,
          sint: this.#port.sint,
          vp: vp.vpIndex,
          baseFlag: relid,
          flagCount: 1,
        }),
        `CreatePort (root event port of channel ${relid})`,
      );
      this.#must(
        vp.connectPort(
          this.childPartitionId,
          this.connectionIdFor(relid),
          this.#root,
          portId,
          HvPortType.Event,
        ),
        `ConnectPort (child connection 0x${this.connectionIdFor(relid).toString(16)})`,
      );
      this.#eventPorts.add(relid);
    } catch (e) {
      vp.deletePort(this.#root, portId);
      this.#report(e as SynicTransportError);
    }
  }

  /** Removes every port and connection this transport made (statuses ignored: some may not exist). */
  #teardown(): void {
    const vp = this.#vp;
    try {
      for (const relid of this.#eventPorts) {
        vp.disconnectPort(this.childPartitionId, this.connectionIdFor(relid));
        vp.deletePort(this.#root, this.#base + 0x800 + relid);
      }
      this.#eventPorts.clear();
      for (const connectionId of [MESSAGE_CONNECTION_ID, MESSAGE_CONNECTION_ID_4]) {
        vp.disconnectPort(this.childPartitionId, connectionId);
        vp.deletePort(this.#root, this.#base + connectionId);
      }
      this.#disconnectChild();
    } catch {
      // the hypervisor or the partition may already be gone
    }
  }

  /** INITIATE_CONTACT names the VP that takes VMBus messages and signals: point the child's ports there. */
  #retarget(bytes: Uint8Array): void {
    if (bytes.length < 16) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MessageType.InitiateContact) return;
    const target = view.getUint32(12, true);
    if (target === this.#guestVp) return;
    this.#guestVp = target;
    this.#disconnectChild();
    try {
      this.#connectChild();
    } catch (e) {
      this.#report(e as SynicTransportError);
    }
  }

  // ---- interrupts ---------------------------------------------------------------------------

  #interrupt(): void {
    this.#drain();
    this.#port.eoi();
    if (this.#queue.queued > 0) this.#queue.flush();
  }

  /** Consumes the slot (a bounded batch, then yields to the event loop) and the event flags. */
  #drain(): void {
    if (this.#closed || this.#draining || !this.#handler) return;
    this.#draining = true;
    try {
      for (let n = 0; n < 64; n++) {
        const m = this.#port.take();
        if (!m) break;
        this.#deliver(m);
        if (n === 63) setImmediate(() => this.#drain());
      }
      this.#port.scanFlags(this.#flag);
    } catch (e) {
      this.#report(new SynicTransportError(SynicErrorReason.Handler, `interrupt handler: ${String(e)}`));
    } finally {
      this.#draining = false;
    }
  }

  readonly #flag = (flag: number): void => {
    if (flag === 0) return;
    this.stats.signalsIn++;
    Atomics.add(this.#doorbells, flag, 1);
    Atomics.notify(this.#doorbells, flag);
  };

  #deliver(m: SlotMessage): void {
    const connectionId = this.#fromPort.get(m.origin);
    if (m.type !== VMBUS_SYNIC_MESSAGE_TYPE || connectionId === undefined) {
      if (sampled(++this.stats.messagesDropped)) {
        this.#report(
          new SynicTransportError(
            SynicErrorReason.UnexpectedMessage,
            `SynIC message type 0x${m.type.toString(16)} from port ${m.origin} dropped (${this.stats.messagesDropped} dropped)`,
          ),
        );
      }
      return;
    }
    this.stats.messagesIn++;
    this.#retarget(m.payload);
    try {
      this.#handler?.(m.payload, connectionId);
    } catch (e) {
      this.#report(new SynicTransportError(SynicErrorReason.Handler, `message handler: ${String(e)}`));
    }
  }

  #report(e: VmbusError): void {
    safeReport(this.#onError, e);
  }
}

/**
 * Creates the root's VMBus transport for child partition `childPartitionId` on root VP `rootVp`:
 * enables the VP's SynIC, creates and connects the ports, and takes the VP's interrupts in this
 * thread. Throws a `SynicTransportError` (reason `ERR_SYNIC_SETUP`) if the hypervisor refuses a step.
 */
export function createSynicServerTransport(
  rootVp: GuestVp,
  childPartitionId: bigint,
  options: SynicServerTransportOptions = {},
): SynicServerTransport {
  return new SynicServerTransport(rootVp, childPartitionId, options);
}
