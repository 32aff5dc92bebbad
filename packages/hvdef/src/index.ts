// Every constant and binary layout of the Hyper-V interfaces Viridian speaks.
// Each area lives in its own module; this file only re-exports them.
export * from './hv/index.js';
export * from './ic/index.js';
export * from './vmbus/index.js';
