// The firmware page: guest-physical page 0 of every partition the VMWP creates. The VMWP writes the
// boot parameters and commands there; the boot image (the partition's firmware) reports its state
// there. Everything in it is guest-writable, so the VMWP treats every value it reads as hostile.

import { PAGE_SIZE } from '@viridian/hypervisor';

/** Byte offsets in the firmware page (GPA 0). */
export const Fw = {
  /** u32: FW_MAGIC, written by the VMWP. */
  magic: 0,
  /** u32: FW_VERSION. */
  version: 4,
  /** i32: FwGo, set last by the VMWP once the page (and on restore, all of memory) is written. */
  go: 8,
  /** i32: reserved (0). */
  reserved: 12,
  /** i32: FwStatus (firmware → VMWP). */
  status: 16,
  /** i32: quiesce request sequence (VMWP → firmware): stop running the program and keep it stopped. */
  quiesceRequest: 20,
  /** i32: the quiesce request the firmware has completed (its state is in memory and it is stopped). */
  quiesceAck: 24,
  /** i32: 1 while the VMWP holds the program stopped; 0 lets it run again. */
  quiesced: 28,
  /** i32: 1 when the last quiesce could not put the program state in memory (a save then fails). */
  quiesceFailed: 32,
  /** f64: the guest's wall clock (ms since the Unix epoch, time-sync corrected) when last written. */
  clockMs: 40,
  /** f64: the partition reference time (ms) at which `clockMs` was read. */
  clockRefMs: 48,
  /** f64 × FW_MAX_VPS: milliseconds each VP spent in guest program steps (firmware's own count, informational). */
  busyMs: 64,
  /** u32: byte length of the boot parameters (JSON) at `params + 4`. */
  params: 1024,
} as const;

export const FW_MAGIC = 0x5746_5756; // "VWFW"
export const FW_VERSION = 1;
export const FW_MAX_VPS = 64;
export const FW_PARAMS_MAX = PAGE_SIZE - Fw.params - 4;

export const FwGo = { Wait: 0, Boot: 1, Resume: 2 } as const;
export const FwStatus = { Loading: 0, Running: 1, GuestCrashed: 2, Off: 3 } as const;

/** Guest program state lives from this GPA: u32 length, u32 reserved, then the v8-serialized bytes. */
export const STATE_GPA = PAGE_SIZE;

/** Storage commands the firmware keeps in flight at once, and the bounce buffer of each. */
export const STORVSC_SLOTS = 16;
export const STORVSC_SLOT_BYTES = 128 * 1024;

/**
 * Pages the VMBus guest end may use for channel rings and the storage driver's bounce buffers:
 * 256 pages for the ICs' and storvsc's rings plus STORVSC_SLOTS × STORVSC_SLOT_BYTES (3 MiB in
 * all): a 32 MB VM keeps most of its memory for the program state.
 */
/** The firmware's storvsc settings, for tools that compare other paths with the same buffers. */
export const FIRMWARE_STORAGE_BUFFERS = { slots: STORVSC_SLOTS, slotBytes: STORVSC_SLOT_BYTES } as const;

export const RING_AREA_PAGES = 256 + (STORVSC_SLOTS * STORVSC_SLOT_BYTES) / PAGE_SIZE;

/**
 * Where the firmware keeps things in guest memory (page numbers), from the top down: each VP's two
 * hypercall parameter pages, the hypercall page, the SynIC message and event-flag pages, the ring
 * area; the program state grows up from STATE_GPA below them.
 */
export function guestLayout(pageCount: number, vpCount: number) {
  const hypercallPage = pageCount - 2 * vpCount - 1;
  const simpPage = hypercallPage - 1;
  const siefpPage = simpPage - 1;
  const ringFirstPage = siefpPage - RING_AREA_PAGES;
  return {
    hypercallPage,
    simpPage,
    siefpPage,
    ringFirstPage,
    /** Largest program state, bytes. */
    stateLimit: ringFirstPage * PAGE_SIZE - STATE_GPA - 8,
  };
}

/** What the VMWP tells the firmware at boot. */
export interface BootParams {
  /** Integration services the host offers over VMBus (IC names); empty: the firmware starts no VMBus. */
  readonly ics: readonly string[];
  /** The host offers a synthetic SCSI controller (the firmware binds storvsc to it). */
  readonly storage: boolean;
  readonly program: string;
  readonly vmId: string;
  readonly vmName: string;
  readonly memoryMB: number;
  readonly processorCount: number;
}

/** Int32 index of a firmware-page field. */
export const fwWord = (offset: number): number => offset >> 2;
