import { defineGuest } from '../guest.js';

/** Refuses every shutdown request, like a guest whose application blocks shutdown. */
export default defineGuest({
  boot: () => ({ refused: 0, ticks: 0 }),
  step(state) {
    state.ticks++;
    return 20;
  },
  shutdown(state, ctx) {
    state.refused++;
    ctx.log(`shutdown refused (${state.refused})`);
    return false;
  },
});
