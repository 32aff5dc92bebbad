export { type VmbusDecoded, VmbusDecodeError, VmbusDecodeErrorCode } from './errors.js';
export * from './packet.js';
export * from './ring.js';
