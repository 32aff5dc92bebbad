// The storage VSP: a synthetic SCSI controller on the device SDK. It runs the vstor initialization
// handshake (begin, protocol version, properties, end), then executes SRBs against the LUNs attached to
// it, moving data through the guest pages a GPA-direct packet names. Anything malformed is answered
// with the protocol's own error status; nothing the guest sends can throw here.

import { type DeviceChannel, type DeviceDefinition, defineDevice, type Message } from '@viridian/device-sdk';
import {
  CDB_MAX,
  NtStatus,
  Props,
  readHeader,
  requestSizeFor,
  SCSI_INTERFACE_ID,
  SCSI_REQUEST_SIZE_V1,
  SCSI_REQUEST_SIZE_V2,
  Srb,
  SrbDataDirection,
  SrbStatus,
  VSTOR_HEADER_SIZE,
  VstorOperation,
  VstorVersion,
  vstorPacket,
} from './protocol.js';
import { Asc, ScsiOp, ScsiStatus } from './scsi.js';
import {
  type DataBuffer,
  EMPTY_BUFFER,
  good,
  illegal,
  type ScsiBackend,
  ScsiDisk,
  type ScsiResult,
  standardInquiry,
} from './target.js';

/** Versions the controller accepts, newest first. */
export const SUPPORTED_VERSIONS: readonly number[] = [
  VstorVersion.Win10,
  VstorVersion.Win8_1,
  VstorVersion.Win8,
  VstorVersion.Win7,
  VstorVersion.Win6,
];

export const MAX_LUNS = 64;
const DEFAULT_MAX_TRANSFER = 1024 * 1024;

export interface ScsiControllerOptions {
  /** Instance GUID of the controller. */
  readonly instanceId: string;
  /** Largest data transfer of one SRB, reported in the channel properties. Default 1 MiB. */
  readonly maxTransferBytes?: number;
}

export interface ScsiControllerStats {
  /** SRBs executed. */
  readonly srbs: number;
  /** Packets refused as malformed (bad lengths, ranges, state). */
  readonly refused: number;
}

/** A synthetic SCSI controller: offer it with `DeviceHost.add`, attach disks to its LUNs at any time. */
export interface ScsiController extends DeviceDefinition {
  /** Attaches a disk (e.g. a `VirtualDisk`) at `lun`; a running guest is told to rescan. */
  attach(lun: number, disk: ScsiBackend): Promise<void>;
  /**
   * Detaches the disk at `lun`: new commands to it fail at once (no device), and the promise resolves
   * when the commands already running on it have finished, so the caller may then close the disk.
   */
  detach(lun: number): Promise<void>;
  /**
   * Swaps the backend of the disk at `lun` without telling the guest (no rescan): the disk keeps its
   * identity (disk id, geometry). New commands to the LUN wait; once the commands running on the old
   * backend have finished, `next` is used: a backend, or a function called only then (the old backend
   * is idle while it runs, e.g. to flush and close it) that returns one. If `next` fails, or the new
   * backend's size or sector size differs, the LUN stays on the old backend and the promise rejects.
   */
  replace(lun: number, next: ScsiBackend | (() => Promise<ScsiBackend>)): Promise<void>;
  /** Attached LUNs, ascending. */
  readonly luns: readonly number[];
  readonly stats: ScsiControllerStats;
}

interface Lun {
  disk: ScsiDisk;
  inflight: number;
  drained: (() => void)[];
  /** Set while `replace` runs: commands arriving meanwhile wait for it. */
  swapping: Promise<void> | undefined;
}

type InitState = 'begin' | 'version' | 'properties' | 'end' | 'ready';

interface ChannelState {
  readonly channel: DeviceChannel;
  state: InitState;
  version: number;
}

export function scsiController(options: ScsiControllerOptions): ScsiController {
  const maxTransfer = options.maxTransferBytes ?? DEFAULT_MAX_TRANSFER;
  if (!Number.isInteger(maxTransfer) || maxTransfer < 4096 || maxTransfer > 0x4000_0000 || maxTransfer % 4096)
    throw new RangeError('maxTransferBytes must be a multiple of 4096 from 4096 to 1 GiB');
  const luns = new Map<number, Lun>();
  const channels = new Set<ChannelState>();
  let srbs = 0;
  let refused = 0;

  const rescan = () => {
    for (const c of channels) {
      if (c.state !== 'ready' || c.version < VstorVersion.Win7) continue;
      void c.channel.send(
        vstorPacket(VstorOperation.EnumerateBus, NtStatus.Success, requestSizeFor(c.version)),
      );
    }
  };

  const serve = (c: ChannelState) => (message: Message) => {
    const header = readHeader(message.data);
    // Completions carry the same union size the request had (capped at the largest request).
    const union = Math.max(0, Math.min(message.data.length - VSTOR_HEADER_SIZE, SCSI_REQUEST_SIZE_V2));
    const complete = (status: number, fill?: (u: DataView) => void) => {
      if (!message.expectsReply) return;
      // Filled at full size, then cut to the request's size (as Hyper-V truncates short requests' replies).
      const out = vstorPacket(VstorOperation.CompleteIo, status, SCSI_REQUEST_SIZE_V2);
      if (fill) fill(new DataView(out.buffer, VSTOR_HEADER_SIZE));
      void message.reply(out.subarray(0, VSTOR_HEADER_SIZE + union));
    };
    if (!header) {
      refused++;
      return complete(NtStatus.InvalidParameter);
    }
    const op = header.operation;
    switch (c.state) {
      case 'begin':
        if (op !== VstorOperation.BeginInitialization) break;
        c.state = 'version';
        return complete(NtStatus.Success);
      case 'version': {
        if (op !== VstorOperation.QueryProtocolVersion || union < 2) break;
        const asked = new DataView(message.data.buffer, message.data.byteOffset).getUint16(
          VSTOR_HEADER_SIZE,
          true,
        );
        if (!SUPPORTED_VERSIONS.includes(asked)) {
          return complete(NtStatus.RevisionMismatch, (u) => u.setUint16(0, asked, true));
        }
        c.version = asked;
        c.state = 'properties';
        return complete(NtStatus.Success, (u) => u.setUint16(0, asked, true));
      }
      case 'properties':
        if (op !== VstorOperation.QueryProperties) break;
        c.state = 'end';
        return complete(NtStatus.Success, (u) => {
          u.setUint16(Props.maxChannelCount, 0, true); // no sub-channels
          u.setUint32(Props.flags, 0, true);
          u.setUint32(Props.maxTransferBytes, maxTransfer, true);
        });
      case 'end':
        if (op !== VstorOperation.EndInitialization) break;
        c.state = 'ready';
        return complete(NtStatus.Success);
      case 'ready':
        if (op === VstorOperation.ExecuteSrb) return void executeSrb(c, message, union);
        if (
          op === VstorOperation.ResetBus ||
          op === VstorOperation.ResetAdapter ||
          op === VstorOperation.ResetLun
        )
          return complete(NtStatus.Success);
        break;
    }
    refused++;
    return complete(NtStatus.InvalidDeviceState);
  };

  const executeSrb = async (c: ChannelState, message: Message, union: number) => {
    const data = message.data;
    const size = requestSizeFor(c.version);
    const reply = (status: number, srb: DataView | undefined, result: ScsiResult, senseMax: number) => {
      if (!message.expectsReply) return;
      // Built at full size and cut to the request's size, so a short request cannot push a write past the end.
      const full = vstorPacket(VstorOperation.CompleteIo, status, SCSI_REQUEST_SIZE_V2);
      const out = full.subarray(0, VSTOR_HEADER_SIZE + Math.min(union, size));
      const u = new DataView(full.buffer, VSTOR_HEADER_SIZE);
      if (srb) for (let i = 0; i < 12; i++) u.setUint8(i, srb.getUint8(i));
      u.setUint16(Srb.length, Math.min(union, size), true);
      u.setUint8(Srb.srbStatus, result.srbStatus);
      u.setUint8(Srb.scsiStatus, result.scsiStatus);
      u.setUint32(Srb.dataTransferLength, result.transferred, true);
      const sense = result.sense;
      const senseLength = sense ? Math.min(sense.length, senseMax, 20) : 0;
      u.setUint8(Srb.senseInfoLength, senseLength);
      // The sense data overlays the CDB in the reply.
      for (let i = 0; i < 20; i++) u.setUint8(Srb.cdb + i, i < senseLength ? sense![i]! : 0);
      void message.reply(out);
    };
    const refuse = (srb: DataView | undefined, status: number = NtStatus.InvalidParameter) => {
      refused++;
      reply(
        status,
        srb,
        { srbStatus: SrbStatus.InvalidRequest, scsiStatus: 0, transferred: 0, sense: undefined },
        0,
      );
    };
    if (union < SCSI_REQUEST_SIZE_V1) return refuse(undefined);
    const srb = new DataView(data.buffer, data.byteOffset + VSTOR_HEADER_SIZE, union);
    const cdbLength = srb.getUint8(Srb.cdbLength);
    const transfer = srb.getUint32(Srb.dataTransferLength, true);
    const direction = srb.getUint8(Srb.dataIn);
    const senseMax = srb.getUint8(Srb.senseInfoLength);
    if (cdbLength === 0 || cdbLength > CDB_MAX || direction > SrbDataDirection.Unknown) return refuse(srb);
    if (transfer > maxTransfer) return refuse(srb);
    let buffer: DataBuffer = EMPTY_BUFFER;
    if (transfer > 0) {
      // The byte count the packet names must be exactly the SRB's transfer length, inside guest memory.
      if (!message.isGpaDirect || !message.memory || message.memory.byteLength !== transfer)
        return refuse(srb);
      buffer = message.memory;
    }
    const cdb = data.slice(VSTOR_HEADER_SIZE + Srb.cdb, VSTOR_HEADER_SIZE + Srb.cdb + cdbLength);
    const op = cdb[0]!;
    srbs++;
    const addressed = srb.getUint8(Srb.pathId) === 0 && srb.getUint8(Srb.targetId) === 0;
    if (op === ScsiOp.ReportLuns && addressed) {
      return reply(NtStatus.Success, srb, reportLuns(cdb, buffer), senseMax);
    }
    const lunNumber = srb.getUint8(Srb.lun);
    let lun = addressed ? luns.get(lunNumber) : undefined;
    // A backend swap in progress: the command runs on whatever backend the LUN has afterwards.
    while (lun?.swapping) {
      await lun.swapping;
      lun = luns.get(lunNumber);
    }
    if (!lun) {
      // No disk at this address: INQUIRY still answers (peripheral qualifier "not connected").
      if (op === ScsiOp.Inquiry && cdb.length >= 5 && (cdb[1]! & 1) === 0 && cdb[2] === 0) {
        const d = standardInquiry(0x7f);
        const n = Math.min(d.length, (cdb[3]! << 8) | cdb[4]!, buffer.byteLength);
        buffer.write(0, d, 0, n);
        return reply(NtStatus.Success, srb, good(n), senseMax);
      }
      return reply(
        NtStatus.DeviceDoesNotExist,
        srb,
        { srbStatus: SrbStatus.InvalidLun, scsiStatus: ScsiStatus.Good, transferred: 0, sense: undefined },
        senseMax,
      );
    }
    lun.inflight++;
    let result: ScsiResult;
    try {
      result = await lun.disk.execute(cdb, buffer);
    } finally {
      if (--lun.inflight === 0) for (const done of lun.drained.splice(0)) done();
    }
    const status =
      (result.srbStatus & 0x3f) === SrbStatus.Success ? NtStatus.Success : NtStatus.IoDeviceError;
    reply(status, srb, result, senseMax);
  };

  const reportLuns = (cdb: Uint8Array, buffer: DataBuffer): ScsiResult => {
    if (cdb.length < 12) return illegal(Asc.InvalidFieldInCdb);
    const allocation = new DataView(cdb.buffer, cdb.byteOffset).getUint32(6);
    if (allocation < 16) return illegal(Asc.InvalidFieldInCdb);
    const list = [...luns.keys()].sort((a, b) => a - b);
    const out = new Uint8Array(8 + 8 * list.length);
    new DataView(out.buffer).setUint32(0, 8 * list.length);
    list.forEach((n, i) => {
      out[8 + 8 * i + 1] = n; // single-level peripheral addressing
    });
    const n = Math.min(out.length, allocation, buffer.byteLength);
    if (!buffer.write(0, out, 0, n)) return illegal(Asc.InvalidFieldInCdb);
    return good(n);
  };

  const device = defineDevice({
    name: 'scsi',
    interfaceId: SCSI_INTERFACE_ID,
    instanceId: options.instanceId,
    versions: SUPPORTED_VERSIONS,
    open(channel) {
      const c: ChannelState = { channel, state: 'begin', version: 0 };
      channels.add(c);
      channel.onMessage(serve(c));
    },
    close() {
      for (const c of channels) if (c.channel.closed) channels.delete(c);
    },
  });

  const controller: ScsiController = {
    ...device,
    async attach(lun, disk) {
      if (!Number.isInteger(lun) || lun < 0 || lun >= MAX_LUNS)
        throw new RangeError(`LUN ${lun} out of range`);
      if (luns.has(lun)) throw new Error(`LUN ${lun} is already attached`);
      const target = await ScsiDisk.open(disk, maxTransfer);
      if (luns.has(lun)) throw new Error(`LUN ${lun} is already attached`);
      luns.set(lun, { disk: target, inflight: 0, drained: [], swapping: undefined });
      rescan();
    },
    async detach(lun) {
      const entry = luns.get(lun);
      if (!entry) throw new Error(`LUN ${lun} is not attached`);
      luns.delete(lun);
      rescan();
      if (entry.inflight > 0) await new Promise<void>((resolve) => entry.drained.push(resolve));
    },
    async replace(lun, next) {
      const entry = luns.get(lun);
      if (!entry) throw new Error(`LUN ${lun} is not attached`);
      if (entry.swapping) throw new Error(`LUN ${lun} is already being replaced`);
      let done!: () => void;
      entry.swapping = new Promise<void>((resolve) => {
        done = resolve;
      });
      try {
        if (entry.inflight > 0) await new Promise<void>((resolve) => entry.drained.push(resolve));
        const backend = typeof next === 'function' ? await next() : next;
        const old = entry.disk;
        if (
          backend.sectorSize !== old.blockSize ||
          Math.floor(backend.sizeBytes / backend.sectorSize) !== old.blocks
        )
          throw new Error(`LUN ${lun}: the new backend's size or sector size differs from the disk's`);
        // Same identity as before: to the guest this is the same disk.
        entry.disk = new ScsiDisk(
          backend,
          { diskId: old.diskId, physicalSectorSize: old.physicalBlockSize },
          maxTransfer,
        );
      } finally {
        entry.swapping = undefined;
        done();
      }
    },
    get luns() {
      return [...luns.keys()].sort((a, b) => a - b);
    },
    get stats() {
      return { srbs, refused };
    },
  };
  return controller;
}
