import type { BlockDevice } from '@viridian/storage';
import type { GuestContext } from '../guest.js';
import { defineGuest } from '../guest.js';
import { commitKv, type KvFailure, type KvState, openKvStore, verifyKv } from './kvstore-store.js';
import { transactionPuts, workloadProblem } from './kvstore-workload.js';

const LUN = 0;
const IDLE_MS = 20;
const VERIFY_EVERY = 50;
const RETRY_MS = 500;
const STOPPED_MS = 1000;

interface KvProgramState {
  /** The open store's view; undefined until the disk at LUN 0 is opened. */
  store: KvState | undefined;
  /** Serial number of the disk the view was last checked against. */
  serial: string | undefined;
  /** Committed sequence the last open found on the disk. */
  bootCommitted: number | undefined;
  sinceVerify: number;
  /** Set once the store is found corrupt or unusable: nothing is written to it any more. */
  stopped: string | undefined;
  /** The last `kvstore.check` published, so a lasting condition is logged once. */
  check: string | undefined;
}

/**
 * The device each live state was last opened or verified on. Kept outside the state on purpose: a
 * restored state is a new object, so its first step verifies the disk before writing to it.
 */
const checkedOn = new WeakMap<KvProgramState, BlockDevice>();

/**
 * A key-value store on the VM's SCSI disk at LUN 0, committing one deterministic transaction per step
 * and verifying the whole store from the disk every 50 steps. Publishes `kvstore.committed`,
 * `kvstore.bootCommitted`, `kvstore.keys`, `kvstore.check` (`ok`, `no-disk`, `io-error: …`,
 * `corrupt: …`, `error: …`) and, on a VSS freeze, `kvstore.frozenAt`.
 */
export default defineGuest<KvProgramState>({
  boot: () => ({
    store: undefined,
    serial: undefined,
    bootCommitted: undefined,
    sinceVerify: 0,
    stopped: undefined,
    check: undefined,
  }),

  async step(state, ctx) {
    if (state.stopped !== undefined) {
      report(state, ctx, state.stopped);
      return STOPPED_MS;
    }
    const disk = ctx.disk(LUN);
    if (disk === undefined || disk.removed) {
      report(state, ctx, 'no-disk');
      return RETRY_MS;
    }
    if (state.store !== undefined && checkedOn.get(state) !== disk) {
      // A device the view was not checked against (after a restore, a re-attach, or another disk at
      // the LUN): write nothing until the disk is known to match memory.
      const verified = await verifyKv(disk, state.store);
      if (verified.ok) {
        if (state.serial !== disk.serial)
          ctx.log(`kvstore: disk ${disk.serial} at LUN ${LUN} matches memory`);
        checkedOn.set(state, disk);
        state.serial = disk.serial;
        report(state, ctx, 'ok');
      } else if (verified.code === 'io') {
        return failed(state, ctx, verified);
      } else {
        ctx.log(`kvstore: the disk at LUN ${LUN} does not match memory (${verified.reason}); opening it`);
        state.store = undefined;
      }
    }
    if (state.store === undefined) {
      const opened = await openKvStore(disk);
      if (!opened.ok) return failed(state, ctx, opened);
      const { header, entries } = opened.state;
      const problem = workloadProblem(entries, header.committed);
      if (problem !== undefined) return failed(state, ctx, { ok: false, code: 'corrupt', reason: problem });
      state.store = opened.state;
      state.serial = disk.serial;
      checkedOn.set(state, disk);
      state.bootCommitted = header.committed;
      state.sinceVerify = 0;
      ctx.log(
        `kvstore: opened at sequence ${header.committed}, ${entries.size} keys` +
          (opened.formatted ? ' (formatted a blank disk)' : '') +
          (opened.fellBack ? ' (a damaged header was skipped)' : ''),
      );
      report(state, ctx, 'ok');
      publish(state, ctx);
      return IDLE_MS;
    }

    const store = state.store;
    const committed = await commitKv(disk, store, transactionPuts(store.header.committed + 1));
    if (!committed.ok) return failed(state, ctx, committed);
    if (++state.sinceVerify >= VERIFY_EVERY) {
      state.sinceVerify = 0;
      const verified = await verifyKv(disk, store);
      if (!verified.ok) return failed(state, ctx, verified);
      const problem = workloadProblem(store.entries, store.header.committed);
      if (problem !== undefined) return failed(state, ctx, { ok: false, code: 'corrupt', reason: problem });
      report(state, ctx, 'ok');
    }
    publish(state, ctx);
    return IDLE_MS;
  },

  async freeze(state, ctx) {
    // The firmware calls this between steps, and every step ends with its transaction committed
    // (flushed log, flushed header): the disk is already consistent. Flush once more for certainty.
    const disk = ctx.disk(LUN);
    if (state.store !== undefined && disk !== undefined && !disk.removed) {
      try {
        await disk.flush();
      } catch (error) {
        ctx.log(`kvstore: flush at freeze failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const at = state.store?.header.committed;
    ctx.publish('kvstore.frozenAt', at === undefined ? 'none' : String(at));
    ctx.log(`kvstore: frozen at sequence ${at ?? 'none'}`);
  },

  thaw(state, ctx) {
    ctx.log(`kvstore: thawed at sequence ${state.store?.header.committed ?? 'none'}`);
  },
});

/** Publishes every item each step: a restored VM's KVP pool starts empty, the program state does not. */
function publish(state: KvProgramState, ctx: GuestContext): void {
  if (state.store === undefined) return;
  ctx.publish('kvstore.committed', String(state.store.header.committed));
  ctx.publish('kvstore.keys', String(state.store.entries.size));
  if (state.bootCommitted !== undefined) ctx.publish('kvstore.bootCommitted', String(state.bootCommitted));
  if (state.check !== undefined) ctx.publish('kvstore.check', state.check.slice(0, 500));
}

/** Publishes the store's condition; logs it when it changes. */
function report(state: KvProgramState, ctx: GuestContext, check: string): void {
  if (state.check !== check) ctx.log(`kvstore: ${check === 'no-disk' ? `no disk at LUN ${LUN}` : check}`);
  state.check = check;
  ctx.publish('kvstore.check', check.slice(0, 500));
}

/**
 * A device failure drops the view (the disk may be ahead of it) and opens the store again later;
 * corruption, or a store that cannot go on, stops all writing to it.
 */
function failed(state: KvProgramState, ctx: GuestContext, failure: KvFailure): number {
  state.store = undefined;
  if (failure.code === 'io') {
    report(state, ctx, `io-error: ${failure.reason}`);
    return RETRY_MS;
  }
  const check = failure.code === 'corrupt' ? `corrupt: ${failure.reason}` : `error: ${failure.reason}`;
  state.stopped = check;
  report(state, ctx, check);
  return STOPPED_MS;
}
