// The one import a VMBus device author needs: declare a VSP and its VSC, and the channel they share.

export type { GuestRange, OfferChannelMessage, ThreadTransportHandle, VmbusError } from '@viridian/vmbus';
export { guidString, VmbusErrorCode } from '@viridian/vmbus';
export { type DeviceChannel, type GuestMemoryView, type Message, pickVersion } from './channel.js';
export {
  type CloseReason,
  type DeviceDefinition,
  DeviceHost,
  type DeviceHostOptions,
  type DriverDefinition,
  defineDevice,
  defineDriver,
  GuestBus,
  type GuestBusOptions,
} from './device.js';
