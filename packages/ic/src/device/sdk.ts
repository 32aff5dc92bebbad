// The integration components as a third party would write them: VSPs and VSCs on the public device SDK.
import {
  type DeviceChannel,
  type DeviceDefinition,
  type DriverDefinition,
  defineDevice,
  defineDriver,
} from '@viridian/device-sdk';
import type { IcVersion } from '../wire/defs.js';
import type { IcChannel } from './channel.js';
import { IC_DEVICES, IC_NAMES, type IcName } from './devices.js';
import type { IcGuest } from './ic-guest.js';
import type { IcHost } from './ic-host.js';

/** An SDK channel seen as an IC pipe: in-band messages only, transaction id 0, no completions. */
export function icChannel(channel: DeviceChannel): IcChannel {
  return {
    send: (payload) => void channel.send(payload),
    onPacket: (handler) => channel.onMessage((m) => handler(m.data)),
  };
}

const asNumber = (v: IcVersion): number => (v.major << 16) | v.minor;

/** user_defined of an IC offer: pipe_mode u32 = MESSAGE (4). */
function pipeUserDefined(mode: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, mode, true);
  return b;
}

/** One VSP per IC, serving the given host. Versions are negotiated in band by the IC framing. */
export function icDevices(host: IcHost, which: readonly IcName[] = IC_NAMES): DeviceDefinition[] {
  return which.map((name) => {
    const d = IC_DEVICES[name];
    return defineDevice({
      name: `ic-${name}`,
      interfaceId: d.interfaceId,
      instanceId: d.instanceId,
      versions: d.messageVersions.map(asNumber),
      offerFlags: d.channelFlags,
      userDefined: pipeUserDefined(d.pipeMode),
      open: (channel) => host.attach(name, icChannel(channel)),
      close: () => host.detach(name),
    });
  });
}

/** One VSC per IC, binding the guest's IC services to the offered channels. */
export function icDrivers(guest: IcGuest, which: readonly IcName[] = IC_NAMES): DriverDefinition[] {
  return which.map((name) => {
    const d = IC_DEVICES[name];
    return defineDriver({
      name: `ic-${name}`,
      interfaceId: d.interfaceId,
      versions: d.messageVersions.map(asNumber),
      ringPages: d.ringPages,
      open: (channel) => guest.attach(name, icChannel(channel)),
      removed: () => guest.detach(name),
    });
  });
}
