import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, harness } from './harness.test-fixture.js';
import {
  decodeSrbCompletion,
  encodeExecuteSrb,
  NtStatus,
  readHeader,
  SCSI_REQUEST_SIZE_V1,
  SCSI_REQUEST_SIZE_V2,
  SrbDataDirection,
  SrbStatus,
  VSTOR_HEADER_SIZE,
  VstorOperation,
  VstorVersion,
  vstorPacket,
} from './protocol.js';
import {
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
import { StorageErrorCode, type StorvscController } from './vsc.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup(...args: Parameters<typeof harness>) {
  h = await harness(...args);
  return { h, c: await h.bind() };
}

const pattern = (bytes: number, seed: number) =>
  new Uint8Array(bytes).map((_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);
const sense = (r: { sense: Uint8Array }) => parseSense(r.sense);
/** Byte equality without the deep-equality walk (slow on megabytes). */
const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const ascii = (b: Uint8Array) => String.fromCharCode(...b);

describe('vstor initialization', () => {
  it('negotiates Win10 first, reports the properties, and finds the attached disk', async () => {
    const { c } = await setup();
    expect(c.version).toBe(VstorVersion.Win10);
    expect(c.maxTransferBytes).toBe(1 << 20);
    expect(c.devices.map((d) => d.lun)).toEqual([0]);
    const d = c.device(0)!;
    expect([d.blockSize, d.blocks, d.physicalBlockSize, d.discardSupported]).toEqual([
      512,
      (64 << 20) / 512,
      4096,
      true,
    ]);
  });

  it('refuses versions it does not speak with REVISION_MISMATCH and takes the next offered one', async () => {
    h = await harness();
    const c = await h.bind({ versions: [0x0999, 0x0300, VstorVersion.Win8] });
    expect(c.version).toBe(VstorVersion.Win8);
  });

  it('speaks the pre-Windows 8 request size (Win7) for I/O too', async () => {
    h = await harness();
    const c = await h.bind({ versions: [VstorVersion.Win7] });
    expect(c.version).toBe(VstorVersion.Win7);
    const d = c.device(0)!;
    await d.write(8, pattern(4096, 1));
    expect(await d.read(8, 8)).toEqual(pattern(4096, 1));
  });

  it('fails the bind with VERSION_REFUSED when nothing is common', async () => {
    h = await harness();
    await expect(h.bind({ versions: [0x0100] })).rejects.toMatchObject({
      code: StorageErrorCode.VersionRefused,
    });
  });
});

describe('SCSI commands against a VHDX disk', () => {
  it('INQUIRY: standard data and the VPD pages 0x00, 0x80, 0x83 (from the disk id), 0xB0, 0xB2', async () => {
    const { h, c } = await setup();
    const diskId = (await h.disks[0]!.info()).diskId;
    const std = await c.execute({ lun: 0, cdb: cdbInquiry(96), readLength: 96 });
    expect(std.srbStatus).toBe(SrbStatus.Success);
    expect(std.data.length).toBe(36);
    expect(std.data[0]).toBe(0); // direct-access block device
    expect(ascii(std.data.subarray(8, 16))).toBe('Msft    ');
    expect(ascii(std.data.subarray(16, 32))).toBe('Virtual Disk    ');

    const p0 = await c.execute({ lun: 0, cdb: cdbInquiry(255, 0), readLength: 255 });
    expect([...p0.data.subarray(4, 4 + p0.data[3]!)]).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb2]);

    const p80 = await c.execute({ lun: 0, cdb: cdbInquiry(255, 0x80), readLength: 255 });
    expect(ascii(p80.data.subarray(4, 4 + p80.data[3]!))).toBe(diskId.replace(/-/g, '').toUpperCase());
    expect(c.device(0)!.serial).toBe(diskId.replace(/-/g, '').toUpperCase());

    const p83 = await c.execute({ lun: 0, cdb: cdbInquiry(255, 0x83), readLength: 255 });
    const hex = diskId.replace(/-/g, '');
    // First designator: binary NAA, 16 bytes, NAA 6 followed by the disk id's low 124 bits.
    expect([...p83.data.subarray(4, 8)]).toEqual([0x01, 0x03, 0x00, 16]);
    expect(p83.data[8]! >> 4).toBe(6);
    expect(Buffer.from(p83.data.subarray(8, 24)).toString('hex').slice(1)).toBe(hex.slice(1).toLowerCase());
    expect(ascii(p83.data.subarray(28, 72))).toBe(`Msft    ${diskId}`);

    const b0 = await c.execute({ lun: 0, cdb: cdbInquiry(64, 0xb0), readLength: 64 });
    const v = new DataView(b0.data.buffer);
    expect(b0.data[1]).toBe(0xb0);
    expect(v.getUint32(8)).toBe((1 << 20) / 512); // maximum transfer length in blocks
    expect(v.getUint32(24)).toBe(255); // maximum UNMAP descriptors
    const b2 = await c.execute({ lun: 0, cdb: cdbInquiry(8, 0xb2), readLength: 8 });
    expect(b2.data[5]! & 0x80).toBe(0x80); // LBPU

    const bad = await c.execute({ lun: 0, cdb: cdbInquiry(255, 0x99), readLength: 255 });
    expect(bad.scsiStatus).toBe(ScsiStatus.CheckCondition);
    expect(sense(bad)).toEqual({ key: SenseKey.IllegalRequest, asc: 0x24, ascq: 0 });
  });

  it('READ CAPACITY(10) and (16) agree with the disk', async () => {
    const { c } = await setup([
      { format: 'vhdx', type: 'dynamic', sizeBytes: 32 << 20, logicalSectorSize: 4096 },
    ]);
    const cap10 = new Uint8Array(10);
    cap10[0] = ScsiOp.ReadCapacity10;
    const r10 = await c.execute({ lun: 0, cdb: cap10, readLength: 8 });
    const v10 = new DataView(r10.data.buffer);
    expect([v10.getUint32(0), v10.getUint32(4)]).toEqual([(32 << 20) / 4096 - 1, 4096]);
    const r16 = await c.execute({ lun: 0, cdb: cdbReadCapacity16(32), readLength: 32 });
    const v16 = new DataView(r16.data.buffer);
    expect(v16.getBigUint64(0)).toBe(BigInt((32 << 20) / 4096 - 1));
    expect(v16.getUint32(8)).toBe(4096);
    expect(r16.data[13]).toBe(0); // physical = logical
    expect(r16.data[14]! & 0xc0).toBe(0xc0); // LBPME, LBPRZ
  });

  it('READ/WRITE 10 and 16 move exactly the bytes the disk holds', async () => {
    const { h, c } = await setup();
    const data = pattern(64 * 512, 3);
    const w16 = await c.execute({ lun: 0, cdb: cdbWrite16(1000, 64), writeData: data });
    expect([w16.srbStatus, w16.scsiStatus, w16.status, w16.dataTransferLength]).toEqual([
      1,
      0,
      0,
      data.length,
    ]);
    expect(await h.disks[0]!.read(1000 * 512, data.length)).toEqual(Buffer.from(data));
    const r10 = await c.execute({ lun: 0, cdb: cdbRead10(1000, 64), readLength: data.length });
    expect(r10.data).toEqual(data);
    const direct = pattern(8 * 512, 4);
    await h.disks[0]!.write(512 * 77, direct);
    const r16 = await c.execute({ lun: 0, cdb: cdbRead16(77, 8), readLength: direct.length });
    expect(r16.data).toEqual(direct);
    const w10 = await c.execute({ lun: 0, cdb: cdbWrite10(5, 1), writeData: pattern(512, 9) });
    expect(w10.srbStatus).toBe(SrbStatus.Success);
    expect(await h.disks[0]!.read(5 * 512, 512)).toEqual(Buffer.from(pattern(512, 9)));
    // Through the block-device API, split across several commands (slots of 256 KiB).
    const big = pattern(3 << 20, 5);
    await c.device(0)!.write(4096, big);
    expect(same(await c.device(0)!.read(4096, big.length / 512), big)).toBe(true);
    expect(same(await h.disks[0]!.read(4096 * 512, big.length), big)).toBe(true);
  });

  it('TEST UNIT READY, SYNCHRONIZE CACHE and REPORT LUNS (two disks, VHDX and VHD)', async () => {
    const { c } = await setup([
      { format: 'vhdx', type: 'dynamic', sizeBytes: 16 << 20 },
      { format: 'vhd', type: 'dynamic', sizeBytes: 16 << 20 },
    ]);
    const tur = await c.execute({ lun: 1, cdb: new Uint8Array(6) });
    expect([tur.srbStatus, tur.scsiStatus]).toEqual([SrbStatus.Success, ScsiStatus.Good]);
    const sync = await c.execute({ lun: 1, cdb: cdbSynchronizeCache10() });
    expect(sync.srbStatus).toBe(SrbStatus.Success);
    const luns = await c.execute({ lun: 0, cdb: cdbReportLuns(64), readLength: 64 });
    expect([...luns.data]).toEqual([0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(c.devices.map((d) => d.lun)).toEqual([0, 1]);
    const short = await c.execute({ lun: 0, cdb: cdbReportLuns(8), readLength: 8 });
    expect(sense(short)?.asc).toBe(0x24);
  });

  it('MODE SENSE 6/10: the caching page with write cache enabled; unknown pages and saved values refused', async () => {
    const { c } = await setup();
    const ms6 = Uint8Array.from([ScsiOp.ModeSense6, 0, 0x08, 0, 255, 0]);
    const r6 = await c.execute({ lun: 0, cdb: ms6, readLength: 255 });
    expect(r6.data[0]).toBe(r6.data.length - 1);
    expect([r6.data[4], r6.data[5], r6.data[6]! & 0x04]).toEqual([0x08, 0x12, 0x04]);
    const ms10 = Uint8Array.from([ScsiOp.ModeSense10, 0, 0x3f, 0, 0, 0, 0, 0, 255, 0]);
    const r10 = await c.execute({ lun: 0, cdb: ms10, readLength: 255 });
    expect(new DataView(r10.data.buffer).getUint16(0)).toBe(r10.data.length - 2);
    expect([r10.data[8], r10.data[10]! & 0x04]).toEqual([0x08, 0x04]);
    const changeable = await c.execute({
      lun: 0,
      cdb: Uint8Array.from([0x1a, 0, 0x48, 0, 255, 0]),
      readLength: 255,
    });
    expect(changeable.data[6]).toBe(0);
    const saved = await c.execute({
      lun: 0,
      cdb: Uint8Array.from([0x1a, 0, 0xc8, 0, 255, 0]),
      readLength: 255,
    });
    expect(sense(saved)).toEqual({ key: SenseKey.IllegalRequest, asc: 0x39, ascq: 0 });
    const other = await c.execute({
      lun: 0,
      cdb: Uint8Array.from([0x1a, 0, 0x1c, 0, 255, 0]),
      readLength: 255,
    });
    expect(sense(other)?.asc).toBe(0x24);
  });

  it('UNMAP: discarded blocks read as zeros through SCSI and directly from the file', async () => {
    const { h, c } = await setup();
    const d = c.device(0)!;
    await d.write(2048, pattern(1 << 20, 6));
    await d.discard(2048 + 8, 16);
    const back = await d.read(2048, 32);
    expect(back.subarray(0, 8 * 512)).toEqual(pattern(1 << 20, 6).subarray(0, 8 * 512));
    expect(back.subarray(8 * 512, 24 * 512).every((b) => b === 0)).toBe(true);
    expect((await h.disks[0]!.read((2048 + 8) * 512, 16 * 512)).every((b) => b === 0)).toBe(true);
    // A descriptor past the end of the disk: LBA OUT OF RANGE, nothing discarded.
    const list = unmapParameters([{ lba: d.blocks - 1, blocks: 2 }]);
    const r = await c.execute({ lun: 0, cdb: cdbUnmap(list.length), writeData: list });
    expect(sense(r)).toEqual({ key: SenseKey.IllegalRequest, asc: 0x21, ascq: 0 });
    // A parameter list whose descriptor length overruns it.
    const bad = unmapParameters([{ lba: 0, blocks: 1 }]);
    new DataView(bad.buffer).setUint16(2, 32);
    expect(sense(await c.execute({ lun: 0, cdb: cdbUnmap(bad.length), writeData: bad }))?.asc).toBe(0x1a);
  });

  it('unknown opcodes: CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE', async () => {
    const { c } = await setup();
    for (const op of [0xc0, 0x04, 0xff]) {
      const r = await c.execute({ lun: 0, cdb: Uint8Array.from([op, 0, 0, 0, 0, 0]) });
      expect(r.scsiStatus).toBe(ScsiStatus.CheckCondition);
      expect(r.srbStatus & SrbStatus.AutosenseValid).toBe(SrbStatus.AutosenseValid);
      expect(sense(r)).toEqual({ key: SenseKey.IllegalRequest, asc: 0x20, ascq: 0 });
    }
  });

  it('out-of-range LBAs: LBA OUT OF RANGE, and the block-device API rejects with ILLEGAL_REQUEST', async () => {
    const { c } = await setup();
    const d = c.device(0)!;
    const past = await c.execute({ lun: 0, cdb: cdbRead16(d.blocks, 1), readLength: 512 });
    expect(sense(past)).toEqual({ key: SenseKey.IllegalRequest, asc: 0x21, ascq: 0 });
    const straddle = await c.execute({
      lun: 0,
      cdb: cdbWrite10(d.blocks - 1, 2),
      writeData: pattern(1024, 1),
    });
    expect(sense(straddle)?.asc).toBe(0x21);
    const huge = await c.execute({ lun: 0, cdb: cdbRead16(2 ** 60, 1), readLength: 512 });
    expect(sense(huge)?.asc).toBe(0x21);
    await expect(d.read(d.blocks - 1, 2)).rejects.toMatchObject({ code: StorageErrorCode.IllegalRequest });
    expect(await d.read(d.blocks - 1, 1)).toHaveLength(512);
  });

  it('a read-only disk answers writes with DATA PROTECT / WRITE PROTECTED', async () => {
    h = await harness([]);
    const path = `${h.dir}/ro.vhdx`;
    const { VirtualDisk } = await import('@viridian/vhd');
    await (await VirtualDisk.create(path, { format: 'vhdx', type: 'dynamic', sizeBytes: 8 << 20 })).close();
    const ro = await VirtualDisk.open(path, { readOnly: true });
    h.disks.push(ro);
    await h.controller.attach(3, ro);
    const c = await h.bind();
    await expect(c.device(3)!.write(0, pattern(512, 1))).rejects.toMatchObject({
      code: StorageErrorCode.WriteProtected,
    });
    const ms = await c.execute({ lun: 3, cdb: Uint8Array.from([0x1a, 0, 0x08, 0, 255, 0]), readLength: 255 });
    expect(ms.data[2]! & 0x80).toBe(0x80); // WP
  });

  it('a LUN with no disk: INQUIRY says "not connected", other commands INVALID_LUN', async () => {
    const { c } = await setup();
    const inq = await c.execute({ lun: 9, cdb: cdbInquiry(36), readLength: 36 });
    expect([inq.srbStatus, inq.data[0]]).toEqual([SrbStatus.Success, 0x7f]);
    const rd = await c.execute({ lun: 9, cdb: cdbRead16(0, 1), readLength: 512 });
    expect([rd.srbStatus, rd.status]).toEqual([SrbStatus.InvalidLun, NtStatus.DeviceDoesNotExist]);
    const tgt = await c.execute({ lun: 0, targetId: 1, cdb: new Uint8Array(6) });
    expect(tgt.srbStatus).toBe(SrbStatus.InvalidLun);
  });
});

/** Sends a raw EXECUTE_SRB (optionally GPA-direct) and decodes the completion. */
async function raw(
  c: StorvscController,
  packet: Uint8Array,
  ranges?: { byteOffset: number; byteCount: number; pfns: number[] }[],
) {
  const reply = ranges ? await c.channel.requestGpaDirect(ranges, packet) : await c.channel.request(packet);
  return { header: readHeader(reply)!, srb: decodeSrbCompletion(reply), reply };
}

describe('hostile packets get an error status, never a crash', () => {
  const read16 = (transfer: number, cdb = cdbRead16(0, 8)) =>
    encodeExecuteSrb(
      { lun: 0, cdb, dataIn: SrbDataDirection.Read, dataTransferLength: transfer },
      SCSI_REQUEST_SIZE_V2,
    );
  const pages = (first: number, n: number) => Array.from({ length: n }, (_, i) => first + i);

  it('bad lengths, CDB longer than 16, transfer length not matching the pages, pages outside guest memory', async () => {
    const { h, c } = await setup();
    const buf = h.allocatePages(4);
    // Shorter than a vstor header.
    expect((await raw(c, new Uint8Array(5))).header.status).toBe(NtStatus.InvalidParameter);
    // An EXECUTE_SRB whose request is shorter than the smallest vmscsi_request.
    const short = vstorPacket(VstorOperation.ExecuteSrb, 0, 16, 1);
    expect((await raw(c, short)).header.status).toBe(NtStatus.InvalidParameter);
    // cdb_length 17.
    const longCdb = read16(4096);
    longCdb[VSTOR_HEADER_SIZE + 8] = 17;
    let r = await raw(c, longCdb, [{ byteOffset: 0, byteCount: 4096, pfns: [buf] }]);
    expect([r.header.status, r.srb?.srbStatus]).toEqual([
      NtStatus.InvalidParameter,
      SrbStatus.InvalidRequest,
    ]);
    // cdb_length 0.
    const noCdb = read16(4096);
    noCdb[VSTOR_HEADER_SIZE + 8] = 0;
    expect((await raw(c, noCdb, [{ byteOffset: 0, byteCount: 4096, pfns: [buf] }])).header.status).toBe(
      NtStatus.InvalidParameter,
    );
    // Transfer length 4096, GPA-direct names 8192 bytes.
    r = await raw(c, read16(4096), [{ byteOffset: 0, byteCount: 8192, pfns: pages(buf, 2) }]);
    expect(r.header.status).toBe(NtStatus.InvalidParameter);
    // Transfer length 4096, no pages at all (in-band packet).
    expect((await raw(c, read16(4096))).header.status).toBe(NtStatus.InvalidParameter);
    // Pages outside guest memory.
    r = await raw(c, read16(4096), [{ byteOffset: 0, byteCount: 4096, pfns: [1 << 30] }]);
    expect(r.header.status).toBe(NtStatus.InvalidParameter);
    // More than the maximum transfer.
    const over = read16(2 << 20, cdbRead16(0, 4096));
    r = await raw(c, over, [{ byteOffset: 0, byteCount: 2 << 20, pfns: pages(buf, 512) }]);
    expect(r.header.status).toBe(NtStatus.InvalidParameter);
    // A READ asking for more blocks than its buffer holds.
    r = await raw(c, read16(4096, cdbRead16(0, 16)), [{ byteOffset: 0, byteCount: 4096, pfns: [buf] }]);
    expect(parseSense(r.srb!.sense)?.key).toBe(SenseKey.IllegalRequest);
    // Unknown vstor operation, and a second initialization after ready.
    expect((await raw(c, vstorPacket(99, 0, SCSI_REQUEST_SIZE_V2, 1))).header.status).toBe(
      NtStatus.InvalidDeviceState,
    );
    expect(
      (await raw(c, vstorPacket(VstorOperation.BeginInitialization, 0, SCSI_REQUEST_SIZE_V2, 1))).header
        .status,
    ).toBe(NtStatus.InvalidDeviceState);
    expect(h.controller.stats.refused).toBeGreaterThanOrEqual(9);
    // Still serving.
    await c.device(0)!.write(0, pattern(4096, 2));
    expect(await c.device(0)!.read(0, 8)).toEqual(pattern(4096, 2));
    expect(h.errors).toEqual([]);
  });

  it('packets before initialization ends are answered INVALID_DEVICE_STATE', async () => {
    h = await harness();
    // Bind with a driver that never gets past QUERY_PROTOCOL_VERSION: every version it offers is refused.
    await h.bind({ versions: [0x0101] }).catch(() => undefined);
    expect(h.controller.stats.srbs).toBe(0);
  });

  it('fuzz: random EXECUTE_SRB bodies and ranges each get one completion; the controller keeps serving', async () => {
    const fc = await import('fast-check');
    const { h, c } = await setup();
    const buf = h.allocatePages(8);
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: SCSI_REQUEST_SIZE_V2 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 8 * 4096 }),
        async (body, kind, count) => {
          const packet = vstorPacket(VstorOperation.ExecuteSrb, 0, body.length, 1);
          packet.set(body, VSTOR_HEADER_SIZE);
          const pfns = pages(kind === 3 ? 1 << 28 : buf, Math.ceil(count / 4096));
          const r = await raw(
            c,
            packet,
            kind === 0 ? undefined : [{ byteOffset: 0, byteCount: count, pfns }],
          );
          expect(r.header.operation).toBe(VstorOperation.CompleteIo);
          if (body.length < SCSI_REQUEST_SIZE_V1) expect(r.header.status).toBe(NtStatus.InvalidParameter);
        },
      ),
      { numRuns: 300 },
    );
    await c.device(0)!.write(16, pattern(8192, 8));
    expect(await c.device(0)!.read(16, 16)).toEqual(pattern(8192, 8));
    expect(h.errors).toEqual([]);
  });
});
