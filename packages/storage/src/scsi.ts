// SCSI definitions (SPC/SBC) used by the disk target and the block-device driver.

export const ScsiOp = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Read6: 0x08,
  Write6: 0x0a,
  Inquiry: 0x12,
  ModeSelect6: 0x15,
  ModeSense6: 0x1a,
  StartStopUnit: 0x1b,
  PreventAllowMediumRemoval: 0x1e,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  Verify10: 0x2f,
  SynchronizeCache10: 0x35,
  Unmap: 0x42,
  ModeSense10: 0x5a,
  Read16: 0x88,
  Write16: 0x8a,
  SynchronizeCache16: 0x91,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
} as const;
export type ScsiOp = number;

/** SERVICE ACTION IN(16) service action for READ CAPACITY(16). */
export const SA_READ_CAPACITY_16 = 0x10;

export const ScsiStatus = {
  Good: 0x00,
  CheckCondition: 0x02,
  Busy: 0x08,
} as const;
export type ScsiStatus = number;

export const SenseKey = {
  NoSense: 0x0,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
} as const;
export type SenseKey = number;

/** Additional sense code and qualifier, as `asc << 8 | ascq`. */
export const Asc = {
  WriteError: 0x0c00,
  UnrecoveredReadError: 0x1100,
  ParameterListLengthError: 0x1a00,
  InvalidCommandOperationCode: 0x2000,
  LbaOutOfRange: 0x2100,
  InvalidFieldInCdb: 0x2400,
  LogicalUnitNotSupported: 0x2500,
  InvalidFieldInParameterList: 0x2600,
  WriteProtected: 0x2700,
  SavingParametersNotSupported: 0x3900,
} as const;
export type Asc = number;

/** Fixed-format sense data (18 bytes, response code 0x70). */
export function fixedSense(key: number, ascq: number): Uint8Array {
  const s = new Uint8Array(18);
  s[0] = 0x70;
  s[2] = key & 0x0f;
  s[7] = 10;
  s[12] = (ascq >> 8) & 0xff;
  s[13] = ascq & 0xff;
  return s;
}

/** Sense key and ASC/ASCQ of fixed- or descriptor-format sense data. */
export function parseSense(sense: Uint8Array): { key: number; asc: number; ascq: number } | undefined {
  const code = (sense[0] ?? 0) & 0x7f;
  if ((code === 0x70 || code === 0x71) && sense.length >= 14)
    return { key: sense[2]! & 0x0f, asc: sense[12]!, ascq: sense[13]! };
  if ((code === 0x72 || code === 0x73) && sense.length >= 4)
    return { key: sense[1]! & 0x0f, asc: sense[2]!, ascq: sense[3]! };
  return undefined;
}

// CDB builders for the driver (big-endian fields per SBC).

export function cdbRead16(lba: number, blocks: number): Uint8Array {
  return rw16(ScsiOp.Read16, lba, blocks);
}
export function cdbWrite16(lba: number, blocks: number): Uint8Array {
  return rw16(ScsiOp.Write16, lba, blocks);
}
export function cdbRead10(lba: number, blocks: number): Uint8Array {
  return rw10(ScsiOp.Read10, lba, blocks);
}
export function cdbWrite10(lba: number, blocks: number): Uint8Array {
  return rw10(ScsiOp.Write10, lba, blocks);
}

function rw16(op: number, lba: number, blocks: number): Uint8Array {
  const c = new Uint8Array(16);
  const v = new DataView(c.buffer);
  c[0] = op;
  v.setBigUint64(2, BigInt(lba));
  v.setUint32(10, blocks);
  return c;
}

function rw10(op: number, lba: number, blocks: number): Uint8Array {
  const c = new Uint8Array(10);
  const v = new DataView(c.buffer);
  c[0] = op;
  v.setUint32(2, lba);
  v.setUint16(7, blocks);
  return c;
}

export function cdbInquiry(allocationLength: number, vpdPage?: number): Uint8Array {
  const c = new Uint8Array(6);
  c[0] = ScsiOp.Inquiry;
  if (vpdPage !== undefined) {
    c[1] = 1;
    c[2] = vpdPage;
  }
  c[3] = (allocationLength >> 8) & 0xff;
  c[4] = allocationLength & 0xff;
  return c;
}

export function cdbReadCapacity16(allocationLength = 32): Uint8Array {
  const c = new Uint8Array(16);
  c[0] = ScsiOp.ServiceActionIn16;
  c[1] = SA_READ_CAPACITY_16;
  new DataView(c.buffer).setUint32(10, allocationLength);
  return c;
}

export function cdbReportLuns(allocationLength: number): Uint8Array {
  const c = new Uint8Array(12);
  c[0] = ScsiOp.ReportLuns;
  new DataView(c.buffer).setUint32(6, allocationLength);
  return c;
}

export function cdbSynchronizeCache10(): Uint8Array {
  const c = new Uint8Array(10);
  c[0] = ScsiOp.SynchronizeCache10;
  return c;
}

export function cdbUnmap(parameterLength: number): Uint8Array {
  const c = new Uint8Array(10);
  c[0] = ScsiOp.Unmap;
  new DataView(c.buffer).setUint16(7, parameterLength);
  return c;
}

/** UNMAP parameter list with one descriptor per range. */
export function unmapParameters(ranges: readonly { lba: number; blocks: number }[]): Uint8Array {
  const out = new Uint8Array(8 + 16 * ranges.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, out.length - 2);
  v.setUint16(2, 16 * ranges.length);
  ranges.forEach((r, i) => {
    v.setBigUint64(8 + 16 * i, BigInt(r.lba));
    v.setUint32(16 + 16 * i, r.blocks);
  });
  return out;
}
