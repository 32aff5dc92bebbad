// Discovery and enlightenment, in the order Linux's ms_hyperv_init_platform / hyperv_init /
// hv_init_clocksource / hv_synic_enable_regs use: CPUID leaves, GUEST_OS_ID, hypercall page,
// reference TSC page (or the TIME_REF_COUNT MSR), SynIC.

import {
  encodeGuestOsId,
  HV_CPUID_INTERFACE_EAX,
  HV_CPUID_MIN_MAX_LEAF,
  HV_CPUID_VENDOR_EBX,
  HV_CPUID_VENDOR_ECX,
  HV_CPUID_VENDOR_EDX,
  HvCpuidLeaf,
  HvMsr,
  HvPartitionPrivilege,
  hasPrivilege,
} from '@viridian/hvdef';
import { Access, type GuestVp } from '@viridian/hypervisor';
import { GUEST_PAGE_SIZE, PageAllocator } from './allocator.js';
import { GuestError, GuestErrorCode } from './errors.js';
import { Synic } from './synic.js';

/** Version of this runtime, reported in GUEST_OS_ID and KVP. */
export const GUEST_RUNTIME_VERSION = { major: 0, minor: 1, patch: 0 } as const;

/**
 * GUEST_OS_ID open-source OS type for the Viridian guest runtime. The TLFS assigns 1 Linux,
 * 2 FreeBSD, 3 Xen, 4 Illumos; 0x56 ('V') is Viridian's own choice, clear of those.
 */
export const VIRIDIAN_GUEST_OS_TYPE = 0x56;

/**
 * The GUEST_OS_ID value the runtime writes: open-source layout (bit 63), OS type 0x56, vendor byte 0,
 * kernel version = runtime version packed as Linux packs LINUX_VERSION_CODE (major<<16 | minor<<8 |
 * patch), build 0. = 0xD600_0000_0100_0000.
 */
export const VIRIDIAN_GUEST_OS_ID: bigint = encodeGuestOsId({
  kind: 'open-source',
  osType: VIRIDIAN_GUEST_OS_TYPE,
  vendorSpecific: 0,
  kernelVersion:
    (GUEST_RUNTIME_VERSION.major << 16) | (GUEST_RUNTIME_VERSION.minor << 8) | GUEST_RUNTIME_VERSION.patch,
  buildNumber: 0,
});

/**
 * The vector VMBus (SINT 2) interrupts arrive on: Linux's HYPERVISOR_CALLBACK_VECTOR, 0xF3 (priority
 * class 0xF, above anything a TPR below 0xF0 masks).
 */
export const VMBUS_VECTOR = 0xf3;
/** SINT VMBus uses (VMBUS_MESSAGE_SINT). */
export const VMBUS_SINT = 2;

/** 0x40000004 EAX bit 9: the hypervisor recommends against AutoEOI. */
const DEPRECATE_AUTO_EOI = 1 << 9;

/** What CPUID told the guest. */
export interface HypervisorInfo {
  readonly maxLeaf: number;
  /** HV_PARTITION_PRIVILEGE_MASK from leaf 0x40000003 EAX/EBX. */
  readonly privileges: bigint;
  /** Leaf 0x40000003 EDX feature bits. */
  readonly features: number;
  /** Leaf 0x40000004 EAX recommendation bits. */
  readonly recommendations: number;
  readonly version: { readonly build: number; readonly major: number; readonly minor: number };
}

/** Reads the hypervisor leaves; a non-Microsoft (or absent) hypervisor is a typed error. */
export function discover(vp: GuestVp): HypervisorInfo {
  const vendor = vp.cpuid(HvCpuidLeaf.VendorAndMaxFunction);
  if (
    vendor.ebx >>> 0 !== HV_CPUID_VENDOR_EBX ||
    vendor.ecx >>> 0 !== HV_CPUID_VENDOR_ECX ||
    vendor.edx >>> 0 !== HV_CPUID_VENDOR_EDX ||
    vendor.eax >>> 0 < HV_CPUID_MIN_MAX_LEAF
  ) {
    throw new GuestError(GuestErrorCode.NoHypervisor, 'CPUID 0x40000000 does not say "Microsoft Hv"');
  }
  if (vp.cpuid(HvCpuidLeaf.Interface).eax >>> 0 !== HV_CPUID_INTERFACE_EAX) {
    throw new GuestError(GuestErrorCode.NoHypervisor, 'CPUID 0x40000001 does not say "Hv#1"');
  }
  const version = vp.cpuid(HvCpuidLeaf.Version);
  const features = vp.cpuid(HvCpuidLeaf.Features);
  const recommendations = vp.cpuid(HvCpuidLeaf.EnlightenmentInfo);
  return {
    maxLeaf: vendor.eax >>> 0,
    privileges: (BigInt(features.ebx >>> 0) << 32n) | BigInt(features.eax >>> 0),
    features: features.edx >>> 0,
    recommendations: recommendations.eax >>> 0,
    version: { build: version.eax >>> 0, major: version.ebx >>> 16, minor: version.ebx & 0xffff },
  };
}

/** The partition reference clock (100 ns units since partition creation). */
export interface ReferenceClock {
  /** 'tsc-page' reads the reference TSC page; 'msr' traps to TIME_REF_COUNT. */
  readonly source: 'tsc-page' | 'msr';
  readonly pageGpa: number | undefined;
  now(): bigint;
}

export interface Enlightenment {
  readonly vp: GuestVp;
  readonly info: HypervisorInfo;
  readonly allocator: PageAllocator;
  readonly hypercallPageGpa: number;
  readonly clock: ReferenceClock;
  /** Absent when the partition has no SynIC privilege (then there is no VMBus either). */
  readonly synic: Synic | undefined;
}

export interface EnlightenOptions {
  /** The guest's allocator; default: every page mapped read/write at its own offset, page 0 kept. */
  readonly allocator?: PageAllocator;
  /** Reports an exception from a SynIC listener. */
  readonly onListenerError?: (error: unknown) => void;
  /** Skip the reference TSC page even when offered (tests the TIME_REF_COUNT fallback). */
  readonly noTscPage?: boolean;
}

/**
 * Pages of the partition the runtime may use: mapped readable and writable, backed by the pool page
 * with the same number (the VMBus ring code addresses guest RAM by GPA). Page 0 is never handed out,
 * so 0 is never a valid allocation (as real-mode memory is kept out of Linux's allocator).
 */
export function defaultAllocator(vp: GuestVp): PageAllocator {
  const table = vp.memory.table;
  const rw = Access.Read | Access.Write;
  return new PageAllocator(table.length, (page) => {
    const entry = table[page] ?? -1;
    return page !== 0 && entry !== -1 && (entry & rw) === rw && entry >>> 3 === page;
  });
}

/** Runs the enlightenment sequence on `vp` (the boot processor). */
export function enlighten(vp: GuestVp, options: EnlightenOptions = {}): Enlightenment {
  const info = discover(vp);
  if (!hasPrivilege(info.privileges, HvPartitionPrivilege.AccessHypercallMsrs)) {
    throw new GuestError(GuestErrorCode.MissingPrivilege, 'no AccessHypercallMsrs privilege');
  }
  const allocator = options.allocator ?? defaultAllocator(vp);
  const page = () => allocator.allocateOrThrow(1) * GUEST_PAGE_SIZE;

  // GUEST_OS_ID before the hypercall page: the hypervisor keeps HYPERCALL disabled while it is 0.
  if (vp.rdmsr(HvMsr.GuestOsId) === 0n) vp.wrmsr(HvMsr.GuestOsId, VIRIDIAN_GUEST_OS_ID);
  const current = vp.rdmsr(HvMsr.Hypercall);
  let hypercallPageGpa: number;
  if ((current & 1n) !== 0n) {
    hypercallPageGpa = Number(current >> 12n) * GUEST_PAGE_SIZE;
  } else {
    hypercallPageGpa = page();
    vp.wrmsr(HvMsr.Hypercall, (current & 0xffen) | BigInt(hypercallPageGpa) | 1n);
  }
  // Per-CPU hypercall parameter pages (input, output) from the guest's own memory.
  const params = allocator.allocateOrThrow(2) * GUEST_PAGE_SIZE;
  vp.useHypercallPages(params, params + GUEST_PAGE_SIZE);

  const clock = referenceClock(vp, info, options.noTscPage ? undefined : page);

  let synic: Synic | undefined;
  if (hasPrivilege(info.privileges, HvPartitionPrivilege.AccessSynicRegs)) {
    synic = Synic.enable({
      vp,
      simpGpa: page(),
      siefpGpa: page(),
      autoEoi: (info.recommendations & DEPRECATE_AUTO_EOI) === 0,
      ...(options.onListenerError ? { onListenerError: options.onListenerError } : {}),
    });
  }
  return { vp, info, allocator, hypercallPageGpa, clock, synic };
}

/** hv_init_clocksource: the TSC page when the privilege is there, else TIME_REF_COUNT. */
function referenceClock(vp: GuestVp, info: HypervisorInfo, page: (() => number) | undefined): ReferenceClock {
  if (page && hasPrivilege(info.privileges, HvPartitionPrivilege.AccessPartitionReferenceTsc)) {
    const gpa = page();
    vp.writeBytes(gpa, new Uint8Array(GUEST_PAGE_SIZE));
    vp.wrmsr(HvMsr.ReferenceTsc, (vp.rdmsr(HvMsr.ReferenceTsc) & 0xffen) | BigInt(gpa) | 1n);
    // A sequence of 0 means the page is not usable now; readReferenceTime then falls back per read.
    return { source: 'tsc-page', pageGpa: gpa, now: () => vp.readReferenceTime(gpa) };
  }
  if (!hasPrivilege(info.privileges, HvPartitionPrivilege.AccessPartitionReferenceCounter)) {
    throw new GuestError(GuestErrorCode.MissingPrivilege, 'neither reference TSC page nor TIME_REF_COUNT');
  }
  return { source: 'msr', pageGpa: undefined, now: () => vp.rdmsr(HvMsr.TimeRefCount) };
}
