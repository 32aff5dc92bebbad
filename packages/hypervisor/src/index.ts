export { GeneralProtectionFault, HypervisorError, InvalidOpcodeFault, MemoryAccessFault } from './faults.js';
export {
  connectRootVp,
  decodeResult,
  encodeInput,
  GUEST_TSC_FREQUENCY,
  GuestVp,
  type HypercallResult,
  type InterruptHandler,
  type VpHandle,
} from './guest-vp.js';
export {
  Hypervisor,
  type HypervisorEvent,
  type HypervisorOptions,
  type HypervisorStats,
} from './hypervisor.js';
export {
  ApicPage,
  HvBell,
  HvState,
  MailboxState,
  PAGE_SIZE,
  TrapOp,
  TrapOutcome,
  VP_CONTROL_BYTES,
  VpControl,
  VpRunState,
} from './layout.js';
export { Access, GuestMemory } from './memory.js';
export type {
  PartitionSchedStats,
  SchedulerStats,
  VpSchedStats,
} from './scheduler/dispatcher.js';
export type { SchedParams } from './scheduler/policy.js';
export { type CpuUsage, cpuUsage, type PartitionUsage } from './scheduler/usage.js';
