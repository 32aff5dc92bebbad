// The vstor protocol spoken over a synthetic SCSI channel: every packet is a 12-byte vstor header
// (operation, flags, status) followed by a union whose size the negotiated version fixes
// (a vmscsi_request of 0x24 bytes before Windows 8, 0x34 bytes from Windows 8 on). All little-endian.

import { VmbusInterfaceGuid } from '@viridian/hvdef';

export const SCSI_INTERFACE_ID: string = VmbusInterfaceGuid.Scsi;

export const VstorOperation = {
  CompleteIo: 1,
  RemoveDevice: 2,
  ExecuteSrb: 3,
  ResetLun: 4,
  ResetAdapter: 5,
  ResetBus: 6,
  BeginInitialization: 7,
  EndInitialization: 8,
  QueryProtocolVersion: 9,
  QueryProperties: 10,
  EnumerateBus: 11,
  FcHbaData: 12,
  CreateSubChannels: 13,
} as const;
export type VstorOperation = number;

/** Protocol versions: major in the high byte, minor in the low byte. */
export const VstorVersion = {
  Win6: 0x0200,
  Win7: 0x0402,
  Win8: 0x0501,
  Win8_1: 0x0600,
  Win10: 0x0602,
} as const;
export type VstorVersion = number;

/** vstor_packet.flags: the sender wants a completion. */
export const VSTOR_REQUEST_COMPLETION_FLAG = 0x1;
/** vmstorage_channel_properties.flags: sub-channels are supported. */
export const STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL = 0x1;

/** The status word of a vstor packet (an NTSTATUS). */
export const NtStatus = {
  Success: 0x0000_0000,
  BufferOverflow: 0x8000_0005,
  DeviceBusy: 0x8000_0011,
  Unsuccessful: 0xc000_0001,
  InvalidParameter: 0xc000_000d,
  InvalidDeviceRequest: 0xc000_0010,
  RevisionMismatch: 0xc000_0059,
  DeviceNotConnected: 0xc000_009d,
  DeviceDoesNotExist: 0xc000_00c0,
  InvalidDeviceState: 0xc000_0184,
  IoDeviceError: 0xc000_0185,
} as const;
export type NtStatus = number;

/** SRB status (low 6 bits) plus the AUTOSENSE_VALID flag. */
export const SrbStatus = {
  Pending: 0x00,
  Success: 0x01,
  Aborted: 0x02,
  Error: 0x04,
  InvalidRequest: 0x06,
  NoDevice: 0x08,
  SelectionTimeout: 0x0a,
  DataOverrun: 0x12,
  InvalidLun: 0x20,
  AutosenseValid: 0x80,
} as const;
export type SrbStatus = number;

/** vmscsi_request.data_in: direction of the data buffer. */
export const SrbDataDirection = { Write: 0, Read: 1, Unknown: 2 } as const;
export type SrbDataDirection = number;

export const VSTOR_HEADER_SIZE = 12;
/** vmscsi_request without and with the Windows 8 extension. */
export const SCSI_REQUEST_SIZE_V1 = 0x24;
export const SCSI_REQUEST_SIZE_V2 = 0x34;
export const CDB_MAX = 16;
export const SENSE_MAX = 20;

/** Size of the vmscsi_request a version carries. */
export function requestSizeFor(version: number): number {
  return version >= VstorVersion.Win8 ? SCSI_REQUEST_SIZE_V2 : SCSI_REQUEST_SIZE_V1;
}

// vmscsi_request field offsets, relative to the start of the request (after the 12-byte header).
export const Srb = {
  length: 0, // u16
  srbStatus: 2, // u8
  scsiStatus: 3, // u8
  port: 4, // u8
  pathId: 5, // u8
  targetId: 6, // u8
  lun: 7, // u8
  cdbLength: 8, // u8
  senseInfoLength: 9, // u8
  dataIn: 10, // u8
  reserved: 11, // u8
  dataTransferLength: 12, // u32
  cdb: 16, // u8[16] / sense u8[20] union
  // Windows 8 extension
  queueTag: 38, // u8
  queueAction: 39, // u8
  srbFlags: 40, // u32
  timeOutValue: 44, // u32
  queueSortKey: 48, // u32
} as const;

// vmstorage_channel_properties offsets, relative to the union.
export const Props = {
  maxChannelCount: 4, // u16
  flags: 8, // u32
  maxTransferBytes: 12, // u32
} as const;

/** A decoded vstor header. */
export interface VstorHeader {
  readonly operation: number;
  readonly flags: number;
  readonly status: number;
}

/** A vstor packet of `unionSize` bytes after the header, zero-filled. */
export function vstorPacket(operation: number, status: number, unionSize: number, flags = 0): Uint8Array {
  const out = new Uint8Array(VSTOR_HEADER_SIZE + unionSize);
  const v = new DataView(out.buffer);
  v.setUint32(0, operation, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, status >>> 0, true);
  return out;
}

export function readHeader(bytes: Uint8Array): VstorHeader | undefined {
  if (bytes.length < VSTOR_HEADER_SIZE) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { operation: v.getUint32(0, true), flags: v.getUint32(4, true), status: v.getUint32(8, true) };
}

/** The fields of an SRB a VSC fills in. */
export interface SrbRequest {
  readonly pathId?: number;
  readonly targetId?: number;
  readonly lun: number;
  readonly cdb: Uint8Array;
  readonly dataIn: number;
  readonly dataTransferLength: number;
  readonly senseInfoLength?: number;
}

/** Encodes an EXECUTE_SRB packet for a request of `requestSize` bytes (by version). */
export function encodeExecuteSrb(request: SrbRequest, requestSize: number): Uint8Array {
  const out = vstorPacket(VstorOperation.ExecuteSrb, 0, requestSize, VSTOR_REQUEST_COMPLETION_FLAG);
  const v = new DataView(out.buffer, VSTOR_HEADER_SIZE);
  v.setUint16(Srb.length, requestSize, true);
  v.setUint8(Srb.pathId, request.pathId ?? 0);
  v.setUint8(Srb.targetId, request.targetId ?? 0);
  v.setUint8(Srb.lun, request.lun);
  v.setUint8(Srb.cdbLength, request.cdb.length);
  v.setUint8(
    Srb.senseInfoLength,
    request.senseInfoLength ?? (requestSize === SCSI_REQUEST_SIZE_V2 ? 20 : 18),
  );
  v.setUint8(Srb.dataIn, request.dataIn);
  v.setUint32(Srb.dataTransferLength, request.dataTransferLength, true);
  out.set(request.cdb.subarray(0, CDB_MAX), VSTOR_HEADER_SIZE + Srb.cdb);
  return out;
}

/** A decoded COMPLETE_IO for an SRB. */
export interface SrbCompletion {
  readonly status: number;
  readonly srbStatus: number;
  readonly scsiStatus: number;
  readonly dataTransferLength: number;
  /** Sense data (valid when srbStatus has AUTOSENSE_VALID), trimmed to sense_info_length. */
  readonly sense: Uint8Array;
}

export function decodeSrbCompletion(bytes: Uint8Array): SrbCompletion | undefined {
  const header = readHeader(bytes);
  if (!header || bytes.length < VSTOR_HEADER_SIZE + SCSI_REQUEST_SIZE_V1) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset + VSTOR_HEADER_SIZE);
  const senseLength = Math.min(v.getUint8(Srb.senseInfoLength), SENSE_MAX);
  const sense = bytes.slice(VSTOR_HEADER_SIZE + Srb.cdb, VSTOR_HEADER_SIZE + Srb.cdb + senseLength);
  return {
    status: header.status,
    srbStatus: v.getUint8(Srb.srbStatus),
    scsiStatus: v.getUint8(Srb.scsiStatus),
    dataTransferLength: v.getUint32(Srb.dataTransferLength, true),
    sense,
  };
}
