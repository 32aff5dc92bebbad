export * from './channel-messages.js';
export { type VmbusDecoded, VmbusDecodeError, VmbusDecodeErrorCode } from './errors.js';
export * from './guid.js';
export * from './packet.js';
export * from './ring.js';
export * from './version.js';
