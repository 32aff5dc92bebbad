import { HvCallCode, HvMsr, X2APIC_MSR_BASE } from '@viridian/hvdef';
import { GeneralProtectionFault, HypervisorError, InvalidOpcodeFault, MemoryAccessFault } from './faults.js';
import {
  ApicPage,
  HvBell,
  HvState,
  MailboxState,
  PAGE_SIZE,
  TrapOp,
  TrapOutcome,
  VP_TEXT_MAX,
  VpControl,
  VpRunState,
} from './layout.js';
import { Access, GuestMemory } from './memory.js';
import { VpRunClock } from './scheduler/vp-clock.js';

/**
 * Everything a thread needs to act as one virtual processor: plain data (SharedArrayBuffers and
 * numbers), so it can be posted to another thread and turned into a GuestVp there.
 */
export interface VpHandle {
  readonly kind: 'viridian-vp';
  readonly partitionId: bigint;
  readonly vpIndex: number;
  readonly root: boolean;
  readonly control: SharedArrayBuffer;
  readonly ram: SharedArrayBuffer;
  readonly pageTable: SharedArrayBuffer;
  readonly bell: SharedArrayBuffer;
}

export interface HypercallResult {
  readonly status: number;
  readonly repsCompleted: number;
}

export type InterruptHandler = (vector: number, vp: GuestVp) => void;

/** The guest's TSC runs at 1 GHz (host monotonic nanoseconds). */
export const GUEST_TSC_FREQUENCY = 1_000_000_000;

// Typed locally so packages that compile these sources need no ES2024 lib.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (
  Atomics as unknown as {
    waitAsync(array: Int32Array, index: number, value: number, timeoutMs?: number): WaitAsyncResult;
  }
).waitAsync;

/**
 * Atomics.waitAsync that keeps the thread's event loop alive while it waits: a pending waitAsync
 * alone holds no reference, so a VP thread with nothing else to do would exit mid-halt. Resolves
 * to 'ok', 'not-equal' or 'timed-out'.
 */
export async function waitAlive(
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
): Promise<string> {
  const w = waitAsync(array, index, value, timeoutMs);
  if (!w.async) return w.value;
  const keep = setInterval(() => undefined, 1 << 30);
  try {
    return await w.value;
  } finally {
    clearInterval(keep);
  }
}

/**
 * Longest a VP sleeps (in a trap or a halt) before it looks whether anyone is left to wake it:
 * a VP never waits forever on a deleted VP or a stopped hypervisor. While both live, a slice that
 * times out costs two loads.
 */
const LIVENESS_CHECK_MS = 1000;

export function encodeInput(
  callCode: number,
  opts: { fast?: boolean; repCount?: number; repStart?: number; varHeader?: number } = {},
): bigint {
  return (
    BigInt(callCode & 0xffff) |
    (opts.fast ? 1n << 16n : 0n) |
    (BigInt((opts.varHeader ?? 0) & 0x3ff) << 17n) |
    (BigInt((opts.repCount ?? 0) & 0xfff) << 32n) |
    (BigInt((opts.repStart ?? 0) & 0xfff) << 48n)
  );
}

export function decodeResult(rax: bigint): HypercallResult {
  return { status: Number(rax & 0xffffn), repsCompleted: Number((rax >> 32n) & 0xfffn) };
}

/**
 * The guest-side view of one virtual processor: performs hypercalls, MSR and CPUID accesses as
 * traps to the hypervisor thread, accesses guest memory by GPA, and takes interrupts from the
 * virtual APIC at safe points (halt, yield, pollInterrupts).
 */
export class GuestVp {
  readonly partitionId: bigint;
  readonly vpIndex: number;
  readonly isRoot: boolean;
  readonly memory: GuestMemory;
  private readonly ctl: Int32Array;
  private readonly ctlView: DataView;
  private readonly ctlBytes: Uint8Array;
  private readonly bell: Int32Array;
  private readonly handlers = new Map<number, InterruptHandler>();
  private readonly encoder = new TextEncoder();
  /** Run-time accounting the scheduler reads (see scheduler/vp-clock.ts). */
  private readonly runClock: VpRunClock;
  private inputPage: number;
  private outputPage: number;

  constructor(readonly handle: VpHandle) {
    if (handle?.kind !== 'viridian-vp') throw new HypervisorError('BAD_HANDLE', 'not a VP handle');
    this.partitionId = handle.partitionId;
    this.vpIndex = handle.vpIndex;
    this.isRoot = handle.root;
    this.ctl = new Int32Array(handle.control);
    this.ctlView = new DataView(handle.control);
    this.ctlBytes = new Uint8Array(handle.control);
    this.bell = new Int32Array(handle.bell);
    this.memory = new GuestMemory(handle.ram, new Int32Array(handle.pageTable));
    this.runClock = new VpRunClock(
      handle.control,
      handle.bell,
      Atomics.load(this.ctl, VpControl.runState >> 2) === VpRunState.Running,
    );
    // Default parameter pages: two pages per VP counted down from the top of the GPA space.
    const top = this.memory.size - PAGE_SIZE * 2 * (this.vpIndex + 1);
    this.inputPage = Math.max(0, top);
    this.outputPage = Math.max(0, top + PAGE_SIZE);
  }

  // ---- the trap -------------------------------------------------------------------------------

  private trap(op: number): number {
    const c = this.ctl;
    const mailbox = VpControl.mailboxState >> 2;
    if (this.gone()) this.notServed(op);
    c[VpControl.op >> 2] = op;
    Atomics.store(c, mailbox, MailboxState.Request);
    Atomics.add(this.bell, HvBell.sequence, 1);
    Atomics.notify(this.bell, HvBell.sequence, 1);
    let spins = c[VpControl.spinIterations >> 2] ?? 0;
    while (spins > 0 && Atomics.load(c, mailbox) === MailboxState.Request) spins--;
    while (Atomics.load(c, mailbox) === MailboxState.Request) {
      if (Atomics.wait(c, mailbox, MailboxState.Request, LIVENESS_CHECK_MS) !== 'timed-out') continue;
      // Nobody will serve a deleted VP or a stopped hypervisor: withdraw the request (unless it
      // was answered meanwhile) instead of sleeping forever.
      if (
        this.gone() &&
        Atomics.compareExchange(c, mailbox, MailboxState.Request, MailboxState.Idle) === MailboxState.Request
      ) {
        this.notServed(op);
      }
    }
    Atomics.store(c, mailbox, MailboxState.Idle);
    return c[VpControl.outcome >> 2] ?? TrapOutcome.Ok;
  }

  /** The hypervisor has stopped (or its thread ended), or this VP was deleted. */
  private gone(): boolean {
    return (
      Atomics.load(this.bell, HvBell.state) === HvState.Stopped ||
      Atomics.load(this.ctl, VpControl.runState >> 2) === VpRunState.Deleted
    );
  }

  private notServed(op: number): never {
    const who = `VP ${this.vpIndex} of partition ${this.partitionId}`;
    const why =
      Atomics.load(this.bell, HvBell.state) === HvState.Stopped
        ? 'the hypervisor has stopped'
        : 'the VP was deleted';
    throw new HypervisorError('HYPERVISOR_STOPPED', `${who}: trap op ${op} not served: ${why}`);
  }

  private raise(outcome: number, what: string): void {
    if (outcome === TrapOutcome.GeneralProtection) throw new GeneralProtectionFault(what);
    if (outcome === TrapOutcome.InvalidOpcode) throw new InvalidOpcodeFault(what);
    if (outcome === TrapOutcome.MemoryIntercept) {
      throw new MemoryAccessFault(this.ctlView.getBigUint64(VpControl.arg0, true), 0);
    }
  }

  /** Memory-form hypercall: RCX = input value, RDX = input GPA, R8 = output GPA; returns RAX. */
  hypercall(inputValue: bigint, inputGpa: bigint | number, outputGpa: bigint | number): bigint {
    return this.issue(inputValue & ~(1n << 16n), BigInt(inputGpa), BigInt(outputGpa));
  }

  /** Register-form (fast) hypercall: RDX and R8 carry the first 16 input bytes. */
  fastHypercall(inputValue: bigint, rdx: bigint, r8: bigint): bigint {
    return this.issue(inputValue | (1n << 16n), rdx, r8);
  }

  private issue(input: bigint, rdx: bigint, r8: bigint): bigint {
    const v = this.ctlView;
    let rcx = BigInt.asUintN(64, input);
    for (;;) {
      v.setBigUint64(VpControl.arg0, rcx, true);
      v.setBigUint64(VpControl.arg1, BigInt.asUintN(64, rdx), true);
      v.setBigUint64(VpControl.arg2, BigInt.asUintN(64, r8), true);
      const outcome = this.trap(TrapOp.Hypercall);
      if (outcome === TrapOutcome.Continue) {
        // Time-sliced rep call: RIP not advanced, RCX carries the new start index; re-execute.
        rcx = v.getBigUint64(VpControl.arg0, true);
        continue;
      }
      this.raise(outcome, 'hypercall');
      return v.getBigUint64(VpControl.result, true);
    }
  }

  rdmsr(msr: number): bigint {
    this.ctlView.setBigUint64(VpControl.arg0, BigInt(msr >>> 0), true);
    this.raise(this.trap(TrapOp.ReadMsr), `rdmsr 0x${(msr >>> 0).toString(16)}`);
    return this.ctlView.getBigUint64(VpControl.result, true);
  }

  wrmsr(msr: number, value: bigint): void {
    this.ctlView.setBigUint64(VpControl.arg0, BigInt(msr >>> 0), true);
    this.ctlView.setBigUint64(VpControl.arg1, BigInt.asUintN(64, value), true);
    this.raise(this.trap(TrapOp.WriteMsr), `wrmsr 0x${(msr >>> 0).toString(16)}`);
  }

  cpuid(leaf: number, subleaf = 0): { eax: number; ebx: number; ecx: number; edx: number } {
    const v = this.ctlView;
    v.setBigUint64(VpControl.arg0, BigInt(leaf >>> 0), true);
    v.setBigUint64(VpControl.arg1, BigInt(subleaf >>> 0), true);
    this.raise(this.trap(TrapOp.Cpuid), 'cpuid');
    return {
      eax: v.getUint32(VpControl.cpuidEax, true),
      ebx: v.getUint32(VpControl.cpuidEbx, true),
      ecx: v.getUint32(VpControl.cpuidEcx, true),
      edx: v.getUint32(VpControl.cpuidEdx, true),
    };
  }

  // ---- guest memory ---------------------------------------------------------------------------

  private fault(gpa: number, access: number): never {
    this.ctlView.setBigUint64(VpControl.arg0, BigInt(gpa), true);
    this.ctlView.setBigUint64(VpControl.arg1, BigInt(access), true);
    this.trap(TrapOp.MemoryAccess);
    throw new MemoryAccessFault(BigInt(gpa), access);
  }

  private checked(gpa: number, length: number, access: number): void {
    const bad = this.memory.firstFault(gpa, length, access);
    if (bad >= 0) this.fault(bad, access);
  }

  readBytes(gpa: number, length: number): Uint8Array {
    this.checked(gpa, length, Access.Read);
    const out = new Uint8Array(length);
    this.memory.read(gpa, out);
    return out;
  }

  writeBytes(gpa: number, bytes: Uint8Array): void {
    this.checked(gpa, bytes.length, Access.Write);
    this.memory.write(gpa, bytes);
  }

  readU32(gpa: number): number {
    const off = this.memory.blockOffset(gpa, 4, Access.Read);
    if (off < 0) return this.readViewFallback(gpa, 4).getUint32(0, true);
    return this.memory.view.getUint32(off, true);
  }

  writeU32(gpa: number, value: number): void {
    const off = this.memory.blockOffset(gpa, 4, Access.Write);
    if (off < 0) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, value, true);
      this.writeBytes(gpa, b);
      return;
    }
    this.memory.view.setUint32(off, value, true);
  }

  readU64(gpa: number): bigint {
    const off = this.memory.blockOffset(gpa, 8, Access.Read);
    if (off < 0) return this.readViewFallback(gpa, 8).getBigUint64(0, true);
    return this.memory.view.getBigUint64(off, true);
  }

  writeU64(gpa: number, value: bigint): void {
    const off = this.memory.blockOffset(gpa, 8, Access.Write);
    if (off < 0) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
      this.writeBytes(gpa, b);
      return;
    }
    this.memory.view.setBigUint64(off, BigInt.asUintN(64, value), true);
  }

  private readViewFallback(gpa: number, length: number): DataView {
    const b = this.readBytes(gpa, length);
    return new DataView(b.buffer);
  }

  /** RAM offset of a mapped, readable+writable GPA (for Atomics on SynIC pages), or throws the intercept. */
  offsetForAtomics(gpa: number, length: number): number {
    const off = this.memory.blockOffset(gpa, length, Access.Read | Access.Write);
    if (off < 0) this.fault(gpa, Access.Write);
    return off;
  }

  // ---- time -----------------------------------------------------------------------------------

  /** The guest's TSC (1 GHz). */
  rdtsc(): bigint {
    return process.hrtime.bigint();
  }

  /**
   * Reference time (100 ns) read from an enabled reference TSC page at `pageGpa` the way a guest
   * does (sequence, scale, offset, sequence again); falls back to the TIME_REF_COUNT MSR when the
   * sequence is 0.
   */
  readReferenceTime(pageGpa: number): bigint {
    for (;;) {
      const seq = this.readU32(pageGpa);
      if (seq === 0) return this.rdmsr(HvMsr.TimeRefCount);
      const tsc = this.rdtsc();
      const scale = this.readU64(pageGpa + 8);
      const offset = BigInt.asIntN(64, this.readU64(pageGpa + 16));
      if (this.readU32(pageGpa) !== seq) continue;
      return ((tsc * scale) >> 64n) + offset;
    }
  }

  // ---- registers ------------------------------------------------------------------------------

  /** This VP's own general-purpose register (Rax..Rflags: names 0x20000..0x20011). */
  getRegister(name: number): bigint {
    const slot = name - 0x2_0000;
    if (slot < 0 || slot > 0x11) throw new RangeError('not a general register');
    return this.ctlView.getBigUint64(VpControl.registers + slot * 16, true);
  }

  setRegister(name: number, value: bigint): void {
    const slot = name - 0x2_0000;
    if (slot < 0 || slot > 0x11) throw new RangeError('not a general register');
    this.ctlView.setBigUint64(VpControl.registers + slot * 16, BigInt.asUintN(64, value), true);
  }

  /** Vector of the Startup IPI that started this VP (0 for the BSP). */
  get sipiVector(): number {
    return Atomics.load(this.ctl, VpControl.sipiVector >> 2);
  }

  /** Number of rep-hypercall continuations (time slices) this VP has re-executed. */
  get continuations(): number {
    return Atomics.load(this.ctl, VpControl.continuations >> 2);
  }

  /** Iterations to spin on the mailbox before sleeping in Atomics.wait (adaptive spinning). */
  set spinIterations(n: number) {
    Atomics.store(this.ctl, VpControl.spinIterations >> 2, Math.max(0, n | 0));
  }

  // ---- interrupts -----------------------------------------------------------------------------

  onInterrupt(vector: number, handler: InterruptHandler): void {
    this.handlers.set(vector & 0xff, handler);
  }

  /** RFLAGS.IF: while false, interrupts stay pending in IRR. */
  set interruptsEnabled(on: boolean) {
    Atomics.store(this.ctl, (VpControl.apic + ApicPage.interruptFlag) >> 2, on ? 1 : 0);
  }

  get interruptsEnabled(): boolean {
    return Atomics.load(this.ctl, (VpControl.apic + ApicPage.interruptFlag) >> 2) !== 0;
  }

  /** End of interrupt through the Hyper-V EOI MSR (any value). */
  eoi(): void {
    this.wrmsr(HvMsr.Eoi, 0n);
  }

  /** End of interrupt through the x2APIC EOI register (MSR 0x80B, value must be 0). */
  x2apicEoi(): void {
    this.wrmsr(X2APIC_MSR_BASE + 0x0b, 0n);
  }

  setTpr(tpr: number): void {
    this.wrmsr(HvMsr.Tpr, BigInt(tpr & 0xff));
  }

  private apicWord(offset: number): number {
    return (VpControl.apic + offset) >> 2;
  }

  /** Highest vector set in a 256-bit APIC bitmap, or -1. */
  private highest(base: number): number {
    for (let w = 7; w >= 0; w--) {
      const bits = Atomics.load(this.ctl, this.apicWord(base) + w) >>> 0;
      if (bits !== 0) return w * 32 + 31 - Math.clz32(bits);
    }
    return -1;
  }

  /** Processor priority per the local APIC rules (TPR against the highest in-service vector). */
  processorPriority(): number {
    const tpr = Atomics.load(this.ctl, this.apicWord(ApicPage.tpr)) & 0xff;
    const isrv = Math.max(0, this.highest(ApicPage.isr));
    return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : isrv & 0xf0;
  }

  /**
   * Accepts and dispatches every deliverable interrupt: highest IRR vector whose class beats PPR,
   * APIC software-enabled, IF set. Returns the number dispatched. A vector without a handler is
   * acknowledged (EOI) at once so it does not block lower priorities forever.
   */
  pollInterrupts(): number {
    let n = 0;
    const c = this.ctl;
    for (;;) {
      if (Atomics.load(c, this.apicWord(ApicPage.interruptFlag)) === 0) return n;
      if ((Atomics.load(c, this.apicWord(ApicPage.svr)) & 0x100) === 0) return n;
      const v = this.highest(ApicPage.irr);
      if (v < 16) return n;
      if ((v & 0xf0) <= (this.processorPriority() & 0xf0)) return n;
      const word = v >> 5;
      const mask = 1 << (v & 31);
      Atomics.and(c, this.apicWord(ApicPage.irr) + word, ~mask);
      const autoEoi = (Atomics.load(c, this.apicWord(ApicPage.autoEoi) + word) & mask) !== 0;
      if (!autoEoi) Atomics.or(c, this.apicWord(ApicPage.isr) + word, mask);
      Atomics.add(c, this.apicWord(ApicPage.accepted), 1);
      n++;
      const handler = this.handlers.get(v);
      if (handler) handler(v, this);
      else if (!autoEoi) this.eoi();
    }
  }

  /** A scheduler safe point: counts it and parks while the scheduler holds this VP. */
  private async safePoint(): Promise<void> {
    const c = this.ctl;
    Atomics.add(c, VpControl.schedSafePoints >> 2, 1);
    Atomics.notify(c, VpControl.schedSafePoints >> 2);
    if (Atomics.load(c, VpControl.schedHold >> 2) === 0) {
      this.runClock.ensureRunning();
      return;
    }
    // Held: the run interval ends here; the scheduler is told so it can hand the LP on.
    this.runClock.stop();
    for (;;) {
      // Wait on the value seen before telling the scheduler: a release that lands in between
      // then ends the wait at once instead of being slept through.
      const held = Atomics.load(c, VpControl.schedHold >> 2);
      if (held === 0) break;
      this.runClock.parked();
      await waitAlive(c, VpControl.schedHold >> 2, held);
    }
    Atomics.store(c, VpControl.schedParked >> 2, 0);
    this.runClock.resumeFromGrant();
  }

  /**
   * Halts until at least one interrupt has been dispatched. Waits with Atomics.waitAsync on the
   * VP doorbell, so the thread's event loop keeps running. Returns early when the VP is deleted or
   * the hypervisor stops meanwhile; halting once that has happened throws NOT_RUNNING.
   */
  async halt(): Promise<void> {
    const c = this.ctl;
    const bellIndex = VpControl.doorbell >> 2;
    if (this.gone()) this.notRunning();
    await this.safePoint();
    for (;;) {
      const seen = Atomics.load(c, bellIndex);
      if (this.pollInterrupts() > 0) break;
      // Running → Halted only: a plain store could overwrite a Deleted the hypervisor just wrote.
      Atomics.compareExchange(c, VpControl.runState >> 2, VpRunState.Running, VpRunState.Halted);
      if (this.gone()) return;
      this.runClock.idle(true);
      await this.sleepOnDoorbell(seen, Number.POSITIVE_INFINITY);
      this.runClock.idle(false);
      if (this.gone()) return;
    }
    Atomics.compareExchange(c, VpControl.runState >> 2, VpRunState.Halted, VpRunState.Running);
  }

  /**
   * Waits until the doorbell moves from `seen`, `ms` pass, or nobody is left to ring it (VP
   * deleted, hypervisor stopped), in bounded slices so the last case is noticed.
   */
  private async sleepOnDoorbell(seen: number, ms: number): Promise<void> {
    const bellIndex = VpControl.doorbell >> 2;
    const until = performance.now() + ms;
    for (;;) {
      const left = Math.min(LIVENESS_CHECK_MS, until - performance.now());
      if (left <= 0) return;
      if ((await waitAlive(this.ctl, bellIndex, seen, left)) !== 'timed-out' || this.gone()) return;
    }
  }

  private notRunning(): never {
    const who = `VP ${this.vpIndex} of partition ${this.partitionId}`;
    throw new HypervisorError('NOT_RUNNING', `${who} cannot halt: deleted or the hypervisor has stopped`);
  }

  /** Like halt() with a time limit in ms; resolves true when an interrupt was dispatched. */
  async haltFor(ms: number): Promise<boolean> {
    const c = this.ctl;
    const bellIndex = VpControl.doorbell >> 2;
    const until = performance.now() + ms;
    if (this.gone()) this.notRunning();
    await this.safePoint();
    for (;;) {
      const seen = Atomics.load(c, bellIndex);
      if (this.pollInterrupts() > 0) return true;
      const left = until - performance.now();
      if (left <= 0 || this.gone()) return false;
      this.runClock.idle(true);
      await this.sleepOnDoorbell(seen, left);
      this.runClock.idle(false);
    }
  }

  /** An explicit safe point: lets the event loop turn, takes pending interrupts, honours a scheduler hold. */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.safePoint();
    this.pollInterrupts();
  }

  // ---- root-only management -------------------------------------------------------------------

  /** Root only: names the ES module (URL) a child partition's VPs run; it exports `main(vp)`. */
  setPartitionImage(partitionId: bigint, url: string | URL): void {
    const bytes = this.encoder.encode(String(url));
    if (bytes.length > VP_TEXT_MAX) throw new RangeError('image URL too long');
    this.ctlBytes.set(bytes, VpControl.text);
    this.ctlView.setUint32(VpControl.textLength, bytes.length, true);
    this.ctlView.setBigUint64(VpControl.arg0, partitionId, true);
    this.raise(this.trap(TrapOp.SetPartitionImage), 'set partition image');
    const status = Number(this.ctlView.getBigUint64(VpControl.result, true) & 0xffffn);
    if (status !== 0)
      throw new HypervisorError('REQUEST_FAILED', `SetPartitionImage: status 0x${status.toString(16)}`);
  }

  // ---- convenience wrappers (parameter blocks in this VP's two hypercall pages) ----------------

  /** Moves the input/output parameter pages this VP's wrappers use. */
  useHypercallPages(inputGpa: number, outputGpa: number): void {
    this.inputPage = inputGpa;
    this.outputPage = outputGpa;
  }

  private input(): DataView {
    const off = this.offsetForAtomics(this.inputPage, PAGE_SIZE);
    const view = new DataView(this.memory.ram, off, PAGE_SIZE);
    new Uint8Array(this.memory.ram, off, PAGE_SIZE).fill(0);
    return view;
  }

  private output(): DataView {
    return new DataView(this.memory.ram, this.offsetForAtomics(this.outputPage, PAGE_SIZE), PAGE_SIZE);
  }

  private call(code: number, opts: { repCount?: number } = {}): HypercallResult {
    return decodeResult(this.hypercall(encodeInput(code, opts), this.inputPage, this.outputPage));
  }

  createPartition(flags = 0n): HypercallResult & { partitionId: bigint } {
    this.input().setBigUint64(0, flags, true);
    const r = this.call(HvCallCode.CreatePartition);
    return { ...r, partitionId: r.status === 0 ? this.output().getBigUint64(0, true) : 0n };
  }

  private partitionOnly(code: number, id: bigint): number {
    this.input().setBigUint64(0, id, true);
    return this.call(code).status;
  }

  initializePartition(id: bigint): number {
    return this.partitionOnly(HvCallCode.InitializePartition, id);
  }

  finalizePartition(id: bigint): number {
    return this.partitionOnly(HvCallCode.FinalizePartition, id);
  }

  deletePartition(id: bigint): number {
    return this.partitionOnly(HvCallCode.DeletePartition, id);
  }

  getPartitionProperty(id: bigint, code: number): HypercallResult & { value: bigint } {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, code, true);
    const r = this.call(HvCallCode.GetPartitionProperty);
    return { ...r, value: r.status === 0 ? this.output().getBigUint64(0, true) : 0n };
  }

  setPartitionProperty(id: bigint, code: number, value: bigint): number {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, code, true);
    i.setBigUint64(16, BigInt.asUintN(64, value), true);
    return this.call(HvCallCode.SetPartitionProperty).status;
  }

  getPartitionId(): HypercallResult & { partitionId: bigint } {
    const r = this.call(HvCallCode.GetPartitionId);
    return { ...r, partitionId: r.status === 0 ? this.output().getBigUint64(0, true) : 0n };
  }

  getNextChildPartition(parent: bigint, previous: bigint): HypercallResult & { next: bigint } {
    const i = this.input();
    i.setBigUint64(0, parent, true);
    i.setBigUint64(8, previous, true);
    const r = this.call(HvCallCode.GetNextChildPartition);
    return { ...r, next: r.status === 0 ? this.output().getBigUint64(0, true) : 0n };
  }

  /** Deposits `pages` pages into a partition's pool (elements name the caller's pages 0..n-1). */
  depositMemory(id: bigint, pages: number): HypercallResult {
    const i = this.input();
    i.setBigUint64(0, id, true);
    for (let n = 0; n < pages; n++) i.setBigUint64(8 + n * 8, BigInt(n), true);
    return this.call(HvCallCode.DepositMemory, { repCount: pages });
  }

  /** Maps target GPA pages base..base+n-1 to the given pool pages with `flags` (HvMapGpaFlags). */
  mapGpaPages(id: bigint, gpaPageBase: bigint, flags: number, poolPages: readonly bigint[]): HypercallResult {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setBigUint64(8, gpaPageBase, true);
    i.setUint32(16, flags, true);
    poolPages.forEach((p, n) => {
      i.setBigUint64(24 + n * 8, p, true);
    });
    return this.call(HvCallCode.MapGpaPages, { repCount: poolPages.length });
  }

  unmapGpaPages(id: bigint, gpaPageBase: bigint, count: number): HypercallResult {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setBigUint64(8, gpaPageBase, true);
    return this.call(HvCallCode.UnmapGpaPages, { repCount: count });
  }

  createVp(id: bigint, vpIndex: number): number {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, vpIndex, true);
    return this.call(HvCallCode.CreateVp).status;
  }

  deleteVp(id: bigint, vpIndex: number): number {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, vpIndex, true);
    return this.call(HvCallCode.DeleteVp).status;
  }

  getVpRegisters(
    id: bigint,
    vpIndex: number,
    names: readonly number[],
  ): HypercallResult & { values: bigint[] } {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, vpIndex, true);
    names.forEach((n, k) => {
      i.setUint32(16 + k * 4, n, true);
    });
    const r = this.call(HvCallCode.GetVpRegisters, { repCount: names.length });
    const o = this.output();
    const values: bigint[] = [];
    for (let k = 0; k < r.repsCompleted; k++) values.push(o.getBigUint64(k * 16, true));
    return { ...r, values };
  }

  setVpRegisters(
    id: bigint,
    vpIndex: number,
    regs: readonly { name: number; value: bigint }[],
  ): HypercallResult {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, vpIndex, true);
    regs.forEach((r, k) => {
      i.setUint32(16 + k * 32, r.name, true);
      i.setBigUint64(16 + k * 32 + 16, BigInt.asUintN(64, r.value), true);
    });
    return this.call(HvCallCode.SetVpRegisters, { repCount: regs.length });
  }

  /** CreatePort (0x95). `info` is HV_PORT_INFO: type, sint, vp, and for events base/count. */
  createPort(
    portPartition: bigint,
    portId: number,
    connectionPartition: bigint,
    info: { type: number; sint: number; vp: number; baseFlag?: number; flagCount?: number },
  ): number {
    const i = this.input();
    i.setBigUint64(0, portPartition, true);
    i.setUint32(8, portId, true);
    i.setBigUint64(16, connectionPartition, true);
    i.setUint32(24, info.type, true);
    i.setUint32(32, info.sint, true);
    i.setUint32(36, info.vp, true);
    i.setUint16(40, info.baseFlag ?? 0, true);
    i.setUint16(42, info.flagCount ?? 0, true);
    return this.call(HvCallCode.CreatePort).status;
  }

  /** ConnectPort (0x96) with a message/event connection info. */
  connectPort(
    connectionPartition: bigint,
    connectionId: number,
    portPartition: bigint,
    portId: number,
    type: number,
  ): number {
    const i = this.input();
    i.setBigUint64(0, connectionPartition, true);
    i.setUint32(8, connectionId, true);
    i.setBigUint64(16, portPartition, true);
    i.setUint32(24, portId, true);
    i.setUint32(32, type, true);
    return this.call(HvCallCode.ConnectPort).status;
  }

  deletePort(portPartition: bigint, portId: number): number {
    const i = this.input();
    i.setBigUint64(0, portPartition, true);
    i.setUint32(8, portId, true);
    return this.call(HvCallCode.DeletePort).status;
  }

  disconnectPort(connectionPartition: bigint, connectionId: number): number {
    const i = this.input();
    i.setBigUint64(0, connectionPartition, true);
    i.setUint32(8, connectionId, true);
    return this.call(HvCallCode.DisconnectPort).status;
  }

  postMessage(connectionId: number, messageType: number, payload: Uint8Array): number {
    const i = this.input();
    i.setUint32(0, connectionId, true);
    i.setUint32(8, messageType, true);
    i.setUint32(12, payload.length, true);
    new Uint8Array(i.buffer, i.byteOffset + 16, Math.min(240, payload.length)).set(payload.subarray(0, 240));
    return this.call(HvCallCode.PostMessage).status;
  }

  /** SignalEvent as a fast hypercall (RDX = ConnectionId | FlagNumber << 32). */
  signalEvent(connectionId: number, flag: number): number {
    const rdx = BigInt(connectionId >>> 0) | (BigInt(flag & 0xffff) << 32n);
    return decodeResult(this.fastHypercall(encodeInput(HvCallCode.SignalEvent), rdx, 0n)).status;
  }

  /** SendSyntheticClusterIpi as a fast hypercall (fixed interrupt to VPs in the 64-bit mask). */
  sendSyntheticClusterIpi(vector: number, mask: bigint): number {
    return decodeResult(
      this.fastHypercall(encodeInput(HvCallCode.SendSyntheticClusterIpi), BigInt(vector), mask),
    ).status;
  }

  /** StartVirtualProcessor: starts an AP of a child partition at `rip`. */
  startVirtualProcessor(id: bigint, vpIndex: number, rip: bigint): number {
    const i = this.input();
    i.setBigUint64(0, id, true);
    i.setUint32(8, vpIndex, true);
    i.setBigUint64(16, rip, true); // VpContext.Rip
    return this.call(HvCallCode.StartVirtualProcessor).status;
  }

  /** Sends an IPI through the x2APIC ICR MSR (0x830): destination APIC id in 63:32. */
  sendIpi(icrLow: number, destination: number): void {
    this.wrmsr(X2APIC_MSR_BASE + 0x30, (BigInt(destination >>> 0) << 32n) | BigInt(icrLow >>> 0));
  }
}

/** Builds the guest-side API for a root VP from a handle returned by Hypervisor.attachRootVp(). */
export function connectRootVp(handle: VpHandle): GuestVp {
  if (!handle?.root) throw new HypervisorError('BAD_HANDLE', 'not a root VP handle');
  return new GuestVp(handle);
}
