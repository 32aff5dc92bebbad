import { defineGuest } from '../guest.js';

/** Runs for about a second, then fails with an uncaught error: shows crash handling. */
export default defineGuest({
  boot: () => ({ ticks: 0 }),
  step(state, ctx) {
    state.ticks++;
    if (ctx.uptimeMs > 1000) throw new Error(`guest fault after ${state.ticks} ticks`);
    return 20;
  },
});
