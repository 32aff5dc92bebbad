import { defineGuest } from './guest.js';

// A guest for the disk tests: writes one block per step to LUN 0 (block r holds round r: r + 1 in
// the first four bytes, then r % 255 + 1; never zeros), after checking that block r-1 reads back as written.
// Publishes its progress in the GUEST KVP pool. A VM whose name contains "noflush" never flushes
// its writes itself (only the firmware does, at a VSS freeze).

export const ROUND_LIMIT = 1000;

export function roundBlock(round: number, blockSize: number): Uint8Array {
  const block = new Uint8Array(blockSize).fill((round % 255) + 1);
  new DataView(block.buffer).setUint32(0, round + 1, true);
  return block;
}

interface State {
  round: number;
  freezes: number;
  thaws: number;
  disks: string;
}

export default defineGuest<State>({
  boot: () => ({ round: 0, freezes: 0, thaws: 0, disks: '' }),
  async step(state, ctx) {
    const disks = ctx.disks.map((d) => d.lun).join(',');
    if (disks !== state.disks) {
      state.disks = disks;
      ctx.log(`disks=${disks}`);
    }
    ctx.publish('Disks', disks);
    const disk = ctx.disk(0);
    if (disk === undefined || state.round >= ROUND_LIMIT) return 20;
    try {
      if (state.round > 0) {
        const previous = await disk.read(state.round - 1, 1);
        const want = roundBlock(state.round - 1, disk.blockSize);
        if (!Buffer.from(previous).equals(Buffer.from(want)))
          throw new Error(`block ${state.round - 1} does not hold what was written`);
      }
      await disk.write(state.round, roundBlock(state.round, disk.blockSize));
      if (!ctx.vmName.includes('noflush')) await disk.flush();
    } catch (error) {
      // Hot-removed during the step: the round did not happen.
      if (disk.removed) return 20;
      throw error;
    }
    state.round++;
    ctx.publish('Round', String(state.round));
    return 20;
  },
  freeze(state, ctx) {
    state.freezes++;
    ctx.publish('Freezes', String(state.freezes));
  },
  thaw(state, ctx) {
    state.thaws++;
    ctx.publish('Thaws', String(state.thaws));
  },
});
