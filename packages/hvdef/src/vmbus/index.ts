export * from './channel-messages.js';
export { type VmbusDecoded, VmbusDecodeError, VmbusDecodeErrorCode } from './errors.js';
export * from './gpadl.js';
export * from './guid.js';
export * from './offer.js';
export * from './packet.js';
export * from './ring.js';
export * from './transport.js';
export * from './version.js';
