import { defineGuest } from '../guest.js';

/** Searches for primes without pause: a processor-bound guest, useful to show CPU weights at work. */
export default defineGuest({
  boot: () => ({ next: 2, found: 0, largest: 0 }),
  step(state) {
    const end = state.next + 200;
    for (let n = state.next; n < end; n++) {
      let prime = n > 1;
      for (let d = 2; d * d <= n; d++) {
        if (n % d === 0) {
          prime = false;
          break;
        }
      }
      if (prime) {
        state.found++;
        state.largest = n;
      }
    }
    state.next = end;
    return 0;
  },
});
