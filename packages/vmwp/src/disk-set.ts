// The VM's disks on the host side: one synthetic SCSI controller and the virtual disk file open at
// each of its LUNs. It opens, attaches, detaches and closes the files, and moves a LUN onto a new
// differencing file (snapshot) or back onto the parent (merge) without the guest noticing.

import { createHash } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import { type ScsiController, scsiController } from '@viridian/storage';
import { VirtualDisk } from '@viridian/vhd';
import { checkDiskAttachment, checkLun, DiskError } from './disk-config.js';
import type { DiskAttachment } from './protocol.js';

interface OpenDisk {
  path: string;
  readonly readOnly: boolean;
  disk: VirtualDisk;
}

/** "CODE: message" of a vhd or file-system error. */
function reason(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return typeof e?.code === 'string' ? `${e.code}: ${message}` : message;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** A stable controller instance id for a VM: the same VM always gets the same controller. */
export function controllerInstanceId(vmId: string): string {
  const h = createHash('sha256').update(`viridian-scsi:${vmId}`).digest('hex');
  // Shaped as a version-5-style GUID (variant 10).
  const variant = ((Number.parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function openFile(attachment: DiskAttachment): Promise<VirtualDisk> {
  try {
    return await VirtualDisk.open(attachment.path, { readOnly: attachment.readOnly });
  } catch (error) {
    throw new DiskError(
      `cannot open the disk at LUN ${attachment.lun} (${attachment.path}): ${reason(error)}`,
    );
  }
}

export class DiskSet {
  readonly controller: ScsiController;
  readonly #luns = new Map<number, OpenDisk>();

  constructor(vmId: string) {
    this.controller = scsiController({ instanceId: controllerInstanceId(vmId) });
  }

  /** Opens every file (all or none: a failure closes what was opened) and attaches them. */
  async open(attachments: readonly DiskAttachment[]): Promise<void> {
    try {
      for (const a of attachments) {
        if (this.#luns.has(a.lun)) throw new DiskError(`LUN ${a.lun} is given to more than one disk`);
        this.#luns.set(a.lun, { path: a.path, readOnly: a.readOnly, disk: await openFile(a) });
      }
      for (const [lun, entry] of this.#luns) await this.controller.attach(lun, entry.disk);
    } catch (error) {
      await this.close();
      throw error instanceof DiskError ? error : new DiskError(reason(error));
    }
  }

  /** The disks now attached, with each LUN's current file. */
  get attachments(): DiskAttachment[] {
    return [...this.#luns]
      .sort(([a], [b]) => a - b)
      .map(([lun, e]) => ({ lun, path: e.path, readOnly: e.readOnly }));
  }

  /** Hot add: the guest is told to rescan. */
  async attach(value: unknown): Promise<void> {
    const attachment = checkDiskAttachment(value);
    if (this.#luns.has(attachment.lun)) throw new DiskError(`LUN ${attachment.lun} already has a disk`);
    for (const e of this.#luns.values())
      if (e.path === attachment.path) throw new DiskError(`${attachment.path} is already attached`);
    const disk = await openFile(attachment);
    this.#luns.set(attachment.lun, { path: attachment.path, readOnly: attachment.readOnly, disk });
    try {
      await this.controller.attach(attachment.lun, disk);
    } catch (error) {
      this.#luns.delete(attachment.lun);
      await disk.close().catch(() => undefined);
      throw new DiskError(`cannot attach ${attachment.path} at LUN ${attachment.lun}: ${reason(error)}`);
    }
  }

  /** Hot remove: the guest is told to rescan; the file closes once the LUN's running commands are done. */
  async detach(value: unknown): Promise<void> {
    const lun = checkLun(value);
    const entry = this.#luns.get(lun);
    if (entry === undefined) throw new DiskError(`LUN ${lun} has no disk`);
    this.#luns.delete(lun);
    await this.controller.detach(lun);
    await entry.disk.close().catch((error: unknown) => {
      throw new DiskError(`LUN ${lun} (${entry.path}) did not close cleanly: ${reason(error)}`);
    });
  }

  /** Makes every completed write of every disk durable. */
  async flush(): Promise<void> {
    for (const [lun, e] of this.#luns) {
      if (e.readOnly) continue;
      await e.disk.flush().catch((error: unknown) => {
        throw new DiskError(`cannot flush the disk at LUN ${lun} (${e.path}): ${reason(error)}`);
      });
    }
  }

  /** Checks that each LUN has a disk and each new path is free, before any file changes. */
  async checkSnapshot(disks: readonly { lun: number; path: string }[]): Promise<void> {
    const current = new Set([...this.#luns.values()].map((e) => e.path));
    for (const { lun, path } of disks) {
      if (!this.#luns.has(lun)) throw new DiskError(`LUN ${lun} has no disk`);
      if (current.has(path) || (await exists(path))) throw new DiskError(`${path} already exists`);
    }
  }

  /**
   * Moves the LUN onto a new differencing file at `path` (same format as its current file, which
   * becomes the parent). If the child cannot be made, the LUN stays on its current file.
   */
  async snapshot(lun: number, path: string): Promise<void> {
    const entry = this.#entry(lun);
    const format = entry.disk.format;
    const parentPath = entry.path;
    await this.#swap(lun, entry, async () => {
      const child = await VirtualDisk.create(path, { format, type: 'differencing', parentPath }).catch(
        async (error: unknown) => {
          // The path was checked free before, so whatever is there now is a partial file of ours.
          await rm(path, { force: true }).catch(() => undefined);
          throw new DiskError(`cannot create the differencing disk ${path} for LUN ${lun}: ${reason(error)}`);
        },
      );
      if (!entry.readOnly) return { disk: child, path };
      await child.close();
      return { disk: await VirtualDisk.open(path, { readOnly: true }), path };
    });
  }

  /** Merges the LUN's differencing file into its parent (the child file is deleted); returns the parent. */
  async merge(value: unknown): Promise<string> {
    const lun = checkLun(value);
    const entry = this.#entry(lun);
    if (entry.disk.type !== 'differencing')
      throw new DiskError(`the disk at LUN ${lun} (${entry.path}) is not a differencing disk`);
    const childPath = entry.path;
    let parentPath = '';
    await this.#swap(lun, entry, async () => {
      try {
        parentPath = (await VirtualDisk.merge(childPath)).parentPath;
      } catch (error) {
        throw new DiskError(`cannot merge ${childPath} (LUN ${lun}) into its parent: ${reason(error)}`);
      }
      try {
        return { disk: await VirtualDisk.open(parentPath, { readOnly: entry.readOnly }), path: parentPath };
      } catch (error) {
        throw new DiskError(
          `merged LUN ${lun} into ${parentPath}, which then did not open: ${reason(error)}`,
        );
      }
    });
    return parentPath;
  }

  /** Closes every file (each close flushes). Errors are collected, not thrown: all files get closed. */
  async close(): Promise<string[]> {
    const problems: string[] = [];
    const entries = [...this.#luns];
    this.#luns.clear();
    for (const [lun, e] of entries) {
      await e.disk
        .close()
        .catch((error: unknown) => problems.push(`LUN ${lun} (${e.path}): ${reason(error)}`));
    }
    return problems;
  }

  #entry(lun: number): OpenDisk {
    const entry = this.#luns.get(lun);
    if (entry === undefined) throw new DiskError(`LUN ${lun} has no disk`);
    return entry;
  }

  /**
   * Swaps the LUN's file under the controller: the current file closes (flushing it) once the LUN is
   * idle, then `next` makes the new one. If `next` fails, the LUN goes back to its current file.
   */
  async #swap(
    lun: number,
    entry: OpenDisk,
    next: () => Promise<{ disk: VirtualDisk; path: string }>,
  ): Promise<void> {
    let failure: unknown;
    try {
      await this.controller.replace(lun, async () => {
        await entry.disk.close();
        try {
          const made = await next();
          entry.disk = made.disk;
          entry.path = made.path;
        } catch (error) {
          failure = error;
          entry.disk = await VirtualDisk.open(entry.path, { readOnly: entry.readOnly });
        }
        return entry.disk;
      });
    } catch (error) {
      const first = failure === undefined ? '' : `${reason(failure)}; then `;
      throw new DiskError(`LUN ${lun} (${entry.path}) has no working file: ${first}${reason(error)}`);
    }
    if (failure !== undefined) throw failure instanceof DiskError ? failure : new DiskError(reason(failure));
  }
}
