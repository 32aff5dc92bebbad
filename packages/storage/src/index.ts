// Synthetic SCSI storage: the controller (VSP) a host offers, and the driver (VSC) a guest binds.

export {
  decodeSrbCompletion,
  encodeExecuteSrb,
  NtStatus,
  SCSI_INTERFACE_ID,
  SCSI_REQUEST_SIZE_V1,
  SCSI_REQUEST_SIZE_V2,
  type SrbCompletion,
  SrbDataDirection,
  type SrbRequest,
  SrbStatus,
  VstorOperation,
  VstorVersion,
  vstorPacket,
} from './protocol.js';
export {
  Asc,
  cdbInquiry,
  cdbRead10,
  cdbRead16,
  cdbReadCapacity16,
  cdbReportLuns,
  cdbSynchronizeCache10,
  cdbUnmap,
  cdbWrite10,
  cdbWrite16,
  parseSense,
  ScsiOp,
  ScsiStatus,
  SenseKey,
  unmapParameters,
} from './scsi.js';
export type { ScsiBackend } from './target.js';
export {
  type BlockDevice,
  type BusChange,
  type ScsiCommand,
  type ScsiCommandResult,
  StorageError,
  StorageErrorCode,
  StorvscController,
  type StorvscOptions,
  storvscDriver,
} from './vsc.js';
export {
  MAX_LUNS,
  type ScsiController,
  type ScsiControllerOptions,
  type ScsiControllerStats,
  SUPPORTED_VERSIONS,
  scsiController,
} from './vsp.js';
