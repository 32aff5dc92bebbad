import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatGuid } from './guid.js';
import {
  decodeHvsockUserDefined,
  encodeHvsockUserDefined,
  HVSOCK_OFFER_FLAGS,
  HVSOCK_VSOCK_TEMPLATE_SUFFIX,
  HvsockParametersVersion,
  HvsockUserDefined,
  hvsockPortFromServiceId,
  hvsockServiceIdForPort,
  IC_OFFER_FLAGS,
  VMBUS_USER_DEFINED_SIZE,
  VmbusOfferFlags,
  VmbusPipeMode,
} from './offer.js';
import { hex, toHex, zeroView } from './test-util.test-fixture.js';

describe('offer details', () => {
  it('pins offer flags and pipe modes', () => {
    expect(VmbusOfferFlags).toEqual({
      EnumerateDeviceInterface: 0x1,
      ConfidentialRingBuffer: 0x2,
      ConfidentialExternalMemory: 0x4,
      RequirePinnedExternalMemory: 0x8,
      NamedPipeMode: 0x10,
      LoopbackOffer: 0x100,
      ParentOffer: 0x200,
      RequestMonitoredNotification: 0x400,
      TlnpiProvider: 0x2000,
    });
    expect(IC_OFFER_FLAGS).toBe(0x11);
    expect(HVSOCK_OFFER_FLAGS).toBe(0x2011);
    expect(VmbusPipeMode).toEqual({ Byte: 0, Message: 4 });
    expect(VMBUS_USER_DEFINED_SIZE).toBe(120);
    expect(HvsockUserDefined).toEqual({
      pipeType: 0,
      isForGuestAccept: 4,
      isForGuestContainer: 5,
      version: 6,
      siloId: 10,
      size: 28,
    });
    expect(HvsockParametersVersion).toEqual({ PreRs5: 0, Rs5: 1 });
  });

  it('encodes hv_sock parameters with the unaligned version and silo id', () => {
    const { bytes, view } = zeroView(VMBUS_USER_DEFINED_SIZE);
    const f = {
      pipeType: VmbusPipeMode.Byte,
      isForGuestAccept: true,
      isForGuestContainer: false,
      version: HvsockParametersVersion.Rs5,
      siloId: '57164f39-9115-4e78-ab55-382f3bd5422d',
    };
    expect(encodeHvsockUserDefined(view, 0, f)).toBe(28);
    expect(toHex(bytes.subarray(0, 28))).toBe(
      toHex(hex('00 00 00 00 01 00 01 00 00 00 39 4f 16 57 15 91 78 4e ab 55 38 2f 3b d5 42 2d 00 00')),
    );
    expect(decodeHvsockUserDefined(view, 0, 120)).toEqual({ ok: true, value: f });
    expect(decodeHvsockUserDefined(view, 0, 27).ok).toBe(false);
  });

  it('maps AF_VSOCK ports to service ids and back', () => {
    expect(HVSOCK_VSOCK_TEMPLATE_SUFFIX).toBe('-facb-11e6-bd58-64006a7986d3');
    expect(hvsockServiceIdForPort(0x2b)).toBe('0000002b-facb-11e6-bd58-64006a7986d3');
    expect(hvsockPortFromServiceId('0000002B-FACB-11E6-BD58-64006A7986D3')).toBe(0x2b);
    expect(hvsockPortFromServiceId('57164f39-9115-4e78-ab55-382f3bd5422d')).toBeUndefined();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (port) => {
        expect(hvsockPortFromServiceId(hvsockServiceIdForPort(port))).toBe(port);
      }),
    );
    expect(formatGuid(new Uint8Array(16))).toBe('00000000-0000-0000-0000-000000000000');
  });
});
