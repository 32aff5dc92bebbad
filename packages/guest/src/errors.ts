// Typed failures of the guest runtime. Expected outcomes (no free pages, no offer for a driver) are
// returned values; these are for boot steps that cannot go on.

export const GuestErrorCode = {
  /** CPUID does not show a Microsoft-compatible hypervisor ("Microsoft Hv" / "Hv#1"). */
  NoHypervisor: 'ERR_GUEST_NO_HYPERVISOR',
  /** The partition lacks a privilege boot cannot do without (hypercall MSRs). */
  MissingPrivilege: 'ERR_GUEST_MISSING_PRIVILEGE',
  /** The guest's own allocator has no run of free pages that long. */
  OutOfMemory: 'ERR_GUEST_OUT_OF_MEMORY',
  /** The host named a guest program that cannot be loaded or exports no main(guest). */
  BadProgram: 'ERR_GUEST_BAD_PROGRAM',
  /** A boot parameter (image URL query) is malformed. */
  BadParameter: 'ERR_GUEST_BAD_PARAMETER',
} as const;
export type GuestErrorCode = (typeof GuestErrorCode)[keyof typeof GuestErrorCode];

export class GuestError extends Error {
  override readonly name = 'GuestError';
  constructor(
    readonly code: GuestErrorCode,
    message: string,
  ) {
    super(message);
  }
}
