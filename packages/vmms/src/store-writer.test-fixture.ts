import { writeSync } from 'node:fs';
import { createVmConfig } from './config.js';
import { ConfigStore } from './store.js';

// Child process for the crash-safety test: creates and changes VMs forever, announcing each write
// before it starts ("begin") and after it returns ("commit"), until it is killed with SIGKILL.
const store = new ConfigStore(process.argv[2]!);
const say = (line: string): void => {
  writeSync(1, `${line}\n`); // synchronous: a line is in the pipe before the next write starts
};
const { configs } = store.loadAll();
say('ready');
let round = 0;
for (;;) {
  round++;
  if (configs.length < 12 && round % 3 === 0) {
    const config = createVmConfig({ name: `vm-${process.pid}-${round}`, image: 'idle', notes: 'gen 0' });
    say(`begin ${config.id} 0`);
    store.save(config);
    say(`commit ${config.id} 0`);
    configs.push(config);
    continue;
  }
  const config = configs[round % configs.length];
  if (config === undefined) continue;
  const gen = Number(config.notes.slice(4)) + 1;
  config.notes = `gen ${gen}`;
  // A large, changing payload makes torn writes likely if the store were not atomic.
  config.devices = [{ kind: 'disk', settings: { path: `/images/${'x'.repeat(900)}-${gen}` } }];
  config.memoryMB = 32 + 2 * (gen % 500);
  say(`begin ${config.id} ${gen}`);
  store.save(config);
  say(`commit ${config.id} ${gen}`);
}
