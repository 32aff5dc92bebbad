/** A general-protection fault raised in the guest by an MSR or CPUID access (a guest-side exception). */
export class GeneralProtectionFault extends Error {
  readonly code = 'GP' as const;
  constructor(readonly detail: string) {
    super(`#GP: ${detail}`);
    this.name = 'GeneralProtectionFault';
  }
}

/** An invalid-opcode fault raised in the guest (a hypercall from a context that may not make one). */
export class InvalidOpcodeFault extends Error {
  readonly code = 'UD' as const;
  constructor(readonly detail: string) {
    super(`#UD: ${detail}`);
    this.name = 'InvalidOpcodeFault';
  }
}

/**
 * The guest touched a GPA that is unmapped or lacks the access. The hypervisor has already sent
 * the root an UnmappedGpa / GpaIntercept message; the access did not happen.
 */
export class MemoryAccessFault extends Error {
  readonly code = 'MEMORY_INTERCEPT' as const;
  constructor(
    readonly gpa: bigint,
    readonly access: number,
  ) {
    super(`memory intercept at GPA 0x${gpa.toString(16)} (access ${access})`);
    this.name = 'MemoryAccessFault';
  }
}

/** Host-side errors of the Hypervisor object (not guest-visible). */
export class HypervisorError extends Error {
  constructor(
    readonly code:
      | 'NOT_RUNNING'
      | 'WORKER_FAILED'
      | 'BAD_HANDLE'
      | 'REQUEST_FAILED'
      /** The hypervisor thread did not answer a host request in time. */
      | 'REQUEST_TIMEOUT'
      /** A trap nobody will serve: the hypervisor has stopped or the VP was deleted. */
      | 'HYPERVISOR_STOPPED',
    message: string,
  ) {
    super(message);
    this.name = 'HypervisorError';
  }
}
