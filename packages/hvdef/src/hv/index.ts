// The hypervisor half of @viridian/hvdef: TLFS constants, bit layouts and block layouts.
export * from './call-layouts.js';
export * from './calls.js';
export { HvFieldRangeError } from './errors.js';
export * from './hypercalls.js';
export * from './msr.js';
export * from './msr-fields.js';
export * from './partition.js';
export * from './privileges.js';
export * from './status.js';
