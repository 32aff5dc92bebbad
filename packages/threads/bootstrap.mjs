// Entry of a worker whose real entry is a TypeScript source file (tests, development):
// registers the tsx loader in this thread, then imports the real entry named in argv.
import { register } from 'tsx/esm/api';

const FLAG = '--viridian-entry=';
const index = process.argv.findIndex((arg) => arg.startsWith(FLAG));
if (index < 0) throw new Error('@viridian/threads bootstrap started without an entry');
const entry = process.argv[index].slice(FLAG.length);
process.argv.splice(index, 1);
register();
await import(entry);
