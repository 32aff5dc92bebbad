export { ChannelEnd, type ChannelEndOptions, type Packet, PacketType } from './channel.js';
export { type GuestChannel, type OpenOptions, VmbusClient, type VmbusClientOptions } from './client.js';
export {
  CLIENT_VERSIONS,
  type ClientCoreOptions,
  FIRST_GPADL_HANDLE,
  VmbusClientCore,
} from './client-core.js';
export { VmbusError, VmbusErrorCode } from './errors.js';
export {
  encodeRanges,
  GPADL_BODY_VALUES,
  GPADL_HEADER_VALUES,
  type Gpadl,
  type GpadlRange,
  rangePageCount,
} from './gpadl.js';
export { GpadlView, type GuestRange, type HostRingMemory, ringMemoryFromGpadl } from './gpadl-view.js';
export { type HostedDevice, VmbusServer, type VmbusServerOptions } from './server.js';
export {
  type ChannelState,
  type CloseReason,
  type ConnectInfo,
  type OfferSpec,
  type OpenRequest,
  SERVER_VERSIONS,
  type ServerCoreOptions,
  type ServerCoreStats,
  VmbusServerCore,
} from './server-core.js';
export {
  createSynicClientTransport,
  createSynicServerTransport,
  SynicClientTransport,
  type SynicClientTransportOptions,
  SynicErrorReason,
  SynicServerTransport,
  type SynicServerTransportOptions,
  SynicTransportError,
  type SynicTransportStats,
} from './synic/index.js';
export {
  type ClientTransport,
  connectThreadTransport,
  createThreadTransport,
  MAX_THREAD_RELID,
  type ServerTransport,
  type ThreadTransportHandle,
} from './transport.js';
export {
  type ChannelMessage,
  ChannelStatus,
  decodeMessage,
  encodeMessage,
  guidBytes,
  guidString,
  MessageType,
  type OfferChannelMessage,
  VmbusVersion,
} from './wire.js';
