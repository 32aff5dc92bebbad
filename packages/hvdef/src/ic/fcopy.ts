// File copy bodies (spec vmbus.md 7.7, Linux uapi hv_fcopy_*; all packed).
import { availableBytes, decoded, invalidField, truncated, type VmbusDecoded } from '../vmbus/errors.js';
import { type GuidString, readGuid, writeGuid } from '../vmbus/guid.js';
import { decodeUtf16z, writeUtf16zField } from './utf16.js';

export const FcopyOperation = {
  StartFileCopy: 0,
  WriteToFile: 1,
  CompleteFcopy: 2,
  CancelFcopy: 3,
} as const;
export type FcopyOperation = number;

export const FcopyCopyFlags = {
  OverWrite: 0x1,
  CreatePath: 0x2,
} as const;

/** UTF-16 units in file_name / path_name (W_MAX_PATH). */
export const FCOPY_MAX_PATH = 260;
/** Data bytes one WRITE_TO_FILE carries (DATA_FRAGMENT). */
export const FCOPY_DATA_FRAGMENT = 6144;

/** hv_fcopy_hdr: operation u32, two unused GUIDs. */
export const FcopyHeader = { operation: 0, serviceId0: 4, serviceId1: 20, size: 36 } as const;
export const FcopyStartMessage = {
  fileName: 36,
  pathName: 556,
  copyFlags: 1076,
  fileSize: 1080,
  size: 1088,
} as const;
export const FcopyWriteMessage = {
  pad: 36,
  offset: 40,
  dataSize: 48,
  data: 52,
  size: 52 + FCOPY_DATA_FRAGMENT,
} as const;

export interface FcopyHeaderFields {
  operation: FcopyOperation;
  serviceId0: GuidString;
  serviceId1: GuidString;
}

export function encodeFcopyHeader(view: DataView, offset: number, f: FcopyHeaderFields): number {
  view.setUint32(offset + FcopyHeader.operation, f.operation, true);
  writeGuid(view, offset + FcopyHeader.serviceId0, f.serviceId0);
  writeGuid(view, offset + FcopyHeader.serviceId1, f.serviceId1);
  return FcopyHeader.size;
}

export function decodeFcopyHeader(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<FcopyHeaderFields> {
  const avail = availableBytes(view, offset, length);
  if (avail < FcopyHeader.size) return truncated('FcopyHeader', FcopyHeader.size, Math.max(avail, 0));
  return decoded({
    operation: view.getUint32(offset + FcopyHeader.operation, true),
    serviceId0: readGuid(view, offset + FcopyHeader.serviceId0),
    serviceId1: readGuid(view, offset + FcopyHeader.serviceId1),
  });
}

export interface FcopyStartFields {
  fileName: string;
  pathName: string;
  copyFlags: number;
  fileSize: bigint;
}

const NIL = '00000000-0000-0000-0000-000000000000';

export function encodeFcopyStart(view: DataView, offset: number, f: FcopyStartFields): number {
  new Uint8Array(view.buffer, view.byteOffset + offset, FcopyStartMessage.size).fill(0);
  encodeFcopyHeader(view, offset, {
    operation: FcopyOperation.StartFileCopy,
    serviceId0: NIL,
    serviceId1: NIL,
  });
  writeUtf16zField(view, offset + FcopyStartMessage.fileName, 2 * FCOPY_MAX_PATH, f.fileName, 'fileName');
  writeUtf16zField(view, offset + FcopyStartMessage.pathName, 2 * FCOPY_MAX_PATH, f.pathName, 'pathName');
  view.setUint32(offset + FcopyStartMessage.copyFlags, f.copyFlags, true);
  view.setBigUint64(offset + FcopyStartMessage.fileSize, f.fileSize, true);
  return FcopyStartMessage.size;
}

export function decodeFcopyStart(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<FcopyStartFields> {
  const avail = availableBytes(view, offset, length);
  if (avail < FcopyStartMessage.size)
    return truncated('FcopyStart', FcopyStartMessage.size, Math.max(avail, 0));
  return decoded({
    fileName: decodeUtf16z(view, offset + FcopyStartMessage.fileName, 2 * FCOPY_MAX_PATH),
    pathName: decodeUtf16z(view, offset + FcopyStartMessage.pathName, 2 * FCOPY_MAX_PATH),
    copyFlags: view.getUint32(offset + FcopyStartMessage.copyFlags, true),
    fileSize: view.getBigUint64(offset + FcopyStartMessage.fileSize, true),
  });
}

export interface FcopyWriteFields {
  offset: bigint;
  data: Uint8Array;
}

export function encodeFcopyWrite(view: DataView, offset: number, f: FcopyWriteFields): number {
  if (f.data.length > FCOPY_DATA_FRAGMENT)
    throw new RangeError(`at most ${FCOPY_DATA_FRAGMENT} bytes per write`);
  new Uint8Array(view.buffer, view.byteOffset + offset, FcopyWriteMessage.size).fill(0);
  encodeFcopyHeader(view, offset, {
    operation: FcopyOperation.WriteToFile,
    serviceId0: NIL,
    serviceId1: NIL,
  });
  view.setBigUint64(offset + FcopyWriteMessage.offset, f.offset, true);
  view.setUint32(offset + FcopyWriteMessage.dataSize, f.data.length, true);
  new Uint8Array(view.buffer, view.byteOffset + offset + FcopyWriteMessage.data, f.data.length).set(f.data);
  return FcopyWriteMessage.size;
}

/** Decode WRITE_TO_FILE; the data size must be within the fragment and the bytes present. */
export function decodeFcopyWrite(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<FcopyWriteFields> {
  const name = 'FcopyWrite';
  const avail = availableBytes(view, offset, length);
  if (avail < FcopyWriteMessage.data) return truncated(name, FcopyWriteMessage.data, Math.max(avail, 0));
  const size = view.getUint32(offset + FcopyWriteMessage.dataSize, true);
  if (size > FCOPY_DATA_FRAGMENT) return invalidField(name, 'dataSize', `${size} > ${FCOPY_DATA_FRAGMENT}`);
  if (avail < FcopyWriteMessage.data + size) return truncated(name, FcopyWriteMessage.data + size, avail);
  return decoded({
    offset: view.getBigUint64(offset + FcopyWriteMessage.offset, true),
    data: new Uint8Array(view.buffer, view.byteOffset + offset + FcopyWriteMessage.data, size).slice(),
  });
}
