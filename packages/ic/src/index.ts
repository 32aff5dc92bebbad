// @viridian/ic: the Hyper-V integration components. Wire layouts, the host and guest protocol cores
// (pure state machines acting through injected send functions and clocks).

export { type IcClock, type IcTimer, ManualClock, systemClock } from './core/clock.js';
export { type IcProtocolError, IcProtocolErrorCode, IcUsageError } from './core/errors.js';
export { IcGuestEndpoint, type IcGuestEndpointOptions, type IcGuestRequest } from './core/guest-endpoint.js';
export {
  IcHostEndpoint,
  type IcHostEndpointOptions,
  type IcHostState,
  type IcReply,
  type NegotiationOutcome,
} from './core/host-endpoint.js';
export type { IcChannel } from './device/channel.js';
export {
  IC_DEVICES,
  IC_NAMES,
  type IcDeviceDeclaration,
  type IcName,
  icByInterfaceId,
} from './device/devices.js';
export { IcGuest, type IcGuestOptions } from './device/ic-guest.js';
export { type IcChannelStatus, IcHost, type IcHostOptions } from './device/ic-host.js';
export { icChannel, icDevices, icDrivers } from './device/sdk.js';
export { HeartbeatGuest, type HeartbeatGuestOptions } from './heartbeat/guest.js';
export {
  HeartbeatHost,
  type HeartbeatHostOptions,
  type HeartbeatProbe,
  type HeartbeatReport,
  HeartbeatStatus,
  heartbeatStatusText,
} from './heartbeat/host.js';
export {
  checkKvpSizes,
  type KvpChange,
  KvpGuest,
  type KvpGuestOptions,
  type KvpIntrinsics,
  type KvpLocalResult,
} from './kvp/guest.js';
export {
  type KvpFailure,
  type KvpGetResult,
  KvpHost,
  type KvpHostOptions,
  type KvpListResult,
  type KvpResult,
} from './kvp/host.js';
export { ShutdownGuest, type ShutdownGuestOptions, type ShutdownNotice } from './shutdown/guest.js';
export {
  ShutdownHost,
  type ShutdownHostOptions,
  type ShutdownKind,
  type ShutdownRequest,
  type ShutdownResult,
  shutdownFlags,
} from './shutdown/host.js';
export { type TimeSyncCorrection, TimeSyncGuest, type TimeSyncGuestOptions } from './timesync/guest.js';
export { DriftingClock } from './timesync/guest-clock.js';
export { TimeSyncHost, type TimeSyncHostOptions, type TimeSyncHostState } from './timesync/host.js';
export { filetimeToUnixMs, hostFiletimeNow, unixMsToFiletime } from './timesync/time.js';
export { type VssEvent, VssGuest, type VssGuestOptions, type VssWriter } from './vss/guest.js';
export { VssHost, type VssHostOptions, type VssResult } from './vss/host.js';
export {
  type BodyError,
  decodeHeartbeat,
  decodeKvp,
  decodeShutdown,
  decodeTimeSync,
  decodeVss,
  encodeHeartbeat,
  encodeKvpDelete,
  encodeKvpEnumerate,
  encodeKvpGetSet,
  encodeShutdown,
  encodeTimeSync,
  encodeVss,
  type HeartbeatMessage,
  isBodyError,
  type KvpMessage,
  type KvpRecord,
  readUtf16,
  type ShutdownMessage,
  type TimeSyncMessage,
  utf16z,
  utf16zSize,
  type VssMessage,
} from './wire/bodies.js';
export * from './wire/defs.js';
export {
  decodeIcPacket,
  encodeIcPacket,
  type IcFrame,
  IcFrameError,
  type IcFrameFailure,
  type IcHeader,
} from './wire/framing.js';
export {
  decodeNegotiateBody,
  decodeNegotiateResponse,
  encodeNegotiateRequest,
  encodeNegotiateResponse,
  type NegotiatedVersions,
  type NegotiateOffer,
  type NegotiateResponse,
  pickVersion,
  selectVersions,
} from './wire/negotiate.js';
