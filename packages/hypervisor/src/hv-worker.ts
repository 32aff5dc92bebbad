// Entry of the hypervisor thread. Runs a synchronous loop that waits on the hypervisor doorbell
// (Atomics.wait, bounded by the next timer deadline), serves VP traps and fires timers, and
// returns to the event loop every few milliseconds so worker events and host messages flow.
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import type { VpHandle } from './guest-vp.js';
import { Kernel, type KernelOptions, nowNs } from './kernel/kernel.js';
import type { Vp } from './kernel/state.js';
import { HvBell, HvState, VpControl } from './layout.js';
import { Dispatcher } from './scheduler/dispatcher.js';
import { monoNs } from './scheduler/vp-clock.js';

interface Boot {
  readonly bell: SharedArrayBuffer;
  /** Host requests arrive here; never listened to, only drained with receiveMessageOnPort. */
  readonly requests: MessagePort;
  readonly options: KernelOptions & {
    readonly hypervisorSpinIterations: number;
    readonly logicalProcessors: number;
    readonly schedulerSliceMs: number;
  };
}

const boot = workerData as Boot;
if (!parentPort) throw new Error('hv-worker must run in a worker thread');
const port = parentPort;
const bell = new Int32Array(boot.bell);

function handleOf(vp: Vp): VpHandle {
  const p = vp.partition;
  if (!p.memory || !p.sharedTable) throw new Error('partition without memory');
  return {
    kind: 'viridian-vp',
    partitionId: p.id,
    vpIndex: vp.index,
    root: p === kernel.root,
    control: vp.control,
    ram: p.memory.ram,
    pageTable: p.sharedTable.buffer as SharedArrayBuffer,
    bell: boot.bell,
  };
}

const kernel = new Kernel(boot.options, {
  spawnVp(vp, image) {
    const worker = spawnWorker(new URL('./vp-worker.js', import.meta.url), {
      workerData: { handle: handleOf(vp), image },
    });
    const who = { partitionId: vp.partition.id, vpIndex: vp.index };
    worker.on('error', (error) => {
      port.postMessage({ type: 'vp-exit', ...who, error: String(error?.stack ?? error) });
    });
    worker.on('exit', (code) => {
      scheduler.threadExited(vp);
      port.postMessage({ type: 'vp-exit', ...who, code });
    });
    worker.on('message', (m) => port.postMessage({ type: 'guest', ...who, data: m }));
    return worker;
  },
  event(event) {
    port.postMessage(event);
  },
});

// The VP scheduler: grants the logical processors to child VPs (scheduler/dispatcher.ts).
const scheduler = new Dispatcher(kernel, {
  logicalProcessors: boot.options.logicalProcessors,
  sliceMs: boot.options.schedulerSliceMs,
});

let running = true;

function control(message: { type: string; id: number } & Record<string, unknown>): void {
  switch (message.type) {
    case 'attach-root-vp': {
      const vp = kernel.attachRootVp();
      port.postMessage({ type: 'reply', id: message.id, value: handleOf(vp) });
      break;
    }
    case 'ping':
      port.postMessage({ type: 'reply', id: message.id, value: true });
      break;
    case 'stats': {
      const timers: Record<string, number[]> = {};
      for (const vp of kernel.allVps) {
        vp.stimers.forEach((t, i) => {
          if (t.lateness.length) timers[`${vp.partition.id}/${vp.index}/${i}`] = [...t.lateness];
        });
      }
      port.postMessage({
        type: 'reply',
        id: message.id,
        value: {
          partitions: [...kernel.partitions.keys()],
          vps: kernel.allVps.map((vp) => ({ partitionId: vp.partition.id, vpIndex: vp.index })),
          internalErrors: [...kernel.internalErrors],
          stimerLatenessNs: timers,
        },
      });
      break;
    }
    case 'scheduler-stats':
      port.postMessage({ type: 'reply', id: message.id, value: scheduler.stats() });
      break;
    case 'stop':
      running = false;
      scheduler.releaseAll();
      for (const vp of [...kernel.allVps]) kernel.deleteVp(vp);
      port.postMessage({ type: 'reply', id: message.id, value: true });
      break;
    default:
      port.postMessage({ type: 'reply', id: message.id, error: `unknown request ${message.type}` });
  }
}

const SLICE_MS = 5;
const spin = boot.options.hypervisorSpinIterations;

function loop(): void {
  const sliceEnd = performance.now() + SLICE_MS;
  // Liveness for diagnostics: a host request that times out reports whether this loop still turns.
  Atomics.add(bell, HvBell.heartbeat, 1);
  while (running) {
    const seen = Atomics.load(bell, HvBell.sequence);
    for (;;) {
      const m = receiveMessageOnPort(boot.requests) as { message: never } | undefined;
      if (!m) break;
      control(m.message);
    }
    if (!running) break;
    let next = -1n;
    let schedNext = Number.POSITIVE_INFINITY;
    try {
      kernel.serviceTraps();
      next = kernel.runTimers();
      schedNext = scheduler.tick();
    } catch (error) {
      // Never let one bad state end the hypervisor thread: log it and keep serving.
      kernel.internalError('hypervisor loop', error);
    }
    const now = performance.now();
    if (now >= sliceEnd) break;
    if (Atomics.load(bell, HvBell.sequence) !== seen) continue;
    // Adaptive spin (an option measured by the benchmark): poll the bell before sleeping.
    let spun = false;
    for (let i = 0; i < spin; i++) {
      if (Atomics.load(bell, HvBell.sequence) !== seen) {
        spun = true;
        break;
      }
    }
    if (spun) continue;
    let timeout = sliceEnd - now;
    if (next >= 0n) timeout = Math.min(timeout, Number(next - nowNs()) / 1e6);
    if (schedNext < Number.POSITIVE_INFINITY) timeout = Math.min(timeout, (schedNext - monoNs()) / 1e6);
    if (timeout > 0) Atomics.wait(bell, HvBell.sequence, seen, timeout);
  }
  if (running) setImmediate(loop);
  else {
    // From here no trap is served: a VP still trapping or halting sees this and gives up.
    Atomics.store(bell, HvBell.state, HvState.Stopped);
    port.postMessage({ type: 'stopped' });
    port.close();
  }
}

void VpControl;
Atomics.store(bell, HvBell.state, HvState.Running);
port.postMessage({ type: 'ready', rootPartitionId: kernel.root.id });
loop();
