// The guest's debug console: lines and lifecycle events the runtime sends to the host before (and
// independently of) VMBus, through the VP thread's port, which the hypervisor forwards to the host as
// `guest` events. It is the serial port of this machine: it works from the first instruction, carries
// crash reports when nothing else is left, and is not bounded by KVP's item sizes and pool limits.

import { parentPort } from 'node:worker_threads';

/** Tag of every console event, so a host can tell them from other guest messages. */
export const GUEST_CONSOLE_TAG = 'viridian-guest';

export type GuestLogLevel = 'info' | 'warn' | 'error';

export type GuestConsoleEvent =
  | {
      readonly type: typeof GUEST_CONSOLE_TAG;
      readonly event: 'log';
      readonly level: GuestLogLevel;
      readonly text: string;
      readonly referenceTime: string;
    }
  | {
      readonly type: typeof GUEST_CONSOLE_TAG;
      readonly event: 'booted';
      readonly clock: 'tsc-page' | 'msr';
      readonly vmbus: boolean;
      readonly drivers: readonly string[];
      readonly program: string;
    }
  | { readonly type: typeof GUEST_CONSOLE_TAG; readonly event: 'crashed'; readonly error: string }
  | {
      readonly type: typeof GUEST_CONSOLE_TAG;
      readonly event: 'power-off';
      readonly kind: string;
      readonly reason: string;
    };

/** Where console events go; default: the VP thread's parent port (nowhere outside a worker). */
export type ConsoleSink = (event: GuestConsoleEvent) => void;

export const defaultConsoleSink: ConsoleSink = (event) => parentPort?.postMessage(event);

/** A token bucket in front of the sink: a chatty program cannot flood the host (drops are counted). */
export class RateLimitedConsole {
  #tokens: number;
  #last = performance.now();
  dropped = 0;

  constructor(
    readonly sink: ConsoleSink,
    readonly perSecond = 200,
    readonly burst = 400,
  ) {
    this.#tokens = burst;
  }

  emit(event: GuestConsoleEvent): boolean {
    if (event.event !== 'log') {
      this.sink(event); // lifecycle events are never dropped
      return true;
    }
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
    this.#last = now;
    if (this.#tokens < 1) {
      this.dropped++;
      return false;
    }
    this.#tokens--;
    this.sink(event);
    return true;
  }
}
