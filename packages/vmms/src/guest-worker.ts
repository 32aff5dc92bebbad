import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { type BuiltinImage, builtinImageUrl, type GuestContext, type GuestProgram } from '@viridian/vmwp';
import { Command, Ctl, type GuestMessage, type GuestWorkerData, Status } from './thread-protocol.js';

// A VM's worker thread: runs one guest program between Atomics-gated safe points. The loop is
// synchronous on purpose: the host steers it only through the shared control words, so a guest that
// never yields still gets paused, saved or turned off (terminate) without the event loop's help.

const data = workerData as GuestWorkerData;
const ctl = new Int32Array(data.control);
const port = parentPort!;
const post = (message: GuestMessage): void => port.postMessage(message);

const TICK_MS = 250;
const LOG_PER_SECOND = 10;

const moduleUrl = data.builtin ? builtinImageUrl(data.image as BuiltinImage) : data.image;
const loaded = (await import(moduleUrl)) as { default?: GuestProgram; program?: GuestProgram };
const program = loaded.default ?? loaded.program;
if (typeof program?.boot !== 'function' || typeof program.step !== 'function') {
  throw new Error(`${moduleUrl} does not export a guest program (default export with boot and step)`);
}

let bootAt = performance.now();
let logWindow = 0;
let logCount = 0;
const ctx: GuestContext = {
  vmId: data.vmId,
  vmName: data.vmName,
  memoryMB: data.memoryMB,
  processorCount: data.processorCount,
  get uptimeMs() {
    return performance.now() - bootAt;
  },
  // This in-process runtime runs no KVP service and has no storage controller.
  publish: () => false,
  hostItem: () => undefined,
  disks: [],
  disk: () => undefined,
  log(message: string) {
    const second = Math.floor(performance.now() / 1000);
    if (second !== logWindow) {
      logWindow = second;
      logCount = 0;
    }
    if (++logCount <= LOG_PER_SECOND) post({ type: 'log', message: String(message).slice(0, 1000) });
  },
};

/** A failure of the guest's own code: flagged in shared memory so the host can tell it from a worker fault. */
function guestFault(error: unknown): never {
  Atomics.store(ctl, Ctl.Status, Status.GuestCrashed);
  const message = error instanceof Error ? error.message : String(error);
  throw new Error(`guest program failed: ${message}`);
}

let state: unknown;
try {
  state = data.hasRestore ? data.restore : program.boot(ctx);
} catch (error) {
  guestFault(error);
}
bootAt = performance.now();
Atomics.store(ctl, Ctl.Status, Status.Running);
post({ type: 'booted' });

const heapMB = (): number => Math.round(getHeapStatistics().used_heap_size / 1048576);
let busyMs = 0;
let allowance = 0;
let last = performance.now();
let lastTick = -Infinity;

for (;;) {
  const command = Atomics.load(ctl, Ctl.Command);
  if (command === Command.Pause) {
    post({ type: 'paused' });
    while (Atomics.load(ctl, Ctl.Command) === Command.Pause)
      Atomics.wait(ctl, Ctl.Command, Command.Pause, 1000);
    if (Atomics.load(ctl, Ctl.Command) === Command.Run) post({ type: 'resumed' });
    last = performance.now();
    continue;
  }
  if (command === Command.Save) {
    try {
      post({ type: 'saved', state });
    } catch (error) {
      Atomics.compareExchange(ctl, Ctl.Command, Command.Save, Command.Run);
      post({ type: 'saveFailed', message: `guest state cannot be saved: ${(error as Error).message}` });
      continue;
    }
    // The host powers the VM off once it has the state; until then nothing runs.
    while (Atomics.load(ctl, Ctl.Command) === Command.Save)
      Atomics.wait(ctl, Ctl.Command, Command.Save, 1000);
    last = performance.now();
    continue;
  }
  if (command === Command.Shutdown) {
    let accepted = true;
    try {
      accepted = program.shutdown?.(state, ctx) !== false;
    } catch (error) {
      guestFault(error);
    }
    if (accepted) break;
    Atomics.compareExchange(ctl, Ctl.Command, Command.Shutdown, Command.Run);
    post({ type: 'shutdownRefused' });
    continue;
  }

  const started = performance.now();
  let idle: number | undefined;
  try {
    const step = program.step(state, ctx);
    // A step may await (disk I/O in other runtimes); commands are only looked at between steps.
    idle = step instanceof Promise ? await step : step;
  } catch (error) {
    guestFault(error);
  }
  const now = performance.now();
  const spent = now - started;
  busyMs += spent;

  // Token bucket over the processor budget the host set from weights, reserves and limits.
  const fraction = Math.max(0.01, Atomics.load(ctl, Ctl.BudgetPermille) / 1000);
  allowance = Math.min(allowance + (now - last) * fraction, 20 * fraction) - spent;
  last = now;
  let wait = typeof idle === 'number' && idle > 0 ? idle : 0;
  if (allowance < 0) wait = Math.max(wait, -allowance / fraction);

  if (now - lastTick >= TICK_MS) {
    lastTick = now;
    post({ type: 'tick', busyMs, heapMB: heapMB() });
  }
  // Waiting on the command word means any host request ends the idle period at once.
  if (wait > 0) Atomics.wait(ctl, Ctl.Command, Command.Run, Math.min(wait, TICK_MS));
}
// Returning ends the thread with exit code 0: the host reads that as a completed shutdown.
