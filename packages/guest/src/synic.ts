// The guest's SynIC: message page (SIMP), event flags page (SIEFP), SINT vectors and the interrupt
// handler that consumes message slots (pending/EOM protocol) and scans event flags.

import {
  encodeSint,
  HV_EVENT_FLAGS_BYTES_PER_SINT,
  HV_MESSAGE_SIZE,
  HvMessageFlags,
  HvMessageHeaderLayout,
  HvMsr,
} from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import { GUEST_PAGE_SIZE } from './allocator.js';

/** One message taken out of a SIM slot (payload copied before the slot was released). */
export interface SynicMessage {
  readonly messageType: number;
  readonly originationId: bigint;
  readonly payload: Uint8Array;
}

export interface SynicOptions {
  readonly vp: GuestVp;
  readonly simpGpa: number;
  readonly siefpGpa: number;
  /** Whether SINTs are programmed with AutoEOI (Linux: unless the hypervisor deprecates it). */
  readonly autoEoi: boolean;
  /** Reports a listener that threw (an interrupt handler never lets an exception out). */
  readonly onListenerError?: (error: unknown) => void;
}

type MessageListener = (message: SynicMessage) => void;
type FlagListener = (flag: number) => void;

const WORDS_PER_SINT = HV_EVENT_FLAGS_BYTES_PER_SINT / 4;

/** An enabled SynIC on one VP. */
export class Synic {
  readonly simpGpa: number;
  readonly siefpGpa: number;
  readonly autoEoi: boolean;
  readonly #vp: GuestVp;
  readonly #words: Int32Array;
  readonly #simIndex: number;
  readonly #siefIndex: number;
  readonly #messageListeners = new Map<number, MessageListener>();
  readonly #flagListeners = new Map<number, FlagListener>();
  readonly #vectors = new Map<number, number>();
  readonly #onListenerError: (error: unknown) => void;
  /** Interrupts taken per SINT (diagnostics). */
  readonly interrupts = new Uint32Array(16);

  private constructor(options: SynicOptions) {
    this.#vp = options.vp;
    this.simpGpa = options.simpGpa;
    this.siefpGpa = options.siefpGpa;
    this.autoEoi = options.autoEoi;
    this.#onListenerError = options.onListenerError ?? (() => {});
    // The pages are ordinary guest RAM the hypervisor writes into; Atomics need their RAM offsets.
    this.#words = new Int32Array(options.vp.memory.ram);
    this.#simIndex = options.vp.offsetForAtomics(options.simpGpa, GUEST_PAGE_SIZE) >> 2;
    this.#siefIndex = options.vp.offsetForAtomics(options.siefpGpa, GUEST_PAGE_SIZE) >> 2;
  }

  /**
   * hv_synic_enable_regs order: SIMP, SIEFP (read-modify-write keeps RsvdP bits), then SCONTROL.
   * SINTs are programmed later with `listen`.
   */
  static enable(options: SynicOptions): Synic {
    const { vp } = options;
    vp.writeBytes(options.simpGpa, new Uint8Array(GUEST_PAGE_SIZE));
    vp.writeBytes(options.siefpGpa, new Uint8Array(GUEST_PAGE_SIZE));
    const overlay = (msr: number, gpa: number) => vp.wrmsr(msr, (vp.rdmsr(msr) & 0xffen) | BigInt(gpa) | 1n);
    overlay(HvMsr.Simp, options.simpGpa);
    overlay(HvMsr.Siefp, options.siefpGpa);
    const synic = new Synic(options);
    vp.wrmsr(HvMsr.Scontrol, vp.rdmsr(HvMsr.Scontrol) | 1n);
    return synic;
  }

  /**
   * Unmasks `sint` on `vector` and routes its messages and event flags to the listeners. Messages are
   * delivered before flags are scanned only in arrival order of the interrupt; each listener sees
   * its own kind in order.
   */
  listen(sint: number, vector: number, listeners: { message?: MessageListener; flag?: FlagListener }): void {
    if (listeners.message) this.#messageListeners.set(sint, listeners.message);
    if (listeners.flag) this.#flagListeners.set(sint, listeners.flag);
    this.#vectors.set(vector, sint);
    this.#vp.onInterrupt(vector, () => this.#interrupt(sint));
    const value = encodeSint({
      vector,
      masked: false,
      autoEoi: this.autoEoi,
      polling: false,
      asIntercept: false,
      proxy: false,
    });
    const msr = HvMsr.Sint0 + sint;
    // Keep the RsvdP bits of the current value, as Linux does.
    this.#vp.wrmsr(msr, (this.#vp.rdmsr(msr) & 0xffff_ffff_ffe0_ff00n) | value);
    // A message may already sit in the slot (posted before the SINT was unmasked).
    this.#interrupt(sint, false);
  }

  /** Masks `sint` again. */
  mask(sint: number): void {
    const msr = HvMsr.Sint0 + sint;
    this.#vp.wrmsr(msr, this.#vp.rdmsr(msr) | (1n << 16n));
    this.#messageListeners.delete(sint);
    this.#flagListeners.delete(sint);
  }

  /** Turns the SynIC off (SCONTROL, then the pages), as on shutdown. */
  disable(): void {
    const vp = this.#vp;
    vp.wrmsr(HvMsr.Scontrol, vp.rdmsr(HvMsr.Scontrol) & ~1n);
    vp.wrmsr(HvMsr.Siefp, vp.rdmsr(HvMsr.Siefp) & ~1n);
    vp.wrmsr(HvMsr.Simp, vp.rdmsr(HvMsr.Simp) & ~1n);
  }

  #interrupt(sint: number, eoi = true): void {
    this.interrupts[sint] = (this.interrupts[sint] ?? 0) + 1;
    try {
      this.#scanFlags(sint);
      this.#drainMessages(sint);
    } catch (error) {
      this.#onListenerError(error);
    }
    if (eoi && !this.autoEoi) this.#vp.eoi();
  }

  /** Takes every set flag of `sint` (atomic exchange per word) and hands each to the listener. */
  #scanFlags(sint: number): void {
    const listener = this.#flagListeners.get(sint);
    if (!listener) return;
    const base = this.#siefIndex + sint * WORDS_PER_SINT;
    for (let w = 0; w < WORDS_PER_SINT; w++) {
      if (Atomics.load(this.#words, base + w) === 0) continue;
      let bits = Atomics.exchange(this.#words, base + w, 0) >>> 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits &= ~(1 << b);
        this.#safe(() => listener(w * 32 + b));
      }
    }
  }

  /** Consumes the slot: copy, clear MessageType (releases it), EOM when another message is pending. */
  #drainMessages(sint: number): void {
    const listener = this.#messageListeners.get(sint);
    if (!listener) return;
    const vp = this.#vp;
    const slot = this.simpGpa + sint * HV_MESSAGE_SIZE;
    const typeIndex = this.#simIndex + (sint * HV_MESSAGE_SIZE + HvMessageHeaderLayout.messageType) / 4;
    for (let guard = 0; guard < 64; guard++) {
      const messageType = Atomics.load(this.#words, typeIndex) >>> 0;
      if (messageType === 0) return;
      const header = vp.readBytes(slot, HvMessageHeaderLayout.size);
      const size = Math.min(header[HvMessageHeaderLayout.payloadSize] ?? 0, HV_MESSAGE_SIZE - 16);
      const originationId = new DataView(header.buffer).getBigUint64(
        HvMessageHeaderLayout.originationId,
        true,
      );
      const payload = vp.readBytes(slot + HvMessageHeaderLayout.payload, size);
      Atomics.store(this.#words, typeIndex, 0);
      // Flags are read after the release: the hypervisor may have set MessagePending meanwhile.
      const flags = (Atomics.load(this.#words, typeIndex + 1) >>> 8) & 0xff;
      if (flags & HvMessageFlags.MessagePending) vp.wrmsr(HvMsr.Eom, 0n);
      this.#safe(() => listener({ messageType, originationId, payload }));
    }
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#onListenerError(error);
    }
  }
}
