import { describe, expect, it } from 'vitest';
import { VmbusDecodeErrorCode } from '../vmbus/errors.js';
import { toHex, zeroView } from '../vmbus/test-util.test-fixture.js';
import {
  decodeFcopyHeader,
  decodeFcopyStart,
  decodeFcopyWrite,
  encodeFcopyStart,
  encodeFcopyWrite,
  FCOPY_DATA_FRAGMENT,
  FCOPY_MAX_PATH,
  FcopyCopyFlags,
  FcopyHeader,
  FcopyOperation,
  FcopyStartMessage,
  FcopyWriteMessage,
} from './fcopy.js';

describe('file copy bodies (spec 7.7)', () => {
  it('pins operations, flags and layouts', () => {
    expect(FcopyOperation).toEqual({ StartFileCopy: 0, WriteToFile: 1, CompleteFcopy: 2, CancelFcopy: 3 });
    expect(FcopyCopyFlags).toEqual({ OverWrite: 1, CreatePath: 2 });
    expect(FCOPY_MAX_PATH).toBe(260);
    expect(FCOPY_DATA_FRAGMENT).toBe(6144);
    expect(FcopyHeader).toEqual({ operation: 0, serviceId0: 4, serviceId1: 20, size: 36 });
    expect(FcopyStartMessage).toEqual({
      fileName: 36,
      pathName: 556,
      copyFlags: 1076,
      fileSize: 1080,
      size: 1088,
    });
    expect(FcopyWriteMessage).toEqual({ pad: 36, offset: 40, dataSize: 48, data: 52, size: 6196 });
  });

  it('round-trips START_FILE_COPY', () => {
    const { bytes, view } = zeroView(FcopyStartMessage.size);
    const f = {
      fileName: 'a.txt',
      pathName: '/tmp',
      copyFlags: FcopyCopyFlags.OverWrite | FcopyCopyFlags.CreatePath,
      fileSize: 12345n,
    };
    expect(encodeFcopyStart(view, 0, f)).toBe(1088);
    expect(toHex(bytes.subarray(36, 42))).toBe('61 00 2e 00 74 00');
    expect(decodeFcopyHeader(view, 0, 1088)).toEqual({
      ok: true,
      value: {
        operation: 0,
        serviceId0: '00000000-0000-0000-0000-000000000000',
        serviceId1: '00000000-0000-0000-0000-000000000000',
      },
    });
    expect(decodeFcopyStart(view, 0, 1088)).toEqual({ ok: true, value: f });
    expect(() => encodeFcopyStart(view, 0, { ...f, fileName: 'x'.repeat(260) })).toThrow(RangeError);
  });

  it('round-trips WRITE_TO_FILE and bounds its size', () => {
    const { view } = zeroView(FcopyWriteMessage.size);
    const f = { offset: 4096n, data: new Uint8Array([1, 2, 3]) };
    expect(encodeFcopyWrite(view, 0, f)).toBe(6196);
    expect(view.getUint32(0, true)).toBe(FcopyOperation.WriteToFile);
    expect(decodeFcopyWrite(view, 0, 6196)).toEqual({ ok: true, value: f });
    expect(decodeFcopyWrite(view, 0, 55)).toEqual({ ok: true, value: f });
    const t = decodeFcopyWrite(view, 0, 54);
    expect(!t.ok && t.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    view.setUint32(48, 6145, true);
    const big = decodeFcopyWrite(view, 0, 6196);
    expect(!big.ok && big.error.field).toBe('dataSize');
    expect(() => encodeFcopyWrite(view, 0, { offset: 0n, data: new Uint8Array(6145) })).toThrow(RangeError);
  });
});
