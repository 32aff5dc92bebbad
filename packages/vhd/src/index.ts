export { crc32c } from './crc32c.js';
export {
  type CreateOptions,
  createDisk,
  type DiskFormat,
  type DiskInfo,
  type DiskType,
  type OpenOptions,
  openDisk,
  type ParentInfo,
} from './disk.js';
export {
  VhdError,
  VhdFormatError,
  VhdFormatErrorCode,
  VhdOperationError,
  VhdOperationErrorCode,
} from './errors.js';
export { type MergeOptions, merge } from './merge.js';
export {
  type CheckIssue,
  type CheckOptions,
  type CheckReport,
  type CompactResult,
  type ConvertOptions,
  check,
  compact,
  convert,
  resize,
} from './ops.js';
export { setParent } from './set-parent.js';
export { type Chs, chsGeometry } from './vhd.js';

import { createDisk, openDisk, type VirtualDisk as VirtualDiskApi } from './disk.js';
import { merge } from './merge.js';
import { check, compact, convert, resize } from './ops.js';
import { setParent } from './set-parent.js';

/** One open virtual disk of any format (VHD or VHDX); reads see through the whole parent chain. */
export type VirtualDisk = VirtualDiskApi;
/** Entry points: `VirtualDisk.open(path)`, `VirtualDisk.create(path, options)` and the maintenance operations. */
export const VirtualDisk = {
  open: openDisk,
  create: createDisk,
  resize,
  compact,
  convert,
  merge,
  setParent,
  check,
} as const;
