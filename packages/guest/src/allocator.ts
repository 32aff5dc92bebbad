// The guest's own physical page allocator: hands out runs of guest-physical pages for the hypercall
// page, the reference TSC page, SynIC pages, hypercall parameter pages and VMBus ring buffers.

import { GuestError, GuestErrorCode } from './errors.js';

export const GUEST_PAGE_SIZE = 4096;

/** A first-fit allocator over guest-physical pages (one byte per page: 0 free, 1 handed out, 2 never usable). */
export class PageAllocator {
  readonly #used: Uint8Array;
  #free: number;
  /** Where the next search starts: keeps first-fit allocation amortised cheap. */
  #hint = 0;

  /**
   * `usable(page)` says whether a page may ever be handed out (mapped read/write RAM backed at the
   * same offset); pages for which it answers false stay used for good.
   */
  constructor(
    readonly pageCount: number,
    usable: (page: number) => boolean = () => true,
  ) {
    if (!Number.isInteger(pageCount) || pageCount < 0) throw new RangeError(`bad page count ${pageCount}`);
    this.#used = new Uint8Array(pageCount);
    let free = 0;
    for (let p = 0; p < pageCount; p++) {
      if (usable(p)) free++;
      else this.#used[p] = 2;
    }
    this.#free = free;
  }

  /** Pages still free. */
  get freePages(): number {
    return this.#free;
  }

  /** Whether `page` is currently handed out (or was never usable). */
  isUsed(page: number): boolean {
    return this.#used[page] !== 0;
  }

  /**
   * Reserves `count` contiguous pages whose first page is a multiple of `align`; returns the first
   * page number, or -1 when no such run is free.
   */
  allocate(count: number, align = 1): number {
    if (!Number.isInteger(count) || count <= 0 || count > this.#free) return -1;
    if (!Number.isInteger(align) || align <= 0) return -1;
    const found = this.#search(this.#hint, this.pageCount, count, align);
    const first = found >= 0 ? found : this.#search(0, this.pageCount, count, align);
    if (first < 0) return -1;
    this.#used.fill(1, first, first + count);
    this.#free -= count;
    this.#hint = first + count;
    return first;
  }

  /** Like allocate, but a missing run is a typed error (for callers that must get memory). */
  allocateOrThrow(count: number, align = 1): number {
    const first = this.allocate(count, align);
    if (first < 0) {
      throw new GuestError(
        GuestErrorCode.OutOfMemory,
        `no run of ${count} free guest pages (${this.#free} free in all)`,
      );
    }
    return first;
  }

  /** Returns a run to the pool. Freeing pages that are not in use is refused (returns false). */
  free(first: number, count: number): boolean {
    if (!Number.isInteger(first) || !Number.isInteger(count) || count <= 0) return false;
    if (first < 0 || first + count > this.pageCount) return false;
    for (let p = first; p < first + count; p++) if (this.#used[p] !== 1) return false;
    this.#used.fill(0, first, first + count);
    this.#free += count;
    if (first < this.#hint) this.#hint = first;
    return true;
  }

  #search(from: number, to: number, count: number, align: number): number {
    let start = Math.ceil(from / align) * align;
    while (start + count <= to) {
      let p = start;
      while (p < start + count && this.#used[p] === 0) p++;
      if (p === start + count) return start;
      start = Math.ceil((p + 1) / align) * align;
    }
    return -1;
  }
}
