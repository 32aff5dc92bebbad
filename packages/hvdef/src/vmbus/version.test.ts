import { describe, expect, it } from 'vitest';
import {
  formatVmbusVersion,
  isKnownVmbusVersion,
  VMBUS_VERSIONS_NEWEST_FIRST,
  VmbusFeatureFlags,
  VmbusVersion,
  VmbusVersionFeature,
  vmbusVersion,
  vmbusVersionMajor,
  vmbusVersionMinor,
} from './version.js';

describe('VMBus versions (spec 3.2)', () => {
  it('pins every version value', () => {
    expect(VmbusVersion).toEqual({
      Ws2008: 0x0000000d,
      Win7: 0x00010001,
      Win8: 0x00020004,
      Win8_1: 0x00030000,
      Win10: 0x00040000,
      Win10V4_1: 0x00040001,
      Win10V5: 0x00050000,
      Win10V5_1: 0x00050001,
      Win10V5_2: 0x00050002,
      Win10V5_3: 0x00050003,
      Win10V6_0: 0x00060000,
    });
  });

  it('builds and splits (major << 16) | minor', () => {
    expect(vmbusVersion(0, 13)).toBe(VmbusVersion.Ws2008);
    expect(vmbusVersion(5, 3)).toBe(VmbusVersion.Win10V5_3);
    expect(vmbusVersion(0xffff, 0xffff)).toBe(0xffffffff);
    expect(vmbusVersionMajor(0x00050003)).toBe(5);
    expect(vmbusVersionMinor(0x00050003)).toBe(3);
    expect(formatVmbusVersion(VmbusVersion.Win8)).toBe('2.4');
  });

  it('lists the 11 versions newest first and knows exactly those', () => {
    expect(VMBUS_VERSIONS_NEWEST_FIRST.map(formatVmbusVersion)).toEqual([
      '6.0',
      '5.3',
      '5.2',
      '5.1',
      '5.0',
      '4.1',
      '4.0',
      '3.0',
      '2.4',
      '1.1',
      '0.13',
    ]);
    expect(isKnownVmbusVersion(0x00050003)).toBe(true);
    expect(isKnownVmbusVersion(0x00050004)).toBe(false);
    expect(isKnownVmbusVersion(0)).toBe(false);
  });

  it('pins which version adds what', () => {
    expect(VmbusVersionFeature).toEqual({
      OfferConnectionId: 0x00010001,
      UnloadResponse: 0x00010001,
      PerChannelInterrupts: 0x00020004,
      OpenTargetVp: 0x00020004,
      SubChannels: 0x00020004,
      TargetVcpu: 0x00030000,
      ReservedChannels: 0x00040000,
      TlConnect: 0x00040000,
      ModifyChannel: 0x00040001,
      MessageConnectionId: 0x00050000,
      TlConnectSiloId: 0x00050002,
      ModifyChannelResponse: 0x00050003,
      FeatureFlags: 0x00060000,
    });
  });

  it('pins the 6.0 feature flags', () => {
    expect(VmbusFeatureFlags).toEqual({
      GuestSpecifiedSignalParameters: 0x1,
      ChannelInterruptRedirection: 0x2,
      ModifyConnection: 0x4,
      ClientId: 0x8,
      ConfidentialChannels: 0x10,
      PauseResume: 0x20,
      ServerSpecifiedMonitorPages: 0x40,
    });
  });
});
