// Local APIC registers and bit layouts (spec section 7; Intel SDM vol. 3 ch. 11, Linux apicdef.h).
import { checkUint, checkUint64 } from './errors.js';

/** xAPIC register offsets from the APIC base (each register is 16-byte aligned, 32 bits used). */
export const ApicRegister = {
  Id: 0x020,
  Version: 0x030,
  Tpr: 0x080,
  /** xAPIC only. */
  Apr: 0x090,
  Ppr: 0x0a0,
  Eoi: 0x0b0,
  /** xAPIC only. */
  Rrd: 0x0c0,
  Ldr: 0x0d0,
  /** xAPIC only. */
  Dfr: 0x0e0,
  Svr: 0x0f0,
  /** ISR, TMR, IRR: eight 32-bit registers each, 0x10 apart (vector v: register v >> 5, bit v & 31). */
  Isr0: 0x100,
  Tmr0: 0x180,
  Irr0: 0x200,
  Esr: 0x280,
  LvtCmci: 0x2f0,
  IcrLow: 0x300,
  /** xAPIC only; x2APIC has one 64-bit ICR MSR. */
  IcrHigh: 0x310,
  LvtTimer: 0x320,
  LvtThermal: 0x330,
  LvtPerfmon: 0x340,
  LvtLint0: 0x350,
  LvtLint1: 0x360,
  LvtError: 0x370,
  TimerInitialCount: 0x380,
  TimerCurrentCount: 0x390,
  TimerDivideConfig: 0x3e0,
  /** x2APIC only. */
  SelfIpi: 0x3f0,
} as const;
export type ApicRegister = number;

/** Default physical base of the xAPIC page. */
export const APIC_DEFAULT_BASE = 0xfee0_0000;
/** Bytes of the xAPIC register page. */
export const APIC_PAGE_SIZE = 4096;

/** Offset of the ISR/TMR/IRR register holding `vector`, from the first one (Isr0/Tmr0/Irr0). */
export function apicVectorRegisterOffset(vector: number): number {
  return (checkUint('vector', vector, 0xff) >>> 5) * 0x10;
}

// --- x2APIC MSRs -----------------------------------------------------------------------------------

/** First x2APIC MSR; MSR = 0x800 + offset / 16. */
export const X2APIC_MSR_BASE = 0x800;
/** Last MSR of the x2APIC range (0x800..0x8FF). */
export const X2APIC_MSR_LAST = 0x8ff;

/** MSR number of the xAPIC register at `offset` (0x000..0x3F0, 16-byte aligned). */
export function x2apicMsr(offset: number): number {
  checkUint('offset', offset, 0x3f0);
  if (offset % 16 !== 0)
    throw new RangeError(`APIC register offset 0x${offset.toString(16)} is not 16-byte aligned`);
  return X2APIC_MSR_BASE + offset / 16;
}

/** xAPIC offset of an x2APIC MSR, or undefined if `msr` maps to no APIC register slot. */
export function x2apicOffsetOfMsr(msr: number): number | undefined {
  return Number.isInteger(msr) && msr >= X2APIC_MSR_BASE && msr <= X2APIC_MSR_BASE + 0x3f
    ? (msr - X2APIC_MSR_BASE) * 16
    : undefined;
}

function buildX2apicAccess(): Map<number, 'R' | 'W' | 'RW'> {
  const m = new Map<number, 'R' | 'W' | 'RW'>();
  const r = ApicRegister;
  const set = (off: number, a: 'R' | 'W' | 'RW') => m.set(X2APIC_MSR_BASE + off / 16, a);
  set(r.Id, 'R');
  set(r.Version, 'R');
  set(r.Tpr, 'RW');
  set(r.Ppr, 'R');
  set(r.Eoi, 'W');
  set(r.Ldr, 'R');
  set(r.Svr, 'RW');
  for (let i = 0; i < 8; i++) {
    set(r.Isr0 + i * 0x10, 'R');
    set(r.Tmr0 + i * 0x10, 'R');
    set(r.Irr0 + i * 0x10, 'R');
  }
  set(r.Esr, 'RW');
  set(r.LvtCmci, 'RW');
  set(r.IcrLow, 'RW');
  for (const lvt of [r.LvtTimer, r.LvtThermal, r.LvtPerfmon, r.LvtLint0, r.LvtLint1, r.LvtError])
    set(lvt, 'RW');
  set(r.TimerInitialCount, 'RW');
  set(r.TimerCurrentCount, 'R');
  set(r.TimerDivideConfig, 'RW');
  set(r.SelfIpi, 'W');
  return m;
}

/**
 * Every x2APIC MSR and its access. Any other MSR in 0x800..0x8FF (including the xAPIC-only APR,
 * RRD, DFR and ICR-high slots), a read of a W register or a write of an R register raises #GP.
 */
export const X2APIC_MSR_ACCESS: ReadonlyMap<number, 'R' | 'W' | 'RW'> = buildX2apicAccess();

/** x2APIC logical destination derived from the APIC ID: cluster (id >> 4) in 31:16, bit (id & 15). */
export function x2apicLdr(apicId: number): number {
  const id = checkUint('apicId', apicId, 0xffff_ffff);
  return (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;
}

// --- IA32_APIC_BASE and other architectural MSRs ---------------------------------------------------

export const IA32_APIC_BASE = 0x1b;
export const IA32_TSC_DEADLINE = 0x6e0;

/** IA32_APIC_BASE bits. */
export const ApicBaseBits = {
  Bsp: 1n << 8n,
  X2ApicEnable: 1n << 10n,
  GlobalEnable: 1n << 11n,
  /** Bits 12 and up: physical base (the caller limits it to MAXPHYADDR). */
  BaseMask: 0xffff_ffff_ffff_f000n,
} as const;

/** Bits of IA32_APIC_BASE that are always reserved (0..7 and 9); the caller adds bits above MAXPHYADDR. */
export const APIC_BASE_RESERVED_LOW_MASK = 0x2ffn;

export interface ApicBase {
  bsp: boolean;
  x2apicEnable: boolean;
  globalEnable: boolean;
  /** Physical address of the xAPIC page (4 KiB aligned). */
  base: bigint;
}

export function encodeApicBase(b: ApicBase): bigint {
  const base = checkUint64('base', b.base, ApicBaseBits.BaseMask);
  if ((base & 0xfffn) !== 0n) throw new RangeError('APIC base must be 4 KiB aligned');
  return (
    base |
    (b.bsp ? ApicBaseBits.Bsp : 0n) |
    (b.x2apicEnable ? ApicBaseBits.X2ApicEnable : 0n) |
    (b.globalEnable ? ApicBaseBits.GlobalEnable : 0n)
  );
}

export function decodeApicBase(v: bigint): ApicBase & { reservedBitsSet: boolean } {
  const u = BigInt.asUintN(64, v);
  return {
    bsp: (u & ApicBaseBits.Bsp) !== 0n,
    x2apicEnable: (u & ApicBaseBits.X2ApicEnable) !== 0n,
    globalEnable: (u & ApicBaseBits.GlobalEnable) !== 0n,
    base: u & ApicBaseBits.BaseMask,
    reservedBitsSet: (u & APIC_BASE_RESERVED_LOW_MASK) !== 0n,
  };
}

// --- ICR -------------------------------------------------------------------------------------------

/** Delivery modes of the ICR and the LVTs (bits 10:8). */
export const ApicDeliveryMode = {
  Fixed: 0,
  LowestPriority: 1,
  Smi: 2,
  /** Obsolete. */
  RemoteRead: 3,
  Nmi: 4,
  Init: 5,
  StartUp: 6,
  ExtInt: 7,
} as const;
export type ApicDeliveryMode = number;

/** ICR destination shorthand (bits 19:18). */
export const ApicDestinationShorthand = {
  None: 0,
  Self: 1,
  AllIncludingSelf: 2,
  AllExcludingSelf: 3,
} as const;
export type ApicDestinationShorthand = number;

/** The ICR fields. */
export interface ApicIcr {
  vector: number;
  deliveryMode: number;
  /** Bit 11: false = physical, true = logical. */
  logicalDestination: boolean;
  /** Bit 12 (xAPIC, read-only): the previous IPI is still being sent. */
  deliveryPending: boolean;
  /** Bit 14: assert (true) / de-assert. */
  levelAssert: boolean;
  /** Bit 15: false = edge, true = level. */
  levelTriggered: boolean;
  shorthand: number;
  /** xAPIC: 8 bits (ICR-high 31:24); x2APIC: 32 bits (63:32). */
  destination: number;
}

/** Reserved ICR bits in xAPIC format (13, 16-17, 20-31, and ICR-high 23:0). */
export const ICR_XAPIC_RESERVED_MASK = 0x00ff_ffff_fff3_2000n;
/** Reserved ICR bits in x2APIC format (12, 13, 16-17, 20-31); the delivery status bit is gone. */
export const ICR_X2APIC_RESERVED_MASK = 0x0000_0000_fff3_3000n;

/**
 * Encodes the 64-bit ICR: x2APIC puts the destination in 63:32, xAPIC in 63:56 (ICR-high 31:24);
 * the Hyper-V ICR MSR 0x40000071 uses the xAPIC format.
 */
export function encodeIcr(icr: ApicIcr, format: 'xapic' | 'x2apic'): bigint {
  const low =
    checkUint('vector', icr.vector, 0xff) |
    (checkUint('deliveryMode', icr.deliveryMode, 7) << 8) |
    (icr.logicalDestination ? 1 << 11 : 0) |
    (icr.deliveryPending && format === 'xapic' ? 1 << 12 : 0) |
    (icr.levelAssert ? 1 << 14 : 0) |
    (icr.levelTriggered ? 1 << 15 : 0) |
    (checkUint('shorthand', icr.shorthand, 3) << 18);
  const dest =
    format === 'xapic'
      ? BigInt(checkUint('destination', icr.destination, 0xff)) << 56n
      : BigInt(checkUint('destination', icr.destination, 0xffff_ffff)) << 32n;
  return dest | BigInt(low >>> 0);
}

/** Decodes a 64-bit ICR value in the given format; reserved bits are reported. */
export function decodeIcr(v: bigint, format: 'xapic' | 'x2apic'): ApicIcr & { reservedBitsSet: boolean } {
  const u = BigInt.asUintN(64, v);
  const low = Number(u & 0xffff_ffffn);
  return {
    vector: low & 0xff,
    deliveryMode: (low >>> 8) & 7,
    logicalDestination: ((low >>> 11) & 1) === 1,
    deliveryPending: format === 'xapic' && ((low >>> 12) & 1) === 1,
    levelAssert: ((low >>> 14) & 1) === 1,
    levelTriggered: ((low >>> 15) & 1) === 1,
    shorthand: (low >>> 18) & 3,
    destination: format === 'xapic' ? Number(u >> 56n) : Number(u >> 32n),
    reservedBitsSet: (u & (format === 'xapic' ? ICR_XAPIC_RESERVED_MASK : ICR_X2APIC_RESERVED_MASK)) !== 0n,
  };
}

// --- LVT -------------------------------------------------------------------------------------------

/** APIC timer modes (LVT Timer bits 18:17). */
export const ApicTimerMode = { OneShot: 0, Periodic: 1, TscDeadline: 2 } as const;
export type ApicTimerMode = number;

/** LVT bits. */
export const ApicLvtBits = {
  VectorMask: 0xff,
  DeliveryModeShift: 8,
  DeliveryModeMask: 0x700,
  DeliveryStatus: 1 << 12,
  /** LINT0/1 only. */
  InputPolarityLow: 1 << 13,
  /** LINT0/1 only, read-only. */
  RemoteIrr: 1 << 14,
  /** LINT0/1 only. */
  LevelTriggered: 1 << 15,
  Masked: 1 << 16,
  /** Timer LVT only. */
  TimerModeShift: 17,
  TimerModeMask: 0x6_0000,
} as const;

/** Bits each LVT implements (the rest read as 0 and are ignored on write). */
export const LVT_IMPLEMENTED_BITS: ReadonlyMap<number, number> = new Map([
  [ApicRegister.LvtTimer, 0x7_10ff],
  [ApicRegister.LvtThermal, 0x1_17ff],
  [ApicRegister.LvtPerfmon, 0x1_17ff],
  [ApicRegister.LvtCmci, 0x1_17ff],
  [ApicRegister.LvtLint0, 0x1_f7ff],
  [ApicRegister.LvtLint1, 0x1_f7ff],
  [ApicRegister.LvtError, 0x1_10ff],
]);

/** Every LVT is masked after reset. */
export const LVT_RESET_VALUE = 0x1_0000;

export interface ApicLvt {
  vector: number;
  deliveryMode: number;
  deliveryPending: boolean;
  inputPolarityLow: boolean;
  remoteIrr: boolean;
  levelTriggered: boolean;
  masked: boolean;
  timerMode: number;
}

export function encodeLvt(l: ApicLvt): number {
  return (
    (checkUint('vector', l.vector, 0xff) |
      (checkUint('deliveryMode', l.deliveryMode, 7) << 8) |
      (l.deliveryPending ? ApicLvtBits.DeliveryStatus : 0) |
      (l.inputPolarityLow ? ApicLvtBits.InputPolarityLow : 0) |
      (l.remoteIrr ? ApicLvtBits.RemoteIrr : 0) |
      (l.levelTriggered ? ApicLvtBits.LevelTriggered : 0) |
      (l.masked ? ApicLvtBits.Masked : 0) |
      (checkUint('timerMode', l.timerMode, 3) << 17)) >>>
    0
  );
}

/** Decodes an LVT value; `otherBits` holds bits outside every LVT field (always reserved). */
export function decodeLvt(v: number): ApicLvt & { otherBits: number } {
  const x = v >>> 0;
  return {
    vector: x & 0xff,
    deliveryMode: (x >>> 8) & 7,
    deliveryPending: (x & ApicLvtBits.DeliveryStatus) !== 0,
    inputPolarityLow: (x & ApicLvtBits.InputPolarityLow) !== 0,
    remoteIrr: (x & ApicLvtBits.RemoteIrr) !== 0,
    levelTriggered: (x & ApicLvtBits.LevelTriggered) !== 0,
    masked: (x & ApicLvtBits.Masked) !== 0,
    timerMode: (x >>> 17) & 3,
    otherBits: (x & ~0x7_f7ff) >>> 0,
  };
}

// --- SVR, ESR, version, divide configuration -------------------------------------------------------

/** Spurious-interrupt vector register bits. */
export const ApicSvrBits = {
  VectorMask: 0xff,
  ApicSoftwareEnable: 1 << 8,
  FocusCheckDisable: 1 << 9,
  SuppressEoiBroadcast: 1 << 12,
} as const;
/** SVR after reset: vector 0xFF, APIC software-disabled. */
export const SVR_RESET_VALUE = 0xff;

export interface ApicSvr {
  vector: number;
  apicEnabled: boolean;
  focusCheckDisabled: boolean;
  suppressEoiBroadcast: boolean;
}

export function encodeSvr(s: ApicSvr): number {
  return (
    checkUint('vector', s.vector, 0xff) |
    (s.apicEnabled ? ApicSvrBits.ApicSoftwareEnable : 0) |
    (s.focusCheckDisabled ? ApicSvrBits.FocusCheckDisable : 0) |
    (s.suppressEoiBroadcast ? ApicSvrBits.SuppressEoiBroadcast : 0)
  );
}

export function decodeSvr(v: number): ApicSvr & { otherBits: number } {
  const x = v >>> 0;
  return {
    vector: x & 0xff,
    apicEnabled: (x & ApicSvrBits.ApicSoftwareEnable) !== 0,
    focusCheckDisabled: (x & ApicSvrBits.FocusCheckDisable) !== 0,
    suppressEoiBroadcast: (x & ApicSvrBits.SuppressEoiBroadcast) !== 0,
    otherBits: (x & ~0x13ff) >>> 0,
  };
}

/** Error status register bits. */
export const ApicEsrBits = {
  SendChecksumError: 1 << 0,
  ReceiveChecksumError: 1 << 1,
  SendAcceptError: 1 << 2,
  ReceiveAcceptError: 1 << 3,
  SendIllegalVector: 1 << 5,
  ReceiveIllegalVector: 1 << 6,
  IllegalRegisterAddress: 1 << 7,
} as const;

/** Version register: 7:0 version, 23:16 highest LVT index, bit 24 EOI-broadcast suppression supported. */
export interface ApicVersion {
  version: number;
  maxLvtEntry: number;
  suppressEoiBroadcastSupported: boolean;
}

/** Integrated-APIC versions a model may report (0x14 P4/Xeon, 0x15 later parts). */
export const APIC_VERSION_INTEGRATED = 0x14;

export function encodeApicVersion(v: ApicVersion): number {
  return (
    (checkUint('version', v.version, 0xff) |
      (checkUint('maxLvtEntry', v.maxLvtEntry, 0xff) << 16) |
      (v.suppressEoiBroadcastSupported ? 1 << 24 : 0)) >>>
    0
  );
}

export function decodeApicVersion(v: number): ApicVersion {
  const x = v >>> 0;
  return {
    version: x & 0xff,
    maxLvtEntry: (x >>> 16) & 0xff,
    suppressEoiBroadcastSupported: ((x >>> 24) & 1) === 1,
  };
}

/** Divide configuration (bits 3, 1, 0) -> divisor. */
export const APIC_TIMER_DIVIDE_TABLE: ReadonlyMap<number, number> = new Map([
  [0b0000, 2],
  [0b0001, 4],
  [0b0010, 8],
  [0b0011, 16],
  [0b1000, 32],
  [0b1001, 64],
  [0b1010, 128],
  [0b1011, 1],
]);

/** Bits of the divide configuration register that select the divisor. */
export const APIC_TIMER_DIVIDE_MASK = 0b1011;

/** The divisor a divide-configuration value selects (bit 2 and bits above 3 are ignored). */
export function apicTimerDivisor(dcr: number): number {
  return APIC_TIMER_DIVIDE_TABLE.get((dcr >>> 0) & APIC_TIMER_DIVIDE_MASK)!;
}

/** The divide-configuration value for a divisor (1, 2, 4, ..., 128). */
export function apicDivideConfig(divisor: number): number {
  for (const [dcr, d] of APIC_TIMER_DIVIDE_TABLE) if (d === divisor) return dcr;
  throw new RangeError(`APIC timer divisor ${divisor} is not a power of two in 1..128`);
}
