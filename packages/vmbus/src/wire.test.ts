import { VmbusVersion as HvdefVersion, parseGuid, VmbusChannelMessageType } from '@viridian/hvdef';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, guidBytes, guidString, MessageType, VmbusVersion } from './wire.js';

describe('channel-message codec', () => {
  it('uses the same message numbers and versions as @viridian/hvdef', () => {
    for (const [name, value] of Object.entries(MessageType)) {
      expect([name, (VmbusChannelMessageType as Record<string, number>)[name]]).toEqual([name, value]);
    }
    for (const [name, value] of Object.entries(VmbusVersion)) {
      expect([name, (HvdefVersion as Record<string, number>)[name]]).toEqual([name, value]);
    }
  });

  it('TV8: GUIDs in the Windows mixed-endian layout, agreeing with hvdef', () => {
    const hb = '57164f39-9115-4e78-ab55-382f3bd5422d';
    expect(Array.from(guidBytes(hb), (b) => b.toString(16).padStart(2, '0')).join(' ')).toBe(
      '39 4f 16 57 15 91 78 4e ab 55 38 2f 3b d5 42 2d',
    );
    expect(Array.from(guidBytes(hb))).toEqual(Array.from(parseGuid(hb) as Uint8Array));
    expect(guidString(guidBytes(hb))).toBe(hb);
  });

  it('round-trips an offer and refuses truncated and oversized messages', () => {
    const offer = {
      type: MessageType.OfferChannel,
      interfaceId: guidBytes('ba6163d9-04a1-4d29-b605-72e2ffb1dc7f'),
      instanceId: guidBytes('11111111-2222-3333-4444-555555555555'),
      flags: 0x11,
      mmioMegabytes: 3,
      userDefined: new Uint8Array(120).fill(9),
      subchannelIndex: 0,
      relid: 7,
      monitorId: 0xff,
      monitorAllocated: false,
      isDedicatedInterrupt: true,
      connectionId: 0x2007,
    } as const;
    const bytes = encodeMessage(offer);
    expect(bytes.length).toBe(196);
    expect(decodeMessage(bytes)).toEqual({ ok: true, message: offer });
    // Shorter than the WS 2008 offer (190 bytes, hvdef's smallest form): refused.
    expect(decodeMessage(bytes.subarray(0, 189)).ok).toBe(false);
    expect(decodeMessage(new Uint8Array(241)).ok).toBe(false);
  });
});
