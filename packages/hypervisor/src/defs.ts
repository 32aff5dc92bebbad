export { HvCallCode, HvMsr, HvStatus } from '@viridian/hvdef';

// Local TLFS constants the hypervisor needs that @viridian/hvdef does not (yet) export under a
// shape this package can use directly. Values are from the TLFS (see spec/hypervisor.md); the
// names follow hvdef. Prefer hvdef wherever it has the same thing.

/** Privilege bit numbers of HV_PARTITION_PRIVILEGE_MASK (section 3). */
export const Priv = {
  AccessVpRunTimeReg: 0,
  AccessPartitionReferenceCounter: 1,
  AccessSynicRegs: 2,
  AccessSyntheticTimerRegs: 3,
  AccessIntrCtrlRegs: 4,
  AccessHypercallMsrs: 5,
  AccessVpIndex: 6,
  AccessResetReg: 7,
  AccessStatsReg: 8,
  AccessPartitionReferenceTsc: 9,
  AccessGuestIdleReg: 10,
  AccessFrequencyRegs: 11,
  CreatePartitions: 32,
  AccessPartitionId: 33,
  AccessMemoryPool: 34,
  PostMessages: 36,
  SignalEvents: 37,
  CreatePort: 38,
  ConnectPort: 39,
  AccessVpRegisters: 49,
  StartVirtualProcessor: 53,
} as const;

export const bit = (n: number): bigint => 1n << BigInt(n);

/** Every privilege the TLFS defines (the root has all of them). */
export const ROOT_PRIVILEGE_MASK = 0xffff_ffff_ffff_ffffn;
/** Child default: the TLFS-2.0 MSR bits plus PostMessages and SignalEvents (what VMBus needs). */
export const CHILD_PRIVILEGE_MASK =
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 10].reduce((m, b) => m | bit(b), 0n) | bit(36) | bit(37);

export const HvPartitionProperty = {
  PrivilegeFlags: 0x0001_0000,
  Suspend: 0x0002_0000,
  CpuReserve: 0x0002_0001,
  CpuCap: 0x0002_0002,
  CpuWeight: 0x0002_0003,
  TimeFreeze: 0x0003_0003,
  ReferenceTime: 0x0003_0005,
  ProcessorVendor: 0x0006_0000,
  CompatibilityVersion: 0x0006_0005,
  GuestOsId: 0x0007_0000,
} as const;

export const IA32_APIC_BASE = 0x1b;
export const X2APIC_MSR_BASE = 0x800;

export const HvMessageType = {
  None: 0,
  UnmappedGpa: 0x8000_0000,
  GpaIntercept: 0x8000_0001,
  TimerExpired: 0x8000_0010,
} as const;

export const HV_MESSAGE_SIZE = 256;
export const HV_MESSAGE_PAYLOAD_SIZE = 240;
export const HV_SINT_COUNT = 16;
export const HV_EVENT_FLAGS_PER_SINT = 2048;

export const HV_PARTITION_ID_SELF = 0xffff_ffff_ffff_ffffn;
export const HV_ANY_VP = 0xffff_ffff;
export const HV_VP_INDEX_SELF = 0xffff_fffe;

export const HvPortType = { Message: 1, Event: 2, Monitor: 3, Doorbell: 4 } as const;

export const HvPartitionState = {
  Uninitialized: 0,
  Active: 1,
  Finalizing: 2,
  Finalized: 3,
} as const;
export type HvPartitionState = (typeof HvPartitionState)[keyof typeof HvPartitionState];

export const HvMapGpaFlags = { Read: 1, Write: 2, Execute: 4 } as const;

/** Get/SetVpRegisters names this hypervisor implements (TLFS HV_REGISTER_NAME values). */
export const HvRegisterName = {
  Rax: 0x0002_0000,
  Rcx: 0x0002_0001,
  Rdx: 0x0002_0002,
  Rbx: 0x0002_0003,
  Rsp: 0x0002_0004,
  Rbp: 0x0002_0005,
  Rsi: 0x0002_0006,
  Rdi: 0x0002_0007,
  R8: 0x0002_0008,
  R15: 0x0002_000f,
  Rip: 0x0002_0010,
  Rflags: 0x0002_0011,
  GuestOsId: 0x0009_0002,
  VpIndex: 0x0009_0003,
  TimeRefCount: 0x0009_0004,
  ReferenceTsc: 0x0009_0017,
  Sint0: 0x000a_0000,
  Scontrol: 0x000a_0010,
  Sversion: 0x000a_0011,
  Sifp: 0x000a_0012,
  Sipp: 0x000a_0013,
  Eom: 0x000a_0014,
  Stimer0Config: 0x000b_0000,
  Stimer0Count: 0x000b_0001,
} as const;
