// The hypervisor proper: partitions, VPs, the trap dispatcher, SynIC, timers and the virtual APIC.
// Runs only in the hypervisor thread.
import type { Worker } from 'node:worker_threads';
import {
  HV_ANY_VP,
  HV_EVENT_FLAGS_PER_SINT,
  HV_MESSAGE_PAYLOAD_SIZE,
  HV_MESSAGE_SIZE,
  HV_SYNIC_SINT_COUNT,
  HvMessageType,
  HvPartitionProperty,
  HvPartitionState,
  HvStatus,
  ROOT_PRIVILEGES,
  x2apicLdr,
} from '@viridian/hvdef';
import { CHILD_PRIVILEGES } from '../defs.js';
import {
  ApicPage,
  MailboxState,
  PAGE_SIZE,
  TrapOp,
  TrapOutcome,
  VP_CONTROL_BYTES,
  VpControl,
  VpRunState,
} from '../layout.js';
import { Access, GuestMemory, identityTable, UNMAPPED } from '../memory.js';
import { dispatchHypercall } from './hypercalls.js';
import { cpuid, readMsr, writeMsr } from './msr.js';
import {
  newSints,
  type Partition,
  type Port,
  type QueuedMessage,
  type SyntheticTimer,
  type Vp,
} from './state.js';

export interface KernelOptions {
  readonly rootMemoryBytes: number;
  readonly maxVpsPerPartition: number;
  readonly maxPartitionPages: number;
  readonly repSliceMicros: number;
  readonly repSliceElements: number;
  readonly vpSpinIterations: number;
}

export interface KernelHost {
  spawnVp(vp: Vp, image: string): Worker;
  event(event: Record<string, unknown>): void;
}

/** Host nanoseconds. */
export const nowNs = (): bigint => process.hrtime.bigint();

export const APIC_TIMER_HZ = 200_000_000n;

/** MessageFlags.MessagePending (byte 5 bit 0) in the first 64-bit word of a SynIC message. */
const MESSAGE_PENDING = 1n << 40n;

/** Shortest periodic STIMER period (100 ns units): bounds the work a guest can ask of this thread. */
export const STIMER_MIN_PERIOD = 1000n;
const stimerPeriod = (t: SyntheticTimer): bigint =>
  t.count < STIMER_MIN_PERIOD ? STIMER_MIN_PERIOD : t.count;

export class Kernel {
  readonly partitions = new Map<bigint, Partition>();
  readonly root: Partition;
  /** Every VP of every partition, scanned for trap requests. */
  allVps: Vp[] = [];
  private nextPartitionId = 1n;
  readonly internalErrors: string[] = [];

  constructor(
    readonly options: KernelOptions,
    readonly host: KernelHost,
  ) {
    const pages = Math.ceil(options.rootMemoryBytes / PAGE_SIZE);
    this.root = this.newPartition(undefined);
    this.root.privileges = ROOT_PRIVILEGES;
    this.root.poolPages = pages;
    this.root.state = HvPartitionState.Active;
    this.root.sharedTable = identityTable(pages, true);
    this.root.memory = new GuestMemory(new SharedArrayBuffer(pages * PAGE_SIZE), identityTable(pages, false));
    // The root's loader registered the OS and enabled the hypercall page before handing over.
    this.root.guestOsId = 0x8100_0000_0000_0000n;
    this.root.hypercallMsr = 0x1n;
  }

  newPartition(parent: Partition | undefined): Partition {
    const id = this.nextPartitionId++;
    const p: Partition = {
      id,
      parent,
      depth: parent ? parent.depth + 1 : 0,
      state: HvPartitionState.Uninitialized,
      privileges: CHILD_PRIVILEGES,
      children: new Map(),
      properties: new Map([
        [HvPartitionProperty.CpuReserve, 0n],
        [HvPartitionProperty.CpuCap, 0x10000n],
        [HvPartitionProperty.CpuWeight, 100n],
        [HvPartitionProperty.Suspend, 0n],
        [HvPartitionProperty.TimeFreeze, 0n],
      ]),
      poolPages: 0,
      pagesInUse: 0,
      memory: undefined,
      sharedTable: undefined,
      vps: new Map(),
      ports: new Map(),
      connections: new Map(),
      image: undefined,
      guestOsId: 0n,
      hypercallMsr: 0n,
      referenceTscMsr: 0n,
      tscSequence: 1,
      createdNs: nowNs(),
    };
    this.partitions.set(id, p);
    parent?.children.set(id, p);
    return p;
  }

  /** Partition reference time: 100 ns units since the partition was created. */
  referenceTime(p: Partition): bigint {
    return (nowNs() - p.createdNs) / 100n;
  }

  // ---- VPs ------------------------------------------------------------------------------------

  createVp(p: Partition, index: number): Vp {
    const control = new SharedArrayBuffer(VP_CONTROL_BYTES);
    const vp: Vp = {
      partition: p,
      index,
      control,
      ctl: new Int32Array(control),
      view: new DataView(control),
      worker: undefined,
      deleted: false,
      createdNs: nowNs(),
      scontrol: 0n,
      simp: 0n,
      siefp: 0n,
      sints: newSints(),
      queues: Array.from({ length: HV_SYNIC_SINT_COUNT }, () => []),
      eomPending: false,
      stimers: Array.from({ length: 4 }, (_, i) => ({
        index: i,
        config: 0n,
        count: 0n,
        deadlineNs: -1n,
        expirationRef: 0n,
        bufferQueued: false,
        lateness: [],
      })),
      vpAssist: 0n,
      apicBase: 0xfee0_0000n | 0x800n | 0x400n | (index === 0 ? 0x100n : 0n),
      esr: 0,
      lvt: [0x10000, 0x10000, 0x10000, 0x10000, 0x10000, 0x10000, 0x10000],
      apicTimer: { lvt: 0x10000, initialCount: 0, divide: 0, startNs: -1n, deadlineNs: -1n },
      initPending: false,
    };
    const v = vp.view;
    v.setUint32(VpControl.vpIndex, index, true);
    v.setBigUint64(VpControl.partitionId, p.id, true);
    v.setInt32(VpControl.spinIterations, this.options.vpSpinIterations, true);
    // The firmware software-enabled the APIC (SVR bit 8) with spurious vector 0xFF; IF = 1.
    v.setUint32(VpControl.apic + ApicPage.svr, 0x1ff, true);
    v.setUint32(VpControl.apic + ApicPage.apicId, index, true);
    v.setUint32(VpControl.apic + ApicPage.interruptFlag, 1, true);
    v.setInt32(VpControl.runState, index === 0 ? VpRunState.Running : VpRunState.WaitForSipi, true);
    p.vps.set(index, vp);
    this.allVps = [...this.allVps, vp];
    return vp;
  }

  startVpThread(vp: Vp): void {
    const image = vp.partition.image;
    if (image === undefined || vp.partition === this.root) return;
    const worker = this.host.spawnVp(vp, image);
    vp.worker = worker;
  }

  deleteVp(vp: Vp): void {
    if (vp.deleted) return;
    vp.deleted = true;
    Atomics.store(vp.ctl, VpControl.runState >> 2, VpRunState.Deleted);
    this.ring(vp);
    // Release a thread stopped in a trap, then end it.
    if (Atomics.load(vp.ctl, VpControl.mailboxState >> 2) === MailboxState.Request) {
      vp.view.setInt32(VpControl.outcome, TrapOutcome.InvalidOpcode, true);
      Atomics.store(vp.ctl, VpControl.mailboxState >> 2, MailboxState.Done);
      Atomics.notify(vp.ctl, VpControl.mailboxState >> 2);
    }
    void vp.worker?.terminate();
    vp.worker = undefined;
    vp.partition.vps.delete(vp.index);
    this.allVps = this.allVps.filter((x) => x !== vp);
    for (const t of vp.stimers) t.deadlineNs = -1n;
    vp.apicTimer.deadlineNs = -1n;
  }

  /** Root VP: created on demand for a host thread. */
  attachRootVp(): Vp {
    let index = 0;
    while (this.root.vps.has(index)) index++;
    const vp = this.createVp(this.root, index);
    Atomics.store(vp.ctl, VpControl.runState >> 2, VpRunState.Running);
    return vp;
  }

  /** Tears a partition down to Finalized: VPs, ports and connections go away. */
  finalize(p: Partition): void {
    for (const vp of [...p.vps.values()]) this.deleteVp(vp);
    for (const port of [...p.ports.values()]) this.deletePort(port);
    for (const conn of p.connections.values()) {
      if (conn.port) conn.port.connection = undefined;
    }
    p.connections.clear();
    p.state = HvPartitionState.Finalized;
  }

  deletePort(port: Port): void {
    port.deleted = true;
    port.owner.ports.delete(port.id);
    if (port.connection) port.connection.port = undefined;
    // Its buffers are freed: queued messages are lost.
    for (const vp of port.owner.vps.values()) {
      for (let s = 0; s < HV_SYNIC_SINT_COUNT; s++) {
        const q = vp.queues[s];
        if (q) vp.queues[s] = q.filter((m) => m.port !== port);
      }
    }
  }

  // ---- the trap -------------------------------------------------------------------------------

  /** Serves every VP whose mailbox holds a request. Returns the number served. */
  serviceTraps(): number {
    let served = 0;
    const vps = this.allVps;
    for (let i = 0; i < vps.length; i++) {
      const vp = vps[i] as Vp;
      if (Atomics.load(vp.ctl, 0) !== MailboxState.Request) continue;
      this.serveTrap(vp);
      served++;
    }
    return served;
  }

  private serveTrap(vp: Vp): void {
    const v = vp.view;
    const op = v.getInt32(VpControl.op, true);
    let outcome: number = TrapOutcome.Ok;
    try {
      switch (op) {
        case TrapOp.Hypercall:
          outcome = dispatchHypercall(this, vp);
          break;
        case TrapOp.ReadMsr: {
          const value = readMsr(this, vp, Number(v.getBigUint64(VpControl.arg0, true) & 0xffff_ffffn));
          if (value === undefined) outcome = TrapOutcome.GeneralProtection;
          else v.setBigUint64(VpControl.result, value, true);
          break;
        }
        case TrapOp.WriteMsr: {
          const ok = writeMsr(
            this,
            vp,
            Number(v.getBigUint64(VpControl.arg0, true) & 0xffff_ffffn),
            v.getBigUint64(VpControl.arg1, true),
          );
          if (!ok) outcome = TrapOutcome.GeneralProtection;
          break;
        }
        case TrapOp.Cpuid: {
          const r = cpuid(
            this,
            vp,
            Number(v.getBigUint64(VpControl.arg0, true) & 0xffff_ffffn),
            Number(v.getBigUint64(VpControl.arg1, true) & 0xffff_ffffn),
          );
          v.setUint32(VpControl.cpuidEax, r[0] >>> 0, true);
          v.setUint32(VpControl.cpuidEbx, r[1] >>> 0, true);
          v.setUint32(VpControl.cpuidEcx, r[2] >>> 0, true);
          v.setUint32(VpControl.cpuidEdx, r[3] >>> 0, true);
          break;
        }
        case TrapOp.SetPartitionImage:
          v.setBigUint64(VpControl.result, BigInt(this.setImage(vp)), true);
          break;
        case TrapOp.MemoryAccess: {
          const gpa = v.getBigUint64(VpControl.arg0, true);
          const access = Number(v.getBigUint64(VpControl.arg1, true) & 7n);
          this.memoryIntercept(vp, gpa, access === 0 ? Access.Read : access);
          outcome = TrapOutcome.MemoryIntercept;
          break;
        }
        default:
          outcome = TrapOutcome.InvalidOpcode;
      }
    } catch (error) {
      // Hostile input must never take the hypervisor down: answer, log, keep going.
      this.internalError(`trap op ${op} from partition ${vp.partition.id} VP ${vp.index}`, error);
      if (op === TrapOp.Hypercall) {
        v.setBigUint64(VpControl.result, BigInt(HvStatus.OperationFailed), true);
        outcome = TrapOutcome.Ok;
      } else {
        outcome = TrapOutcome.GeneralProtection;
      }
    }
    v.setInt32(VpControl.outcome, outcome, true);
    Atomics.store(vp.ctl, VpControl.mailboxState >> 2, MailboxState.Done);
    Atomics.notify(vp.ctl, VpControl.mailboxState >> 2);
  }

  internalError(where: string, error: unknown): void {
    const text = `${where}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    this.internalErrors.push(text);
    this.host.event({ type: 'internal-error', message: text });
  }

  private setImage(vp: Vp): number {
    if (vp.partition !== this.root) return HvStatus.AccessDenied;
    const v = vp.view;
    const id = v.getBigUint64(VpControl.arg0, true);
    const target = this.partitions.get(id);
    if (!target || target === this.root) return HvStatus.InvalidPartitionId;
    const length = v.getUint32(VpControl.textLength, true);
    if (length === 0 || length > 4096) return HvStatus.InvalidParameter;
    const bytes = new Uint8Array(vp.control, VpControl.text, length).slice();
    target.image = new TextDecoder().decode(bytes);
    return HvStatus.Success;
  }

  // ---- interrupts -----------------------------------------------------------------------------

  /** Rings a VP's interrupt doorbell. */
  ring(vp: Vp): void {
    Atomics.add(vp.ctl, VpControl.doorbell >> 2, 1);
    Atomics.notify(vp.ctl, VpControl.doorbell >> 2);
  }

  private apicIndex(offset: number): number {
    return (VpControl.apic + offset) >> 2;
  }

  apicEnabled(vp: Vp): boolean {
    return (Atomics.load(vp.ctl, this.apicIndex(ApicPage.svr)) & 0x100) !== 0;
  }

  /** Raises a fixed interrupt: sets IRR (and TMR for level) and rings the doorbell. Lost if the APIC is disabled. */
  assertInterrupt(vp: Vp, vector: number, level = false): boolean {
    if (vector < 16 || vector > 255 || vp.deleted) return false;
    if (!this.apicEnabled(vp)) return false;
    const word = vector >> 5;
    const mask = 1 << (vector & 31);
    if (level) Atomics.or(vp.ctl, this.apicIndex(ApicPage.tmr) + word, mask);
    Atomics.or(vp.ctl, this.apicIndex(ApicPage.irr) + word, mask);
    this.ring(vp);
    return true;
  }

  highestBit(vp: Vp, base: number): number {
    for (let w = 7; w >= 0; w--) {
      const bits = Atomics.load(vp.ctl, this.apicIndex(base) + w) >>> 0;
      if (bits !== 0) return w * 32 + 31 - Math.clz32(bits);
    }
    return -1;
  }

  processorPriority(vp: Vp): number {
    const tpr = Atomics.load(vp.ctl, this.apicIndex(ApicPage.tpr)) & 0xff;
    const isrv = Math.max(0, this.highestBit(vp, ApicPage.isr));
    return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : isrv & 0xf0;
  }

  /** EOI: clears the highest in-service vector, then SynIC retries message delivery. */
  eoi(vp: Vp): void {
    const v = this.highestBit(vp, ApicPage.isr);
    if (v >= 0) {
      const mask = ~(1 << (v & 31));
      Atomics.and(vp.ctl, this.apicIndex(ApicPage.isr) + (v >> 5), mask);
      Atomics.and(vp.ctl, this.apicIndex(ApicPage.tmr) + (v >> 5), mask);
    }
    this.retryDelivery(vp);
    this.ring(vp);
  }

  setTpr(vp: Vp, tpr: number): void {
    Atomics.store(vp.ctl, this.apicIndex(ApicPage.tpr), tpr & 0xff);
    this.ring(vp);
  }

  /** Keeps the VP's AutoEOI vector bitmap in step with its SINT registers. */
  refreshAutoEoi(vp: Vp): void {
    const words = new Int32Array(8);
    for (const sint of vp.sints) {
      if ((sint & (1n << 17n)) !== 0n) {
        const vec = Number(sint & 0xffn);
        words[vec >> 5] = (words[vec >> 5] ?? 0) | (1 << (vec & 31));
      }
    }
    for (let w = 0; w < 8; w++) Atomics.store(vp.ctl, this.apicIndex(ApicPage.autoEoi) + w, words[w] ?? 0);
  }

  /** Delivers an ICR command from `from` (x2APIC format: destination in 63:32). */
  sendIcr(from: Vp, icr: bigint): boolean {
    const low = Number(icr & 0xffff_ffffn);
    const dest = Number((icr >> 32n) & 0xffff_ffffn);
    const vector = low & 0xff;
    const mode = (low >> 8) & 7;
    const logical = (low & 0x800) !== 0;
    const shorthand = (low >> 18) & 3;
    const targets: Vp[] = [];
    for (const vp of from.partition.vps.values()) {
      let hit: boolean;
      if (shorthand === 1) hit = vp === from;
      else if (shorthand === 2) hit = true;
      else if (shorthand === 3) hit = vp !== from;
      else if (dest === 0xffff_ffff) hit = true;
      else if (logical) {
        const ldr = x2apicLdr(vp.index);
        hit = dest >>> 16 === ldr >>> 16 && (dest & ldr & 0xffff) !== 0;
      } else hit = vp.index === dest;
      if (hit) targets.push(vp);
    }
    switch (mode) {
      case 0: // fixed
      case 1: // lowest priority: delivered to every target in this model
        if (vector < 16) {
          from.esr |= 0x20; // send illegal vector
          return true;
        }
        for (const t of targets) this.assertInterrupt(t, vector, (low & 0x8000) !== 0);
        return true;
      case 5: // INIT
        for (const t of targets) {
          if (t === from && shorthand !== 1) continue;
          t.initPending = true;
        }
        return true;
      case 6: // Startup IPI: starts a VP waiting for SIPI that has seen INIT
        for (const t of targets) {
          if (!t.initPending) continue;
          if (Atomics.load(t.ctl, VpControl.runState >> 2) !== VpRunState.WaitForSipi) continue;
          t.initPending = false;
          Atomics.store(t.ctl, VpControl.sipiVector >> 2, vector);
          t.view.setBigUint64(VpControl.registers + 0x10 * 16, BigInt(vector) << 12n, true); // RIP = vector * 4 KiB
          Atomics.store(t.ctl, VpControl.runState >> 2, VpRunState.Running);
          this.ring(t);
        }
        return true;
      default:
        // NMI, SMI, ExtINT, remote read: accepted and dropped in this model.
        return true;
    }
  }

  // ---- SynIC ----------------------------------------------------------------------------------

  sintVector(vp: Vp, sint: number): number {
    return Number((vp.sints[sint] ?? 0x10000n) & 0xffn);
  }

  sintMasked(vp: Vp, sint: number): boolean {
    return ((vp.sints[sint] ?? 0x10000n) & 0x10000n) !== 0n;
  }

  synicEnabled(vp: Vp): boolean {
    return (vp.scontrol & 1n) !== 0n;
  }

  simpEnabled(vp: Vp): boolean {
    return this.synicEnabled(vp) && (vp.simp & 1n) !== 0n;
  }

  siefpEnabled(vp: Vp): boolean {
    return this.synicEnabled(vp) && (vp.siefp & 1n) !== 0n;
  }

  /** Queues a message for (vp, sint) and tries to deliver it. */
  queueMessage(vp: Vp, sint: number, message: QueuedMessage): void {
    const q = vp.queues[sint];
    if (!q) return;
    q.push(message);
    this.tryDeliver(vp, sint);
  }

  /** Delivery step 4 of the pending/EOM protocol for the head of one queue. */
  tryDeliver(vp: Vp, sint: number): void {
    const q = vp.queues[sint];
    const mem = vp.partition.memory;
    if (!q || q.length === 0 || !mem) return;
    if (!this.simpEnabled(vp)) return;
    const slotGpa = Number(vp.simp & ~0xfffn) + sint * HV_MESSAGE_SIZE;
    const off = mem.blockOffset(slotGpa, HV_MESSAGE_SIZE, Access.Read | Access.Write);
    if (off < 0) return;
    const words = new BigInt64Array(mem.ram, off, 1);
    for (;;) {
      const head = Atomics.load(words, 0);
      if ((head & 0xffff_ffffn) !== 0n) {
        // Slot busy: flag MessagePending in the occupying message (CAS against the guest clearing it).
        const flagged = head | MESSAGE_PENDING;
        if (head === flagged || Atomics.compareExchange(words, 0, head, flagged) === head) return;
        continue;
      }
      break;
    }
    const m = q.shift() as QueuedMessage;
    const size = Math.min(m.payload.length, HV_MESSAGE_PAYLOAD_SIZE);
    const bytes = mem.bytes;
    bytes.fill(0, off + 8, off + HV_MESSAGE_SIZE);
    mem.view.setBigUint64(off + 8, m.origin, true);
    bytes.set(m.payload.subarray(0, size), off + 16);
    if (m.stimer) {
      mem.view.setBigUint64(off + 16 + 16, this.referenceTime(vp.partition), true);
      m.stimer.bufferQueued = false;
    }
    if (m.port) m.port.freeBuffers++;
    // Header last: type becomes visible with size in one store. A message still queued behind this
    // one finds the slot occupied, so MessagePending goes out with it: the guest's EOM then fetches
    // the rest (without it the queue waits for a trigger that never comes).
    const header = BigInt(m.type >>> 0) | (BigInt(size) << 32n) | (q.length > 0 ? MESSAGE_PENDING : 0n);
    Atomics.store(words, 0, header);
    if (!this.sintMasked(vp, sint) && ((vp.sints[sint] ?? 0n) & (1n << 18n)) === 0n) {
      this.assertInterrupt(vp, this.sintVector(vp, sint));
    } else {
      this.ring(vp);
    }
  }

  /** Retry triggers (EOM, EOI, enabling SIMP): rescan every queue of the VP. */
  retryDelivery(vp: Vp): void {
    for (let s = 0; s < HV_SYNIC_SINT_COUNT; s++) if ((vp.queues[s]?.length ?? 0) > 0) this.tryDeliver(vp, s);
  }

  /** Picks the VP a port delivers to, or a status when none can take it. */
  portTarget(port: Port, needSiefp: boolean): Vp | number {
    const owner = port.owner;
    const eligible = (vp: Vp): boolean => (needSiefp ? this.siefpEnabled(vp) : this.simpEnabled(vp));
    if (port.targetVp === HV_ANY_VP) {
      for (const vp of owner.vps.values()) if (eligible(vp)) return vp;
      return HvStatus.InvalidVpIndex;
    }
    const vp = owner.vps.get(port.targetVp);
    if (!vp) return HvStatus.InvalidVpIndex;
    if (!eligible(vp)) return HvStatus.InvalidSynicState;
    return vp;
  }

  postMessage(port: Port, type: number, payload: Uint8Array): number {
    if (port.freeBuffers <= 0) return HvStatus.InsufficientBuffers;
    const target = this.portTarget(port, false);
    if (typeof target === 'number') return target;
    port.freeBuffers--;
    this.queueMessage(target, port.targetSint, { type, payload, origin: BigInt(port.id), port });
    return HvStatus.Success;
  }

  signalEvent(port: Port, flag: number): number {
    if (flag >= port.flagCount) return HvStatus.InvalidParameter;
    const target = this.portTarget(port, true);
    if (typeof target === 'number') return target;
    const sint = port.targetSint;
    if (this.sintMasked(target, sint)) return HvStatus.InvalidSynicState;
    const mem = target.partition.memory;
    if (!mem) return HvStatus.InvalidSynicState;
    const bitNo = port.baseFlag + flag;
    const byteGpa = Number(target.siefp & ~0xfffn) + sint * (HV_EVENT_FLAGS_PER_SINT / 8) + (bitNo >> 3);
    const off = mem.offsetOf(byteGpa, Access.Read | Access.Write);
    if (off < 0) return HvStatus.InvalidSynicState;
    const bitMask = 1 << (bitNo & 7);
    const before = Atomics.or(mem.bytes, off, bitMask);
    if ((before & bitMask) === 0 && ((target.sints[sint] ?? 0n) & (1n << 18n)) === 0n) {
      this.assertInterrupt(target, this.sintVector(target, sint));
    }
    return HvStatus.Success;
  }

  /** Unmapped / inaccessible GPA from a guest: intercept message to a VP of the parent on SINT0. */
  memoryIntercept(vp: Vp, gpa: bigint, access: number): void {
    const p = vp.partition;
    const parent = p.parent ?? this.root;
    const mem = p.memory;
    const mapped =
      mem !== undefined && gpa < BigInt(mem.size) && (mem.table[Number(gpa >> 12n)] ?? UNMAPPED) !== UNMAPPED;
    const payload = new Uint8Array(HV_MESSAGE_PAYLOAD_SIZE);
    const dv = new DataView(payload.buffer);
    dv.setUint32(0, vp.index, true);
    dv.setUint8(5, access === Access.Write ? 1 : access === Access.Execute ? 2 : 0);
    dv.setUint16(6, 0b1_0100, true); // execution state: CPL 0, CR0.PE, EFER.LMA
    dv.setBigUint64(24, vp.view.getBigUint64(VpControl.registers + 0x10 * 16, true), true);
    dv.setBigUint64(32, vp.view.getBigUint64(VpControl.registers + 0x11 * 16, true), true);
    dv.setUint32(40, 6, true); // cache type: write-back
    dv.setBigUint64(56, gpa, true); // GVA @48 stays 0: MemoryAccessInfo @45 has GvaValid clear
    const type = mapped ? HvMessageType.GpaIntercept : HvMessageType.UnmappedGpa;
    for (const target of parent.vps.values()) {
      if (!this.simpEnabled(target)) continue;
      const q = target.queues[0];
      if (!q) return;
      // One intercept buffer per VP: a queued one is overwritten in place.
      const queued = q.findIndex((m) => m.interceptOf === vp);
      const message: QueuedMessage = { type, payload, origin: p.id, interceptOf: vp };
      if (queued >= 0) q[queued] = message;
      else this.queueMessage(target, 0, message);
      this.host.event({ type: 'intercept', partitionId: p.id, vpIndex: vp.index, gpa });
      return;
    }
    this.host.event({ type: 'intercept-lost', partitionId: p.id, vpIndex: vp.index, gpa });
  }

  // ---- timers ---------------------------------------------------------------------------------

  armStimer(vp: Vp, t: SyntheticTimer): void {
    const enabled = (t.config & 1n) !== 0n;
    if (!enabled || t.count === 0n) {
      t.deadlineNs = -1n;
      return;
    }
    const periodic = (t.config & 2n) !== 0n;
    const p = vp.partition;
    if (periodic) {
      t.deadlineNs = nowNs() + stimerPeriod(t) * 100n;
    } else {
      // One-shot: absolute reference time.
      t.deadlineNs = p.createdNs + t.count * 100n;
    }
  }

  private fireStimer(vp: Vp, t: SyntheticTimer, now: bigint): void {
    const p = vp.partition;
    const scheduled = t.deadlineNs;
    t.lateness.push(Number(now - scheduled));
    if (t.lateness.length > 4096) t.lateness.shift();
    const expirationRef = (scheduled - p.createdNs) / 100n;
    const periodic = (t.config & 2n) !== 0n;
    if (periodic) {
      const period = stimerPeriod(t) * 100n;
      let next = scheduled + period;
      while (next <= now) next += period; // missed periods are skipped
      t.deadlineNs = next;
    } else {
      t.deadlineNs = -1n;
      t.config &= ~1n;
    }
    const direct = (t.config & (1n << 12n)) !== 0n;
    if (direct) {
      this.assertInterrupt(vp, Number((t.config >> 4n) & 0xffn));
      return;
    }
    if (t.bufferQueued) return; // the dedicated buffer is still waiting for a slot
    const sint = Number((t.config >> 16n) & 0xfn);
    const payload = new Uint8Array(24);
    const dv = new DataView(payload.buffer);
    dv.setUint32(0, t.index, true);
    dv.setBigUint64(8, expirationRef, true);
    t.bufferQueued = true;
    this.queueMessage(vp, sint, { type: HvMessageType.TimerExpired, payload, origin: 0n, stimer: t });
  }

  apicTimerPeriodNs(vp: Vp): bigint {
    const d = vp.apicTimer.divide;
    const code = ((d & 8) >> 1) | (d & 3);
    const div = code === 7 ? 1n : 2n << BigInt(code);
    const ns = (BigInt(vp.apicTimer.initialCount) * div * 1_000_000_000n) / APIC_TIMER_HZ;
    return ns < 100_000n ? 100_000n : ns; // same 100 µs floor as the synthetic timers
  }

  armApicTimer(vp: Vp): void {
    const t = vp.apicTimer;
    if (t.initialCount === 0 || ((t.lvt >> 17) & 3) === 2) {
      t.startNs = -1n;
      t.deadlineNs = -1n;
      return;
    }
    t.startNs = nowNs();
    t.deadlineNs = t.startNs + this.apicTimerPeriodNs(vp);
  }

  apicCurrentCount(vp: Vp): number {
    const t = vp.apicTimer;
    if (t.deadlineNs < 0n) return 0;
    const period = this.apicTimerPeriodNs(vp);
    if (period === 0n) return 0;
    const left = t.deadlineNs - nowNs();
    if (left <= 0n) return 0;
    return Number((left * BigInt(t.initialCount)) / period);
  }

  private fireApicTimer(vp: Vp, now: bigint): void {
    const t = vp.apicTimer;
    const periodic = ((t.lvt >> 17) & 3) === 1;
    if (periodic) {
      const period = this.apicTimerPeriodNs(vp);
      let next = t.deadlineNs + period;
      while (next <= now) next += period;
      t.startNs = next - period;
      t.deadlineNs = next;
    } else {
      t.deadlineNs = -1n;
    }
    if ((t.lvt & 0x10000) === 0) this.assertInterrupt(vp, t.lvt & 0xff);
  }

  /** Fires every due timer; returns the next deadline (hrtime ns) or -1. */
  runTimers(): bigint {
    const now = nowNs();
    let next = -1n;
    for (const vp of this.allVps) {
      for (const t of vp.stimers) {
        if (t.deadlineNs < 0n) continue;
        if (t.deadlineNs <= now) this.fireStimer(vp, t, now);
        if (t.deadlineNs >= 0n && (next < 0n || t.deadlineNs < next)) next = t.deadlineNs;
      }
      const a = vp.apicTimer;
      if (a.deadlineNs >= 0n) {
        if (a.deadlineNs <= now) this.fireApicTimer(vp, now);
        if (a.deadlineNs >= 0n && (next < 0n || a.deadlineNs < next)) next = a.deadlineNs;
      }
    }
    return next;
  }

  // ---- memory ---------------------------------------------------------------------------------

  /** Writes the reference TSC page of a partition (TSC at 1 GHz: scale = 2^64 / 100). */
  writeReferenceTscPage(p: Partition): boolean {
    const mem = p.memory;
    if (!mem) return false;
    const gpa = Number(p.referenceTscMsr & ~0xfffn);
    const off = mem.blockOffset(gpa, 24, Access.Read | Access.Write);
    if (off < 0) return false;
    const v = mem.view;
    v.setUint32(off, 0, true);
    v.setBigUint64(off + 8, (10_000_000n << 64n) / 1_000_000_000n, true);
    v.setBigInt64(off + 16, -(p.createdNs / 100n), true);
    p.tscSequence = p.tscSequence === 0xffff_fffe ? 1 : p.tscSequence + 1;
    Atomics.store(new Int32Array(mem.ram, off, 1), 0, p.tscSequence | 0);
    return true;
  }

  /** Initializes a partition's memory from its deposited pool. */
  allocateMemory(p: Partition): void {
    const pages = p.poolPages;
    p.sharedTable = new Int32Array(new SharedArrayBuffer(pages * 4)).fill(UNMAPPED);
    p.memory = new GuestMemory(
      new SharedArrayBuffer(pages * PAGE_SIZE),
      new Int32Array(pages).fill(UNMAPPED),
    );
  }

  mapPage(p: Partition, gpaPage: number, poolPage: number, flags: number): void {
    const entry = poolPage < 0 ? UNMAPPED : poolPage * 8 + (flags & 7);
    if (p.memory) p.memory.table[gpaPage] = entry;
    if (p.sharedTable) Atomics.store(p.sharedTable, gpaPage, entry);
  }
}
