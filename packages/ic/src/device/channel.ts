/**
 * What an IC needs from an open VMBus channel: send one in-band packet (transaction id 0, no completion,
 * as Hyper-V's IC hosts send) and receive each in-band packet's payload. A channel from the device SDK
 * satisfies it through a two-line adapter; tests use rings over a SharedArrayBuffer.
 */
export interface IcChannel {
  send(payload: Uint8Array): void;
  /** Registers the packet handler; payloads may carry ring padding after the pipe message. */
  onPacket(handler: (payload: Uint8Array) => void): void;
  close?(): void;
}
