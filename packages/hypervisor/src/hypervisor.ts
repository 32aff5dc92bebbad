import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import { HypervisorError } from './faults.js';
import type { VpHandle } from './guest-vp.js';
import { HV_BELL_BYTES, HvBell, HvState } from './layout.js';
import type { SchedulerStats } from './scheduler/dispatcher.js';

export interface HypervisorOptions {
  /** Size of the root partition's guest-physical memory (default 16 MiB). */
  readonly rootMemoryBytes?: number;
  /**
   * How long start() and each host request (attachRootVp, stats, ping, stop) wait for the
   * hypervisor thread before failing with WORKER_FAILED / REQUEST_TIMEOUT (default 30 000 ms).
   */
  readonly requestTimeoutMs?: number;
  /** Highest VP count per partition (default 64). */
  readonly maxVpsPerPartition?: number;
  /** Largest pool a child may be given by DepositMemory, in 4 KiB pages (default 65536 = 256 MiB). */
  readonly maxPartitionPages?: number;
  /** Time slice of a rep hypercall before it continues in a new trap (default 50 µs). */
  readonly repSliceMicros?: number;
  /** Most elements a rep hypercall processes per trap (default unlimited). */
  readonly repSliceElements?: number;
  /** Iterations a VP spins on its mailbox before Atomics.wait (default 0). */
  readonly vpSpinIterations?: number;
  /** Iterations the hypervisor spins on its doorbell before Atomics.wait (default 0). */
  readonly hypervisorSpinIterations?: number;
  /** Logical processors the scheduler grants to child VPs (default: the host's cores). */
  readonly logicalProcessors?: number;
  /** Scheduler time slice in ms (default 10). */
  readonly schedulerSliceMs?: number;
}

/** Events the hypervisor thread reports to the host. */
export type HypervisorEvent =
  | { type: 'internal-error'; message: string }
  | { type: 'vp-exit'; partitionId: bigint; vpIndex: number; code?: number; error?: string }
  | { type: 'guest'; partitionId: bigint; vpIndex: number; data: unknown }
  | { type: 'intercept'; partitionId: bigint; vpIndex: number; gpa: bigint }
  | { type: 'intercept-lost'; partitionId: bigint; vpIndex: number; gpa: bigint }
  | { type: 'partition-reset'; partitionId: bigint };

export interface HypervisorStats {
  readonly partitions: bigint[];
  readonly vps: { partitionId: bigint; vpIndex: number }[];
  readonly internalErrors: string[];
  /** Lateness (ns) of past synthetic-timer expiries, keyed "partition/vp/timer". */
  readonly stimerLatenessNs: Record<string, number[]>;
}

/**
 * The host's handle on the hypervisor thread. Everything the hypervisor knows lives in that
 * thread; the host only starts it, attaches root VPs and stops it. Root VPs then manage child
 * partitions through hypercalls, like any partition.
 */
export class Hypervisor {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(event: HypervisorEvent) => void>();
  private nextId = 1;
  private stopped = false;
  /** Every event received, in order (internal errors, VP exits, intercepts). */
  readonly events: HypervisorEvent[] = [];

  private constructor(
    private readonly worker: Worker,
    private readonly bell: Int32Array,
    private readonly requests: MessagePort,
    /** The root partition's id (1). */
    readonly rootPartitionId: bigint,
    private readonly requestTimeoutMs: number,
  ) {
    worker.on('message', (m: { type: string; id?: number; value?: unknown; error?: string }) => {
      if (m.type === 'reply' && m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(new HypervisorError('REQUEST_FAILED', m.error));
        else p?.resolve(m.value);
        return;
      }
      if (m.type === 'ready' || m.type === 'stopped') return;
      const event = m as HypervisorEvent;
      this.events.push(event);
      for (const l of this.listeners) l(event);
    });
    const fail = (why: string) => {
      this.stopped = true;
      // VPs blocked in a trap or a halt check this word: nobody will serve them any more.
      Atomics.store(bell, HvBell.state, HvState.Stopped);
      for (const p of this.pending.values()) p.reject(new HypervisorError('WORKER_FAILED', why));
      this.pending.clear();
    };
    worker.on('error', (error) => fail(String(error)));
    worker.on('exit', (code) => fail(`hypervisor thread exited (${code})`));
  }

  /** Starts the hypervisor thread; resolves once the root partition exists. */
  static async start(options: HypervisorOptions = {}): Promise<Hypervisor> {
    const bellBuffer = new SharedArrayBuffer(HV_BELL_BYTES);
    const channel = new MessageChannel();
    const worker = spawnWorker(new URL('./hv-worker.js', import.meta.url), {
      transferList: [channel.port2],
      workerData: {
        bell: bellBuffer,
        requests: channel.port2,
        options: {
          rootMemoryBytes: options.rootMemoryBytes ?? 16 * 1024 * 1024,
          maxVpsPerPartition: options.maxVpsPerPartition ?? 64,
          maxPartitionPages: options.maxPartitionPages ?? 65536,
          repSliceMicros: options.repSliceMicros ?? 50,
          repSliceElements: options.repSliceElements ?? Number.POSITIVE_INFINITY,
          vpSpinIterations: options.vpSpinIterations ?? 0,
          hypervisorSpinIterations: options.hypervisorSpinIterations ?? 0,
          logicalProcessors: options.logicalProcessors ?? availableParallelism(),
          schedulerSliceMs: options.schedulerSliceMs ?? 10,
        },
      },
    });
    const timeoutMs = options.requestTimeoutMs ?? 30_000;
    const ready = new Promise<{ rootPartitionId: bigint }>((resolve, reject) => {
      const done = (error?: HypervisorError, m?: { rootPartitionId: bigint }) => {
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (m) resolve(m);
        else reject(error);
        if (error) void worker.terminate();
      };
      const onMessage = (m: { type: string; rootPartitionId: bigint }) => {
        if (m.type === 'ready') done(undefined, m);
      };
      const onError = (e: unknown) => done(new HypervisorError('WORKER_FAILED', String(e)));
      const onExit = (code: number) =>
        done(new HypervisorError('WORKER_FAILED', `hypervisor thread exited (${code}) before it was ready`));
      const timer = setTimeout(
        () =>
          done(new HypervisorError('WORKER_FAILED', `hypervisor thread not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    const { rootPartitionId } = await ready;
    return new Hypervisor(worker, new Int32Array(bellBuffer), channel.port1, rootPartitionId, timeoutMs);
  }

  private request<T>(type: string): Promise<T> {
    if (this.stopped) return Promise.reject(new HypervisorError('NOT_RUNNING', 'hypervisor stopped'));
    const id = this.nextId++;
    const beat = Atomics.load(this.bell, HvBell.heartbeat);
    return new Promise<T>((resolve, reject) => {
      // Bounded: a request the hypervisor thread never answers fails with what is known of that
      // thread instead of hanging its caller.
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        const turns = (Atomics.load(this.bell, HvBell.heartbeat) - beat) | 0;
        const state =
          turns > 0 ? `its loop turned ${turns} times meanwhile` : 'its loop did not turn (blocked)';
        reject(
          new HypervisorError(
            'REQUEST_TIMEOUT',
            `hypervisor thread did not answer '${type}' (request ${id}) within ${this.requestTimeoutMs} ms; ${state}`,
          ),
        );
      }, this.requestTimeoutMs);
      timer.unref();
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.requests.postMessage({ type, id });
      // The hypervisor thread sleeps on its doorbell: ring it so the request is seen at once.
      Atomics.add(this.bell, HvBell.sequence, 1);
      Atomics.notify(this.bell, HvBell.sequence);
    });
  }

  /**
   * Creates a root VP and returns its handle: plain data to post to any host thread, where
   * connectRootVp(handle) builds the guest-side API.
   */
  attachRootVp(): Promise<VpHandle> {
    return this.request<VpHandle>('attach-root-vp');
  }

  /** A MessagePort request/response round trip through the hypervisor thread (health check). */
  async ping(): Promise<void> {
    await this.request('ping');
  }

  stats(): Promise<HypervisorStats> {
    return this.request<HypervisorStats>('stats');
  }

  /**
   * A snapshot of the VP scheduler: cumulative run time per partition and VP. Two snapshots give
   * CPU usage (cpuUsage(previous, next)).
   */
  schedulerStats(): Promise<SchedulerStats> {
    return this.request<SchedulerStats>('scheduler-stats');
  }

  onEvent(listener: (event: HypervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the first event (past or future) that matches. */
  waitForEvent(match: (event: HypervisorEvent) => boolean, timeoutMs = 10_000): Promise<HypervisorEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new HypervisorError('REQUEST_FAILED', 'timed out waiting for a hypervisor event'));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (!match(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  /** Stops every VP and the hypervisor thread. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.request('stop');
    } finally {
      // Even when the thread did not answer: end it, so nothing waits on it any more.
      this.stopped = true;
      Atomics.store(this.bell, HvBell.state, HvState.Stopped);
      this.requests.close();
      // Bounded too: a thread that does not end is let go (unref'd, its VPs already see Stopped) and
      // reported as an internal error, instead of holding the caller (a test hook, a host restart) forever.
      const exited = Promise.race([
        once(this.worker, 'exit').then(
          () => true,
          () => true,
        ),
        this.worker.terminate().then(
          () => true,
          () => true,
        ),
        new Promise<false>((resolve) => setTimeout(resolve, this.requestTimeoutMs, false).unref()),
      ]);
      if (!(await exited)) {
        this.worker.unref();
        const event: HypervisorEvent = {
          type: 'internal-error',
          message: `hypervisor thread did not exit within ${this.requestTimeoutMs} ms of stop; left to end on its own`,
        };
        this.events.push(event);
        for (const l of this.listeners) l(event);
      }
    }
  }
}
