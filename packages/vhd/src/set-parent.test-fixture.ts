// Child process for the set-parent crash test: re-points one differencing disk at three parents in
// turn, printing the step once setParent has returned. The test kills it with SIGKILL at any point.
import { setParent } from './index.js';

const [child, ...parents] = process.argv.slice(2) as [string, ...string[]];
for (let i = 0; ; i++) {
  await setParent(child, parents[i % parents.length]!);
  process.stdout.write(`set ${i}\n`);
}
