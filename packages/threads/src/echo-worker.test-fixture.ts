import { parentPort, workerData } from 'node:worker_threads';

// A typed entry the test starts from source: proves the loader, workerData and argv handling.
const input: { word: string } = workerData;
parentPort!.postMessage({ echoed: input.word, argv: process.argv.slice(2) });
