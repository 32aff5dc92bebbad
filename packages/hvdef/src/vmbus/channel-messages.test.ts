import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChannelMessageHeader,
  CloseChannel,
  CloseReservedChannel,
  CloseReservedResponse,
  decodeChannelMessage,
  decodeGpadlBody,
  decodeGpadlHeader,
  decodeInitiateContact,
  decodeOfferChannel,
  decodeOpenChannel,
  decodeVersionResponse,
  encodeChannelMessage,
  encodeGpadlHeader,
  encodeInitiateContact,
  encodeOfferChannel,
  encodeVersionResponse,
  GpadlBody,
  GpadlCreated,
  GpadlHeader,
  GpadlTeardown,
  GpadlTorndown,
  HEADER_ONLY_MESSAGE_SIZE,
  InitiateContact,
  ModifyChannel,
  ModifyChannelResponse,
  ModifyConnection,
  ModifyConnectionResponse,
  OfferChannel,
  OpenChannel,
  OpenChannelResult,
  OpenReservedChannel,
  RelidReleased,
  RescindChannelOffer,
  TlConnectRequest,
  TlConnectResult,
  VersionResponse,
  VMBUS_CHANNEL_MESSAGES,
  VMBUS_INVALID_RELID,
  VMBUS_MESSAGE_MAX_SIZE,
  VMBUS_RELID_RESERVED,
  VMBUS_VP_INDEX_DISABLE_INTERRUPT,
  type VmbusChannelMessage,
  VmbusChannelMessageType,
  VmbusConnectionState,
  VmbusMessageStatus,
  VmbusOpenChannelFlags,
  vmbusChannelMessageName,
} from './channel-messages.js';
import { VmbusDecodeErrorCode } from './errors.js';
import { hex, toHex, viewOf, zeroView } from './test-util.test-fixture.js';
import { VmbusVersion } from './version.js';

describe('channel message constants (spec 3.1)', () => {
  it('pins every message type', () => {
    expect(VmbusChannelMessageType).toEqual({
      Invalid: 0,
      OfferChannel: 1,
      RescindChannelOffer: 2,
      RequestOffers: 3,
      AllOffersDelivered: 4,
      OpenChannel: 5,
      OpenChannelResult: 6,
      CloseChannel: 7,
      GpadlHeader: 8,
      GpadlBody: 9,
      GpadlCreated: 10,
      GpadlTeardown: 11,
      GpadlTorndown: 12,
      RelidReleased: 13,
      InitiateContact: 14,
      VersionResponse: 15,
      Unload: 16,
      UnloadResponse: 17,
      OpenReservedChannel: 18,
      CloseReservedChannel: 19,
      CloseReservedResponse: 20,
      TlConnectRequest: 21,
      ModifyChannel: 22,
      TlConnectResult: 23,
      ModifyChannelResponse: 24,
      ModifyConnection: 25,
      ModifyConnectionResponse: 26,
      Pause: 27,
      PauseResponse: 28,
      Resume: 29,
    });
  });

  it('pins direction and minimum version of every message', () => {
    const g = 'guestToHost';
    const h = 'hostToGuest';
    const table: [number, string, number, number?][] = [
      [1, h, 0x0d],
      [2, h, 0x0d],
      [3, g, 0x0d],
      [4, h, 0x0d],
      [5, g, 0x0d],
      [6, h, 0x0d],
      [7, g, 0x0d],
      [8, g, 0x0d],
      [9, g, 0x0d],
      [10, h, 0x0d],
      [11, g, 0x0d],
      [12, h, 0x0d],
      [13, g, 0x0d],
      [14, g, 0],
      [15, h, 0],
      [16, g, 0x0d],
      [17, h, 0x00010001],
      [18, g, 0x00040000],
      [19, g, 0x00040000],
      [20, h, 0x00040000],
      [21, g, 0x00040000],
      [22, g, 0x00040001],
      [23, h, 0x00040001],
      [24, h, 0x00050003],
      [25, g, 0x00060000, 0x4],
      [26, h, 0x00060000, 0x4],
      [27, g, 0x00060000, 0x20],
      [28, h, 0x00060000, 0x20],
      [29, g, 0x00060000, 0x20],
    ];
    expect(VMBUS_CHANNEL_MESSAGES.size).toBe(29);
    for (const [type, direction, minVersion, feature] of table) {
      const info = VMBUS_CHANNEL_MESSAGES.get(type);
      expect(info, `type ${type}`).toMatchObject({ direction, minVersion });
      expect(info?.feature).toBe(feature);
      expect(VmbusChannelMessageType[info!.name]).toBe(type);
    }
    expect(vmbusChannelMessageName(0)).toBeUndefined();
    expect(vmbusChannelMessageName(30)).toBeUndefined();
    expect(vmbusChannelMessageName(14)).toBe('InitiateContact');
  });

  it('pins the small constants', () => {
    expect(VMBUS_MESSAGE_MAX_SIZE).toBe(240);
    expect(ChannelMessageHeader).toEqual({ messageType: 0, padding: 4, size: 8 });
    expect(HEADER_ONLY_MESSAGE_SIZE).toBe(8);
    expect(VMBUS_RELID_RESERVED).toBe(0);
    expect(VMBUS_INVALID_RELID).toBe(0xffffffff);
    expect(VMBUS_VP_INDEX_DISABLE_INTERRUPT).toBe(0xffffffff);
    expect(VmbusConnectionState).toEqual({ Successful: 0, FailedLowResources: 1, FailedUnknownFailure: 2 });
    expect(VmbusMessageStatus).toEqual({
      Success: 0,
      Unsuccessful: 0x8000ffff,
      ConnectionRefused: 0xc0000236,
    });
    expect(VmbusOpenChannelFlags).toEqual({ RedirectInterrupt: 1 });
  });
});

describe('channel message layouts (spec 3.3)', () => {
  it('pins every offset and size', () => {
    expect(OfferChannel).toEqual({
      interfaceType: 8,
      interfaceInstance: 24,
      reserved: 40,
      flags: 56,
      mmioMegabytes: 58,
      userDefined: 60,
      subChannelIndex: 180,
      mmioMegabytesOptional: 182,
      childRelid: 184,
      monitorId: 188,
      monitorAllocated: 189,
      isDedicatedInterrupt: 190,
      connectionId: 192,
      size: 196,
      sizeWs2008: 190,
    });
    expect(RescindChannelOffer).toEqual({ childRelid: 8, size: 12 });
    expect(RelidReleased).toEqual({ childRelid: 8, size: 12 });
    expect(OpenChannel).toEqual({
      childRelid: 8,
      openId: 12,
      ringBufferGpadl: 16,
      targetVp: 20,
      downstreamRingBufferPageOffset: 24,
      userData: 28,
      connectionId: 148,
      eventFlag: 152,
      flags: 154,
      size: 148,
      size2: 156,
    });
    expect(OpenChannelResult).toEqual({ childRelid: 8, openId: 12, status: 16, size: 20 });
    expect(CloseChannel).toEqual({ childRelid: 8, size: 12 });
    expect(GpadlHeader).toEqual({
      childRelid: 8,
      gpadl: 12,
      rangeBufferLength: 16,
      rangeCount: 18,
      ranges: 20,
      size: 20,
    });
    expect(GpadlBody).toEqual({ messageNumber: 8, gpadl: 12, pfns: 16, size: 16 });
    expect(GpadlCreated).toEqual({ childRelid: 8, gpadl: 12, creationStatus: 16, size: 20 });
    expect(GpadlTeardown).toEqual({ childRelid: 8, gpadl: 12, size: 16 });
    expect(GpadlTorndown).toEqual({ gpadl: 8, size: 12 });
    expect(InitiateContact).toEqual({
      versionRequested: 8,
      targetVcpu: 12,
      interruptPage: 16,
      messageSint: 16,
      messageVtl: 17,
      featureFlags: 20,
      parentToChildMonitorPage: 24,
      childToParentMonitorPage: 32,
      clientId: 40,
      size: 40,
      size2: 56,
    });
    expect(VersionResponse).toEqual({
      versionSupported: 8,
      connectionState: 9,
      padding: 10,
      selectedVersionOrConnectionId: 12,
      supportedFeatures: 16,
      parentToChildMonitorPage: 24,
      childToParentMonitorPage: 32,
      size: 16,
      size2: 20,
      size3: 40,
    });
    expect(TlConnectRequest).toEqual({ endpointId: 8, serviceId: 24, siloId: 40, size: 40, size2: 56 });
    expect(TlConnectResult).toEqual({ endpointId: 8, serviceId: 24, status: 40, size: 44 });
    expect(ModifyChannel).toEqual({ childRelid: 8, targetVp: 12, size: 16 });
    expect(ModifyChannelResponse).toEqual({ childRelid: 8, status: 12, size: 16 });
    expect(OpenReservedChannel).toEqual({
      childRelid: 8,
      targetVp: 12,
      targetSint: 16,
      ringBufferGpadl: 20,
      downstreamPageOffset: 24,
      size: 28,
    });
    expect(CloseReservedChannel).toEqual({ childRelid: 8, targetVp: 12, targetSint: 16, size: 20 });
    expect(CloseReservedResponse).toEqual({ childRelid: 8, size: 12 });
    expect(ModifyConnection).toEqual({ parentToChildMonitorPage: 8, childToParentMonitorPage: 16, size: 24 });
    expect(ModifyConnectionResponse).toEqual({ connectionState: 8, size: 9 });
  });

  it('encodes every message at its spec size, header first', () => {
    const g = (n: number) => `${n.toString(16).padStart(8, '0')}-0000-0000-0000-000000000000`;
    const messages: [VmbusChannelMessage, number][] = [
      [{ kind: 'RescindChannelOffer', fields: { childRelid: 5 } }, 12],
      [{ kind: 'RequestOffers', fields: {} }, 8],
      [{ kind: 'AllOffersDelivered', fields: {} }, 8],
      [{ kind: 'OpenChannelResult', fields: { childRelid: 1, openId: 2, status: 0 } }, 20],
      [{ kind: 'CloseChannel', fields: { childRelid: 1 } }, 12],
      [{ kind: 'GpadlCreated', fields: { childRelid: 1, gpadl: 2, creationStatus: 0x8000ffff } }, 20],
      [{ kind: 'GpadlTeardown', fields: { childRelid: 1, gpadl: 2 } }, 16],
      [{ kind: 'GpadlTorndown', fields: { gpadl: 2 } }, 12],
      [{ kind: 'RelidReleased', fields: { childRelid: 1 } }, 12],
      [{ kind: 'Unload', fields: {} }, 8],
      [{ kind: 'UnloadResponse', fields: {} }, 8],
      [
        {
          kind: 'OpenReservedChannel',
          fields: { childRelid: 1, targetVp: 2, targetSint: 3, ringBufferGpadl: 4, downstreamPageOffset: 5 },
        },
        28,
      ],
      [{ kind: 'CloseReservedChannel', fields: { childRelid: 1, targetVp: 2, targetSint: 3 } }, 20],
      [{ kind: 'CloseReservedResponse', fields: { childRelid: 1 } }, 12],
      [{ kind: 'TlConnectRequest', fields: { endpointId: g(1), serviceId: g(2), siloId: g(0) } }, 40],
      [{ kind: 'ModifyChannel', fields: { childRelid: 1, targetVp: 2 } }, 16],
      [{ kind: 'TlConnectResult', fields: { endpointId: g(1), serviceId: g(2), status: 0xc0000236 } }, 44],
      [{ kind: 'ModifyChannelResponse', fields: { childRelid: 1, status: 0 } }, 16],
      [
        { kind: 'ModifyConnection', fields: { parentToChildMonitorPage: 1n, childToParentMonitorPage: 2n } },
        24,
      ],
      [{ kind: 'ModifyConnectionResponse', fields: { connectionState: 1 } }, 9],
      [{ kind: 'Pause', fields: {} }, 8],
      [{ kind: 'PauseResponse', fields: {} }, 8],
      [{ kind: 'Resume', fields: {} }, 8],
    ];
    for (const [m, size] of messages) {
      const bytes = encodeChannelMessage(m);
      expect(bytes.length, m.kind).toBe(size);
      const v = viewOf(bytes);
      expect(v.getUint32(0, true)).toBe(
        VmbusChannelMessageType[m.kind as keyof typeof VmbusChannelMessageType],
      );
      expect(v.getUint32(4, true)).toBe(0);
      expect(decodeChannelMessage(bytes)).toEqual({ ok: true, value: m });
    }
  });

  it('TV7: INITIATE_CONTACT for 5.3 and the VERSION_RESPONSE naming connection id 1', () => {
    const { bytes, view } = zeroView(40);
    const fields = {
      versionRequested: VmbusVersion.Win10V5_3,
      targetVcpu: 0,
      interruptPage: 0n,
      messageSint: 2,
      messageVtl: 0,
      featureFlags: 0,
      parentToChildMonitorPage: 0x12345000n,
      childToParentMonitorPage: 0x12346000n,
      clientId: '00000000-0000-0000-0000-000000000000',
    };
    expect(encodeInitiateContact(view, 0, fields)).toBe(40);
    expect(toHex(bytes)).toBe(
      toHex(
        hex(`0e 00 00 00 00 00 00 00 03 00 05 00 00 00 00 00 02 00 00 00 00 00 00 00
             00 50 34 12 00 00 00 00 00 60 34 12 00 00 00 00`),
      ),
    );
    expect(decodeInitiateContact(view, 0, 40)).toEqual({ ok: true, value: fields });

    const resp = zeroView(16);
    const rf = {
      versionSupported: 1,
      connectionState: 0,
      selectedVersionOrConnectionId: 1,
      supportedFeatures: 0,
      parentToChildMonitorPage: 0n,
      childToParentMonitorPage: 0n,
    };
    expect(encodeVersionResponse(resp.view, 0, rf)).toBe(16);
    expect(resp.bytes).toEqual(hex('0f 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00'));
    expect(decodeVersionResponse(resp.view, 0, 16)).toEqual({ ok: true, value: rf });
  });

  it('INITIATE_CONTACT before 5.0 carries the interrupt page in bytes 16..23', () => {
    const { view } = zeroView(40);
    const fields = {
      versionRequested: VmbusVersion.Win8,
      targetVcpu: 3,
      interruptPage: 0xabc000n,
      messageSint: 0,
      messageVtl: 0,
      featureFlags: 0,
      parentToChildMonitorPage: 0x1000n,
      childToParentMonitorPage: 0x2000n,
      clientId: '00000000-0000-0000-0000-000000000000',
    };
    encodeInitiateContact(view, 0, fields);
    expect(view.getBigUint64(16, true)).toBe(0xabc000n);
    expect(decodeInitiateContact(view, 0, 40)).toEqual({ ok: true, value: fields });
  });

  it('INITIATE_CONTACT 6.0 with client id (56 bytes)', () => {
    const fields = {
      versionRequested: VmbusVersion.Win10V6_0,
      targetVcpu: 1,
      interruptPage: 0n,
      messageSint: 2,
      messageVtl: 0,
      featureFlags: 0x8,
      parentToChildMonitorPage: 0n,
      childToParentMonitorPage: 0n,
      clientId: 'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f',
    };
    const bytes = encodeChannelMessage({ kind: 'InitiateContact', fields }, InitiateContact.size2);
    expect(bytes.length).toBe(56);
    expect(bytes.subarray(40)).toEqual(hex('d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f'));
    expect(viewOf(bytes).getUint32(20, true)).toBe(8);
    expect(decodeChannelMessage(bytes)).toEqual({ ok: true, value: { kind: 'InitiateContact', fields } });
    // The 40-byte form of the same message has no client id.
    const short = decodeChannelMessage(bytes.slice(0, 40));
    expect(short.ok && short.value.kind === 'InitiateContact' && short.value.fields.clientId).toBe(
      '00000000-0000-0000-0000-000000000000',
    );
  });

  it('OFFERCHANNEL: every field lands at its offset', () => {
    const { bytes, view } = zeroView(196);
    const userDefined = new Uint8Array(120);
    userDefined[0] = 4;
    userDefined[119] = 0xee;
    const fields = {
      interfaceType: '57164f39-9115-4e78-ab55-382f3bd5422d',
      interfaceInstance: 'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f',
      flags: 0x11,
      mmioMegabytes: 0x1234,
      userDefined,
      subChannelIndex: 0x0102,
      mmioMegabytesOptional: 0x0304,
      childRelid: 0x05060708,
      monitorId: 0x09,
      monitorAllocated: 1,
      isDedicatedInterrupt: 1,
      connectionId: 0x2000 + 0x05060708,
    };
    expect(encodeOfferChannel(view, 0, fields)).toBe(196);
    expect(view.getUint32(0, true)).toBe(1);
    expect(bytes.subarray(8, 12)).toEqual(hex('39 4f 16 57'));
    expect(bytes.subarray(24, 28)).toEqual(hex('d9 63 61 ba'));
    expect(bytes.subarray(40, 56).every((b) => b === 0)).toBe(true);
    expect(toHex(bytes.subarray(56, 61))).toBe('11 00 34 12 04');
    expect(bytes[179]).toBe(0xee);
    expect(toHex(bytes.subarray(180, 196))).toBe('02 01 04 03 08 07 06 05 09 01 01 00 08 27 06 05');
    expect(decodeOfferChannel(view, 0, 196)).toEqual({ ok: true, value: fields });
    // A WS2008-size offer (190 bytes) decodes with the Win7 fields zero.
    const old = decodeOfferChannel(view, 0, 190);
    expect(old.ok && old.value.connectionId).toBe(0);
    expect(old.ok && old.value.isDedicatedInterrupt).toBe(0);
    expect(old.ok && old.value.childRelid).toBe(0x05060708);
  });

  it('OPENCHANNEL 148 and 156 bytes', () => {
    const fields = {
      childRelid: 7,
      openId: 7,
      ringBufferGpadl: 0xe1e10,
      targetVp: 0,
      downstreamRingBufferPageOffset: 4,
      userData: new Uint8Array(120),
      connectionId: 0x2007,
      eventFlag: 7,
      flags: VmbusOpenChannelFlags.RedirectInterrupt,
    };
    const long = encodeChannelMessage({ kind: 'OpenChannel', fields }, OpenChannel.size2);
    expect(long.length).toBe(156);
    expect(toHex(long.subarray(148))).toBe('07 20 00 00 07 00 01 00');
    expect(decodeChannelMessage(long)).toEqual({ ok: true, value: { kind: 'OpenChannel', fields } });
    const short = encodeChannelMessage({ kind: 'OpenChannel', fields });
    expect(short.length).toBe(148);
    const d = decodeOpenChannel(viewOf(short), 0, 148);
    expect(d).toEqual({ ok: true, value: { ...fields, connectionId: 0, eventFlag: 0, flags: 0 } });
    expect(() => encodeChannelMessage({ kind: 'OpenChannel', fields }, 150)).toThrow(RangeError);
  });

  it('VERSION_RESPONSE 6.0 forms', () => {
    const fields = {
      versionSupported: 1,
      connectionState: 0,
      selectedVersionOrConnectionId: 4,
      supportedFeatures: 0x47,
      parentToChildMonitorPage: 0x321000n,
      childToParentMonitorPage: 0x123000n,
    };
    const b40 = encodeChannelMessage({ kind: 'VersionResponse', fields }, VersionResponse.size3);
    expect(b40.length).toBe(40);
    expect(decodeChannelMessage(b40)).toEqual({ ok: true, value: { kind: 'VersionResponse', fields } });
    const b20 = encodeChannelMessage({ kind: 'VersionResponse', fields }, VersionResponse.size2);
    expect(toHex(b20.subarray(16))).toBe('47 00 00 00');
  });

  it('round-trips every fixed layout from arbitrary bytes (decode, encode, decode)', () => {
    const sizes: Record<string, number[]> = {
      OfferChannel: [190, 196],
      RescindChannelOffer: [12],
      RequestOffers: [8],
      AllOffersDelivered: [8],
      OpenChannel: [148, 156],
      OpenChannelResult: [20],
      CloseChannel: [12],
      GpadlCreated: [20],
      GpadlTeardown: [16],
      GpadlTorndown: [12],
      RelidReleased: [12],
      InitiateContact: [40, 56],
      VersionResponse: [16, 20, 40],
      Unload: [8],
      UnloadResponse: [8],
      OpenReservedChannel: [28],
      CloseReservedChannel: [20],
      CloseReservedResponse: [12],
      TlConnectRequest: [40, 56],
      ModifyChannel: [16],
      TlConnectResult: [44],
      ModifyChannelResponse: [16],
      ModifyConnection: [24],
      ModifyConnectionResponse: [9],
      Pause: [8],
      PauseResponse: [8],
      Resume: [8],
    };
    const cases = Object.entries(sizes).flatMap(([name, list]) => list.map((size) => [name, size] as const));
    fc.assert(
      fc.property(
        fc.constantFrom(...cases),
        fc.uint8Array({ minLength: 240, maxLength: 240 }),
        ([name, size], raw) => {
          const bytes = raw.slice(0, size);
          viewOf(bytes).setUint32(
            0,
            VmbusChannelMessageType[name as keyof typeof VmbusChannelMessageType],
            true,
          );
          const first = decodeChannelMessage(bytes);
          expect(first.ok).toBe(true);
          if (!first.ok) return;
          const again = encodeChannelMessage(first.value, size);
          expect(again.length).toBe(size);
          expect(decodeChannelMessage(again)).toEqual(first);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('GPADL_HEADER / GPADL_BODY', () => {
  it('encodes the header with the packed range header at 20 and PFNs from 28', () => {
    const data = new Uint8Array(16);
    const dv = viewOf(data);
    dv.setUint32(0, 4096, true);
    dv.setUint32(4, 0, true);
    dv.setBigUint64(8, 0x1234n, true);
    const { bytes, view } = zeroView(36);
    expect(
      encodeGpadlHeader(view, 0, {
        childRelid: 3,
        gpadl: 0xe1e10,
        rangeBufferLength: 16,
        rangeCount: 1,
        data,
      }),
    ).toBe(36);
    expect(toHex(bytes)).toBe(
      toHex(
        hex(`08 00 00 00 00 00 00 00 03 00 00 00 10 1e 0e 00 10 00 01 00
             00 10 00 00 00 00 00 00 34 12 00 00 00 00 00 00`),
      ),
    );
    expect(decodeGpadlHeader(view, 0, 36)).toEqual({
      ok: true,
      value: { childRelid: 3, gpadl: 0xe1e10, rangeBufferLength: 16, rangeCount: 1, data },
    });
  });

  it('rejects malformed GPADL messages', () => {
    const { view } = zeroView(240);
    const put = (len: number, count: number) => {
      view.setUint32(0, 8, true);
      view.setUint16(16, len, true);
      view.setUint16(18, count, true);
    };
    put(16, 1);
    expect(decodeGpadlHeader(view, 0, 36).ok).toBe(true);
    const field = (r: { ok: boolean; error?: { field: string | undefined } }) =>
      r.ok ? undefined : r.error?.field;
    put(16, 0);
    expect(field(decodeGpadlHeader(view, 0, 36))).toBe('rangeCount');
    put(12, 1);
    expect(field(decodeGpadlHeader(view, 0, 36))).toBe('rangeBufferLength');
    put(16, 3);
    expect(field(decodeGpadlHeader(view, 0, 36))).toBe('rangeBufferLength');
    put(16, 1);
    expect(field(decodeGpadlHeader(view, 0, 35))).toBe('data');
    expect(field(decodeGpadlHeader(view, 0, 44))).toBe('data');
    const t = decodeGpadlHeader(view, 0, 19);
    expect(!t.ok && t.error.code).toBe(VmbusDecodeErrorCode.Truncated);
    const o = decodeGpadlHeader(view, 0, 241);
    expect(!o.ok && o.error.code).toBe(VmbusDecodeErrorCode.Oversized);
    view.setUint32(0, 9, true);
    expect(field(decodeGpadlHeader(view, 0, 36))).toBe('messageType');
    const body = decodeGpadlBody(view, 0, 240);
    expect(body.ok && body.value.data.length).toBe(224);
    expect(field(decodeGpadlBody(view, 0, 20))).toBe('data');
  });

  it('refuses to encode more than 240 bytes or ragged data', () => {
    const { view } = zeroView(300);
    expect(() =>
      encodeGpadlHeader(view, 0, {
        childRelid: 0,
        gpadl: 0,
        rangeBufferLength: 0,
        rangeCount: 1,
        data: new Uint8Array(228),
      }),
    ).toThrow(RangeError);
    expect(() =>
      encodeGpadlHeader(view, 0, {
        childRelid: 0,
        gpadl: 0,
        rangeBufferLength: 0,
        rangeCount: 1,
        data: new Uint8Array(12),
      }),
    ).toThrow(RangeError);
  });
});

describe('decodeChannelMessage against hostile input', () => {
  it('keeps unknown types representable', () => {
    const bytes = hex('1e 00 00 00 00 00 00 00 aa bb');
    expect(decodeChannelMessage(bytes)).toEqual({
      ok: true,
      value: { kind: 'Unknown', messageType: 30, bytes },
    });
    const invalid = decodeChannelMessage(new Uint8Array(8));
    expect(invalid.ok && invalid.value.kind).toBe('Unknown');
    const u = decodeChannelMessage(bytes);
    if (u.ok) expect(encodeChannelMessage(u.value)).toEqual(bytes);
  });

  it('rejects truncated and oversized messages with typed errors', () => {
    const code = (b: Uint8Array) => {
      const r = decodeChannelMessage(b);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(code(new Uint8Array(7))).toBe(VmbusDecodeErrorCode.Truncated);
    expect(code(new Uint8Array(241))).toBe(VmbusDecodeErrorCode.Oversized);
    const offer = new Uint8Array(189);
    offer[0] = 1;
    expect(code(offer)).toBe(VmbusDecodeErrorCode.Truncated);
    const vr = new Uint8Array(15);
    vr[0] = 15;
    expect(code(vr)).toBe(VmbusDecodeErrorCode.Truncated);
    const mcr = new Uint8Array(8);
    mcr[0] = 26;
    expect(code(mcr)).toBe(VmbusDecodeErrorCode.Truncated);
  });

  it('a decoder handed the wrong message type says so', () => {
    const bytes = encodeChannelMessage({ kind: 'CloseChannel', fields: { childRelid: 1 } });
    const r = decodeVersionResponse(viewOf(new Uint8Array([...bytes, 0, 0, 0, 0])), 0, 16);
    expect(!r.ok && r.error.field).toBe('messageType');
  });

  it('never throws and never reads past the input for any bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 31 }), fc.uint8Array({ maxLength: 250 }), (type, raw) => {
        const bytes = raw.slice();
        if (bytes.length >= 4) viewOf(bytes).setUint32(0, type, true);
        // Decode from a view over exactly these bytes: an out-of-range read would throw RangeError.
        const r = decodeChannelMessage(bytes);
        if (r.ok && r.value.kind !== 'Unknown') expect(r.value.kind).toBe(vmbusChannelMessageName(type));
      }),
      { numRuns: 2000 },
    );
  });
});
