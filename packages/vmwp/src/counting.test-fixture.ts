import { defineGuest } from './guest.js';

// A guest for tests: counts steps, keeps a page-sized buffer in its state and logs its count.
export default defineGuest({
  boot: () => ({ ticks: 0, pattern: new Uint8Array(8192).map((_, i) => (i * 7) & 0xff) }),
  step(state, ctx) {
    state.ticks++;
    if (state.ticks % 10 === 0) ctx.log(`ticks=${state.ticks}`);
    return 5;
  },
});
