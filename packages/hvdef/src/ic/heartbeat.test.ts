import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { zeroView } from '../vmbus/test-util.test-fixture.js';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  HeartbeatApplicationState,
  HeartbeatMessage,
} from './heartbeat.js';

describe('heartbeat body (spec 7.2)', () => {
  it('pins the layout and states', () => {
    expect(HeartbeatMessage).toEqual({
      sequenceNumber: 0,
      applicationState: 8,
      reserved: 12,
      size: 16,
      sizeLinux: 40,
      minSize: 8,
    });
    expect(HeartbeatApplicationState).toEqual({ Unknown: 0, Healthy: 1, Critical: 2, Stopped: 3 });
  });

  it('accepts an 8-byte body (sequence only), refuses 7', () => {
    const { view } = zeroView(40);
    view.setBigUint64(0, 41n, true);
    view.setUint32(8, 1, true);
    expect(decodeHeartbeat(view, 0, 8)).toEqual({
      ok: true,
      value: { sequenceNumber: 41n, applicationState: 0 },
    });
    expect(decodeHeartbeat(view, 0, 40)).toEqual({
      ok: true,
      value: { sequenceNumber: 41n, applicationState: 1 },
    });
    expect(decodeHeartbeat(view, 0, 7).ok).toBe(false);
  });

  it('round-trips in both sizes', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(16, 40),
        (seq, state, size) => {
          const { view } = zeroView(40);
          const f = { sequenceNumber: seq, applicationState: state };
          expect(encodeHeartbeat(view, 0, f, size)).toBe(size);
          expect(decodeHeartbeat(view, 0, size)).toEqual({ ok: true, value: f });
        },
      ),
    );
  });
});
