import { ErrorCode, VmmsError } from './errors.js';
import { newGuid } from './guid.js';

export const JobState = {
  Running: 'Running',
  Completed: 'Completed',
  Failed: 'Failed',
  Cancelled: 'Cancelled',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

export interface JobError {
  code: ErrorCode;
  message: string;
}

/** A snapshot of a long operation, as the API reports it. */
export interface JobInfo {
  id: string;
  kind: string;
  vmId: string | undefined;
  state: JobState;
  percent: number;
  message: string;
  startedAt: number;
  endedAt: number | undefined;
  result: unknown;
  error: JobError | undefined;
}

export type JobListener = (job: JobInfo) => void;

/** The handle an operation uses to report on its job. */
export interface JobHandle {
  readonly id: string;
  /** True once a caller asked to cancel; the operation decides where it can stop. */
  readonly cancelRequested: boolean;
  progress(percent: number, message: string): void;
}

const FINISHED_KEPT = 200;

/** Tracks long operations: progress 0–100, a final state, a result or an error, and listeners. */
export class JobManager {
  readonly #jobs = new Map<string, JobInfo>();
  readonly #cancel = new Set<string>();
  readonly #listeners = new Set<JobListener>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Starts `work` as a job and returns its first snapshot at once; the work continues in the background. */
  run(kind: string, vmId: string | undefined, work: (job: JobHandle) => Promise<unknown>): JobInfo {
    const info: JobInfo = {
      id: newGuid(),
      kind,
      vmId,
      state: JobState.Running,
      percent: 0,
      message: 'started',
      startedAt: this.#now(),
      endedAt: undefined,
      result: undefined,
      error: undefined,
    };
    this.#jobs.set(info.id, info);
    const manager = this;
    const handle: JobHandle = {
      id: info.id,
      get cancelRequested() {
        return manager.#cancel.has(info.id);
      },
      progress(percent, message) {
        if (info.state !== JobState.Running) return;
        info.percent = Math.max(info.percent, Math.min(100, Math.max(0, Math.round(percent))));
        info.message = message;
        manager.#emit(info);
      },
    };
    this.#emit(info);
    // Defer so the caller gets the job id before any progress or completion is reported.
    queueMicrotask(() => {
      work(handle).then(
        (result) => this.#finish(info, JobState.Completed, result, undefined),
        (error: unknown) => {
          // Work that stops because it was asked to ends Cancelled, whatever error it stopped with.
          const cancelled = this.#cancel.has(info.id);
          const code = error instanceof VmmsError ? error.code : ErrorCode.Internal;
          const message = error instanceof Error ? error.message : String(error);
          this.#finish(info, cancelled ? JobState.Cancelled : JobState.Failed, undefined, { code, message });
        },
      );
    });
    return { ...info };
  }

  get(id: string): JobInfo {
    const job = this.#jobs.get(id);
    if (job === undefined) throw new VmmsError(ErrorCode.NotFound, `no job with id ${id}`);
    return { ...job };
  }

  list(): JobInfo[] {
    return [...this.#jobs.values()].map((job) => ({ ...job }));
  }

  /** Asks a running job to stop early. Operations that can stop check `cancelRequested`. */
  cancel(id: string): JobInfo {
    const job = this.get(id);
    if (job.state !== JobState.Running) {
      throw new VmmsError(ErrorCode.InvalidState, `job ${id} is already ${job.state}`);
    }
    this.#cancel.add(id);
    return job;
  }

  /** Resolves with the job's final snapshot. */
  wait(id: string): Promise<JobInfo> {
    const job = this.get(id);
    if (job.state !== JobState.Running) return Promise.resolve(job);
    return new Promise((resolve) => {
      const off = this.subscribe((update) => {
        if (update.id === id && update.state !== JobState.Running) {
          off();
          resolve(update);
        }
      });
    });
  }

  subscribe(listener: JobListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #finish(info: JobInfo, state: JobState, result: unknown, error: JobError | undefined): void {
    info.state = state;
    info.endedAt = this.#now();
    info.result = result;
    info.error = error;
    if (state === JobState.Completed) {
      info.percent = 100;
      info.message = 'completed';
    } else {
      info.message = error?.message ?? state;
    }
    this.#cancel.delete(info.id);
    this.#emit(info);
    this.#prune();
  }

  #emit(info: JobInfo): void {
    const snapshot = { ...info };
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch {
        // A broken listener must not break the job or other listeners.
      }
    }
  }

  #prune(): void {
    const finished = [...this.#jobs.values()].filter((job) => job.state !== JobState.Running);
    for (const job of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT)))
      this.#jobs.delete(job.id);
  }
}
