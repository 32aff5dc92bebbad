// Checks disk settings and requests (from VMMS's API, config files, the CLI): every field is hostile
// until it has been checked here, and each problem gets a message that says which field and why.

import { isAbsolute } from 'node:path';
import type { DiskAttachment, DiskSnapshotRequest } from './protocol.js';

export const MAX_LUN = 63;
const PATH_MAX = 4096;
const DISK_FILE = /\.(a?vhdx?)$/i;

/** A disk setting, request or file operation that cannot be done; the message names the LUN or file. */
export class DiskError extends Error {
  override readonly name = 'DiskError';
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkLun(value: unknown, where = 'lun'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_LUN)
    throw new DiskError(`${where} must be an integer from 0 to ${MAX_LUN} (got ${describe(value)})`);
  return value;
}

/** An absolute path of a .vhd, .vhdx, .avhd or .avhdx file. */
export function checkDiskPath(value: unknown, where = 'path'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > PATH_MAX || value.includes('\0'))
    throw new DiskError(`${where} must be a file path of 1 to ${PATH_MAX} characters`);
  if (!isAbsolute(value)) throw new DiskError(`${where} must be an absolute path (got ${value})`);
  if (!DISK_FILE.test(value))
    throw new DiskError(`${where} must name a .vhd, .vhdx, .avhd or .avhdx file (got ${value})`);
  return value;
}

export function checkDiskAttachment(value: unknown, where = 'disk'): DiskAttachment {
  if (!isRecord(value)) throw new DiskError(`${where} must be an object with lun, path and readOnly`);
  const lun = checkLun(value.lun, `${where}.lun`);
  const path = checkDiskPath(value.path, `${where}.path`);
  if (typeof value.readOnly !== 'boolean') throw new DiskError(`${where}.readOnly must be true or false`);
  return { lun, path, readOnly: value.readOnly };
}

/** The VM's disks: at most one per LUN and one LUN per file. */
export function checkDisks(value: unknown): DiskAttachment[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new DiskError('disks must be a list');
  if (value.length > MAX_LUN + 1) throw new DiskError(`a VM has at most ${MAX_LUN + 1} disks`);
  const disks = value.map((d, i) => checkDiskAttachment(d, `disks[${i}]`));
  const luns = new Set<number>();
  const paths = new Set<string>();
  for (const d of disks) {
    if (luns.has(d.lun)) throw new DiskError(`LUN ${d.lun} is given to more than one disk`);
    if (paths.has(d.path)) throw new DiskError(`${d.path} is attached at more than one LUN`);
    luns.add(d.lun);
    paths.add(d.path);
  }
  return disks;
}

export function checkSnapshotRequest(value: unknown): DiskSnapshotRequest {
  if (!isRecord(value))
    throw new DiskError('a disk snapshot request must be an object with disks and captureState');
  if (typeof value.captureState !== 'boolean') throw new DiskError('captureState must be true or false');
  if (!Array.isArray(value.disks) || value.disks.length === 0 || value.disks.length > MAX_LUN + 1)
    throw new DiskError(`disks must list 1 to ${MAX_LUN + 1} LUNs`);
  const luns = new Set<number>();
  const paths = new Set<string>();
  const disks = value.disks.map((d: unknown, i) => {
    if (!isRecord(d)) throw new DiskError(`disks[${i}] must be an object with lun and path`);
    const lun = checkLun(d.lun, `disks[${i}].lun`);
    const path = checkDiskPath(d.path, `disks[${i}].path`);
    if (luns.has(lun)) throw new DiskError(`LUN ${lun} is named more than once`);
    if (paths.has(path)) throw new DiskError(`${path} is named more than once`);
    luns.add(lun);
    paths.add(path);
    return { lun, path };
  });
  return { disks, captureState: value.captureState };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null)
    return String(value);
  return typeof value;
}
