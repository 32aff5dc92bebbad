// Bit layouts of the synthetic MSRs. Encoders validate their fields (throwing HvFieldRangeError);
// decoders accept any 64-bit value and report reserved bits instead of dropping them.
import { checkUint, checkUint64 } from './errors.js';
import { STIMER_CONFIG_RESERVED_MASK } from './msr.js';

/** Largest guest page number a 64-bit MSR can carry in bits 63:12. */
export const HV_MAX_GPA_PAGE_NUMBER = (1n << 52n) - 1n;

const u64 = (v: bigint) => BigInt.asUintN(64, v);
const bit = (v: bigint, n: bigint) => ((v >> n) & 1n) === 1n;
const flag = (b: boolean, n: bigint) => (b ? 1n << n : 0n);

// --- GUEST_OS_ID (0x40000000) --------------------------------------------------------------------

/** Vendor codes of the proprietary GUEST_OS_ID layout (0 is reserved). */
export const GuestOsVendor = { Microsoft: 0x0001, Hpe: 0x0002, BlackBerry: 0x0003, Lancom: 0x0200 } as const;
/** Microsoft OS IDs of the proprietary layout. */
export const GuestOsMicrosoftId = {
  Undefined: 0,
  MsDos: 1,
  Windows3x: 2,
  Windows9x: 3,
  WindowsNt: 4,
  WindowsCe: 5,
} as const;
/** OS types of the open-source layout. */
export const GuestOsOpenSourceType = { Linux: 1, FreeBsd: 2, Xen: 3, Illumos: 4 } as const;

/** Bit 63 = 0: 15:0 build, 23:16 service version, 31:24 minor, 39:32 major, 47:40 OS ID, 62:48 vendor. */
export interface GuestOsIdProprietary {
  kind: 'proprietary';
  vendor: number;
  osId: number;
  majorVersion: number;
  minorVersion: number;
  serviceVersion: number;
  buildNumber: number;
}

/** Bit 63 = 1: 15:0 distro build, 47:16 kernel version, 55:48 vendor-specific, 62:56 OS type. */
export interface GuestOsIdOpenSource {
  kind: 'open-source';
  osType: number;
  vendorSpecific: number;
  kernelVersion: number;
  buildNumber: number;
}

export type GuestOsId = GuestOsIdProprietary | GuestOsIdOpenSource;

export function encodeGuestOsId(id: GuestOsId): bigint {
  if (id.kind === 'proprietary') {
    return (
      (BigInt(checkUint('vendor', id.vendor, 0x7fff)) << 48n) |
      (BigInt(checkUint('osId', id.osId, 0xff)) << 40n) |
      (BigInt(checkUint('majorVersion', id.majorVersion, 0xff)) << 32n) |
      (BigInt(checkUint('minorVersion', id.minorVersion, 0xff)) << 24n) |
      (BigInt(checkUint('serviceVersion', id.serviceVersion, 0xff)) << 16n) |
      BigInt(checkUint('buildNumber', id.buildNumber, 0xffff))
    );
  }
  return (
    (1n << 63n) |
    (BigInt(checkUint('osType', id.osType, 0x7f)) << 56n) |
    (BigInt(checkUint('vendorSpecific', id.vendorSpecific, 0xff)) << 48n) |
    (BigInt(checkUint('kernelVersion', id.kernelVersion, 0xffff_ffff)) << 16n) |
    BigInt(checkUint('buildNumber', id.buildNumber, 0xffff))
  );
}

/** Every 64-bit value is a valid GUEST_OS_ID (0 means "not yet written"). */
export function decodeGuestOsId(v: bigint): GuestOsId {
  const u = u64(v);
  const field = (shift: bigint, mask: bigint) => Number((u >> shift) & mask);
  if (bit(u, 63n)) {
    return {
      kind: 'open-source',
      osType: field(56n, 0x7fn),
      vendorSpecific: field(48n, 0xffn),
      kernelVersion: field(16n, 0xffff_ffffn),
      buildNumber: field(0n, 0xffffn),
    };
  }
  return {
    kind: 'proprietary',
    vendor: field(48n, 0x7fffn),
    osId: field(40n, 0xffn),
    majorVersion: field(32n, 0xffn),
    minorVersion: field(24n, 0xffn),
    serviceVersion: field(16n, 0xffn),
    buildNumber: field(0n, 0xffffn),
  };
}

// --- Overlay-page MSRs: HYPERCALL, REFERENCE_TSC, VP_ASSIST_PAGE, SIMP, SIEFP ---------------------

/** REFERENCE_TSC, VP_ASSIST_PAGE, SIMP, SIEFP: bit 0 enable, 11:1 RsvdP, 63:12 guest page number. */
export interface OverlayPageMsr {
  enable: boolean;
  gpaPageNumber: bigint;
}

export function encodeOverlayPageMsr(m: OverlayPageMsr): bigint {
  return (checkUint64('gpaPageNumber', m.gpaPageNumber, HV_MAX_GPA_PAGE_NUMBER) << 12n) | flag(m.enable, 0n);
}

/** `preservedBits` holds bits 11:1 in place, so a writer can carry them over. */
export function decodeOverlayPageMsr(v: bigint): OverlayPageMsr & { preservedBits: bigint } {
  const u = u64(v);
  return { enable: bit(u, 0n), gpaPageNumber: u >> 12n, preservedBits: u & 0xffen };
}

/** HYPERCALL MSR: bit 0 enable, bit 1 locked, 11:2 RsvdP, 63:12 guest page number. */
export interface HypercallMsr extends OverlayPageMsr {
  locked: boolean;
}

export function encodeHypercallMsr(m: HypercallMsr): bigint {
  return (
    (checkUint64('gpaPageNumber', m.gpaPageNumber, HV_MAX_GPA_PAGE_NUMBER) << 12n) |
    flag(m.locked, 1n) |
    flag(m.enable, 0n)
  );
}

export function decodeHypercallMsr(v: bigint): HypercallMsr & { preservedBits: bigint } {
  const u = u64(v);
  return { enable: bit(u, 0n), locked: bit(u, 1n), gpaPageNumber: u >> 12n, preservedBits: u & 0xffcn };
}

// --- SCONTROL, SINTx --------------------------------------------------------------------------------

/** SCONTROL: bit 0 enables the SynIC of the VP; 63:1 RsvdP. */
export function encodeScontrol(m: { enable: boolean }): bigint {
  return flag(m.enable, 0n);
}

export function decodeScontrol(v: bigint): { enable: boolean; preservedBits: bigint } {
  const u = u64(v);
  return { enable: bit(u, 0n), preservedBits: u & ~1n };
}

/** SINTx: 7:0 vector, 16 masked, 17 auto-EOI, 18 polling, 19 as-intercept, 20 proxy; 15:8 and 63:21 RsvdP. */
export interface SintMsr {
  vector: number;
  masked: boolean;
  autoEoi: boolean;
  polling: boolean;
  asIntercept: boolean;
  proxy: boolean;
}

/**
 * Smallest vector a SINT may name. A write with vector 0..15 raises #GP (TLFS); KVM accepts such a
 * vector while the SINT is masked, which lets a guest write back the reset value 0x10000.
 */
export const HV_SYNIC_FIRST_VALID_VECTOR = 16;

export function encodeSint(m: SintMsr): bigint {
  return (
    BigInt(checkUint('vector', m.vector, 0xff)) |
    flag(m.masked, 16n) |
    flag(m.autoEoi, 17n) |
    flag(m.polling, 18n) |
    flag(m.asIntercept, 19n) |
    flag(m.proxy, 20n)
  );
}

export function decodeSint(v: bigint): SintMsr & { preservedBits: bigint } {
  const u = u64(v);
  return {
    vector: Number(u & 0xffn),
    masked: bit(u, 16n),
    autoEoi: bit(u, 17n),
    polling: bit(u, 18n),
    asIntercept: bit(u, 19n),
    proxy: bit(u, 20n),
    preservedBits: u & 0xffff_ffff_ffe0_ff00n,
  };
}

// --- STIMERn_CONFIG ---------------------------------------------------------------------------------

/** STIMERn_CONFIG: 0 enable, 1 periodic, 2 lazy, 3 auto-enable, 11:4 APIC vector, 12 direct mode, 19:16 SINTx. */
export interface StimerConfig {
  enable: boolean;
  periodic: boolean;
  lazy: boolean;
  autoEnable: boolean;
  apicVector: number;
  directMode: boolean;
  sintx: number;
}

export function encodeStimerConfig(c: StimerConfig): bigint {
  return (
    flag(c.enable, 0n) |
    flag(c.periodic, 1n) |
    flag(c.lazy, 2n) |
    flag(c.autoEnable, 3n) |
    (BigInt(checkUint('apicVector', c.apicVector, 0xff)) << 4n) |
    flag(c.directMode, 12n) |
    (BigInt(checkUint('sintx', c.sintx, 0xf)) << 16n)
  );
}

/** RsvdZ bits (15:13, 63:20) are reported: a WRMSR with them set must #GP. */
export function decodeStimerConfig(v: bigint): StimerConfig & { reservedBitsSet: boolean } {
  const u = u64(v);
  return {
    enable: bit(u, 0n),
    periodic: bit(u, 1n),
    lazy: bit(u, 2n),
    autoEnable: bit(u, 3n),
    apicVector: Number((u >> 4n) & 0xffn),
    directMode: bit(u, 12n),
    sintx: Number((u >> 16n) & 0xfn),
    reservedBitsSet: (u & STIMER_CONFIG_RESERVED_MASK) !== 0n,
  };
}

// --- STIME_UNHALTED_TIMER_CONFIG, CRASH_CTL --------------------------------------------------------

/** STIME_UNHALTED_TIMER_CONFIG: 7:0 vector (2 = NMI, or >= 16), bit 8 enable. */
export function encodeUnhaltedTimerConfig(c: { vector: number; enable: boolean }): bigint {
  return BigInt(checkUint('vector', c.vector, 0xff)) | flag(c.enable, 8n);
}

export function decodeUnhaltedTimerConfig(v: bigint): { vector: number; enable: boolean; otherBits: bigint } {
  const u = u64(v);
  return { vector: Number(u & 0xffn), enable: bit(u, 8n), otherBits: u & ~0x1ffn };
}

/** CRASH_CTL: 63 CrashNotify, 62 CrashMessage (P3 = GPA, P4 = length), 61 NoCrashDump, 60:58 pre-OS ID. */
export interface CrashCtl {
  crashNotify: boolean;
  crashMessage: boolean;
  noCrashDump: boolean;
  preOsId: number;
}

export function encodeCrashCtl(c: CrashCtl): bigint {
  return (
    flag(c.crashNotify, 63n) |
    flag(c.crashMessage, 62n) |
    flag(c.noCrashDump, 61n) |
    (BigInt(checkUint('preOsId', c.preOsId, 7)) << 58n)
  );
}

export function decodeCrashCtl(v: bigint): CrashCtl & { otherBits: bigint } {
  const u = u64(v);
  return {
    crashNotify: bit(u, 63n),
    crashMessage: bit(u, 62n),
    noCrashDump: bit(u, 61n),
    preOsId: Number((u >> 58n) & 7n),
    otherBits: u & ((1n << 58n) - 1n),
  };
}

// --- VP assist page (VP_ASSIST_PAGE MSR 0x40000073) ------------------------------------------------

/** The parts of the VP assist page a basic model uses (the page is 4096 bytes). */
export const VpAssistPageLayout = {
  /** u32; bit 0 NoEoiRequired (EOI assist). */
  apicAssist: 0,
  /** u8; set when the synthetic time-unhalted timer expires. */
  syntheticTimeUnhaltedTimerExpired: 0x38,
  size: 4096,
} as const;

/**
 * ApicAssist bit 0: the hypervisor may set it when injecting an edge interrupt with no lower-priority
 * interrupt pending; the guest test-and-clears it and skips the EOI write if it was set.
 */
export const HV_VP_ASSIST_NO_EOI_REQUIRED = 0x1;
