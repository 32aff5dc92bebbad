// The storage VSC: the guest side of the synthetic SCSI controller. It initializes the channel,
// finds the LUNs (REPORT LUNS, INQUIRY, READ CAPACITY(16), VPD pages) and exposes each as a block
// device. Data moves through bounce buffers in the guest's own memory, named by GPA-direct packets.

import {
  type DeviceChannel,
  type DriverDefinition,
  defineDriver,
  type GuestRange,
} from '@viridian/device-sdk';
import {
  decodeSrbCompletion,
  encodeExecuteSrb,
  NtStatus,
  Props,
  readHeader,
  requestSizeFor,
  SCSI_INTERFACE_ID,
  SCSI_REQUEST_SIZE_V2,
  type SrbCompletion,
  SrbDataDirection,
  SrbStatus,
  VSTOR_HEADER_SIZE,
  VSTOR_REQUEST_COMPLETION_FLAG,
  VstorOperation,
  VstorVersion,
  vstorPacket,
} from './protocol.js';
import {
  cdbInquiry,
  cdbRead16,
  cdbReadCapacity16,
  cdbReportLuns,
  cdbSynchronizeCache10,
  cdbUnmap,
  cdbWrite16,
  parseSense,
  ScsiStatus,
  SenseKey,
  unmapParameters,
} from './scsi.js';

const PAGE = 4096;

export const StorageErrorCode = {
  /** The controller refused every protocol version this driver speaks. */
  VersionRefused: 'VERSION_REFUSED',
  /** A step of the initialization handshake failed. */
  InitFailed: 'INIT_FAILED',
  /** The LUN is gone (hot-removed) or never existed. */
  NoDevice: 'NO_DEVICE',
  /** The command was rejected: bad argument, out-of-range LBA, unsupported command. */
  IllegalRequest: 'ILLEGAL_REQUEST',
  /** The disk is read-only. */
  WriteProtected: 'WRITE_PROTECTED',
  /** The device reported an I/O error. */
  IoError: 'IO_ERROR',
  /** The channel closed (controller removed). */
  Closed: 'CLOSED',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** The completion that failed, when there was one. */
    readonly completion?: SrbCompletion,
  ) {
    super(message);
  }
}

export interface StorvscOptions {
  /** The guest's memory (the bounce buffers live in it). */
  readonly memory: SharedArrayBuffer;
  /** Reserves contiguous guest pages; returns the first page number. */
  allocatePages(count: number): number;
  /** Versions to offer, in order of preference. Default Win10, Win8.1, Win8. */
  readonly versions?: readonly number[];
  /** Bounce buffers (commands in flight at once). Default 16. */
  readonly slots?: number;
  /** Bytes per bounce buffer; larger transfers are split. Default 256 KiB. */
  readonly slotBytes?: number;
  /** Pages per ring direction. Default 16. */
  readonly ringPages?: number;
}

/** The result of one raw SCSI command. */
export interface ScsiCommandResult extends SrbCompletion {
  /** Data read (data-in commands), trimmed to what the device transferred. */
  readonly data: Uint8Array;
}

export interface ScsiCommand {
  readonly lun: number;
  readonly cdb: Uint8Array;
  /** Bytes to read from the device. */
  readonly readLength?: number;
  /** Bytes to send to the device. */
  readonly writeData?: Uint8Array;
  readonly pathId?: number;
  readonly targetId?: number;
}

/** A disk as the guest sees it. Offsets are in logical blocks. */
export interface BlockDevice {
  readonly lun: number;
  readonly blockSize: number;
  readonly blocks: number;
  readonly physicalBlockSize: number;
  /** VPD 0x80 unit serial number. */
  readonly serial: string;
  /** UNMAP is supported (VPD 0xB2). */
  readonly discardSupported: boolean;
  /** Set once the device was hot-removed; later calls reject with NO_DEVICE. */
  readonly removed: boolean;
  read(lba: number, blocks: number): Promise<Uint8Array>;
  /** Writes `data` (a whole number of blocks) at `lba`. */
  write(lba: number, data: Uint8Array): Promise<void>;
  /** Makes every completed write durable (SYNCHRONIZE CACHE). */
  flush(): Promise<void>;
  /** Discards blocks (UNMAP): they read as zeros afterwards. */
  discard(lba: number, blocks: number): Promise<void>;
}

export interface BusChange {
  readonly added: readonly BlockDevice[];
  readonly removed: readonly BlockDevice[];
}

/** The guest's view of one synthetic SCSI controller. */
export class StorvscController {
  version = 0;
  maxTransferBytes = 0;
  readonly #channel: DeviceChannel;
  readonly #u8: Uint8Array;
  readonly #slotBytes: number;
  readonly #slotPages: number[] = [];
  readonly #free: number[] = [];
  readonly #waiters: ((slot: number) => void)[] = [];
  readonly #devices = new Map<number, Device>();
  readonly #listeners: ((change: BusChange) => void)[] = [];
  #requestSize = SCSI_REQUEST_SIZE_V2;
  #closed = false;
  #scanning: Promise<BusChange> | undefined;
  #rescanAgain = false;

  constructor(channel: DeviceChannel, options: StorvscOptions) {
    this.#channel = channel;
    this.#u8 = new Uint8Array(options.memory);
    const slots = options.slots ?? 16;
    this.#slotBytes = options.slotBytes ?? 256 * 1024;
    if (this.#slotBytes % PAGE !== 0 || this.#slotBytes <= 0)
      throw new RangeError('slotBytes must be whole pages');
    const pagesPerSlot = this.#slotBytes / PAGE;
    const first = options.allocatePages(slots * pagesPerSlot);
    for (let i = 0; i < slots; i++) {
      this.#slotPages.push(first + i * pagesPerSlot);
      this.#free.push(i);
    }
    channel.onMessage((m) => {
      const h = readHeader(m.data);
      if (h && (h.operation === VstorOperation.EnumerateBus || h.operation === VstorOperation.RemoveDevice))
        void this.scan().catch(() => undefined);
    });
  }

  /** The channel (for protocol-level tools and tests). */
  get channel(): DeviceChannel {
    return this.#channel;
  }

  /** Runs the initialization handshake; resolves with the negotiated version. */
  async initialize(versions: readonly number[]): Promise<number> {
    const step = async (operation: number, body?: (u: DataView) => void) => {
      const packet = vstorPacket(operation, 0, this.#requestSize, VSTOR_REQUEST_COMPLETION_FLAG);
      if (body) body(new DataView(packet.buffer, VSTOR_HEADER_SIZE));
      const reply = await this.#channel.request(packet);
      const h = readHeader(reply);
      if (!h) throw new StorageError(StorageErrorCode.InitFailed, `short reply to operation ${operation}`);
      return { status: h.status, union: new DataView(reply.buffer, reply.byteOffset + VSTOR_HEADER_SIZE) };
    };
    const expectOk = (status: number, what: string) => {
      if (status !== NtStatus.Success)
        throw new StorageError(
          StorageErrorCode.InitFailed,
          `${what} failed: status 0x${status.toString(16)}`,
        );
    };
    expectOk((await step(VstorOperation.BeginInitialization)).status, 'BEGIN_INITIALIZATION');
    let chosen = 0;
    for (const v of versions) {
      const r = await step(VstorOperation.QueryProtocolVersion, (u) => u.setUint16(0, v, true));
      if (r.status === NtStatus.Success) {
        chosen = v;
        break;
      }
    }
    if (chosen === 0)
      throw new StorageError(StorageErrorCode.VersionRefused, 'no common vstor protocol version');
    this.version = chosen;
    const props = await step(VstorOperation.QueryProperties);
    expectOk(props.status, 'QUERY_PROPERTIES');
    this.maxTransferBytes = props.union.getUint32(Props.maxTransferBytes, true);
    expectOk((await step(VstorOperation.EndInitialization)).status, 'END_INITIALIZATION');
    this.#requestSize = requestSizeFor(chosen);
    return chosen;
  }

  /** Calls `listener` after every rescan that changed the set of LUNs. */
  onChange(listener: (change: BusChange) => void): void {
    this.#listeners.push(listener);
  }

  /** Devices found by the last scan. */
  get devices(): readonly BlockDevice[] {
    return [...this.#devices.values()];
  }

  device(lun: number): BlockDevice | undefined {
    return this.#devices.get(lun);
  }

  /** Scans the bus (REPORT LUNS, then identifies new LUNs); concurrent calls share one scan. */
  scan(): Promise<BusChange> {
    if (this.#scanning) {
      this.#rescanAgain = true;
      return this.#scanning;
    }
    const run = async (): Promise<BusChange> => {
      const added: BlockDevice[] = [];
      const removed: BlockDevice[] = [];
      do {
        this.#rescanAgain = false;
        const report = await this.execute({
          lun: 0,
          cdb: cdbReportLuns(8 + 8 * 256),
          readLength: 8 + 8 * 256,
        });
        this.#check(report, 'REPORT LUNS');
        const v = new DataView(report.data.buffer, report.data.byteOffset, report.data.byteLength);
        const count = Math.min(v.getUint32(0) / 8, (report.data.length - 8) / 8);
        const present = new Set<number>();
        for (let i = 0; i < count; i++) present.add(report.data[8 + 8 * i + 1]!);
        for (const [lun, dev] of this.#devices) {
          if (present.has(lun)) continue;
          dev.removed = true;
          this.#devices.delete(lun);
          removed.push(dev);
        }
        for (const lun of present) {
          if (this.#devices.has(lun)) continue;
          const dev = await this.#identify(lun).catch(() => undefined);
          if (!dev) continue;
          this.#devices.set(lun, dev);
          added.push(dev);
        }
      } while (this.#rescanAgain);
      const change = { added, removed };
      if (added.length + removed.length > 0) for (const l of this.#listeners) l(change);
      return change;
    };
    const p = run().finally(() => {
      this.#scanning = undefined;
    });
    this.#scanning = p;
    return p;
  }

  async #identify(lun: number): Promise<Device | undefined> {
    const inq = await this.execute({ lun, cdb: cdbInquiry(36), readLength: 36 });
    if (!ok(inq) || inq.data.length < 1 || (inq.data[0]! & 0x1f) !== 0 || inq.data[0]! >> 5 !== 0)
      return undefined;
    const cap = await this.execute({ lun, cdb: cdbReadCapacity16(32), readLength: 32 });
    this.#check(cap, 'READ CAPACITY(16)');
    const c = new DataView(cap.data.buffer, cap.data.byteOffset, cap.data.byteLength);
    const blockSize = c.getUint32(8);
    const blocks = Number(c.getBigUint64(0)) + 1;
    const physicalBlockSize = blockSize << (cap.data[13]! & 0x0f);
    const serialPage = await this.execute({ lun, cdb: cdbInquiry(255, 0x80), readLength: 255 });
    const serial = ok(serialPage)
      ? String.fromCharCode(...serialPage.data.subarray(4, 4 + serialPage.data[3]!)).trim()
      : '';
    const lbp = await this.execute({ lun, cdb: cdbInquiry(8, 0xb2), readLength: 8 });
    const discardSupported = ok(lbp) && lbp.data.length >= 6 && (lbp.data[5]! & 0x80) !== 0;
    return new Device(this, lun, blockSize, blocks, physicalBlockSize, serial, discardSupported);
  }

  #check(r: ScsiCommandResult, what: string): void {
    if (ok(r)) return;
    throw errorFor(r, what);
  }

  /** Largest transfer of one command. */
  get maxChunk(): number {
    return Math.min(this.#slotBytes, this.maxTransferBytes || this.#slotBytes);
  }

  /** Sends one SCSI command and resolves with its completion (never rejects for SCSI errors). */
  async execute(command: ScsiCommand): Promise<ScsiCommandResult> {
    const readLength = command.readLength ?? 0;
    const writeData = command.writeData;
    const length = writeData ? writeData.length : readLength;
    if (length > this.maxChunk)
      throw new StorageError(
        StorageErrorCode.IllegalRequest,
        `transfer of ${length} bytes exceeds ${this.maxChunk}`,
      );
    if (this.#closed || this.#channel.closed)
      throw new StorageError(StorageErrorCode.Closed, 'controller channel closed');
    const packet = encodeExecuteSrb(
      {
        lun: command.lun,
        pathId: command.pathId ?? 0,
        targetId: command.targetId ?? 0,
        cdb: command.cdb,
        dataIn: writeData
          ? SrbDataDirection.Write
          : length > 0
            ? SrbDataDirection.Read
            : SrbDataDirection.Unknown,
        dataTransferLength: length,
      },
      this.#requestSize,
    );
    let reply: Uint8Array;
    if (length === 0) {
      reply = await this.#request(() => this.#channel.request(packet));
      const completion = this.#decode(reply);
      return { ...completion, data: new Uint8Array(0) };
    }
    const slot = await this.#takeSlot();
    try {
      const base = this.#slotPages[slot]! * PAGE;
      if (writeData) this.#u8.set(writeData, base);
      const pfns: number[] = [];
      for (let p = 0; p < Math.ceil(length / PAGE); p++) pfns.push(this.#slotPages[slot]! + p);
      const ranges: GuestRange[] = [{ byteOffset: 0, byteCount: length, pfns }];
      reply = await this.#request(() => this.#channel.requestGpaDirect(ranges, packet));
      const completion = this.#decode(reply);
      const got = writeData
        ? new Uint8Array(0)
        : this.#u8.slice(base, base + Math.min(completion.dataTransferLength, length));
      return { ...completion, data: got };
    } finally {
      this.#giveSlot(slot);
    }
  }

  async #request(send: () => Promise<Uint8Array>): Promise<Uint8Array> {
    try {
      return await send();
    } catch (e) {
      throw new StorageError(StorageErrorCode.Closed, `controller channel closed: ${(e as Error).message}`);
    }
  }

  #decode(reply: Uint8Array): SrbCompletion {
    const c = decodeSrbCompletion(reply);
    if (!c) throw new StorageError(StorageErrorCode.IoError, 'malformed completion from the controller');
    return c;
  }

  #takeSlot(): Promise<number> {
    const slot = this.#free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #giveSlot(slot: number): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(slot);
    else this.#free.push(slot);
  }

  /** The channel went away: every device is removed. */
  markRemoved(): void {
    this.#closed = true;
    const removed = [...this.#devices.values()];
    for (const d of removed) d.removed = true;
    this.#devices.clear();
    if (removed.length > 0) for (const l of this.#listeners) l({ added: [], removed });
  }
}

function ok(r: SrbCompletion): boolean {
  return (r.srbStatus & 0x3f) === SrbStatus.Success && r.scsiStatus === ScsiStatus.Good;
}

function errorFor(r: SrbCompletion, what: string): StorageError {
  const srb = r.srbStatus & 0x3f;
  if (srb === SrbStatus.InvalidLun || srb === SrbStatus.NoDevice || srb === SrbStatus.SelectionTimeout)
    return new StorageError(StorageErrorCode.NoDevice, `${what}: no device`, r);
  const sense = (r.srbStatus & SrbStatus.AutosenseValid) !== 0 ? parseSense(r.sense) : undefined;
  const detail = sense
    ? `sense key 0x${sense.key.toString(16)}, ASC/ASCQ 0x${sense.asc.toString(16)}/0x${sense.ascq.toString(16)}`
    : `SRB status 0x${r.srbStatus.toString(16)}, SCSI status 0x${r.scsiStatus.toString(16)}, status 0x${r.status.toString(16)}`;
  const code =
    sense?.key === SenseKey.IllegalRequest || (!sense && srb === SrbStatus.InvalidRequest)
      ? StorageErrorCode.IllegalRequest
      : sense?.key === SenseKey.DataProtect
        ? StorageErrorCode.WriteProtected
        : StorageErrorCode.IoError;
  return new StorageError(code, `${what} failed: ${detail}`, r);
}

class Device implements BlockDevice {
  removed = false;
  constructor(
    readonly controller: StorvscController,
    readonly lun: number,
    readonly blockSize: number,
    readonly blocks: number,
    readonly physicalBlockSize: number,
    readonly serial: string,
    readonly discardSupported: boolean,
  ) {}

  #guard(lba: number, blocks: number): void {
    if (this.removed) throw new StorageError(StorageErrorCode.NoDevice, `LUN ${this.lun} was removed`);
    if (!Number.isSafeInteger(lba) || !Number.isSafeInteger(blocks) || lba < 0 || blocks < 0)
      throw new StorageError(StorageErrorCode.IllegalRequest, 'lba and blocks must be non-negative integers');
  }

  async #run(command: ScsiCommand, what: string): Promise<ScsiCommandResult> {
    const r = await this.controller.execute(command);
    if (!ok(r)) {
      const e = errorFor(r, what);
      if (e.code === StorageErrorCode.NoDevice) this.removed = true;
      throw e;
    }
    return r;
  }

  async read(lba: number, blocks: number): Promise<Uint8Array> {
    this.#guard(lba, blocks);
    const out = new Uint8Array(blocks * this.blockSize);
    const per = Math.max(1, Math.floor(this.controller.maxChunk / this.blockSize));
    const parts: Promise<void>[] = [];
    for (let at = 0; at < blocks; at += per) {
      const n = Math.min(per, blocks - at);
      parts.push(
        this.#run(
          { lun: this.lun, cdb: cdbRead16(lba + at, n), readLength: n * this.blockSize },
          'READ(16)',
        ).then((r) => out.set(r.data, at * this.blockSize)),
      );
    }
    await Promise.all(parts);
    return out;
  }

  async write(lba: number, data: Uint8Array): Promise<void> {
    if (data.length % this.blockSize !== 0)
      throw new StorageError(
        StorageErrorCode.IllegalRequest,
        `write of ${data.length} bytes is not whole blocks`,
      );
    const blocks = data.length / this.blockSize;
    this.#guard(lba, blocks);
    const per = Math.max(1, Math.floor(this.controller.maxChunk / this.blockSize));
    const parts: Promise<unknown>[] = [];
    for (let at = 0; at < blocks; at += per) {
      const n = Math.min(per, blocks - at);
      const chunk = data.subarray(at * this.blockSize, (at + n) * this.blockSize);
      parts.push(this.#run({ lun: this.lun, cdb: cdbWrite16(lba + at, n), writeData: chunk }, 'WRITE(16)'));
    }
    await Promise.all(parts);
  }

  async flush(): Promise<void> {
    this.#guard(0, 0);
    await this.#run({ lun: this.lun, cdb: cdbSynchronizeCache10() }, 'SYNCHRONIZE CACHE');
  }

  async discard(lba: number, blocks: number): Promise<void> {
    this.#guard(lba, blocks);
    const ranges: { lba: number; blocks: number }[] = [];
    for (let at = 0; at < blocks; at += 0xffff_ffff)
      ranges.push({ lba: lba + at, blocks: Math.min(0xffff_ffff, blocks - at) });
    for (let i = 0; i < ranges.length; i += 255) {
      const list = unmapParameters(ranges.slice(i, i + 255));
      await this.#run({ lun: this.lun, cdb: cdbUnmap(list.length), writeData: list }, 'UNMAP');
    }
  }
}

/**
 * The storvsc driver: binds to synthetic SCSI offers, runs the handshake, scans the bus, and hands the
 * controller to `onController`.
 */
export function storvscDriver(
  options: StorvscOptions,
  onController: (controller: StorvscController) => void,
): DriverDefinition {
  let current: StorvscController | undefined;
  const versions = options.versions ?? [VstorVersion.Win10, VstorVersion.Win8_1, VstorVersion.Win8];
  return defineDriver({
    name: 'storvsc',
    interfaceId: SCSI_INTERFACE_ID,
    versions,
    ringPages: options.ringPages ?? 16,
    async open(channel) {
      current = new StorvscController(channel, options);
      await current.initialize(versions);
      await current.scan();
      onController(current);
    },
    removed() {
      current?.markRemoved();
    },
  });
}
