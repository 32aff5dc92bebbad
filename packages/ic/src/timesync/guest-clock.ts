/**
 * A guest's wall clock as a VM has it: it counts an oscillator that runs `drift` fast or slow (0.01 = 1 %
 * fast) against the true time base, and can be stepped or re-rated by time synchronisation.
 * Readings are milliseconds since the Unix epoch.
 */
export class DriftingClock {
  readonly #source: () => number;
  readonly #drift: number;
  #baseReading: number;
  #baseSource: number;
  #rate = 1;

  /**
   * @param source the true time base in milliseconds (the partition reference counter)
   * @param start the clock's reading now
   * @param drift relative error of the guest oscillator
   */
  constructor(source: () => number, start: number, drift = 0) {
    this.#source = source;
    this.#drift = drift;
    this.#baseReading = start;
    this.#baseSource = source();
  }

  now(): number {
    return this.#baseReading + (this.#source() - this.#baseSource) * (1 + this.#drift) * this.#rate;
  }

  /** The correction factor time sync has applied to the oscillator. */
  get rate(): number {
    return this.#rate;
  }

  get drift(): number {
    return this.#drift;
  }

  /** Hard-set the reading. */
  step(to: number): void {
    this.#baseSource = this.#source();
    this.#baseReading = to;
  }

  /** Change the correction factor from now on (the reading is continuous). */
  setRate(rate: number): void {
    const reading = this.now();
    this.#baseSource = this.#source();
    this.#baseReading = reading;
    this.#rate = rate;
  }
}
