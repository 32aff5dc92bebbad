// Bounded waits for tests that wait on another thread: a wait that does not end fails with what
// it was waiting for (and the state seen then) instead of hanging until the runner's timeout.
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';

/** Generous: the CI machine has 2 noisy cores. Well under the runner's 60 s test timeout. */
export const WAIT_MS = 20_000;

export function within<T>(
  promise: Promise<T>,
  what: string,
  state: () => unknown = () => undefined,
  ms = WAIT_MS,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const seen = state();
      const detail = seen === undefined ? '' : `; state: ${describe(seen)}`;
      reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail}`));
    }, ms);
  });
  // A promise still pending after the timeout must not surface later as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Halts `vp` until `done()`; bounded, reporting `state()` if it does not happen in time. */
export function haltUntil(
  vp: { halt(): Promise<void> },
  done: () => boolean,
  what: string,
  state?: () => unknown,
  ms = WAIT_MS,
): Promise<void> {
  let cancelled = false;
  const loop = (async () => {
    while (!done() && !cancelled) await vp.halt();
  })();
  return within(loop, what, state, ms).catch((error: unknown) => {
    cancelled = true;
    throw error;
  });
}

/** The worker's first message; fails at once if the worker errs or exits first, or after `ms`. */
export async function firstMessage(
  worker: Worker,
  what: string,
  state?: () => unknown,
  ms = WAIT_MS,
): Promise<unknown> {
  const exited = once(worker, 'exit').then(([code]) => {
    throw new Error(`${what}: worker exited with code ${code} before answering`);
  });
  exited.catch(() => undefined);
  const [message] = await within(Promise.race([once(worker, 'message'), exited]), what, state, ms);
  return message;
}

function describe(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
}
