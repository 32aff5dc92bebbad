/** One measured figure. When a baseline was measured in the same run, `ratio = value / baselineValue`. */
export interface BenchRecord {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: string;
  readonly baselineValue?: number;
  readonly ratio?: number;
}

/** A group of benchmarks, one module per file under `src/suites/`, exported as `suite`. */
export interface BenchSuite {
  readonly name: string;
  run(): Promise<BenchRecord[]>;
}
