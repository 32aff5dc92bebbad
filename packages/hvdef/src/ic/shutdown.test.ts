import { describe, expect, it } from 'vitest';
import { VmbusDecodeErrorCode } from '../vmbus/errors.js';
import { toHex, zeroView } from '../vmbus/test-util.test-fixture.js';
import {
  decodeShutdown,
  encodeShutdown,
  SHTDN_REASON_FLAG_PLANNED,
  SHUTDOWN_DISPLAY_MESSAGE_SIZE,
  ShutdownFlags,
  ShutdownMessage,
} from './shutdown.js';

describe('shutdown body (spec 7.3)', () => {
  it('pins the layout and flags', () => {
    expect(ShutdownMessage).toEqual({
      reasonCode: 0,
      timeoutSeconds: 4,
      flags: 8,
      displayMessage: 12,
      size: 2060,
    });
    expect(ShutdownFlags).toEqual({ Force: 1, Restart: 2, Hibernate: 4 });
    expect(SHTDN_REASON_FLAG_PLANNED).toBe(0x80000000);
    expect(SHUTDOWN_DISPLAY_MESSAGE_SIZE).toBe(2048);
  });

  it("encodes openvmm's request and round-trips", () => {
    const { bytes, view } = zeroView(2060);
    const msg = new Uint8Array(2048);
    msg.set([0x68, 0x69]);
    const f = {
      reasonCode: SHTDN_REASON_FLAG_PLANNED,
      timeoutSeconds: 30,
      flags: ShutdownFlags.Force | ShutdownFlags.Restart,
      displayMessage: msg,
    };
    expect(encodeShutdown(view, 0, f)).toBe(2060);
    expect(toHex(bytes.subarray(0, 14))).toBe('00 00 00 80 1e 00 00 00 03 00 00 00 68 69');
    expect(decodeShutdown(view, 0, 2060)).toEqual({ ok: true, value: f });
  });

  it('refuses a body shorter than 2060 bytes (as Linux does)', () => {
    const { view } = zeroView(2060);
    const r = decodeShutdown(view, 0, 2059);
    expect(!r.ok && r.error.code).toBe(VmbusDecodeErrorCode.Truncated);
  });
});
