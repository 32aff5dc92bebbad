export { decode, ECHO_INTERFACE_ID, EchoKind, EchoVersion, encode } from './protocol.js';
export { EchoClient, echoDriver } from './vsc.js';
export { type EchoDevice, echoDevice } from './vsp.js';
