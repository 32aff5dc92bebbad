// The storage benchmark's guest program: runs inside a child partition (VmwpRuntime) and reads the
// SCSI disk at LUN 0 through the firmware's storvsc driver, first 4 KiB random reads at queue depth 16,
// then 1 MiB sequential reads at queue depth 4, each for STORAGE_GUEST.runMs, and publishes the
// figures in the guest KVP pool. Work is cut into short steps so the VM stays pausable between them;
// a figure is the operations completed over the whole phase's wall time, step boundaries included.
//
// Only types come from @viridian/vmwp: the module is loaded by the partition's firmware and by the
// suite (for the constants below), and neither needs anything else from it.

import type { GuestContext, GuestProgram } from '@viridian/vmwp';

/** What the suite and the program agree on. */
export const STORAGE_GUEST = {
  runMs: 2000,
  /** How long one step keeps its reads in flight before it returns to the firmware's loop. */
  stepMs: 200,
  randomDepth: 16,
  randomBytes: 4096,
  sequentialDepth: 4,
  sequentialBytes: 1 << 20,
  /** Guest KVP items: 4 KiB random reads per second, 1 MiB sequential MB/s (10^6 bytes), or why it failed. */
  keys: {
    iops: 'bench.storage.randomReadIops',
    mbps: 'bench.storage.sequentialReadMBps',
    error: 'bench.storage.error',
  },
} as const;

interface Phase {
  readonly depth: number;
  readonly bytes: number;
  /** The first LBA of operation `i`, in units of the operation's size. */
  readonly unit: (i: number, units: number) => number;
}

/** A small deterministic spread of offsets (the host-side baselines use the same one). */
export const spreadUnit = (i: number, units: number): number => ((i * 2_654_435_761) >>> 0) % units;

const PHASES: readonly Phase[] = [
  { depth: STORAGE_GUEST.randomDepth, bytes: STORAGE_GUEST.randomBytes, unit: spreadUnit },
  {
    depth: STORAGE_GUEST.sequentialDepth,
    bytes: STORAGE_GUEST.sequentialBytes,
    unit: (i, units) => i % units,
  },
];

interface State {
  /** Index into PHASES; PHASES.length once both figures are published. */
  phase: number;
  /** ctx.uptimeMs when the phase's first step began. */
  startedMs: number;
  /** Operations completed in this phase. */
  ops: number;
  /** The next operation number to issue. */
  next: number;
  failed: boolean;
}

/** Keeps `depth` reads of `phase` in flight until `untilMs` (guest uptime); returns how many completed. */
async function readFor(phase: Phase, state: State, ctx: GuestContext, untilMs: number): Promise<number> {
  const disk = ctx.disk(0)!;
  const blocks = phase.bytes / disk.blockSize;
  const units = Math.floor((disk.blocks * disk.blockSize) / phase.bytes);
  let done = 0;
  const lane = async () => {
    while (ctx.uptimeMs < untilMs) {
      const i = state.next++;
      await disk.read(phase.unit(i, units) * blocks, blocks);
      done++;
    }
  };
  await Promise.all(Array.from({ length: phase.depth }, lane));
  return done;
}

function publishResult(state: State, ctx: GuestContext, elapsedMs: number): void {
  const perSecond = state.ops / (elapsedMs / 1000);
  if (state.phase === 0) ctx.publish(STORAGE_GUEST.keys.iops, String(perSecond));
  else ctx.publish(STORAGE_GUEST.keys.mbps, String((perSecond * STORAGE_GUEST.sequentialBytes) / 1e6));
}

const program: GuestProgram<State> = {
  boot: () => ({ phase: 0, startedMs: -1, ops: 0, next: 0, failed: false }),
  async step(state, ctx) {
    if (state.failed || state.phase >= PHASES.length) return 250;
    const disk = ctx.disk(0);
    if (disk === undefined) return 20;
    const phase = PHASES[state.phase]!;
    if (phase.bytes % disk.blockSize !== 0 || disk.blocks * disk.blockSize < phase.bytes) {
      state.failed = true;
      ctx.publish(STORAGE_GUEST.keys.error, `LUN 0 (${disk.blocks} × ${disk.blockSize} B) is too small`);
      return 250;
    }
    if (state.startedMs < 0) state.startedMs = ctx.uptimeMs;
    const endMs = state.startedMs + STORAGE_GUEST.runMs;
    try {
      state.ops += await readFor(phase, state, ctx, Math.min(endMs, ctx.uptimeMs + STORAGE_GUEST.stepMs));
    } catch (error) {
      state.failed = true;
      ctx.publish(STORAGE_GUEST.keys.error, (error as Error)?.message ?? String(error));
      return 250;
    }
    const now = ctx.uptimeMs;
    if (now < endMs) return 0;
    publishResult(state, ctx, now - state.startedMs);
    Object.assign(state, { phase: state.phase + 1, startedMs: -1, ops: 0, next: 0 });
    return 0;
  },
};

export default program;
