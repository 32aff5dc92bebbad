// Test support: wires a host core to a guest core with packet queues that tests can inspect and tamper with.
import { ManualClock } from './core/clock.js';
import type { IcProtocolError } from './core/errors.js';

export interface Receiver {
  receive(packet: Uint8Array): void;
}

/** Two queues (host→guest, guest→host). Packets move only when flush() runs, so tests control order. */
export class Link {
  readonly toGuest: Uint8Array[] = [];
  readonly toHost: Uint8Array[] = [];
  readonly sentToGuest: Uint8Array[] = [];
  readonly sentToHost: Uint8Array[] = [];
  host: Receiver | undefined;
  guest: Receiver | undefined;
  /** When set, packets for the guest are dropped (a guest that hears nothing). */
  dropToGuest = false;

  readonly sendToGuest = (p: Uint8Array): void => {
    const copy = new Uint8Array(p);
    this.sentToGuest.push(copy);
    if (!this.dropToGuest) this.toGuest.push(copy);
  };
  readonly sendToHost = (p: Uint8Array): void => {
    const copy = new Uint8Array(p);
    this.sentToHost.push(copy);
    this.toHost.push(copy);
  };

  /** Delivers until both queues are empty, letting promise continuations run between packets. */
  async flush(): Promise<void> {
    for (let i = 0; i < 10_000; i++) {
      await settle();
      const g = this.toGuest.shift();
      if (g) {
        this.guest?.receive(g);
        continue;
      }
      const h = this.toHost.shift();
      if (h) {
        this.host?.receive(h);
        continue;
      }
      await settle();
      if (this.toGuest.length === 0 && this.toHost.length === 0) return;
    }
    throw new Error('link did not go quiet');
  }
}

/** Lets queued promise continuations run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Advances a manual clock in steps, delivering packets after each step. */
export async function run(clock: ManualClock, link: Link, ms: number, step = 10): Promise<void> {
  await link.flush();
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await link.flush();
  }
}

export function errorLog(): { errors: IcProtocolError[]; onProtocolError: (e: IcProtocolError) => void } {
  const errors: IcProtocolError[] = [];
  return { errors, onProtocolError: (e) => errors.push(e) };
}

export const hex = (s: string): Uint8Array =>
  Uint8Array.from((s.replace(/\s+/g, '').match(/../g) ?? []).map((b) => Number.parseInt(b, 16)));

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export { ManualClock };
