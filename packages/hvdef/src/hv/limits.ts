// Published Hyper-V maximums (spec section 8, Windows Server documentation). A null field is one
// no stored primary source confirms; Windows Server 2008 is left out for that reason.

const TiB = 2 ** 40;
const GiB = 2 ** 30;
const PiB = 2 ** 50;

export interface HyperVMaximums {
  readonly release: string;
  /** Logical processors on the host. */
  readonly hostLogicalProcessors: number | null;
  /** Logical processors (virtual processors) the root partition itself can use. */
  readonly rootLogicalProcessors: number | null;
  /** Host memory in bytes (with 5-level paging where that matters). */
  readonly hostMemoryBytes: number | null;
  /** Host memory in bytes with 4-level paging, where the release distinguishes. */
  readonly hostMemoryBytes4LevelPaging?: number;
  readonly runningVmsPerHost: number | null;
  readonly virtualProcessorsPerHost: number | null;
  /** Virtual processors per VM: generation 2 from 2012 R2 on; before that, the only generation. */
  readonly virtualProcessorsPerVm: number | null;
  readonly virtualProcessorsPerGen1Vm: number | null;
  readonly memoryPerVmBytes: number | null;
  readonly memoryPerGen1VmBytes: number | null;
}

export const HYPERV_MAXIMUMS: readonly HyperVMaximums[] = [
  {
    release: 'Windows Server 2008 R2',
    hostLogicalProcessors: null,
    rootLogicalProcessors: null,
    hostMemoryBytes: null,
    runningVmsPerHost: null,
    virtualProcessorsPerHost: null,
    virtualProcessorsPerVm: 4,
    virtualProcessorsPerGen1Vm: 4,
    memoryPerVmBytes: 64 * GiB,
    memoryPerGen1VmBytes: 64 * GiB,
  },
  {
    release: 'Windows Server 2012 / 2012 R2',
    hostLogicalProcessors: 320,
    rootLogicalProcessors: null,
    hostMemoryBytes: 4 * TiB,
    runningVmsPerHost: 1024,
    virtualProcessorsPerHost: 2048,
    virtualProcessorsPerVm: 64,
    virtualProcessorsPerGen1Vm: 64,
    memoryPerVmBytes: 1 * TiB,
    memoryPerGen1VmBytes: 1 * TiB,
  },
  {
    release: 'Windows Server 2016',
    hostLogicalProcessors: 512,
    rootLogicalProcessors: 320,
    hostMemoryBytes: 24 * TiB,
    runningVmsPerHost: 1024,
    virtualProcessorsPerHost: 2048,
    virtualProcessorsPerVm: 240,
    virtualProcessorsPerGen1Vm: 64,
    memoryPerVmBytes: 12 * TiB,
    memoryPerGen1VmBytes: 1 * TiB,
  },
  {
    release: 'Windows Server 2019',
    hostLogicalProcessors: 512,
    rootLogicalProcessors: 320,
    hostMemoryBytes: 24 * TiB,
    runningVmsPerHost: 1024,
    virtualProcessorsPerHost: 2048,
    // The current documentation says 250; its 2016-2019 predecessor said 240.
    virtualProcessorsPerVm: 250,
    virtualProcessorsPerGen1Vm: 64,
    memoryPerVmBytes: 12 * TiB,
    memoryPerGen1VmBytes: 1 * TiB,
  },
  {
    release: 'Windows Server 2022',
    hostLogicalProcessors: 1024,
    rootLogicalProcessors: 1024,
    hostMemoryBytes: 4 * PiB,
    hostMemoryBytes4LevelPaging: 256 * TiB,
    runningVmsPerHost: 1024,
    virtualProcessorsPerHost: 2048,
    virtualProcessorsPerVm: 1024,
    virtualProcessorsPerGen1Vm: 64,
    memoryPerVmBytes: 240 * TiB,
    memoryPerGen1VmBytes: 1 * TiB,
  },
  {
    release: 'Windows Server 2025',
    hostLogicalProcessors: 2048,
    rootLogicalProcessors: 2048,
    hostMemoryBytes: 4 * PiB,
    hostMemoryBytes4LevelPaging: 256 * TiB,
    runningVmsPerHost: 1024,
    virtualProcessorsPerHost: 2048,
    virtualProcessorsPerVm: 2048,
    virtualProcessorsPerGen1Vm: 64,
    memoryPerVmBytes: 240 * TiB,
    memoryPerGen1VmBytes: 1 * TiB,
  },
];

/** Largest VP count Linux's x64 Hyper-V code handles (HV_MAXIMUM_PROCESSORS). */
export const HV_LINUX_MAX_PROCESSORS = 2048;
