// The guest's disks: binds the storvsc driver to the host's synthetic SCSI controller and keeps a live,
// LUN-ordered view of the block devices it exposes (hot add and remove arrive as controller rescans).

import type { GuestBus } from '@viridian/device-sdk';
import { type BlockDevice, type StorvscController, storvscDriver } from '@viridian/storage';

/** Disks that appeared or went away in one rescan of the controller. */
export interface DiskChange {
  readonly added: readonly BlockDevice[];
  readonly removed: readonly BlockDevice[];
}

/**
 * Guest memory for storage, sized for a small partition: 4 bounce buffers of 64 KiB (commands in
 * flight at once; larger transfers are split) and 8-page rings, 80 pages in all.
 */
const STORAGE_SLOTS = 4;
const STORAGE_SLOT_BYTES = 64 * 1024;
const STORAGE_RING_PAGES = 8;

/** The block devices of the guest's storage controller, as they are now. */
export class DiskSet {
  #controller: StorvscController | undefined;
  readonly #listeners = new Set<(change: DiskChange) => void>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  /** The devices present now, by LUN. */
  get devices(): readonly BlockDevice[] {
    return [...(this.#controller?.devices ?? [])].sort((a, b) => a.lun - b.lun);
  }

  device(lun: number): BlockDevice | undefined {
    return this.#controller?.device(lun);
  }

  /** Calls `listener` after every rescan that added or removed disks; returns an unsubscribe function. */
  onChange(listener: (change: DiskChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Takes the initialized controller's devices (and its later changes) as the guest's disks. Its
   * devices count as added: listeners already there (a controller that answered late) learn of them.
   */
  adopt(controller: StorvscController): void {
    this.#controller = controller;
    controller.onChange((change) => this.#emit(change));
    if (controller.devices.length > 0) this.#emit({ added: this.devices, removed: [] });
  }

  #emit(change: DiskChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}

export interface BindStorageOptions {
  readonly memory: SharedArrayBuffer;
  allocatePages(count: number): number;
  /** Longest the handshake and first scan may take before the guest goes on without disks. */
  readonly timeoutMs: number;
  /** How a binding that outlived the timeout ended after all. */
  onLate?(result: Exclude<StorageBindResult, { outcome: 'timed-out' }>): void;
}

/** How binding the storage controller ended. */
export type StorageBindResult =
  | { readonly outcome: 'bound'; readonly disks: number }
  | { readonly outcome: 'failed'; readonly error: string }
  | { readonly outcome: 'timed-out' };

/**
 * Binds storvsc to the bus's synthetic SCSI offer (the bus opens the first offer of an interface, so
 * one controller) and hands its devices to `disks`. Never throws: a controller that refuses the
 * handshake or answers garbage is reported as 'failed', one that does not answer in time as
 * 'timed-out'; `disks` stays empty either way. A controller that completes after the timeout is still
 * adopted, so its disks show up late rather than never.
 */
export async function bindStorage(
  bus: GuestBus,
  disks: DiskSet,
  options: BindStorageOptions,
): Promise<StorageBindResult> {
  const driver = storvscDriver(
    {
      memory: options.memory,
      allocatePages: (count) => options.allocatePages(count),
      slots: STORAGE_SLOTS,
      slotBytes: STORAGE_SLOT_BYTES,
      ringPages: STORAGE_RING_PAGES,
    },
    (controller) => disks.adopt(controller),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const timeout = new Promise<StorageBindResult>((resolve) => {
    timer = setTimeout(() => {
      late = true;
      resolve({ outcome: 'timed-out' });
    }, options.timeoutMs);
  });
  const binding = bus
    .bind(driver)
    .then(
      () => ({ outcome: 'bound', disks: disks.devices.length }) as const,
      (error: unknown) =>
        ({
          outcome: 'failed',
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        }) as const,
    )
    .then((result) => {
      if (late) options.onLate?.(result);
      return result;
    });
  try {
    return await Promise.race([binding, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
