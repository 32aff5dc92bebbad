import { mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

// Each end-to-end file runs a hypervisor with several VP threads; on a 2-core machine two of them at
// once starve each other, so files run one after another.
export default mergeConfig(shared, { test: { fileParallelism: false } });
