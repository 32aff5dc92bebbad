// The root side: answers VERSION with the highest common version and ECHO with the same bytes.

import { type DeviceChannel, type DeviceDefinition, defineDevice, pickVersion } from '@viridian/device-sdk';
import {
  decode,
  decodeVersions,
  ECHO_INTERFACE_ID,
  EchoKind,
  EchoVersion,
  encode,
  encodeVersions,
} from './protocol.js';

const VERSIONS = [EchoVersion.V1, EchoVersion.V2];

export interface EchoDevice extends DeviceDefinition {
  /** Echo requests answered so far (kept across save/restore). */
  readonly echoed: number;
}

export function echoDevice(instanceId: string): EchoDevice {
  let echoed = 0;
  const serve = (channel: DeviceChannel) => {
    channel.onMessage((message) => {
      const m = decode(message.data);
      // A malformed request is answered with an empty reply rather than dropped: the VSC is waiting.
      if (!m) return void message.reply();
      if (m.kind === EchoKind.Version) {
        const chosen = pickVersion(VERSIONS, decodeVersions(m.body)) ?? 0;
        return void message.reply(encode(EchoKind.Version, encodeVersions([chosen])));
      }
      echoed++;
      return void message.reply(encode(EchoKind.Echo, m.body));
    });
  };
  const device = defineDevice({
    name: 'echo',
    interfaceId: ECHO_INTERFACE_ID,
    instanceId,
    versions: VERSIONS,
    open: serve,
    save: () => encodeVersions([echoed]),
    restore: (state) => {
      echoed = decodeVersions(state)[0] ?? 0;
    },
  });
  return Object.defineProperty(device, 'echoed', { get: () => echoed }) as EchoDevice;
}
