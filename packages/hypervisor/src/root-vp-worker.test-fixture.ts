// A host thread acting as a root VP from a handle it was posted.
import { parentPort, workerData } from 'node:worker_threads';
import { connectRootVp, type VpHandle } from './guest-vp.js';

const vp = connectRootVp(workerData as VpHandle);
const created = vp.createPartition();
parentPort?.postMessage({ vpIndex: vp.vpIndex, self: vp.getPartitionId(), created });
