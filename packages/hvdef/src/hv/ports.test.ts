import { describe, expect, it } from 'vitest';
import { HvFieldRangeError } from './errors.js';
import {
  decodePortInfo,
  encodePortInfo,
  HV_MONITOR_SLOTS_PER_GROUP,
  HV_MONITOR_TRIGGER_GROUPS,
  HV_PORT_MESSAGE_BUFFER_COUNT,
  HvConnectionInfoLayout,
  HvDoorbellFlags,
  HvMonitorPageLayout,
  HvMonitorTriggerState,
  type HvPortInfo,
  HvPortInfoLayout,
  HvPortProperty,
  HvPortType,
  isValidConnectionId,
  isValidPortId,
  monitorArmedOffset,
  monitorLatencyOffset,
  monitorParameterOffset,
  monitorPendingOffset,
} from './ports.js';

describe('ports and connections (spec 5.5)', () => {
  it('pins port types, properties and ID validity', () => {
    expect({ ...HvPortType }).toEqual({ Message: 1, Event: 2, Monitor: 3, Doorbell: 4 });
    expect({ ...HvPortProperty }).toEqual({ PostCount: 0, PreferredTargetVp: 1 });
    expect(HV_PORT_MESSAGE_BUFFER_COUNT).toBe(16);
    expect(isValidPortId(0)).toBe(true);
    expect(isValidPortId(0x00ffffff)).toBe(true);
    expect(isValidPortId(0x01000000)).toBe(false);
    expect(isValidPortId(0xffffffff)).toBe(false);
    expect(isValidPortId(-1)).toBe(false);
    expect(isValidConnectionId(0x00800000)).toBe(true);
    expect(isValidConnectionId(0x80000001)).toBe(false);
  });

  it('pins HV_PORT_INFO and HV_CONNECTION_INFO', () => {
    expect(HvPortInfoLayout).toEqual({
      portType: 0,
      reserved: 4,
      targetSint: 8,
      targetVp: 12,
      baseFlagNumber: 16,
      flagCount: 18,
      monitorAddress: 8,
      size: 24,
    });
    expect(HvConnectionInfoLayout).toEqual({
      portType: 0,
      reserved: 4,
      monitorAddress: 8,
      doorbellGpa: 8,
      doorbellTriggerValue: 16,
      doorbellFlags: 24,
      size: 32,
    });
    expect({ ...HvDoorbellFlags }).toEqual({
      TriggerSizeAny: 0,
      TriggerSizeByte: 1,
      TriggerSizeWord: 2,
      TriggerSizeDword: 3,
      TriggerSizeQword: 4,
      TriggerAnyValue: 0x80000000,
    });
  });

  it('round-trips every port type and clears unused bytes', () => {
    const view = new DataView(new SharedArrayBuffer(64));
    const cases: HvPortInfo[] = [
      { portType: HvPortType.Message, targetSint: 2, targetVp: 0xffffffff },
      { portType: HvPortType.Event, targetSint: 2, targetVp: 1, baseFlagNumber: 2040, flagCount: 8 },
      { portType: HvPortType.Monitor, monitorAddress: 0x1234_5000n },
      { portType: HvPortType.Doorbell, targetSint: 5, targetVp: 3 },
    ];
    for (const info of cases) {
      new Uint8Array(view.buffer).fill(0xff);
      encodePortInfo(view, 8, info);
      expect(decodePortInfo(view, 8)).toEqual({ info, reservedBitsSet: false });
      expect(new Uint8Array(view.buffer, 0, 8).every((b) => b === 0xff)).toBe(true);
      expect(new Uint8Array(view.buffer, 32, 32).every((b) => b === 0xff)).toBe(true);
    }
    const bytes = new Uint8Array(view.buffer, 8, 24);
    encodePortInfo(view, 8, cases[1]!);
    expect([...bytes]).toEqual([
      2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0xf8, 0x07, 8, 0, 0, 0, 0, 0,
    ]);
  });

  it('reports RsvdZ bytes and unknown port types without trusting them', () => {
    const view = new DataView(new SharedArrayBuffer(24));
    encodePortInfo(view, 0, { portType: HvPortType.Message, targetSint: 1, targetVp: 0 });
    view.setUint8(20, 1);
    expect(decodePortInfo(view, 0).reservedBitsSet).toBe(true);
    encodePortInfo(view, 0, {
      portType: HvPortType.Event,
      targetSint: 1,
      targetVp: 0,
      baseFlagNumber: 0,
      flagCount: 1,
    });
    view.setUint8(4, 1);
    expect(decodePortInfo(view, 0).reservedBitsSet).toBe(true);
    view.setUint32(0, 99, true);
    view.setUint32(4, 0, true);
    expect(decodePortInfo(view, 0)).toEqual({ info: { portType: 99 }, reservedBitsSet: false });
    expect(() => decodePortInfo(view, 1)).toThrow(RangeError);
    expect(() =>
      encodePortInfo(view, 0, {
        portType: HvPortType.Event,
        targetSint: 1,
        targetVp: 0,
        baseFlagNumber: 0x10000,
        flagCount: 1,
      }),
    ).toThrow(HvFieldRangeError);
  });

  it('pins the monitor page layout', () => {
    expect(HvMonitorPageLayout).toMatchObject({
      triggerState: 0,
      triggerGroups: 8,
      latency: 576,
      parameters: 1088,
      size: 4096,
    });
    expect({ ...HvMonitorTriggerState }).toEqual({ GroupEnableMask: 0xf, MonitorDisabled: 0x10 });
    expect(HV_MONITOR_TRIGGER_GROUPS * HV_MONITOR_SLOTS_PER_GROUP).toBe(128);
    expect(monitorPendingOffset(0)).toBe(8);
    expect(monitorArmedOffset(0)).toBe(12);
    expect(monitorPendingOffset(3)).toBe(32);
    expect(monitorArmedOffset(3)).toBe(36);
    expect(monitorLatencyOffset(0, 0)).toBe(576);
    expect(monitorLatencyOffset(3, 31)).toBe(576 + 127 * 2);
    expect(monitorParameterOffset(0, 1)).toBe(1096);
    expect(monitorParameterOffset(3, 31)).toBe(1088 + 127 * 8);
    expect(monitorParameterOffset(3, 31) + 8).toBeLessThanOrEqual(4096);
    expect(() => monitorPendingOffset(4)).toThrow(RangeError);
    expect(() => monitorParameterOffset(0, 32)).toThrow(RangeError);
  });
});
