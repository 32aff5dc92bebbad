import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '@viridian/threads';
import { BUILTIN_IMAGES } from '@viridian/vmwp';
import type { VmConfig } from './config.js';
import { ErrorCode, VmmsError } from './errors.js';
import type { RunningVm, VmExit, VmRuntime, VmRuntimeStats, VmStartOptions } from './runtime.js';
import { ExitReason, HeartbeatStatus } from './runtime.js';
import { Command, Ctl, type GuestMessage, type GuestWorkerData, Status } from './thread-protocol.js';

export interface ThreadRuntimeOptions {
  /** How long a boot may take before the start fails. */
  bootTimeoutMs?: number;
  /** How long pause and save wait for the guest's next safe point. */
  safePointTimeoutMs?: number;
  /** Heartbeats older than this count as lost communication. */
  heartbeatLostMs?: number;
}

/**
 * Runs each VM's guest program directly in its own worker thread, without a partition: a stand-in
 * whose guests offer heartbeat and shutdown services in-process. VMMS's policy tests use it to
 * exercise graceful-stop and heartbeat paths until the partitions run the VMBus integration
 * services; hosts run VMs with VmwpRuntime.
 * A fault in one guest (an exception, running out of its memory) ends only that thread.
 */
export class ThreadRuntime implements VmRuntime {
  readonly #options: Required<ThreadRuntimeOptions>;

  constructor(options: ThreadRuntimeOptions = {}) {
    this.#options = {
      bootTimeoutMs: options.bootTimeoutMs ?? 30_000,
      safePointTimeoutMs: options.safePointTimeoutMs ?? 10_000,
      heartbeatLostMs: options.heartbeatLostMs ?? 5_000,
    };
  }

  checkImage(image: string): string | undefined {
    if (Object.hasOwn(BUILTIN_IMAGES, image)) return undefined;
    if (image.startsWith('file:') || isAbsolute(image)) {
      const path = image.startsWith('file:') ? new URL(image).pathname : image;
      return existsSync(path) ? undefined : `guest module ${path} does not exist`;
    }
    return `unknown built-in image "${image}" (known: ${Object.keys(BUILTIN_IMAGES).join(', ')})`;
  }

  async start(config: VmConfig, options: VmStartOptions): Promise<RunningVm> {
    const problem = this.checkImage(config.image);
    if (problem !== undefined) throw new VmmsError(ErrorCode.InvalidArgument, problem);
    const builtin = Object.hasOwn(BUILTIN_IMAGES, config.image);
    const control = new SharedArrayBuffer(Ctl.Length * 4);
    const ctl = new Int32Array(control);
    Atomics.store(ctl, Ctl.BudgetPermille, 1000);
    const data: GuestWorkerData = {
      vmId: config.id,
      vmName: config.name,
      memoryMB: config.memoryMB,
      processorCount: config.processorCount,
      image: builtin || config.image.startsWith('file:') ? config.image : pathToFileURL(config.image).href,
      builtin,
      control,
      restore: options.restore,
      hasRestore: options.restore !== undefined,
    };
    const worker = spawnWorker(new URL('./guest-worker.js', import.meta.url), {
      workerData: data,
      // The VM's memory size is the guest heap's hard limit: exceeding it ends only this worker.
      resourceLimits: { maxOldGenerationSizeMb: Math.max(64, config.memoryMB) },
    });
    const vm = new ThreadVm(worker, ctl, config, options, this.#options);
    await vm.booted(this.#options.bootTimeoutMs);
    return vm;
  }
}

type Waiter = { type: GuestMessage['type'] | 'exit'; resolve: (message: GuestMessage | undefined) => void };

class ThreadVm implements RunningVm {
  readonly #worker: Worker;
  readonly #ctl: Int32Array;
  readonly #config: VmConfig;
  readonly #options: VmStartOptions;
  readonly #timeouts: Required<ThreadRuntimeOptions>;
  readonly #waiters = new Set<Waiter>();
  #startedAt = Date.now();
  #lastTickAt = 0;
  #samples: Array<{ at: number; busyMs: number }> = [];
  #heapMB = 0;
  #paused = false;
  #exited = false;
  #expectExit = false;
  #lastError: Error | undefined;
  #bootFailure: ((error: Error) => void) | undefined;

  constructor(
    worker: Worker,
    ctl: Int32Array,
    config: VmConfig,
    options: VmStartOptions,
    timeouts: Required<ThreadRuntimeOptions>,
  ) {
    this.#worker = worker;
    this.#ctl = ctl;
    this.#config = config;
    this.#options = options;
    this.#timeouts = timeouts;
    worker.on('message', (message: GuestMessage) => this.#onMessage(message));
    worker.on('error', (error) => {
      this.#lastError = error;
    });
    worker.on('exit', (code) => this.#onExit(code));
  }

  booted(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#bootFailure = undefined;
        this.#expectExit = true;
        void this.#worker.terminate();
        reject(new VmmsError(ErrorCode.Timeout, `the guest did not boot within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#bootFailure = (error) => {
        clearTimeout(timer);
        reject(error);
      };
      void this.#waitFor('booted').then((message) => {
        if (message === undefined) return;
        clearTimeout(timer);
        this.#bootFailure = undefined;
        this.#startedAt = Date.now();
        resolve();
      });
    });
  }

  async pause(): Promise<void> {
    this.#command(Command.Pause);
    const ok = await this.#waitFor('paused', this.#timeouts.safePointTimeoutMs);
    if (ok === undefined) {
      this.#command(Command.Run);
      throw this.#notResponding('pause');
    }
    this.#paused = true;
  }

  async resume(): Promise<void> {
    this.#command(Command.Run);
    const ok = await this.#waitFor('resumed', this.#timeouts.safePointTimeoutMs);
    if (ok === undefined) throw this.#notResponding('resume');
    this.#paused = false;
    this.#lastTickAt = Date.now();
  }

  async shutdown(timeoutMs: number): Promise<boolean> {
    if (this.#exited) return true;
    this.#expectExit = true;
    this.#command(Command.Shutdown);
    const outcome = await Promise.race([
      this.#waitFor('exit', timeoutMs),
      this.#waitFor('shutdownRefused', timeoutMs),
    ]);
    if (this.#exited && outcome?.type !== 'shutdownRefused') return !this.#crashed();
    Atomics.compareExchange(this.#ctl, Ctl.Command, Command.Shutdown, Command.Run);
    Atomics.notify(this.#ctl, Ctl.Command);
    this.#expectExit = false;
    this.#cancelWaiters('exit');
    this.#cancelWaiters('shutdownRefused');
    return false;
  }

  async turnOff(): Promise<void> {
    if (this.#exited) return;
    this.#expectExit = true;
    // terminate() interrupts even a guest that never returns from a step; it cannot hang.
    await this.#worker.terminate();
  }

  async save(): Promise<unknown> {
    this.#command(Command.Save);
    const message = await Promise.race([
      this.#waitFor('saved', this.#timeouts.safePointTimeoutMs),
      this.#waitFor('saveFailed', this.#timeouts.safePointTimeoutMs),
    ]);
    this.#cancelWaiters('saved');
    this.#cancelWaiters('saveFailed');
    if (message?.type === 'saved') {
      await this.turnOff();
      return message.state;
    }
    if (message?.type === 'saveFailed') throw new VmmsError(ErrorCode.Internal, message.message);
    Atomics.compareExchange(this.#ctl, Ctl.Command, Command.Save, this.#paused ? Command.Pause : Command.Run);
    Atomics.notify(this.#ctl, Ctl.Command);
    throw this.#notResponding('save');
  }

  setCpuBudget(percent: number): void {
    const permille = Math.round(Math.min(100, Math.max(1, percent)) * 10);
    Atomics.store(this.#ctl, Ctl.BudgetPermille, permille);
  }

  stats(): VmRuntimeStats {
    const now = Date.now();
    const first = this.#samples[0];
    const latest = this.#samples[this.#samples.length - 1];
    const cpuPercent =
      this.#paused || first === undefined || latest === undefined || latest.at === first.at
        ? 0
        : Math.min(100, ((latest.busyMs - first.busyMs) / (latest.at - first.at)) * 100);
    let heartbeat: HeartbeatStatus;
    if (!this.#config.integrationServices.heartbeat) heartbeat = HeartbeatStatus.Disabled;
    else if (this.#paused) heartbeat = HeartbeatStatus.Paused;
    else if (this.#lastTickAt === 0) heartbeat = HeartbeatStatus.NoContact;
    else if (now - this.#lastTickAt > this.#timeouts.heartbeatLostMs)
      heartbeat = HeartbeatStatus.LostCommunication;
    else heartbeat = HeartbeatStatus.Ok;
    return {
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      memoryDemandMB: this.#heapMB,
      uptimeMs: this.#exited ? 0 : now - this.#startedAt,
      heartbeat,
    };
  }

  #command(command: number): void {
    Atomics.store(this.#ctl, Ctl.Command, command);
    Atomics.notify(this.#ctl, Ctl.Command);
  }

  #notResponding(what: string): VmmsError {
    return new VmmsError(
      ErrorCode.Timeout,
      `the guest did not reach a safe point to ${what} within ${this.#timeouts.safePointTimeoutMs} ms`,
    );
  }

  #crashed(): boolean {
    return Atomics.load(this.#ctl, Ctl.Status) === Status.GuestCrashed;
  }

  #onMessage(message: GuestMessage): void {
    switch (message.type) {
      case 'tick': {
        const at = Date.now();
        this.#lastTickAt = at;
        this.#heapMB = message.heapMB;
        this.#samples.push({ at, busyMs: message.busyMs });
        // A window of about two seconds smooths the processor figure.
        while (this.#samples.length > 2 && at - this.#samples[0]!.at > 2000) this.#samples.shift();
        break;
      }
      case 'booted':
        this.#lastTickAt = Date.now();
        break;
      case 'log':
        this.#options.onGuestLog?.(message.message);
        break;
      default:
        break;
    }
    for (const waiter of [...this.#waiters]) {
      if (waiter.type === message.type) {
        this.#waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  }

  #onExit(code: number): void {
    this.#exited = true;
    for (const waiter of [...this.#waiters]) {
      this.#waiters.delete(waiter);
      waiter.resolve(waiter.type === 'exit' ? { type: 'booted' } : undefined);
    }
    const crashed = this.#crashed();
    const reason = crashed ? ExitReason.GuestCrashed : ExitReason.WorkerDied;
    const message = this.#lastError?.message ?? `worker thread exited with code ${code}`;
    if (this.#bootFailure !== undefined) {
      const fail = this.#bootFailure;
      this.#bootFailure = undefined;
      fail(new VmmsError(ErrorCode.Internal, `the VM could not start: ${message}`));
      return;
    }
    if (this.#expectExit && !crashed && (code === 0 || this.#lastError === undefined)) return;
    const exit: VmExit = { reason, message };
    this.#options.onExit(exit);
  }

  /** Resolves with the next message of `type`, or undefined on timeout or exit. */
  #waitFor(type: Waiter['type'], timeoutMs?: number): Promise<GuestMessage | undefined> {
    if (this.#exited) return Promise.resolve(type === 'exit' ? { type: 'booted' } : undefined);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        type,
        resolve: (message) => {
          if (timer !== undefined) clearTimeout(timer);
          resolve(message);
        },
      };
      this.#waiters.add(waiter);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiters.delete(waiter);
          resolve(undefined);
        }, timeoutMs);
      }
    });
  }

  #cancelWaiters(type: Waiter['type']): void {
    for (const waiter of [...this.#waiters]) {
      if (waiter.type === type) {
        this.#waiters.delete(waiter);
        waiter.resolve(undefined);
      }
    }
  }
}
