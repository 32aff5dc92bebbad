// A SCSI direct-access block device (SBC) over a virtual disk: decodes a CDB, moves data between the
// request's buffer and the disk, and answers with SCSI status and fixed-format sense data.
// Every CDB field comes from the guest and is checked before use.

import { SrbStatus } from './protocol.js';
import { Asc, fixedSense, SA_READ_CAPACITY_16, ScsiOp, ScsiStatus, SenseKey } from './scsi.js';

/** What a LUN is backed by. `VirtualDisk` from @viridian/vhd has exactly this shape. */
export interface ScsiBackend {
  readonly sizeBytes: number;
  /** Logical sector size in bytes (512 or 4096). */
  readonly sectorSize: number;
  readonly readOnly: boolean;
  read<T extends Uint8Array>(offset: number, buffer: T): Promise<T>;
  write(offset: number, data: Uint8Array): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  /** Optional details: the guest-visible disk id (VPD 0x80/0x83) and physical sector size. */
  info?(): Promise<{ readonly diskId: string; readonly physicalSectorSize: number }>;
}

/** The request's data buffer (a bounds-checked view of guest memory, or any byte store). */
export interface DataBuffer {
  readonly byteLength: number;
  read(offset: number, dst: Uint8Array, dstOffset?: number, length?: number): boolean;
  write(offset: number, src: Uint8Array, srcOffset?: number, length?: number): boolean;
}

export interface ScsiResult {
  srbStatus: number;
  scsiStatus: number;
  /** Bytes moved to or from the data buffer. */
  transferred: number;
  sense: Uint8Array | undefined;
}

export const EMPTY_BUFFER: DataBuffer = {
  byteLength: 0,
  read: (offset, _dst, _dstOffset, length = 0) => offset === 0 && length === 0,
  write: (offset, _src, _srcOffset, length = 0) => offset === 0 && length === 0,
};

const VENDOR = 'Msft    ';
const PRODUCT = 'Virtual Disk    ';
const REVISION = '1.0 ';
const SUPPORTED_VPD = [0x00, 0x80, 0x83, 0xb0, 0xb2];
const MAX_UNMAP_DESCRIPTORS = 255;

export function good(transferred = 0): ScsiResult {
  return { srbStatus: SrbStatus.Success, scsiStatus: ScsiStatus.Good, transferred, sense: undefined };
}

export function checkCondition(key: number, ascq: number, srbStatus: number = SrbStatus.Error): ScsiResult {
  return {
    srbStatus: srbStatus | SrbStatus.AutosenseValid,
    scsiStatus: ScsiStatus.CheckCondition,
    transferred: 0,
    sense: fixedSense(key, ascq),
  };
}

export const illegal = (ascq: number): ScsiResult =>
  checkCondition(SenseKey.IllegalRequest, ascq, SrbStatus.InvalidRequest);

function ascii(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0x20);
  for (let i = 0; i < Math.min(text.length, length); i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}

function guidBytes(id: string): Uint8Array {
  const hex = id
    .replace(/[^0-9a-fA-F]/g, '')
    .padEnd(32, '0')
    .slice(0, 32);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** One LUN: a SCSI disk over a backend. */
export class ScsiDisk {
  readonly blockSize: number;
  readonly blocks: number;
  readonly physicalBlockSize: number;
  readonly diskId: string;

  constructor(
    readonly backend: ScsiBackend,
    details: { diskId: string; physicalSectorSize: number },
    readonly maxTransferBytes: number,
  ) {
    this.blockSize = backend.sectorSize;
    this.blocks = Math.floor(backend.sizeBytes / backend.sectorSize);
    this.physicalBlockSize = Math.max(details.physicalSectorSize, backend.sectorSize);
    this.diskId = details.diskId;
  }

  static async open(backend: ScsiBackend, maxTransferBytes: number): Promise<ScsiDisk> {
    const details = backend.info
      ? await backend.info()
      : { diskId: '00000000-0000-0000-0000-000000000000', physicalSectorSize: backend.sectorSize };
    return new ScsiDisk(backend, details, maxTransferBytes);
  }

  /** Runs one command. `cdb` holds exactly cdb_length bytes. Never throws. */
  async execute(cdb: Uint8Array, data: DataBuffer): Promise<ScsiResult> {
    const op = cdb[0]!;
    try {
      switch (op) {
        case ScsiOp.TestUnitReady:
        case ScsiOp.StartStopUnit:
        case ScsiOp.PreventAllowMediumRemoval:
          return good();
        case ScsiOp.RequestSense:
          return this.#respond(fixedSense(SenseKey.NoSense, 0), cdb[4] ?? 0, data);
        case ScsiOp.Inquiry:
          return this.#inquiry(cdb, data);
        case ScsiOp.ReadCapacity10:
          return this.#readCapacity10(data);
        case ScsiOp.ServiceActionIn16:
          if (((cdb[1] ?? 0) & 0x1f) !== SA_READ_CAPACITY_16 || cdb.length < 16)
            return illegal(Asc.InvalidFieldInCdb);
          return this.#readCapacity16(cdb, data);
        case ScsiOp.Read6:
        case ScsiOp.Write6: {
          if (cdb.length < 6) return illegal(Asc.InvalidFieldInCdb);
          const lba = ((cdb[1]! & 0x1f) << 16) | (cdb[2]! << 8) | cdb[3]!;
          const blocks = cdb[4]! === 0 ? 256 : cdb[4]!;
          return this.#rw(op === ScsiOp.Write6, lba, blocks, data);
        }
        case ScsiOp.Read10:
        case ScsiOp.Write10:
        case ScsiOp.Verify10: {
          if (cdb.length < 10) return illegal(Asc.InvalidFieldInCdb);
          const v = new DataView(cdb.buffer, cdb.byteOffset, cdb.byteLength);
          const lba = v.getUint32(2);
          const blocks = v.getUint16(7);
          if (op === ScsiOp.Verify10) return this.#inRange(lba, blocks) ? good() : illegal(Asc.LbaOutOfRange);
          return this.#rw(op === ScsiOp.Write10, lba, blocks, data);
        }
        case ScsiOp.Read16:
        case ScsiOp.Write16: {
          if (cdb.length < 16) return illegal(Asc.InvalidFieldInCdb);
          const v = new DataView(cdb.buffer, cdb.byteOffset, cdb.byteLength);
          const lba = v.getBigUint64(2);
          if (lba > BigInt(Number.MAX_SAFE_INTEGER)) return illegal(Asc.LbaOutOfRange);
          return this.#rw(op === ScsiOp.Write16, Number(lba), v.getUint32(10), data);
        }
        case ScsiOp.SynchronizeCache10:
        case ScsiOp.SynchronizeCache16:
          await this.backend.flush();
          return good();
        case ScsiOp.ModeSense6:
        case ScsiOp.ModeSense10:
          return this.#modeSense(cdb, data);
        case ScsiOp.Unmap:
          return await this.#unmap(cdb, data);
        default:
          return illegal(Asc.InvalidCommandOperationCode);
      }
    } catch {
      // The backing file failed (I/O error, closed under us): a medium error for this command only.
      const write = op === ScsiOp.Write10 || op === ScsiOp.Write16 || op === ScsiOp.Write6;
      return checkCondition(SenseKey.MediumError, write ? Asc.WriteError : Asc.UnrecoveredReadError);
    }
  }

  #inRange(lba: number, blocks: number): boolean {
    return lba <= this.blocks && blocks <= this.blocks - lba;
  }

  /** Copies `bytes` (at most `allocation` of them, and at most the buffer) to the data buffer. */
  #respond(bytes: Uint8Array, allocation: number, data: DataBuffer): ScsiResult {
    const n = Math.min(bytes.length, allocation, data.byteLength);
    if (!data.write(0, bytes, 0, n)) return illegal(Asc.InvalidFieldInCdb);
    return good(n);
  }

  async #rw(write: boolean, lba: number, blocks: number, data: DataBuffer): Promise<ScsiResult> {
    if (!this.#inRange(lba, blocks)) return illegal(Asc.LbaOutOfRange);
    if (blocks === 0) return good();
    const bytes = blocks * this.blockSize;
    if (bytes > data.byteLength || bytes > this.maxTransferBytes) return illegal(Asc.InvalidFieldInCdb);
    const offset = lba * this.blockSize;
    if (write) {
      if (this.backend.readOnly) return checkCondition(SenseKey.DataProtect, Asc.WriteProtected);
      const buf = new Uint8Array(bytes);
      if (!data.read(0, buf)) return illegal(Asc.InvalidFieldInCdb);
      await this.backend.write(offset, buf);
    } else {
      const buf = await this.backend.read(offset, new Uint8Array(bytes));
      if (!data.write(0, buf)) return illegal(Asc.InvalidFieldInCdb);
    }
    return good(bytes);
  }

  #inquiry(cdb: Uint8Array, data: DataBuffer): ScsiResult {
    if (cdb.length < 6) return illegal(Asc.InvalidFieldInCdb);
    const evpd = (cdb[1]! & 1) !== 0;
    const page = cdb[2]!;
    const allocation = (cdb[3]! << 8) | cdb[4]!;
    if (!evpd) {
      if (page !== 0) return illegal(Asc.InvalidFieldInCdb);
      return this.#respond(standardInquiry(0x00), allocation, data);
    }
    const body = this.#vpd(page);
    if (!body) return illegal(Asc.InvalidFieldInCdb);
    const out = new Uint8Array(4 + body.length);
    out[1] = page;
    out[2] = body.length >> 8;
    out[3] = body.length & 0xff;
    out.set(body, 4);
    return this.#respond(out, allocation, data);
  }

  #vpd(page: number): Uint8Array | undefined {
    switch (page) {
      case 0x00:
        return Uint8Array.from(SUPPORTED_VPD);
      case 0x80:
        return ascii(this.diskId.replace(/-/g, '').toUpperCase(), 32);
      case 0x83: {
        // NAA IEEE Registered Extended designator from the disk id, then a T10 vendor-id designator.
        const id = guidBytes(this.diskId);
        const naa = new Uint8Array(4 + 16);
        naa[0] = 0x01; // binary
        naa[1] = 0x03; // LU association, NAA
        naa[3] = 16;
        naa[4] = 0x60 | (id[0]! & 0x0f);
        naa.set(id.subarray(1), 5);
        const text = ascii(`${VENDOR}${this.diskId}`, 8 + 36);
        const t10 = new Uint8Array(4 + text.length);
        t10[0] = 0x02; // ASCII
        t10[1] = 0x01; // LU association, T10 vendor id
        t10[3] = text.length;
        t10.set(text, 4);
        const out = new Uint8Array(naa.length + t10.length);
        out.set(naa);
        out.set(t10, naa.length);
        return out;
      }
      case 0xb0: {
        const b = new Uint8Array(0x3c);
        const v = new DataView(b.buffer);
        const physPerLogical = this.physicalBlockSize / this.blockSize;
        v.setUint16(2, physPerLogical); // optimal transfer length granularity
        v.setUint32(4, Math.floor(this.maxTransferBytes / this.blockSize)); // maximum transfer length
        v.setUint32(16, 0xffff_ffff); // maximum unmap LBA count
        v.setUint32(20, MAX_UNMAP_DESCRIPTORS); // maximum unmap block descriptor count
        v.setUint32(24, physPerLogical); // optimal unmap granularity
        return b;
      }
      case 0xb2: {
        const b = new Uint8Array(4);
        b[1] = 0x80 | 0x04; // LBPU (UNMAP supported), LBPRZ (unmapped blocks read zero)
        b[2] = 0x02; // thin provisioned
        return b;
      }
      default:
        return undefined;
    }
  }

  #readCapacity10(data: DataBuffer): ScsiResult {
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    const last = this.blocks - 1;
    v.setUint32(0, last > 0xffff_fffe ? 0xffff_ffff : Math.max(last, 0));
    v.setUint32(4, this.blockSize);
    return this.#respond(out, 8, data);
  }

  #readCapacity16(cdb: Uint8Array, data: DataBuffer): ScsiResult {
    const allocation = new DataView(cdb.buffer, cdb.byteOffset, cdb.byteLength).getUint32(10);
    const out = new Uint8Array(32);
    const v = new DataView(out.buffer);
    v.setBigUint64(0, BigInt(Math.max(this.blocks - 1, 0)));
    v.setUint32(8, this.blockSize);
    out[13] = Math.log2(this.physicalBlockSize / this.blockSize) & 0x0f;
    out[14] = 0x80 | 0x40; // LBPME, LBPRZ
    return this.#respond(out, allocation, data);
  }

  #modeSense(cdb: Uint8Array, data: DataBuffer): ScsiResult {
    const ten = cdb[0] === ScsiOp.ModeSense10;
    if (cdb.length < (ten ? 10 : 6)) return illegal(Asc.InvalidFieldInCdb);
    const pc = cdb[2]! >> 6;
    const page = cdb[2]! & 0x3f;
    const subpage = cdb[3]!;
    const allocation = ten ? (cdb[7]! << 8) | cdb[8]! : cdb[4]!;
    if (pc === 3) return illegal(Asc.SavingParametersNotSupported);
    if ((page !== 0x08 && page !== 0x3f) || (subpage !== 0 && !(page === 0x3f && subpage === 0xff)))
      return illegal(Asc.InvalidFieldInCdb);
    // Caching mode page: write cache enabled (writes are durable after SYNCHRONIZE CACHE), not changeable.
    const caching = new Uint8Array(20);
    caching[0] = 0x08;
    caching[1] = 0x12;
    if (pc !== 1) caching[2] = 0x04; // WCE
    const header = ten ? 8 : 4;
    const out = new Uint8Array(header + caching.length);
    const deviceSpecific = (this.backend.readOnly ? 0x80 : 0) | 0x10; // WP, DPOFUA
    if (ten) {
      new DataView(out.buffer).setUint16(0, out.length - 2);
      out[3] = deviceSpecific;
    } else {
      out[0] = out.length - 1;
      out[2] = deviceSpecific;
    }
    out.set(caching, header);
    return this.#respond(out, allocation, data);
  }

  async #unmap(cdb: Uint8Array, data: DataBuffer): Promise<ScsiResult> {
    if (cdb.length < 10) return illegal(Asc.InvalidFieldInCdb);
    if ((cdb[1]! & 1) !== 0) return illegal(Asc.InvalidFieldInCdb); // ANCHOR
    const length = (cdb[7]! << 8) | cdb[8]!;
    if (length === 0) return good();
    if (this.backend.readOnly) return checkCondition(SenseKey.DataProtect, Asc.WriteProtected);
    if (length < 8 || length > data.byteLength) return illegal(Asc.ParameterListLengthError);
    const list = new Uint8Array(length);
    if (!data.read(0, list)) return illegal(Asc.ParameterListLengthError);
    const v = new DataView(list.buffer);
    const descriptorBytes = v.getUint16(2);
    if (descriptorBytes % 16 !== 0 || 8 + descriptorBytes > length)
      return illegal(Asc.ParameterListLengthError);
    const count = descriptorBytes / 16;
    if (count > MAX_UNMAP_DESCRIPTORS) return illegal(Asc.InvalidFieldInParameterList);
    const ranges: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const lba = v.getBigUint64(8 + 16 * i);
      const blocks = v.getUint32(16 + 16 * i);
      if (lba > BigInt(Number.MAX_SAFE_INTEGER) || !this.#inRange(Number(lba), blocks))
        return illegal(Asc.LbaOutOfRange);
      if (blocks > 0) ranges.push([Number(lba) * this.blockSize, blocks * this.blockSize]);
    }
    for (const [offset, bytes] of ranges) await this.backend.discard(offset, bytes);
    return good();
  }
}

/** Standard INQUIRY data (36 bytes). `peripheral` 0x00 is a disk; 0x7f means no LUN here. */
export function standardInquiry(peripheral: number): Uint8Array {
  const d = new Uint8Array(36);
  d[0] = peripheral;
  d[2] = 0x06; // SPC-4
  d[3] = 0x12; // HiSup, response data format 2
  d[4] = d.length - 5;
  d[7] = 0x02; // CmdQue
  if (peripheral !== 0x7f) {
    d.set(ascii(VENDOR, 8), 8);
    d.set(ascii(PRODUCT, 16), 16);
    d.set(ascii(REVISION, 4), 32);
  }
  return d;
}
