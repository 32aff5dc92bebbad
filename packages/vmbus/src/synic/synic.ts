// What both ends of the SynIC transport do as a CPU with a SynIC: enable it, consume message slots
// per the pending/EOM protocol, scan and clear event flags atomically, take interrupts while the
// thread is otherwise idle, and repost messages the hypervisor had no buffer for.

import { HV_EVENT_FLAGS_BYTES_PER_SINT, HV_MESSAGE_SIZE, HvMsr, HvStatus } from '@viridian/hvdef';
import { type GuestVp, PAGE_SIZE, VpControl } from '@viridian/hypervisor';
import { SynicErrorReason, SynicTransportError } from './errors.js';

/** Flags per SINT: relids 1..2047 can be signalled (flag 0 is never a channel). */
export const SYNIC_FLAG_COUNT = HV_EVENT_FLAGS_BYTES_PER_SINT * 8;

const MESSAGE_PENDING_BIT = 1n << 40n; // MessageFlags bit 0 (byte 5) in the first 64-bit word
const PAYLOAD = 16;
const AUTO_EOI = 1n << 17n;

// Typed here so packages that compile this source with an ES2023 lib still typecheck.
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/** Where one VP's SynIC pages are and which SINT/vector this transport uses. */
export interface SynicSetup {
  readonly sint: number;
  readonly vector: number;
  /** Program the SINT with AutoEOI (the hypervisor acknowledges on delivery; no EOI trap). */
  readonly autoEoi: boolean;
  /** GPA of the SIM page to program if the VP has none enabled yet. */
  readonly simpGpa: number | undefined;
  /** GPA of the SIEF page to program if the VP has none enabled yet. */
  readonly siefpGpa: number | undefined;
}

/** One received SynIC message, copied out of the slot. */
export interface SlotMessage {
  readonly type: number;
  readonly origin: bigint;
  readonly payload: Uint8Array;
}

/**
 * A VP's SynIC as used by one transport: the slot and flag area of one SINT. Enabling keeps pages the
 * VP already has (another user of the same VP may have set them) and programs the SINT.
 */
export class SynicPort {
  readonly vp: GuestVp;
  readonly sint: number;
  readonly vector: number;
  readonly autoEoi: boolean;
  readonly #slot: BigInt64Array;
  readonly #slotBytes: Uint8Array;
  readonly #flags: Int32Array;

  constructor(vp: GuestVp, setup: SynicSetup) {
    this.vp = vp;
    this.sint = setup.sint;
    this.vector = setup.vector;
    this.autoEoi = setup.autoEoi;
    const simp = this.#page(HvMsr.Simp, setup.simpGpa, 'SIMP');
    const siefp = this.#page(HvMsr.Siefp, setup.siefpGpa, 'SIEFP');
    const slotOff = vp.offsetForAtomics(simp + setup.sint * HV_MESSAGE_SIZE, HV_MESSAGE_SIZE);
    const flagOff = vp.offsetForAtomics(
      siefp + setup.sint * HV_EVENT_FLAGS_BYTES_PER_SINT,
      HV_EVENT_FLAGS_BYTES_PER_SINT,
    );
    this.#slot = new BigInt64Array(vp.memory.ram, slotOff, 1);
    this.#slotBytes = new Uint8Array(vp.memory.ram, slotOff, HV_MESSAGE_SIZE);
    this.#flags = new Int32Array(vp.memory.ram, flagOff, HV_EVENT_FLAGS_BYTES_PER_SINT / 4);
  }

  /** Unmasks the SINT at this transport's vector and turns the SynIC on. */
  enable(): void {
    const vp = this.vp;
    vp.wrmsr(HvMsr.Sint0 + this.sint, BigInt(this.vector & 0xff) | (this.autoEoi ? AUTO_EOI : 0n));
    if ((vp.rdmsr(HvMsr.Scontrol) & 1n) === 0n) vp.wrmsr(HvMsr.Scontrol, 1n);
  }

  /** Ends the interrupt unless the SINT acknowledges by itself (never throws: called from handlers). */
  eoi(): void {
    if (this.autoEoi) return;
    try {
      this.vp.eoi();
    } catch {
      // nothing escapes an interrupt handler
    }
  }

  /** Masks the SINT again (messages then stay queued in the hypervisor). */
  disable(): void {
    try {
      this.vp.wrmsr(HvMsr.Sint0 + this.sint, 0x10000n);
    } catch {
      // the VP may already be gone
    }
  }

  #page(msr: number, wanted: number | undefined, what: string): number {
    const vp = this.vp;
    const current = vp.rdmsr(msr);
    if ((current & 1n) !== 0n) return Number(current & ~0xfffn);
    if (wanted === undefined || wanted % PAGE_SIZE !== 0) {
      throw new SynicTransportError(
        SynicErrorReason.Setup,
        `${what} is not enabled and no page-aligned GPA was given for it`,
      );
    }
    vp.wrmsr(msr, BigInt(wanted) | 1n);
    return wanted;
  }

  /**
   * Takes the message in the slot, if any: copies it, frees the slot (MessageType = 0 in one atomic
   * exchange that also reads MessagePending) and writes EOM when another message waits, so the
   * hypervisor delivers it at once.
   */
  take(): SlotMessage | undefined {
    const head = Atomics.load(this.#slot, 0);
    const type = Number(head & 0xffff_ffffn);
    if (type === 0) return undefined;
    const size = Math.min(Number((head >> 32n) & 0xffn), HV_MESSAGE_SIZE - PAYLOAD);
    const b = this.#slotBytes;
    const origin = new DataView(b.buffer, b.byteOffset + 8, 8).getBigUint64(0, true);
    const payload = b.slice(PAYLOAD, PAYLOAD + size);
    const last = Atomics.exchange(this.#slot, 0, 0n);
    if ((last & MESSAGE_PENDING_BIT) !== 0n) this.vp.wrmsr(HvMsr.Eom, 0n);
    return { type, origin, payload };
  }

  /** Clears every set event flag atomically and calls `fn(flag)` for each. */
  scanFlags(fn: (flag: number) => void): void {
    const words = this.#flags;
    for (let w = 0; w < words.length; w++) {
      if (Atomics.load(words, w) === 0) continue;
      let bits = Atomics.exchange(words, w, 0);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits &= ~(1 << b);
        fn(w * 32 + b);
      }
    }
  }
}

/**
 * Takes the VP's interrupts while this thread has nothing else to do: waits on the VP's interrupt
 * doorbell and dispatches at that safe point, as a CPU idling in HLT would.
 */
export class InterruptPump {
  readonly #vp: GuestVp;
  readonly #ctl: Int32Array;
  #stopped = false;
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(vp: GuestVp) {
    this.#vp = vp;
    this.#ctl = new Int32Array(vp.handle.control);
  }

  start(): void {
    this.#keepAlive = setInterval(() => undefined, 1 << 30);
    void this.#run();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#keepAlive);
    const i = VpControl.doorbell >> 2;
    Atomics.add(this.#ctl, i, 1);
    Atomics.notify(this.#ctl, i);
  }

  async #run(): Promise<void> {
    const i = VpControl.doorbell >> 2;
    while (!this.#stopped) {
      const seen = Atomics.load(this.#ctl, i);
      try {
        this.#vp.pollInterrupts();
      } catch {
        // handlers report their own failures; a fault here must not end the pump
      }
      if (this.#stopped) break;
      const w = waitAsync(this.#ctl, i, seen);
      if (w.async) await w.value;
      else await Promise.resolve();
    }
  }
}

/** Statuses after which a post is retried: the peer has not freed buffers or enabled its SynIC yet. */
function transient(status: number, connectionMayAppear: boolean): boolean {
  return (
    status === HvStatus.InsufficientBuffers ||
    status === HvStatus.InsufficientMemory ||
    status === HvStatus.InvalidSynicState ||
    (connectionMayAppear && status === HvStatus.InvalidConnectionId)
  );
}

interface Pending {
  readonly bytes: Uint8Array;
  readonly connectionId: number;
}

/**
 * Posts messages in order. A post the hypervisor refuses for want of buffers waits (with everything
 * behind it) and is retried with exponential back-off, as Linux's vmbus_post_msg does; any other
 * failure, or exhausted retries, drops the message and reports it.
 */
export class PostQueue {
  readonly #post: (bytes: Uint8Array, connectionId: number) => number;
  readonly #report: (e: SynicTransportError) => void;
  readonly #max: number;
  readonly #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delayMs = 1;
  #tries = 0;
  #closed = false;
  readonly #connectionMayAppear: boolean;

  constructor(
    post: (bytes: Uint8Array, connectionId: number) => number,
    report: (e: SynicTransportError) => void,
    maxQueued: number,
    /** Retry INVALID_CONNECTION_ID too (a guest whose host has not connected the port yet, as Linux does). */
    connectionMayAppear = false,
  ) {
    this.#post = post;
    this.#report = report;
    this.#max = maxQueued;
    this.#connectionMayAppear = connectionMayAppear;
  }

  get queued(): number {
    return this.#queue.length;
  }

  send(bytes: Uint8Array, connectionId: number): void {
    if (this.#closed) return;
    if (bytes.length > HV_MESSAGE_SIZE - PAYLOAD) {
      this.#report(
        new SynicTransportError(SynicErrorReason.PostFailed, `message of ${bytes.length} bytes exceeds 240`),
      );
      return;
    }
    if (this.#queue.length === 0) {
      const status = this.#post(bytes, connectionId);
      if (status === HvStatus.Success) return;
      if (!transient(status, this.#connectionMayAppear)) {
        this.#failed(status, connectionId);
        return;
      }
    } else if (this.#queue.length >= this.#max) {
      this.#report(
        new SynicTransportError(
          SynicErrorReason.QueueOverflow,
          `${this.#queue.length} messages wait for the peer; message dropped`,
        ),
      );
      return;
    }
    this.#queue.push({ bytes, connectionId });
    this.#arm();
  }

  /** Posts what waits, up to the first post that still finds no buffer. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (!this.#closed && this.#queue.length > 0) {
      const head = this.#queue[0] as Pending;
      const status = this.#post(head.bytes, head.connectionId);
      if (status === HvStatus.Success || !transient(status, this.#connectionMayAppear)) {
        this.#queue.shift();
        this.#tries = 0;
        this.#delayMs = 1;
        if (status !== HvStatus.Success) this.#failed(status, head.connectionId);
        continue;
      }
      if (++this.#tries > 100) {
        this.#queue.shift();
        this.#tries = 0;
        this.#failed(status, head.connectionId);
        continue;
      }
      this.#arm();
      return;
    }
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(this.#delayMs * 2, 256);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, delay);
  }

  #failed(status: number, connectionId: number): void {
    this.#report(
      new SynicTransportError(
        SynicErrorReason.PostFailed,
        `HvPostMessage on connection ${connectionId}: status 0x${status.toString(16)}`,
        status,
      ),
    );
  }
}

/** Calls a logging callback without letting it break the caller. */
export function safeReport<E>(fn: ((e: E) => void) | undefined, e: E): void {
  try {
    fn?.(e);
  } catch {
    // logging must not break the transport
  }
}
