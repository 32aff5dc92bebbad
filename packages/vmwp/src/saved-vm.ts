// The VMWP's part of a saved VM: guest memory, VP registers and device state. VMMS wraps it in its
// own format-versioned file; this object carries its own version too, so a runtime never misreads
// a state written by another layout.

import { PAGE_SIZE } from '@viridian/hypervisor';

export const SAVED_VM_VERSION = 1;

/** Guest memory as the pages that are not all zero. */
export interface SavedMemory {
  /** Indices of the pages present in `data`, ascending. */
  readonly pages: Uint32Array;
  /** The pages' bytes, PAGE_SIZE each, in the order of `pages`. */
  readonly data: Uint8Array;
}

export interface SavedVm {
  readonly kind: 'viridian-vmwp-state';
  readonly version: number;
  readonly pageCount: number;
  readonly memory: SavedMemory;
  readonly vps: { index: number; registers: { name: number; value: bigint }[] }[];
  /** Per device (VSP) state, by device name. */
  readonly devices: Record<string, unknown>;
}

export class SavedStateError extends Error {
  readonly code = 'ERR_VMWP_SAVED_STATE';
}

/** Copies every page that is not all zero. */
export function capturePages(ram: SharedArrayBuffer): SavedMemory {
  const words = new Int32Array(ram);
  const perPage = PAGE_SIZE / 4;
  const count = ram.byteLength / PAGE_SIZE;
  const present: number[] = [];
  for (let page = 0; page < count; page++) {
    const start = page * perPage;
    const end = start + perPage;
    for (let i = start; i < end; i++) {
      if (words[i] !== 0) {
        present.push(page);
        break;
      }
    }
  }
  const bytes = new Uint8Array(ram);
  const data = new Uint8Array(present.length * PAGE_SIZE);
  present.forEach((page, k) => {
    data.set(bytes.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE), k * PAGE_SIZE);
  });
  return { pages: Uint32Array.from(present), data };
}

/**
 * Writes saved pages back into a fresh partition's memory (all zero until then), except those `skip`
 * names: the firmware page (written afresh, its `go` word last), the SynIC pages and the VMBus ring
 * area, whose messages, flags and ring indices belong to the previous run's connection.
 */
export function restorePages(
  ram: SharedArrayBuffer,
  memory: SavedMemory,
  skip: (page: number) => boolean = (page) => page === 0,
): void {
  const bytes = new Uint8Array(ram);
  memory.pages.forEach((page, k) => {
    if (skip(page)) return;
    bytes.set(memory.data.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE), page * PAGE_SIZE);
  });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Checks a saved state read from a file against the VM it is restored into. */
export function validateSavedVm(value: unknown, pageCount: number, vpCount: number): SavedVm {
  const bad = (why: string): never => {
    throw new SavedStateError(`saved state cannot be restored: ${why}`);
  };
  if (!isRecord(value) || value.kind !== 'viridian-vmwp-state') bad('not a VM worker state');
  const v = value as Record<string, unknown>;
  if (v.version !== SAVED_VM_VERSION)
    bad(`state version ${String(v.version)} is not the supported version ${SAVED_VM_VERSION}`);
  if (v.pageCount !== pageCount)
    bad(`it holds ${String(v.pageCount)} pages of memory, the VM has ${pageCount}`);
  const memory = v.memory;
  if (!isRecord(memory) || !(memory.pages instanceof Uint32Array) || !(memory.data instanceof Uint8Array))
    bad('memory is malformed');
  const m = memory as unknown as SavedMemory;
  if (m.data.length !== m.pages.length * PAGE_SIZE) bad('memory size does not match its page list');
  let previous = -1;
  for (const page of m.pages) {
    if (page <= previous || page >= pageCount) bad('memory page list is out of order or out of range');
    previous = page;
  }
  if (!Array.isArray(v.vps) || v.vps.length !== vpCount)
    bad(`it holds ${Array.isArray(v.vps) ? v.vps.length : 'no'} VPs, the VM has ${vpCount}`);
  (v.vps as unknown[]).forEach((vp, i) => {
    if (!isRecord(vp) || vp.index !== i || !Array.isArray(vp.registers)) bad(`VP ${i} is malformed`);
    for (const r of (vp as { registers: unknown[] }).registers) {
      if (!isRecord(r) || typeof r.name !== 'number' || typeof r.value !== 'bigint')
        bad(`VP ${i} registers are malformed`);
    }
  });
  if (!isRecord(v.devices)) bad('device state is malformed');
  return value as SavedVm;
}
