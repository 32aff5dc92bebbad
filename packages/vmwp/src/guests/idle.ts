import { defineGuest } from '../guest.js';

/** Does almost nothing: wakes ten times a second. */
export default defineGuest({
  boot: () => ({ wakeups: 0 }),
  step(state) {
    state.wakeups++;
    return 100;
  },
});
