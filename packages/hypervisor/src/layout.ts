// Fixed layouts of the SharedArrayBuffers the hypervisor thread shares with VP threads.
// Everything else the hypervisor knows stays private to its thread. The README has the same
// tables; keep them in step.

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/**
 * Hypervisor doorbell: one SAB of 16 bytes (i32 words). `sequence` is a counter every VP (and the
 * host control path) increments and notifies after posting work; the hypervisor thread waits on
 * it. `heartbeat` counts the hypervisor loop's passes (liveness, for diagnostics). `state` is
 * HvState: a thread blocked on the hypervisor checks it so it never waits on a hypervisor that is
 * gone.
 */
export const HV_BELL_BYTES = 16;
export const HvBell = { sequence: 0, heartbeat: 1, state: 2 } as const;

export const HvState = {
  Starting: 0,
  Running: 1,
  /** Stopped, or its thread ended: no trap will be served again. */
  Stopped: 2,
} as const;
export type HvState = (typeof HvState)[keyof typeof HvState];

/**
 * VP control block: one 8 KiB SAB per virtual processor. Byte offsets.
 * Trap mailbox (0..127), run state and doorbells (128..255), register file (256..1023),
 * virtual APIC page (1024..2047), scheduler seam (2048..2111), image name (4096..8191).
 */
export const VP_CONTROL_BYTES = 8192;
export const VpControl = {
  /** i32: MailboxState. Guest writes Request, hypervisor writes Done/Continue. */
  mailboxState: 0,
  /** i32: TrapOp. */
  op: 4,
  /** i32: TrapOutcome written with Done. */
  outcome: 8,
  /** u32: this VP's index (read-only for the guest). */
  vpIndex: 12,
  /** u64: hypercall input value (RCX) / MSR number / CPUID leaf / GPA of a faulting access. */
  arg0: 16,
  /** u64: input GPA or RDX / MSR value / CPUID subleaf / access type. */
  arg1: 24,
  /** u64: output GPA or R8. */
  arg2: 32,
  /** u64: hypercall result (RAX) / MSR value read. */
  result: 40,
  /** u32 ×4: CPUID EAX, EBX, ECX, EDX. */
  cpuidEax: 48,
  cpuidEbx: 52,
  cpuidEcx: 56,
  cpuidEdx: 60,
  /** u32: byte length of the UTF-8 string at `text` for the SetPartitionImage op. */
  textLength: 64,
  /** u64: partition id of this VP's partition (read-only for the guest). */
  partitionId: 72,

  /** i32: VpRunState. */
  runState: 128,
  /** i32: SIPI start vector latched by the last Startup IPI. */
  sipiVector: 132,
  /** i32: interrupt doorbell, incremented and notified by the hypervisor on every event for this VP. */
  doorbell: 136,
  /** i32: iterations the guest spins on the mailbox before Atomics.wait (0 = wait at once). */
  spinIterations: 140,
  /** u32: count of time-sliced continuations of rep hypercalls (statistics). */
  continuations: 144,

  /** u64 ×96: register file (see VP_REGISTER_SLOTS), 16-byte values stored as two u64 each. */
  registers: 256,

  /** Virtual APIC page, see ApicPage (offsets relative to this base). */
  apic: 1024,

  /** i32: scheduler hold word; non-zero = hold the VP at its next safe point until it returns to 0. */
  schedHold: 2048,
  /** i32: safe points reached (incremented by the VP at each one; the scheduler may wait on it). */
  schedSafePoints: 2052,
  /** i32: 1 while the VP is parked at a safe point by the scheduler hold. */
  schedParked: 2056,
  /** i32: 1 while the VP waits in halt()/haltFor(): it wants no logical processor. */
  schedIdle: 2060,
  /** f64: run time (ns) the VP accounted for its finished run intervals. */
  schedRunNs: 2064,
  /** f64: host-monotonic ns the current run interval started, NaN while not running. */
  schedRunStartNs: 2072,
  /** f64: host-monotonic ns the last run interval ended (park or halt). */
  schedStampNs: 2080,
  /** f64: written by the scheduler before a release: when the granted slice began on its LP. */
  schedGrantNs: 2088,

  /** UTF-8 text argument (SetPartitionImage), up to 4096 bytes. */
  text: 4096,
} as const;
export const VP_TEXT_MAX = 4096;

export const MailboxState = { Idle: 0, Request: 1, Done: 2 } as const;
export type MailboxState = (typeof MailboxState)[keyof typeof MailboxState];

export const TrapOp = {
  Hypercall: 1,
  ReadMsr: 2,
  WriteMsr: 3,
  Cpuid: 4,
  /** Root only: names the guest image (ES module URL) a child partition's VPs run. */
  SetPartitionImage: 5,
  /** The guest touched a GPA that is unmapped or lacks the access: arg0 = GPA, arg1 = access (1 R, 2 W). */
  MemoryAccess: 6,
} as const;
export type TrapOp = (typeof TrapOp)[keyof typeof TrapOp];

export const TrapOutcome = {
  /** Result is valid. */
  Ok: 0,
  /** General-protection fault: the guest-side helper throws GeneralProtectionFault. */
  GeneralProtection: 1,
  /** Invalid opcode (#UD). */
  InvalidOpcode: 2,
  /** A rep hypercall was time-sliced: arg0 holds the input value with the new rep start index. */
  Continue: 3,
  /** The access went to an unmapped GPA; an intercept message went to the root. */
  MemoryIntercept: 4,
} as const;
export type TrapOutcome = (typeof TrapOutcome)[keyof typeof TrapOutcome];

export const VpRunState = {
  /** Created, waiting for INIT/SIPI (application processors) or StartVirtualProcessor. */
  WaitForSipi: 0,
  Running: 1,
  /** Inside halt(): waiting on the doorbell for an interrupt. */
  Halted: 2,
  /** Deleted: the thread ends at its next safe point. */
  Deleted: 3,
} as const;
export type VpRunState = (typeof VpRunState)[keyof typeof VpRunState];

/**
 * Virtual APIC page inside the control block (offsets from VpControl.apic). The hypervisor sets
 * IRR bits (Atomics.or) and rings the doorbell; the VP, acting as the CPU, accepts interrupts
 * (IRR → ISR) at its safe points; EOI goes through the EOI MSR to the hypervisor, which clears the
 * ISR bit while the VP is stopped in the trap.
 */
export const ApicPage = {
  /** u32 ×8 each: 256-bit vectors, bit v of word v>>5. */
  irr: 0,
  isr: 32,
  tmr: 64,
  /** Vectors whose SINT has AutoEOI: accepted without setting ISR. */
  autoEoi: 96,
  /** u32: task priority (7:0). */
  tpr: 128,
  /** u32: spurious-vector register (bit 8 = software enable). */
  svr: 132,
  /** u32: APIC id. */
  apicId: 136,
  /** u32: 1 while the VP accepts maskable interrupts (RFLAGS.IF). */
  interruptFlag: 140,
  /** u32: count of interrupts accepted (statistics). */
  accepted: 144,
  size: 256,
} as const;

/** Slots of the register file (u64 pairs): the documented Get/SetVpRegisters set. */
export const VP_REGISTER_SLOTS = 96;
