import * as hv from '@viridian/hvdef';
import { describe, expect, it } from 'vitest';
import {
  HEARTBEAT_BODY_SIZE,
  ICMSG_BODY_OFFSET,
  ICMSG_HEADER_SIZE,
  IcMsgHeader,
  KVP_DELETE_BODY_SIZE,
  KVP_ENUMERATE_BODY_SIZE,
  KVP_GET_SET_BODY_SIZE,
  KvpValueRecord,
  NEGOTIATE_MAX_VERSIONS,
  PIPE_HEADER_SIZE,
  SHUTDOWN_BODY_SIZE,
  TIMESYNC_V1_BODY_SIZE,
  TIMESYNC_V4_BODY_SIZE,
  VSS_BODY_SIZE,
} from './defs.js';

// The layouts this package's codecs use must be the ones @viridian/hvdef publishes.
describe('local layouts agree with @viridian/hvdef', () => {
  it('framing', () => {
    expect(PIPE_HEADER_SIZE).toBe(hv.PipeHeader.size);
    expect(ICMSG_HEADER_SIZE).toBe(hv.IcMessageHeader.size);
    expect(ICMSG_BODY_OFFSET).toBe(hv.IC_BODY_OFFSET);
    expect(IcMsgHeader).toEqual({
      frameworkMajor: hv.IcMessageHeader.frameworkVersionMajor,
      frameworkMinor: hv.IcMessageHeader.frameworkVersionMinor,
      messageType: hv.IcMessageHeader.messageType,
      messageMajor: hv.IcMessageHeader.messageVersionMajor,
      messageMinor: hv.IcMessageHeader.messageVersionMinor,
      messageSize: hv.IcMessageHeader.messageSize,
      status: hv.IcMessageHeader.status,
      transactionId: hv.IcMessageHeader.transactionId,
      flags: hv.IcMessageHeader.flags,
      reserved: hv.IcMessageHeader.reserved,
    });
    expect(NEGOTIATE_MAX_VERSIONS).toBe(hv.IC_NEGOTIATE_MAX_VERSION_COUNT);
  });

  it('body sizes', () => {
    expect(HEARTBEAT_BODY_SIZE).toBe(hv.HeartbeatMessage.size);
    expect(SHUTDOWN_BODY_SIZE).toBe(hv.ShutdownMessage.size);
    expect(TIMESYNC_V1_BODY_SIZE).toBe(hv.TimeSyncMessage.size);
    expect(TIMESYNC_V4_BODY_SIZE).toBe(hv.TimeSyncRefMessage.size);
    expect(VSS_BODY_SIZE).toBe(hv.VssMessage.size);
    expect(KVP_GET_SET_BODY_SIZE).toBe(hv.KvpGetSetMessage.size);
    expect(KVP_DELETE_BODY_SIZE).toBe(hv.KvpDeleteMessage.size);
    expect(KVP_ENUMERATE_BODY_SIZE).toBe(hv.KvpEnumerateMessage.size);
    expect(KvpValueRecord).toMatchObject({
      valueType: hv.KvpValueRecord.valueType,
      keySize: hv.KvpValueRecord.keySize,
      valueSize: hv.KvpValueRecord.valueSize,
      key: hv.KvpValueRecord.key,
      value: hv.KvpValueRecord.value,
    });
  });
});
