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
  type VirtualDisk,
} from './disk.js';
export {
  VhdError,
  VhdFormatError,
  VhdFormatErrorCode,
  VhdOperationError,
  VhdOperationErrorCode,
} from './errors.js';
export { type Chs, chsGeometry } from './vhd.js';
