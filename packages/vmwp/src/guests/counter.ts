import { defineGuest } from '../guest.js';

/** Counts ticks and keeps a running total; light on the processor. */
export default defineGuest({
  boot: () => ({ ticks: 0, total: 0 }),
  step(state, ctx) {
    state.ticks++;
    if (state.ticks % 200 === 1) ctx.publish('Ticks', String(state.ticks));
    for (let i = 0; i < 2000; i++) state.total = (state.total + i * state.ticks) % 1_000_000_007;
    return 5;
  },
});
