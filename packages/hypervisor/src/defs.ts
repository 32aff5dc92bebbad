// Model-specific definitions of this hypervisor. Every TLFS constant comes from @viridian/hvdef.
import { CHILD_DEFAULT_PRIVILEGES, HvPartitionPrivilege, privilegeMask } from '@viridian/hvdef';

/**
 * Privileges a child partition holds when created: the TLFS defaults (CHILD_DEFAULT_PRIVILEGES)
 * plus AccessPartitionReferenceTsc, because guests read time through the reference TSC page. The
 * parent changes them with the PrivilegeFlags property while the child is uninitialized.
 */
export const CHILD_PRIVILEGES: bigint =
  CHILD_DEFAULT_PRIVILEGES | privilegeMask(HvPartitionPrivilege.AccessPartitionReferenceTsc);

// Kept for modules that take this constant through here.
export { HvPartitionProperty } from '@viridian/hvdef';
