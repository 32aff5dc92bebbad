// Declaring a device (VSP, root side) and its driver (VSC, guest side), and running them on a bus.

import {
  type ClientTransport,
  connectThreadTransport,
  createThreadTransport,
  type OfferChannelMessage,
  type ServerTransport,
  type ThreadTransportHandle,
  VmbusClient,
  type VmbusError,
  VmbusServer,
} from '@viridian/vmbus';
import { type DeviceChannel, wrapChannel } from './channel.js';

export type CloseReason = 'guest' | 'rescind' | 'unload' | 'reconnect';

/** A VSP: what the root offers to guests and how it serves an open channel. */
export interface DeviceDefinition {
  readonly name: string;
  /** Interface type GUID: what kind of device this is (the guest binds drivers by it). */
  readonly interfaceId: string;
  /** Instance GUID: which one of its kind. */
  readonly instanceId: string;
  /** Protocol versions the device speaks, for its own in-band negotiation (see `pickVersion`). */
  readonly versions: readonly number[];
  /** chn_flags of the offer. Default 0. */
  readonly offerFlags?: number;
  /** Up to 120 bytes of offer user data. */
  readonly userDefined?: Uint8Array;
  /** A guest opened the channel. Return false (or throw) to refuse. */
  // biome-ignore lint/suspicious/noConfusingVoidType: returning nothing accepts the open, false refuses it
  open(channel: DeviceChannel): void | boolean | Promise<void | boolean>;
  /** The channel closed. */
  close?(reason: CloseReason): void;
  /** Optional save capability: the device's state as bytes. Devices without it save nothing. */
  save?(): Uint8Array | Promise<Uint8Array>;
  /** Optional restore capability, given what `save` returned. */
  restore?(state: Uint8Array): void | Promise<void>;
}

/** A VSC: the guest driver bound to every offer of `interfaceId`. */
export interface DriverDefinition {
  readonly name: string;
  readonly interfaceId: string;
  readonly versions: readonly number[];
  /** Pages per ring direction, control page included. Default 8. */
  readonly ringPages?: number;
  /** The channel is open: start talking. */
  open(channel: DeviceChannel, offer: OfferChannelMessage): void | Promise<void>;
  /** The host removed the device (rescind) or the channel closed. */
  removed?(): void;
}

/** Identity helpers that check a definition's shape at compile time. */
export function defineDevice(definition: DeviceDefinition): DeviceDefinition {
  return definition;
}

export function defineDriver(definition: DriverDefinition): DriverDefinition {
  return definition;
}

export interface DeviceHostOptions {
  /** The guest's memory (GPA 0 at byte 0). */
  readonly memory: SharedArrayBuffer;
  /** A transport to the guest; default: a new thread transport (see `guestHandle`). */
  readonly transport?: ServerTransport;
  /** Every refusal and broken channel, as a typed error (log it). */
  onError?(error: VmbusError): void;
}

/** The root side of one guest's bus with the devices offered on it. */
export class DeviceHost {
  readonly #server: VmbusServer;
  readonly #devices = new Map<number, DeviceDefinition>();
  /** Present when the host created its own thread transport: post it to the guest thread. */
  readonly guestHandle: ThreadTransportHandle | undefined;

  constructor(options: DeviceHostOptions) {
    let transport = options.transport;
    if (!transport) {
      const t = createThreadTransport();
      transport = t.host;
      this.guestHandle = t.guestHandle;
    }
    this.#server = new VmbusServer({
      memory: options.memory,
      transport,
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }

  /** Offers a device; returns its channel id. */
  add(device: DeviceDefinition): number {
    const server = this.#server;
    const relid = server.addDevice({
      offer: {
        interfaceId: device.interfaceId,
        instanceId: device.instanceId,
        ...(device.offerFlags !== undefined ? { flags: device.offerFlags } : {}),
        ...(device.userDefined ? { userDefined: device.userDefined } : {}),
      },
      open: async (end) => {
        const result = await device.open(wrapChannel(relid, end, (ranges) => server.gpaView(ranges)));
        return result !== false;
      },
      close: (reason) => device.close?.(reason),
    });
    this.#devices.set(relid, device);
    return relid;
  }

  /** Hot-removes a device from the running guest. */
  remove(relid: number): void {
    this.#server.removeDevice(relid);
    this.#devices.delete(relid);
  }

  /** Saves every device that has the save capability, keyed by instance GUID. */
  async save(): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const d of this.#devices.values()) if (d.save) out.set(d.instanceId, await d.save());
    return out;
  }

  /** Hands saved state back to the devices that have the restore capability. */
  async restore(saved: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (const d of this.#devices.values()) {
      const state = saved.get(d.instanceId);
      if (state && d.restore) await d.restore(state);
    }
  }

  close(): void {
    this.#server.close();
  }
}

export interface GuestBusOptions {
  /** The guest's own memory. */
  readonly memory: SharedArrayBuffer;
  /** The transport, or the handle a DeviceHost created for this guest. */
  readonly transport: ClientTransport | ThreadTransportHandle;
  /** Reserves `count` contiguous pages of guest memory for rings; returns the first page number. */
  allocatePages(count: number): number;
  onError?(error: VmbusError): void;
}

/** The guest side of the bus: connect, then bind drivers to offers. */
export class GuestBus {
  readonly #client: VmbusClient;
  readonly #bound = new Map<number, DriverDefinition>();

  constructor(options: GuestBusOptions) {
    const transport =
      'port' in options.transport ? connectThreadTransport(options.transport) : options.transport;
    this.#client = new VmbusClient({
      memory: options.memory,
      transport,
      allocatePages: options.allocatePages,
      onRescind: (relid) => {
        this.#bound.get(relid)?.removed?.();
        this.#bound.delete(relid);
      },
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }

  /** Negotiates the bus version and collects offers; resolves with the version. */
  connect(): Promise<number> {
    return this.#client.connect();
  }

  /** Offers currently known. */
  get offers(): readonly OfferChannelMessage[] {
    return this.#client.offers;
  }

  /** Opens the first offer of the driver's interface and hands the channel to the driver. */
  async bind(driver: DriverDefinition): Promise<DeviceChannel> {
    const offer = this.#client.findOffer(driver.interfaceId);
    if (!offer) throw new Error(`no offer for ${driver.name} (${driver.interfaceId})`);
    const { relid, end } = await this.#client.open(
      offer,
      driver.ringPages ? { ringPages: driver.ringPages } : {},
    );
    const channel = wrapChannel(relid, end, undefined);
    this.#bound.set(relid, driver);
    await driver.open(channel, offer);
    return channel;
  }

  /** Closes a bound channel. */
  async unbind(channel: DeviceChannel): Promise<void> {
    this.#bound.get(channel.relid)?.removed?.();
    this.#bound.delete(channel.relid);
    await this.#client.close(channel.relid);
  }

  /** Unloads the bus (all channels close). */
  unload(): Promise<void> {
    return this.#client.unload();
  }
}
