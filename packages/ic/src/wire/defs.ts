// IC wire constants. Values that @viridian/hvdef defines are taken from it; the rest are LOCAL
// DEFINITIONS written before hvdef's IC area landed (offset objects in the shape the codecs here use,
// per-IC version lists, Viridian's instance GUIDs). They follow spec/vmbus.md sections 6–8 and the
// primary sources; defs.test.ts pins them against hvdef so the two cannot drift apart.
import * as hv from '@viridian/hvdef';

/** vmbuspipe_hdr: { flags/packet type u32, msgsize u32 }. */
export const PIPE_HEADER_SIZE = 8;
/** icmsg_hdr size. */
export const ICMSG_HEADER_SIZE = 20;
/** Offset of the IC message body in the packet payload (pipe header + icmsg_hdr). */
export const ICMSG_BODY_OFFSET = PIPE_HEADER_SIZE + ICMSG_HEADER_SIZE;
/** Largest pipe payload a message-mode pipe carries. */
export const PIPE_MAX_PAYLOAD = hv.PIPE_MAX_PAYLOAD;

export const PipePacketType = { Data: 1, Partial: 2, SetupGpaDirect: 3, TeardownGpaDirect: 4 } as const;
export type PipePacketType = number;

/** icmsg_hdr field offsets relative to the start of the header (add PIPE_HEADER_SIZE in a packet). */
export const IcMsgHeader = {
  frameworkMajor: 0,
  frameworkMinor: 2,
  messageType: 4,
  messageMajor: 6,
  messageMinor: 8,
  messageSize: 10,
  status: 12,
  transactionId: 16,
  flags: 17,
  reserved: 18,
} as const;

export const IcMessageType = hv.IcMessageType;
export type IcMessageType = number;

export const IcFlags = hv.IcFlags;
/** Host requests: TRANSACTION | REQUEST. */
export const IC_FLAGS_REQUEST = IcFlags.Transaction | IcFlags.Request;
/** Guest responses: TRANSACTION | RESPONSE. */
export const IC_FLAGS_RESPONSE = IcFlags.Transaction | IcFlags.Response;

/** HRESULT-style status values carried in icmsg_hdr.status. */
export const IcStatus = { Ok: hv.IcStatus.Success, ...hv.IcStatus } as const;
export type IcStatus = number;

/** A {major, minor} version; on the wire two u16 (major first). */
export interface IcVersion {
  readonly major: number;
  readonly minor: number;
}

export const icVersion = (major: number, minor: number): IcVersion => ({ major, minor });
export const versionEquals = (a: IcVersion, b: IcVersion): boolean =>
  a.major === b.major && a.minor === b.minor;
export const versionCompare = (a: IcVersion, b: IcVersion): number => a.major - b.major || a.minor - b.minor;
export const formatVersion = (v: IcVersion): string => `${v.major}.${v.minor}`;

/** Negotiate body: { icframe_vercnt u16, icmsg_vercnt u16, reserved u32, versions[] }. */
export const NegotiateBody = { frameworkCount: 0, messageCount: 2, reserved: 4, versions: 8 } as const;
/** Linux refuses negotiate messages announcing more than this many versions of either kind. */
export const NEGOTIATE_MAX_VERSIONS = 100;

/** Framework versions: the host offers both; the guest prefers the newest. */
export const IC_FRAMEWORK_VERSIONS: readonly IcVersion[] = [icVersion(1, 0), icVersion(3, 0)];

/** Per-IC message versions (oldest first) as Hyper-V hosts offer them and Linux guests accept them. */
export const IcMessageVersions = {
  heartbeat: [icVersion(1, 0), icVersion(3, 0)],
  shutdown: [icVersion(1, 0), icVersion(3, 0), icVersion(3, 1), icVersion(3, 2)],
  timeSync: [icVersion(1, 0), icVersion(3, 0), icVersion(4, 0)],
  kvp: [icVersion(1, 0), icVersion(3, 0), icVersion(4, 0)],
  vss: [icVersion(5, 0)],
} as const satisfies Record<string, readonly IcVersion[]>;

/** Interface type GUIDs of the ICs (canonical strings). */
export const IcInterfaceGuid = {
  heartbeat: hv.VmbusInterfaceGuid.Heartbeat,
  kvp: hv.VmbusInterfaceGuid.Kvp,
  shutdown: hv.VmbusInterfaceGuid.Shutdown,
  timeSync: hv.VmbusInterfaceGuid.TimeSync,
  vss: hv.VmbusInterfaceGuid.Vss,
} as const;

/** Instance GUIDs (openvmm's where it defines one; the others are fixed values chosen for Viridian). */
export const IcInstanceGuid = {
  heartbeat: 'fedf1dd4-0ca8-4d4f-a6a4-a9ab08e3b4d0',
  kvp: hv.IcInstanceGuid.Kvp,
  shutdown: hv.IcInstanceGuid.Shutdown,
  timeSync: hv.IcInstanceGuid.TimeSync,
  vss: '1eb6d8e2-33a5-4d4c-9bc8-f2f3f1ff07a3',
} as const;

/** Channel offer parameters of every IC (spec 6.1): ENUMERATE_DEVICE_INTERFACE | NAMED_PIPE_MODE, message pipe. */
export const IC_CHANNEL_FLAGS = 0x11;
export const IC_PIPE_MODE_MESSAGE = 4;

// ---- Heartbeat (type 1) ----
export const HeartbeatBody = { sequence: 0, applicationState: 8, reserved: 12 } as const;
/** Body the host sends (openvmm layout: seq u64, application_state u32, reserved[4]). */
export const HEARTBEAT_BODY_SIZE = 16;
/** Least body a guest accepts (seq only; Linux). */
export const HEARTBEAT_MIN_BODY_SIZE = 8;
export const HeartbeatApplicationState = hv.HeartbeatApplicationState;
export type HeartbeatApplicationState = number;

// ---- Shutdown (type 3) ----
export const ShutdownBody = { reasonCode: 0, timeoutSeconds: 4, flags: 8, displayMessage: 12 } as const;
export const SHUTDOWN_DISPLAY_MESSAGE_SIZE = hv.SHUTDOWN_DISPLAY_MESSAGE_SIZE;
export const SHUTDOWN_BODY_SIZE = 12 + SHUTDOWN_DISPLAY_MESSAGE_SIZE;
export const ShutdownFlags = hv.ShutdownFlags;
export const SHTDN_REASON_FLAG_PLANNED = hv.SHTDN_REASON_FLAG_PLANNED;

// ---- Time sync (type 4) ----
/** 100 ns ticks between 1601-01-01 and 1970-01-01. */
export const WLTIMEDELTA = hv.WINDOWS_TICKS_TO_UNIX_EPOCH;
export const TimeSyncFlags = hv.TimeSyncFlags;
/** Version < 4.0: parenttime u64, childtime u64, roundtriptime u64, flags u8 (+3 reserved, openvmm). */
export const TimeSyncBodyV1 = { parentTime: 0, childTime: 8, roundTripTime: 16, flags: 24 } as const;
export const TIMESYNC_V1_BODY_SIZE = 28;
export const TIMESYNC_V1_MIN_BODY_SIZE = 25;
/** Version 4.0: parenttime u64, vmreferencetime u64, flags u8, leapflags u8, stratum u8, reserved. */
export const TimeSyncBodyV4 = {
  parentTime: 0,
  referenceTime: 8,
  flags: 16,
  leapFlags: 17,
  stratum: 18,
} as const;
export const TIMESYNC_V4_BODY_SIZE = 24;
export const TIMESYNC_V4_MIN_BODY_SIZE = 22;

// ---- KVP (type 2) ----
export const KvpOperation = hv.KvpOperation;
export type KvpOperation = number;
export const KvpPool = hv.KvpPool;
export type KvpPool = number;
export const KVP_POOL_COUNT = hv.KVP_POOL_COUNT;
/** Key buffer size in bytes (UTF-16LE, including the NUL terminator). */
export const KVP_MAX_KEY_SIZE = hv.KVP_MAX_KEY_SIZE;
/** Value buffer size in bytes (UTF-16LE, including the NUL terminator). */
export const KVP_MAX_VALUE_SIZE = hv.KVP_MAX_VALUE_SIZE;
export const KvpHeader = { operation: 0, pool: 1 } as const;
export const KVP_HEADER_SIZE = 4;
/** hv_kvp_exchg_msg_value. */
export const KvpValueRecord = { valueType: 0, keySize: 4, valueSize: 8, key: 12, value: 524 } as const;
export const KVP_VALUE_RECORD_SIZE = 2572;
export const KvpValueType = hv.KvpValueType;
export type KvpValueType = number;
/** GET / SET body: header + value record. */
export const KVP_GET_SET_BODY_SIZE = KVP_HEADER_SIZE + KVP_VALUE_RECORD_SIZE;
/** DELETE body: header + key_size u32 + key[512]. */
export const KvpDeleteBody = { keySize: 4, key: 8 } as const;
export const KVP_DELETE_BODY_SIZE = 8 + KVP_MAX_KEY_SIZE;
/** ENUMERATE body: header + index u32 + value record. */
export const KvpEnumerateBody = { index: 4, record: 8 } as const;
export const KVP_ENUMERATE_BODY_SIZE = 8 + KVP_VALUE_RECORD_SIZE;
/** Fixed index → key mapping of the AUTO pool (include/uapi/linux/hyperv.h). */
export const KVP_AUTO_POOL_KEYS = [
  'FullyQualifiedDomainName',
  'IntegrationServicesVersion',
  'NetworkAddressIPv4',
  'NetworkAddressIPv6',
  'OSBuildNumber',
  'OSName',
  'OSMajorVersion',
  'OSMinorVersion',
  'OSVersion',
  'ProcessorArchitecture',
] as const;

// ---- VSS (type 5) ----
export const VssOperation = hv.VssOperation;
export type VssOperation = number;
export const VssBody = { operation: 0, reserved: 1, flags: 8 } as const;
export const VSS_BODY_SIZE = 12;
/** Largest VSS packet a Linux guest reads. */
export const VSS_MAX_PACKET_SIZE = 8192;
export const VSS_HBU_NO_AUTO_RECOVERY = hv.VSS_HBU_NO_AUTO_RECOVERY;

// ---- Timeouts (spec section 8), milliseconds ----
export const IcTimeouts = {
  guestDaemonReply: 30_000,
  negotiate: 55_000,
  vssFreeze: 900_000,
  vssThaw: 30_000,
  heartbeatPeriod: 2_000,
  timeSyncSamplePeriod: 5_000,
  timeSyncStale: 600_000,
} as const;
