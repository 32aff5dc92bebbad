// The guest side: negotiates a version, then echoes bytes through the VSP.

import { type DeviceChannel, type DriverDefinition, defineDriver } from '@viridian/device-sdk';
import {
  decode,
  decodeVersions,
  ECHO_INTERFACE_ID,
  EchoKind,
  EchoVersion,
  encode,
  encodeVersions,
} from './protocol.js';

export class EchoClient {
  version = 0;
  constructor(readonly channel: DeviceChannel) {}

  /** Agrees on a protocol version with the VSP; 0 when there is none in common. */
  async negotiate(versions: readonly number[] = [EchoVersion.V2, EchoVersion.V1]): Promise<number> {
    const reply = decode(await this.channel.request(encode(EchoKind.Version, encodeVersions(versions))));
    this.version = reply ? (decodeVersions(reply.body)[0] ?? 0) : 0;
    return this.version;
  }

  /** Sends `data` and resolves with what came back. */
  async echo(data: Uint8Array): Promise<Uint8Array> {
    const reply = decode(await this.channel.request(encode(EchoKind.Echo, data)));
    if (!reply || reply.kind !== EchoKind.Echo) throw new Error('bad echo reply');
    return reply.body;
  }
}

/** The driver: binds to echo offers and hands each open channel to `onClient`. */
export function echoDriver(onClient: (client: EchoClient) => void): DriverDefinition {
  return defineDriver({
    name: 'echo',
    interfaceId: ECHO_INTERFACE_ID,
    versions: [EchoVersion.V2, EchoVersion.V1],
    ringPages: 4,
    open: (channel) => onClient(new EchoClient(channel)),
  });
}
