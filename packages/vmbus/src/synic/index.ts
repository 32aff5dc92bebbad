export {
  createSynicClientTransport,
  SynicClientTransport,
  type SynicClientTransportOptions,
} from './client.js';
export { SynicErrorReason, SynicTransportError } from './errors.js';
export {
  createSynicServerTransport,
  SynicServerTransport,
  type SynicServerTransportOptions,
  type SynicTransportStats,
} from './server.js';
