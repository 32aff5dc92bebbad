// The README example, run against the package entry so it keeps compiling and working.
import { describe, expect, it } from 'vitest';
import {
  decodeChannelMessage,
  decodeHeartbeat,
  decodeIcMessage,
  encodeChannelMessage,
  IC_HEADER_OFFSET,
  IC_RESPONSE_FLAGS,
  IcMessageHeader,
  IcMessageType,
  VmbusVersion,
} from '../index.js';
import { hex } from './test-util.test-fixture.js';

describe('README example', () => {
  it('builds INITIATE_CONTACT, reads VERSION_RESPONSE and answers a heartbeat', () => {
    const contact = encodeChannelMessage({
      kind: 'InitiateContact',
      fields: {
        versionRequested: VmbusVersion.Win10V5_3,
        targetVcpu: 0,
        interruptPage: 0n,
        messageSint: 2,
        messageVtl: 0,
        featureFlags: 0,
        parentToChildMonitorPage: 0x12345000n,
        childToParentMonitorPage: 0x12346000n,
        clientId: '00000000-0000-0000-0000-000000000000',
      },
    });
    expect(contact.length).toBe(40);

    const seen: number[] = [];
    function onHostMessage(payload: Uint8Array): void {
      const r = decodeChannelMessage(payload);
      if (!r.ok) return;
      if (r.value.kind === 'VersionResponse' && r.value.fields.versionSupported === 1) {
        seen.push(r.value.fields.selectedVersionOrConnectionId);
      }
    }
    onHostMessage(hex('0f 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00'));
    onHostMessage(new Uint8Array(3));
    expect(seen).toEqual([1]);

    function answerHeartbeat(packetPayload: Uint8Array): Uint8Array | undefined {
      const view = new DataView(packetPayload.buffer, packetPayload.byteOffset, packetPayload.length);
      const m = decodeIcMessage(view, 0, packetPayload.length);
      if (!m.ok || m.value.header.messageType !== IcMessageType.Heartbeat) return undefined;
      const hb = decodeHeartbeat(new DataView(m.value.body.buffer), 0, m.value.body.length);
      if (!hb.ok) return undefined;
      const reply = packetPayload.slice();
      const rv = new DataView(reply.buffer);
      rv.setUint8(IC_HEADER_OFFSET + IcMessageHeader.flags, IC_RESPONSE_FLAGS);
      rv.setBigUint64(28, hb.value.sequenceNumber + 1n, true);
      return reply;
    }
    const request = hex(`01 00 00 00 24 00 00 00 03 00 00 00 01 00 03 00 00 00 10 00 00 00 00 00
                         00 03 00 00 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`);
    const reply = answerHeartbeat(request);
    expect(reply).toEqual(
      hex(`01 00 00 00 24 00 00 00 03 00 00 00 01 00 03 00 00 00 10 00 00 00 00 00
           00 05 00 00 06 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`),
    );
  });
});
