// The hypervisor half of @viridian/hvdef: TLFS constants, bit layouts and block layouts.
export * from './apic.js';
export * from './call-layouts.js';
export * from './calls.js';
export * from './cpuid.js';
export { HvFieldRangeError } from './errors.js';
export * from './hypercalls.js';
export * from './limits.js';
export * from './msr.js';
export * from './msr-fields.js';
export * from './partition.js';
export * from './ports.js';
export * from './privileges.js';
export * from './status.js';
export * from './synic.js';
export * from './time.js';
