import {
  IC_CHANNEL_FLAGS,
  IC_PIPE_MODE_MESSAGE,
  IcInstanceGuid,
  IcInterfaceGuid,
  IcMessageVersions,
  type IcVersion,
} from '../wire/defs.js';

export type IcName = 'heartbeat' | 'kvp' | 'timeSync' | 'shutdown' | 'vss';
export const IC_NAMES: readonly IcName[] = ['heartbeat', 'kvp', 'timeSync', 'shutdown', 'vss'];

/** How each IC is offered on VMBus (spec 6.1): the declaration a VSP hands to the device SDK. */
export interface IcDeviceDeclaration {
  readonly name: IcName;
  readonly interfaceId: string;
  readonly instanceId: string;
  /** ENUMERATE_DEVICE_INTERFACE | NAMED_PIPE_MODE. */
  readonly channelFlags: number;
  /** user_defined pipe mode: MESSAGE. */
  readonly pipeMode: number;
  /** Message versions the host offers. */
  readonly messageVersions: readonly IcVersion[];
  /** Ring size per direction in 4 KiB pages (Linux uses 3 data pages + control). */
  readonly ringPages: number;
}

export const IC_DEVICES: Readonly<Record<IcName, IcDeviceDeclaration>> = Object.fromEntries(
  IC_NAMES.map((name) => [
    name,
    {
      name,
      interfaceId: IcInterfaceGuid[name],
      instanceId: IcInstanceGuid[name],
      channelFlags: IC_CHANNEL_FLAGS,
      pipeMode: IC_PIPE_MODE_MESSAGE,
      messageVersions: name === 'timeSync' ? [{ major: 4, minor: 0 }] : IcMessageVersions[name],
      ringPages: 4,
    },
  ]),
) as unknown as Record<IcName, IcDeviceDeclaration>;

/** The IC an interface GUID names, for VSC driver binding. */
export function icByInterfaceId(interfaceId: string): IcName | undefined {
  const id = interfaceId.toLowerCase();
  return IC_NAMES.find((n) => IC_DEVICES[n].interfaceId === id);
}
