import {
  CHILD_DEFAULT_PRIVILEGES,
  HV_SYNIC_SINT_COUNT,
  HvPartitionPrivilege,
  ROOT_PRIVILEGES,
} from '@viridian/hvdef';

export {
  HV_ANY_VP,
  HV_EVENT_FLAGS_PER_SINT,
  HV_MESSAGE_PAYLOAD_SIZE,
  HV_MESSAGE_SIZE,
  HV_PARTITION_ID_SELF,
  HV_VP_INDEX_SELF,
  HvCallCode,
  HvMapGpaFlags,
  HvMessageType,
  HvMsr,
  HvPartitionProperty,
  HvPartitionState,
  HvPortType,
  HvStatus,
} from '@viridian/hvdef';

export const Priv = HvPartitionPrivilege;
export const HV_SINT_COUNT = HV_SYNIC_SINT_COUNT;
/** The root holds every privilege the TLFS defines. */
export const ROOT_PRIVILEGE_MASK = ROOT_PRIVILEGES;
export const CHILD_PRIVILEGE_MASK = CHILD_DEFAULT_PRIVILEGES;

// x86 architectural MSR numbers used by the virtual APIC (not TLFS constants).

export const IA32_APIC_BASE = 0x1b;
export const X2APIC_MSR_BASE = 0x800;
