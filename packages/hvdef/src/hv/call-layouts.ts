// Input and output parameter blocks of the hypercalls, as byte offsets. `size` is the block size
// including the padding to a multiple of 8 bytes that the TLFS requires of every block. Rep elements
// follow the (fixed + variable) header; their layouts are the `...Element` objects.

/** A block that holds only a partition ID (Initialize/Finalize/DeletePartition, ClearVirtualInterrupt). */
export const PartitionIdInput = { partitionId: 0, size: 8 } as const;

// --- Partition management ---------------------------------------------------------------------

/** HvCallCreatePartition input (current layout; the TLFS 2.0 block is its first 16 bytes). */
export const CreatePartitionInput = {
  flags: 0,
  proximityDomainInfo: 8,
  compatibilityVersion: 16,
  /** HV_PARTITION_PROCESSOR_FEATURES, 16 bytes. */
  disabledProcessorFeatures: 24,
  disabledProcessorXsaveFeatures: 40,
  /** RsvdZ in the TLFS; isolation properties in later headers. */
  reserved: 48,
  size: 56,
} as const;
export const CreatePartitionOutput = { partitionId: 0, size: 8 } as const;
export const InitializePartitionInput = PartitionIdInput;
export const FinalizePartitionInput = PartitionIdInput;
export const DeletePartitionInput = PartitionIdInput;

export const GetPartitionPropertyInput = { partitionId: 0, propertyCode: 8, size: 16 } as const;
export const GetPartitionPropertyOutput = { propertyValue: 0, size: 8 } as const;
export const SetPartitionPropertyInput = {
  partitionId: 0,
  propertyCode: 8,
  propertyValue: 16,
  size: 24,
} as const;
export const GetPartitionIdOutput = { partitionId: 0, size: 8 } as const;
/** `previousChildId` 0 starts the walk; output `nextChildId` 0 ends it. */
export const GetNextChildPartitionInput = { parentId: 0, previousChildId: 8, size: 16 } as const;
export const GetNextChildPartitionOutput = { nextChildId: 0, size: 8 } as const;

// --- Memory pool and GPA space ------------------------------------------------------------------

export const DepositMemoryInput = { partitionId: 0, size: 8 } as const;
/** One rep element of DepositMemory / WithdrawMemory / MapGpaPages: a GPA page number. */
export const GpaPageNumberElement = { gpaPageNumber: 0, size: 8 } as const;
export const DepositMemoryInputElement = GpaPageNumberElement;
export const WithdrawMemoryInput = { partitionId: 0, proximityDomainInfo: 8, size: 16 } as const;
export const WithdrawMemoryOutputElement = GpaPageNumberElement;
export const GetMemoryBalanceInput = WithdrawMemoryInput;
export const GetMemoryBalanceOutput = { pagesAvailable: 0, pagesInUse: 8, size: 16 } as const;
/** Rep count = number of pages; elements are the source GPA page numbers. */
export const MapGpaPagesInput = { targetPartitionId: 0, targetGpaBase: 8, mapFlags: 16, size: 24 } as const;
export const MapGpaPagesInputElement = GpaPageNumberElement;
/** Rep count = number of pages; no per-element data. */
export const UnmapGpaPagesInput = {
  targetPartitionId: 0,
  targetGpaBase: 8,
  unmapFlags: 16,
  size: 24,
} as const;

// --- Intercepts, VPs, registers, translation ----------------------------------------------------

export const InstallInterceptInput = {
  partitionId: 0,
  accessType: 8,
  interceptType: 12,
  interceptParameter: 16,
  size: 24,
} as const;
/** HvCallCreateVp input (current layout; TLFS 2.0 had ProximityDomainInfo@16, Flags@24, size 32). */
export const CreateVpInput = {
  partitionId: 0,
  vpIndex: 8,
  subnodeType: 15,
  subnodeId: 16,
  proximityDomainInfo: 24,
  flags: 32,
  size: 40,
} as const;
export const DeleteVpInput = { partitionId: 0, vpIndex: 8, size: 16 } as const;
/** Header of Get/SetVpRegisters. */
export const VpRegistersInput = { partitionId: 0, vpIndex: 8, inputVtl: 12, size: 16 } as const;
export const GetVpRegistersInput = VpRegistersInput;
/** GetVpRegisters input element: a u32 register name. */
export const GetVpRegistersInputElement = { name: 0, size: 4 } as const;
/** GetVpRegisters output element: a 128-bit register value. */
export const GetVpRegistersOutputElement = { value: 0, size: 16 } as const;
export const SetVpRegistersInput = VpRegistersInput;
/** SetVpRegisters input element: name, 12 RsvdZ bytes, 128-bit value. */
export const SetVpRegistersInputElement = { name: 0, reserved: 4, value: 16, size: 32 } as const;
export const TranslateVirtualAddressInput = {
  partitionId: 0,
  vpIndex: 8,
  controlFlags: 16,
  gvaPage: 24,
  size: 32,
} as const;
export const TranslateVirtualAddressOutput = { translationResult: 0, gpaPage: 8, size: 16 } as const;
/** Largest ByteCount of Read/WriteGpa. */
export const HV_READ_WRITE_GPA_MAX_SIZE = 16;
export const ReadGpaInput = {
  partitionId: 0,
  vpIndex: 8,
  byteCount: 12,
  baseGpa: 16,
  controlFlags: 24,
  size: 32,
} as const;
export const ReadGpaOutput = { accessResult: 0, data: 8, size: 24 } as const;
export const WriteGpaInput = {
  partitionId: 0,
  vpIndex: 8,
  byteCount: 12,
  baseGpa: 16,
  controlFlags: 24,
  data: 32,
  size: 48,
} as const;
export const WriteGpaOutput = { accessResult: 0, size: 8 } as const;

// --- Interrupts ---------------------------------------------------------------------------------

/** Code 0x55 (TLFS 2.0). */
export const AssertVirtualInterruptDeprecatedInput = {
  destinationPartition: 0,
  interruptControl: 8,
  destinationAddress: 16,
  requestedVector: 24,
  size: 32,
} as const;
/** Code 0x94: the 0x55 block plus TargetVtl. */
export const AssertVirtualInterruptInput = {
  destinationPartition: 0,
  interruptControl: 8,
  destinationAddress: 16,
  requestedVector: 24,
  targetVtl: 28,
  size: 32,
} as const;
export const ClearVirtualInterruptInput = PartitionIdInput;

// --- Ports and connections -----------------------------------------------------------------------

/** Code 0x57 (TLFS 2.0). PortInfo is an HV_PORT_INFO (24 bytes). */
export const CreatePortDeprecatedInput = {
  portPartition: 0,
  portId: 8,
  connectionPartition: 16,
  portInfo: 24,
  size: 48,
} as const;
/** Code 0x95. */
export const CreatePortInput = {
  portPartition: 0,
  portId: 8,
  portVtl: 12,
  minConnectionVtl: 13,
  connectionPartition: 16,
  portInfo: 24,
  proximityDomainInfo: 48,
  size: 56,
} as const;
export const DeletePortInput = { portPartition: 0, portId: 8, size: 16 } as const;
/** Code 0x59 (TLFS 2.0): an 8-byte connection info. */
export const ConnectPortDeprecatedInput = {
  connectionPartition: 0,
  connectionId: 8,
  portPartition: 16,
  portId: 24,
  connectionInfo: 32,
  size: 40,
} as const;
/** Code 0x96. ConnectionInfo is an HV_CONNECTION_INFO (32 bytes). */
export const ConnectPortInput = {
  connectionPartition: 0,
  connectionId: 8,
  connectionVtl: 12,
  portPartition: 16,
  portId: 24,
  connectionInfo: 32,
  proximityDomainInfo: 64,
  size: 72,
} as const;
export const GetPortPropertyInput = { portPartition: 0, portId: 8, propertyCode: 16, size: 24 } as const;
export const GetPortPropertyOutput = { propertyValue: 0, size: 8 } as const;
export const DisconnectPortInput = { connectionPartition: 0, connectionId: 8, size: 16 } as const;
/** HvCallPostMessage input; bytes 4..7 are padding. */
export const PostMessageInput = {
  connectionId: 0,
  messageType: 8,
  payloadSize: 12,
  payload: 16,
  size: 256,
} as const;
/** HvCallSignalEvent input; the fast form packs it into RDX as ConnectionId | FlagNumber << 32. */
export const SignalEventInput = { connectionId: 0, flagNumber: 4, size: 8 } as const;

// --- Save / restore ------------------------------------------------------------------------------

/** Largest data chunk one Save/RestorePartitionState call moves. */
export const HV_SAVE_RESTORE_MAX_DATA = 4080;
export const SavePartitionStateInput = { partitionId: 0, flags: 8, size: 16 } as const;
export const SavePartitionStateOutput = { saveState: 0, dataCount: 4, data: 8, size: 4088 } as const;
export const RestorePartitionStateInput = {
  partitionId: 0,
  flags: 8,
  dataCount: 12,
  data: 16,
  size: 4096,
} as const;
export const RestorePartitionStateOutput = { restoreState: 0, bytesConsumed: 4, size: 8 } as const;

// --- Address space, IPIs, VP start (section 2.2) -------------------------------------------------

export const SwitchVirtualAddressSpaceInput = { addressSpace: 0, size: 8 } as const;
export const FlushVirtualAddressSpaceInput = {
  addressSpace: 0,
  flags: 8,
  processorMask: 16,
  size: 24,
} as const;
export const FlushVirtualAddressListInput = FlushVirtualAddressSpaceInput;
/** Rep element of the flush-list calls: 63:12 GVA page, 11:0 additional pages. */
export const GvaRangeElement = { gvaRange: 0, size: 8 } as const;
/** Fixed header of the Ex flush calls; HV_VP_SET bank masks (one u64 per valid bank) form the variable header. */
export const FlushVirtualAddressSpaceExInput = {
  addressSpace: 0,
  flags: 8,
  vpSetFormat: 16,
  vpSetValidBanksMask: 24,
  vpSetBanks: 32,
  size: 32,
} as const;
export const FlushVirtualAddressListExInput = FlushVirtualAddressSpaceExInput;
export const NotifyLongSpinWaitInput = { spinCount: 0, size: 8 } as const;
/** Vector 0x10..0xFF; ProcessorMask selects VPs 0..63. */
export const SendSyntheticClusterIpiInput = { vector: 0, targetVtl: 4, processorMask: 8, size: 16 } as const;
/** Fixed header; the HV_VP_SET bank masks form the variable header. */
export const SendSyntheticClusterIpiExInput = {
  vector: 0,
  targetVtl: 4,
  vpSetFormat: 8,
  vpSetValidBanksMask: 16,
  vpSetBanks: 24,
  size: 24,
} as const;
/** VpContext is an HV_INITIAL_VP_CONTEXT (224 bytes). */
export const StartVirtualProcessorInput = {
  partitionId: 0,
  vpIndex: 8,
  targetVtl: 12,
  vpContext: 16,
  size: 240,
} as const;
export const GetVpIndexFromApicIdInput = { partitionId: 0, targetVtl: 8, size: 16 } as const;
export const GetVpIndexFromApicIdInputElement = { apicId: 0, size: 4 } as const;
export const GetVpIndexFromApicIdOutputElement = { vpIndex: 0, size: 4 } as const;

// --- Supporting formats --------------------------------------------------------------------------

/** Flags of the FlushVirtualAddress* calls. */
export const HvFlushFlags = {
  AllProcessors: 0x1,
  AllVirtualAddressSpaces: 0x2,
  /** Not valid for the List calls. */
  NonGlobalMappingsOnly: 0x4,
  UseExtendedRangeFormat: 0x8,
} as const;

/** HV_VP_SET: Format, ValidBanksMask, then one u64 per set bank in ascending order (bank b = VPs 64b..64b+63). */
export const HvVpSetLayout = { format: 0, validBanksMask: 8, bankContents: 16 } as const;
export const HvVpSetFormat = { Sparse4k: 0, All: 1 } as const;
export type HvVpSetFormat = number;
/** VPs per HV_VP_SET bank. */
export const HV_VP_SET_BANK_SIZE = 64;
