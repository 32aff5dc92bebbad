import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { FileRuntime, jobResult, makeDisk, writeText } from './storage.test-fixture.js';
import { Vmms } from './vmms.js';

// Child process for the kill -9 recovery test: a running VM whose guest writes a generation number
// to its disk, then a backup, a checkpoint and its removal, forever, until it is killed. Each write
// is announced before it starts ("begin") and after it returns ("commit").
const [dataDir, disksDir, backupsDir] = process.argv.slice(2) as [string, string, string];
const say = (line: string): void => {
  writeSync(1, `${line}\n`);
};
const runtime = new FileRuntime();
const vmms = new Vmms({ dataDir, runtime });
await vmms.startService();
let gen = 0;
if (vmms.list().length === 0) {
  const base = await makeDisk(join(disksDir, 'web.vhdx'), 'gen 0');
  vmms.create({ name: 'web', image: 'idle', automaticStartAction: 'Nothing' });
  await vmms.attachDisk('web', { path: base });
} else {
  gen = Number(process.argv[5]);
}
await jobResult(vmms, vmms.start('web'));
say('ready');
for (let round = 0; ; round++) {
  gen++;
  say(`begin ${gen}`);
  await writeText(runtime.disks.get(0)!, `gen ${gen}`);
  say(`commit ${gen}`);
  await jobResult(vmms, vmms.backup('web', join(backupsDir, `${process.pid}-${round}`)));
  const cp = await jobResult<{ id: string }>(vmms, vmms.createCheckpoint('web', { name: `cp ${gen}` }));
  await jobResult(vmms, vmms.removeCheckpoint('web', cp.id));
}
