// LOCAL DEFINITIONS — these belong in @viridian/hvdef's integration-component area, which was still
// empty when this package was written. They follow spec/vmbus.md sections 6–8 and the primary sources
// (Linux include/uapi/linux/hyperv.h, drivers/hv/hv_util.c; openvmm hyperv_ic_protocol). When hvdef
// publishes the same names, this file is replaced by re-exports.

/** vmbuspipe_hdr: { flags/packet type u32, msgsize u32 }. */
export const PIPE_HEADER_SIZE = 8;
/** icmsg_hdr size. */
export const ICMSG_HEADER_SIZE = 20;
/** Offset of the IC message body in the packet payload (pipe header + icmsg_hdr). */
export const ICMSG_BODY_OFFSET = PIPE_HEADER_SIZE + ICMSG_HEADER_SIZE;
/** Largest pipe payload a message-mode pipe carries. */
export const PIPE_MAX_PAYLOAD = 16384;

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

export const IcMessageType = {
  Negotiate: 0,
  Heartbeat: 1,
  KvpExchange: 2,
  Shutdown: 3,
  TimeSync: 4,
  Vss: 5,
  Rdv: 6,
  FileCopy: 7,
  VmSession: 8,
} as const;
export type IcMessageType = number;

export const IcFlags = { Transaction: 1, Request: 2, Response: 4 } as const;
/** Host requests: TRANSACTION | REQUEST. */
export const IC_FLAGS_REQUEST = IcFlags.Transaction | IcFlags.Request;
/** Guest responses: TRANSACTION | RESPONSE. */
export const IC_FLAGS_RESPONSE = IcFlags.Transaction | IcFlags.Response;

/** HRESULT-style status values carried in icmsg_hdr.status. */
export const IcStatus = {
  Ok: 0x00000000,
  Fail: 0x80004005,
  NoMoreItems: 0x80070103,
  NotSupported: 0x80070032,
  NotFound: 0x80041002,
  MachineLocked: 0x800704f7,
  DeviceNotConnected: 0x8007048f,
  InvalidArg: 0x80070057,
  AlreadyExists: 0x80070050,
  DiskFull: 0x80070070,
} as const;
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
  heartbeat: '57164f39-9115-4e78-ab55-382f3bd5422d',
  kvp: 'a9a0f4e7-5a45-4d96-b827-8a841e8c03e6',
  shutdown: '0e0b6031-5213-4934-818b-38d90ced39db',
  timeSync: '9527e630-d0ae-497b-adce-e80ab0175caf',
  vss: '35fa2e29-ea23-4236-96ae-3a6ebacba440',
} as const;

/** Instance GUIDs (openvmm's where it defines one; the others are fixed values chosen for Viridian). */
export const IcInstanceGuid = {
  heartbeat: 'fedf1dd4-0ca8-4d4f-a6a4-a9ab08e3b4d0',
  kvp: '242ff919-07db-4180-9c2e-b86cb68c8c55',
  shutdown: 'b6650ff7-33bc-4840-8048-e0676786f393',
  timeSync: '2dd1ce17-079e-403c-b352-a1921ee207ee',
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
export const HeartbeatApplicationState = { Unknown: 0, Healthy: 1, Critical: 2, Stopped: 3 } as const;
export type HeartbeatApplicationState = number;

// ---- Shutdown (type 3) ----
export const ShutdownBody = { reasonCode: 0, timeoutSeconds: 4, flags: 8, displayMessage: 12 } as const;
export const SHUTDOWN_DISPLAY_MESSAGE_SIZE = 2048;
export const SHUTDOWN_BODY_SIZE = 12 + SHUTDOWN_DISPLAY_MESSAGE_SIZE;
export const ShutdownFlags = { Force: 1, Restart: 2, Hibernate: 4 } as const;
export const SHTDN_REASON_FLAG_PLANNED = 0x80000000;

// ---- Time sync (type 4) ----
/** 100 ns ticks between 1601-01-01 and 1970-01-01. */
export const WLTIMEDELTA = 116444736000000000n;
export const TimeSyncFlags = { Probe: 0, Sync: 1, Sample: 2 } as const;
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
export const KvpOperation = { Get: 0, Set: 1, Delete: 2, Enumerate: 3, GetIpInfo: 4, SetIpInfo: 5 } as const;
export type KvpOperation = number;
export const KvpPool = { External: 0, Guest: 1, Auto: 2, AutoExternal: 3, AutoInternal: 4 } as const;
export type KvpPool = number;
export const KVP_POOL_COUNT = 5;
/** Key buffer size in bytes (UTF-16LE, including the NUL terminator). */
export const KVP_MAX_KEY_SIZE = 512;
/** Value buffer size in bytes (UTF-16LE, including the NUL terminator). */
export const KVP_MAX_VALUE_SIZE = 2048;
export const KvpHeader = { operation: 0, pool: 1 } as const;
export const KVP_HEADER_SIZE = 4;
/** hv_kvp_exchg_msg_value. */
export const KvpValueRecord = { valueType: 0, keySize: 4, valueSize: 8, key: 12, value: 524 } as const;
export const KVP_VALUE_RECORD_SIZE = 2572;
export const KvpValueType = { String: 1, ExpandString: 2, Dword: 4, Qword: 8 } as const;
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
export const VssOperation = {
  Create: 0,
  Delete: 1,
  HotBackup: 2,
  GetDmInfo: 3,
  BackupComplete: 4,
  Freeze: 5,
  Thaw: 6,
  AutoRecover: 7,
} as const;
export type VssOperation = number;
export const VssBody = { operation: 0, reserved: 1, flags: 8 } as const;
export const VSS_BODY_SIZE = 12;
/** Largest VSS packet a Linux guest reads. */
export const VSS_MAX_PACKET_SIZE = 8192;
export const VSS_HBU_NO_AUTO_RECOVERY = 0x5;

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
