import { describe, expect, it } from 'vitest';
import {
  isValidMonitorId,
  VMBUS_MESSAGE_SINT,
  VMBUS_MONITOR_COUNT,
  VMBUS_MONITOR_GROUPS,
  VMBUS_MONITOR_ID_NONE,
  VMBUS_MONITORS_PER_GROUP,
  VMBUS_POST_MESSAGE_MAX_BACKOFF_MS,
  VMBUS_POST_MESSAGE_RETRIES,
  VMBUS_REDIRECT_SINT,
  VMBUS_REDIRECT_VTL,
  VMBUS_SYNIC_MESSAGE_TYPE,
  VmbusConnectionId,
  VmbusInterruptPage,
  VmbusMonitorPage,
  VmbusMonitorParameter,
  VmbusMonitorTriggerGroup,
  VmbusPortId,
  vmbusChannelConnectionId,
  vmbusMonitorLatencyOffset,
  vmbusMonitorParameterOffset,
  vmbusMonitorPendingBit,
} from './transport.js';

describe('transport constants (spec 5)', () => {
  it('pins connection ids, ports, SINT and message type', () => {
    expect(VmbusConnectionId).toEqual({
      Message: 1,
      Event: 2,
      Monitor: 3,
      MessageV5: 4,
      MessageRedirect: 0x800074,
    });
    expect(VmbusPortId).toEqual({ Message: 1, Event: 2, Monitor: 3 });
    expect(VMBUS_MESSAGE_SINT).toBe(2);
    expect(VMBUS_SYNIC_MESSAGE_TYPE).toBe(1);
    expect(VMBUS_REDIRECT_SINT).toBe(7);
    expect(VMBUS_REDIRECT_VTL).toBe(2);
    expect(VMBUS_POST_MESSAGE_RETRIES).toBe(100);
    expect(VMBUS_POST_MESSAGE_MAX_BACKOFF_MS).toBe(256);
  });

  it("computes openvmm's channel connection id", () => {
    expect(vmbusChannelConnectionId(1)).toBe(0x2001);
    expect(vmbusChannelConnectionId(0x7f, 2, 0)).toBe(0x207f);
    expect(vmbusChannelConnectionId(5, 7, 2)).toBe(0x27005);
  });

  it('pins the interrupt page halves', () => {
    expect(VmbusInterruptPage).toEqual({ hostToGuest: 0, guestToHost: 2048, halfSize: 2048, size: 4096 });
  });

  it('pins the monitor page layout', () => {
    expect(VmbusMonitorPage).toEqual({
      triggerState: 0,
      triggerGroups: 8,
      nextCheckTime: 64,
      latency: 576,
      parameters: 1088,
      size: 4096,
    });
    expect(VmbusMonitorTriggerGroup).toEqual({ pending: 0, armed: 4, size: 8 });
    expect(VmbusMonitorParameter).toEqual({ connectionId: 0, flagNumber: 4, size: 8 });
    expect(VMBUS_MONITOR_GROUPS).toBe(4);
    expect(VMBUS_MONITORS_PER_GROUP).toBe(32);
    expect(VMBUS_MONITOR_COUNT).toBe(128);
    expect(VMBUS_MONITOR_ID_NONE).toBe(0xff);
    // The parameter table ends where the trailing reserved area starts.
    expect(VmbusMonitorPage.parameters + 128 * 8).toBe(2112);
    expect(VmbusMonitorPage.latency + 128 * 2).toBe(832);
  });

  it('locates a monitor id in the page', () => {
    expect(vmbusMonitorPendingBit(0)).toEqual({ offset: 8, bit: 0 });
    expect(vmbusMonitorPendingBit(33)).toEqual({ offset: 16, bit: 1 });
    expect(vmbusMonitorPendingBit(127)).toEqual({ offset: 32, bit: 31 });
    expect(vmbusMonitorLatencyOffset(1)).toBe(578);
    expect(vmbusMonitorParameterOffset(127)).toBe(1088 + 127 * 8);
    expect(isValidMonitorId(127)).toBe(true);
    expect(isValidMonitorId(128)).toBe(false);
    expect(isValidMonitorId(VMBUS_MONITOR_ID_NONE)).toBe(false);
    expect(isValidMonitorId(-1)).toBe(false);
  });
});

describe('agreement with the hypervisor area', () => {
  it("VMBus's monitor page view matches the hypervisor's monitor page layout", async () => {
    const hv = await import('../hv/index.js');
    const layout = (hv as Record<string, unknown>)['HvMonitorPageLayout'] as
      | Record<string, number>
      | undefined;
    expect(layout).toBeDefined();
    expect(layout).toMatchObject({
      triggerState: VmbusMonitorPage.triggerState,
      triggerGroups: VmbusMonitorPage.triggerGroups,
      triggerGroupSize: VmbusMonitorTriggerGroup.size,
      triggerGroupPending: VmbusMonitorTriggerGroup.pending,
      triggerGroupArmed: VmbusMonitorTriggerGroup.armed,
      nextCheckTime: VmbusMonitorPage.nextCheckTime,
      latency: VmbusMonitorPage.latency,
      parameters: VmbusMonitorPage.parameters,
      parameterSize: VmbusMonitorParameter.size,
      parameterConnectionId: VmbusMonitorParameter.connectionId,
      parameterFlagNumber: VmbusMonitorParameter.flagNumber,
      size: VmbusMonitorPage.size,
    });
  });
});
