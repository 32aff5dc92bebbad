// Local TLFS constants the hypervisor needs that @viridian/hvdef does not (yet) export under a
// shape this package can use directly. Values are from the TLFS (see spec/hypervisor.md); the
// names follow hvdef. Prefer hvdef wherever it has the same thing.

export const HvStatus = {
  Success: 0x00,
  InvalidHypercallCode: 0x02,
  InvalidHypercallInput: 0x03,
  InvalidAlignment: 0x04,
  InvalidParameter: 0x05,
  AccessDenied: 0x06,
  InvalidPartitionState: 0x07,
  OperationDenied: 0x08,
  UnknownProperty: 0x09,
  PropertyValueOutOfRange: 0x0a,
  InsufficientMemory: 0x0b,
  PartitionTooDeep: 0x0c,
  InvalidPartitionId: 0x0d,
  InvalidVpIndex: 0x0e,
  NotFound: 0x10,
  InvalidPortId: 0x11,
  InvalidConnectionId: 0x12,
  InsufficientBuffers: 0x13,
  NotAcknowledged: 0x14,
  InvalidVpState: 0x15,
  InvalidSynicState: 0x18,
  ObjectInUse: 0x19,
  OperationFailed: 0x71,
} as const;
export type HvStatus = number;

export const HvCallCode = {
  NotifyLongSpinWait: 0x08,
  SendSyntheticClusterIpi: 0x0b,
  CreatePartition: 0x40,
  InitializePartition: 0x41,
  FinalizePartition: 0x42,
  DeletePartition: 0x43,
  GetPartitionProperty: 0x44,
  SetPartitionProperty: 0x45,
  GetPartitionId: 0x46,
  GetNextChildPartition: 0x47,
  DepositMemory: 0x48,
  GetMemoryBalance: 0x4a,
  MapGpaPages: 0x4b,
  UnmapGpaPages: 0x4c,
  CreateVp: 0x4e,
  DeleteVp: 0x4f,
  GetVpRegisters: 0x50,
  SetVpRegisters: 0x51,
  CreatePortOld: 0x57,
  DeletePort: 0x58,
  ConnectPortOld: 0x59,
  DisconnectPort: 0x5b,
  PostMessage: 0x5c,
  SignalEvent: 0x5d,
  CreatePort: 0x95,
  ConnectPort: 0x96,
  StartVirtualProcessor: 0x99,
} as const;

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

export const HvMsr = {
  GuestOsId: 0x4000_0000,
  Hypercall: 0x4000_0001,
  VpIndex: 0x4000_0002,
  Reset: 0x4000_0003,
  VpRuntime: 0x4000_0010,
  TimeRefCount: 0x4000_0020,
  ReferenceTsc: 0x4000_0021,
  TscFrequency: 0x4000_0022,
  ApicFrequency: 0x4000_0023,
  Eoi: 0x4000_0070,
  Icr: 0x4000_0071,
  Tpr: 0x4000_0072,
  VpAssistPage: 0x4000_0073,
  Scontrol: 0x4000_0080,
  Sversion: 0x4000_0081,
  Siefp: 0x4000_0082,
  Simp: 0x4000_0083,
  Eom: 0x4000_0084,
  Sint0: 0x4000_0090,
  Stimer0Config: 0x4000_00b0,
  GuestIdle: 0x4000_00f0,
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
