import { PAGE_SHIFT, PAGE_SIZE } from './layout.js';

/** Access kinds, the HvMapGpaFlags bits. */
export const Access = { Read: 1, Write: 2, Execute: 4 } as const;

/** Page-table entry for an unmapped GPA page. */
export const UNMAPPED = -1;

/**
 * A partition's guest-physical address space: the backing pool (one SAB of 4 KiB pages) and a
 * page table (one i32 per GPA page: `poolPage * 8 | accessFlags`, or -1 when unmapped).
 *
 * The hypervisor keeps the authoritative page table privately and mirrors it into a shared copy
 * the partition's VPs read; a guest that scribbles on its copy can only confuse its own accesses,
 * since the pool holds nothing but its own pages.
 */
export class GuestMemory {
  readonly ram: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly table: Int32Array;
  readonly pageCount: number;

  constructor(ram: SharedArrayBuffer, table: Int32Array) {
    this.ram = ram;
    this.bytes = new Uint8Array(ram);
    this.view = new DataView(ram);
    this.table = table;
    this.pageCount = table.length;
  }

  /** Size of the GPA space in bytes (GPAs at or beyond it do not exist). */
  get size(): number {
    return this.pageCount * PAGE_SIZE;
  }

  /**
   * RAM offset of `gpa` when the page is mapped with every bit of `access`, else -1.
   * `gpa` may be a number or bigint; non-integral or out-of-space values answer -1.
   */
  offsetOf(gpa: number | bigint, access: number): number {
    const g = typeof gpa === 'bigint' ? (gpa < 0n || gpa >= BigInt(this.size) ? -1 : Number(gpa)) : gpa;
    if (!(g >= 0 && g < this.size) || !Number.isInteger(g)) return -1;
    const entry = this.table[g >>> PAGE_SHIFT] ?? UNMAPPED;
    if (entry === UNMAPPED || (entry & access) !== access) return -1;
    return (entry >>> 3) * PAGE_SIZE + (g & (PAGE_SIZE - 1));
  }

  /**
   * Offset of a block [gpa, gpa+length) that must lie in one page (hypercall parameter blocks),
   * or -1 when unmapped / lacking access.
   */
  blockOffset(gpa: number | bigint, length: number, access: number): number {
    const off = this.offsetOf(gpa, access);
    if (off < 0) return -1;
    if ((off & (PAGE_SIZE - 1)) + length > PAGE_SIZE) return -1;
    return off;
  }

  /** First GPA in [gpa, gpa+length) that lacks `access`, or -1 when the whole range is accessible. */
  firstFault(gpa: number, length: number, access: number): number {
    let g = gpa;
    const end = gpa + length;
    while (g < end) {
      if (this.offsetOf(g, access) < 0) return g;
      g = (Math.floor(g / PAGE_SIZE) + 1) * PAGE_SIZE;
    }
    return -1;
  }

  /** Copies bytes out of guest memory; the caller checked the range with firstFault. */
  read(gpa: number, target: Uint8Array): void {
    let done = 0;
    while (done < target.length) {
      const g = gpa + done;
      const off = this.offsetOf(g, 0);
      const n = Math.min(target.length - done, PAGE_SIZE - (g & (PAGE_SIZE - 1)));
      target.set(this.bytes.subarray(off, off + n), done);
      done += n;
    }
  }

  /** Copies bytes into guest memory; the caller checked the range with firstFault. */
  write(gpa: number, source: Uint8Array): void {
    let done = 0;
    while (done < source.length) {
      const g = gpa + done;
      const off = this.offsetOf(g, 0);
      const n = Math.min(source.length - done, PAGE_SIZE - (g & (PAGE_SIZE - 1)));
      this.bytes.set(source.subarray(done, done + n), off);
      done += n;
    }
  }
}

/** A page table mapping every page to itself with full access (the root partition). */
export function identityTable(pages: number, shared: boolean): Int32Array {
  const table = shared ? new Int32Array(new SharedArrayBuffer(pages * 4)) : new Int32Array(pages);
  for (let p = 0; p < pages; p++) table[p] = p * 8 + (Access.Read | Access.Write | Access.Execute);
  return table;
}
