import type { ViridianClient } from '@viridian/client';
import type { JobInfo } from '@viridian/vmms';

/** What a command group needs from the CLI: the connection, output in the chosen form, and job display. */
export interface CommandContext {
  connect(): Promise<ViridianClient>;
  /** Prints `human()` as text, or `machine` as JSON under --json. */
  print(human: () => string, machine: unknown): void;
  json(): boolean;
  /**
   * Follows a job with the progress display (or prints that it started when `wait` is false) and
   * resolves with its final snapshot, or undefined without waiting. A job that did not complete
   * throws: the CLI exits 1 with its error.
   */
  followJob(label: string, started: JobInfo, wait: boolean): Promise<JobInfo | undefined>;
}
