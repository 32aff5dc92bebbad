// The hypervisor half of @viridian/hvdef: TLFS constants, bit layouts and block layouts.
export * from './calls.js';
export { HvFieldRangeError } from './errors.js';
export * from './msr.js';
export * from './privileges.js';
export * from './status.js';
