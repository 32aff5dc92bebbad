// Child process for the merge crash test: merges one differencing disk, printing `step <n>` at each
// point of the merge (1 once the child records the merge, 1 + k after the k-th block written into the
// parent, 1000 once the parent is complete, before the child is deleted). With a stop step it waits
// there for the kill; without one it runs on and waits at the end (step 2000). Either way the test
// ends it with SIGKILL.
import { type MergeStep, mergeInSteps } from './merge.js';

const [child, stopArg] = process.argv.slice(2) as [string, string | undefined];
const stop = stopArg === undefined ? -1 : Number(stopArg);
// A pending timer keeps the process alive while it waits to be killed.
const forever = () => new Promise<void>(() => setInterval(() => undefined, 60_000));
let blocks = 0;

async function report(n: number): Promise<void> {
  process.stdout.write(`step ${n}\n`);
  if (n === stop) await forever();
}

await mergeInSteps(child, {}, (s: MergeStep) =>
  report(s === 'recorded' ? 1 : s === 'block' ? 1 + ++blocks : 1000),
);
await report(2000);
await forever();
