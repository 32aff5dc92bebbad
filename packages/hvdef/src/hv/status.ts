// HV_STATUS: the 16-bit result code of every hypercall (TLFS appendix, Linux hvgdk_mini.h, openvmm hvdef).

/** Every known HV_STATUS value. Unknown codes stay representable through {@link HvStatus} = number. */
export const HvStatus = {
  Success: 0x0000,
  InvalidHypercallCode: 0x0002,
  InvalidHypercallInput: 0x0003,
  InvalidAlignment: 0x0004,
  InvalidParameter: 0x0005,
  AccessDenied: 0x0006,
  InvalidPartitionState: 0x0007,
  OperationDenied: 0x0008,
  UnknownProperty: 0x0009,
  PropertyValueOutOfRange: 0x000a,
  InsufficientMemory: 0x000b,
  PartitionTooDeep: 0x000c,
  InvalidPartitionId: 0x000d,
  InvalidVpIndex: 0x000e,
  NotFound: 0x0010,
  InvalidPortId: 0x0011,
  InvalidConnectionId: 0x0012,
  // TLFS 6.0b prints 0x0033 here; 2.0, Linux and openvmm agree on 0x0013 (0x0033 is INSUFFICIENT_BUFFER).
  InsufficientBuffers: 0x0013,
  NotAcknowledged: 0x0014,
  InvalidVpState: 0x0015,
  Acknowledged: 0x0016,
  InvalidSaveRestoreState: 0x0017,
  InvalidSynicState: 0x0018,
  ObjectInUse: 0x0019,
  InvalidProximityDomainInfo: 0x001a,
  NoData: 0x001b,
  Inactive: 0x001c,
  NoResources: 0x001d,
  FeatureUnavailable: 0x001e,
  PartialPacket: 0x001f,
  ProcessorFeatureNotSupported: 0x0020,
  ProcessorCacheLineFlushSizeIncompatible: 0x0030,
  InsufficientBuffer: 0x0033,
  IncompatibleProcessor: 0x0037,
  InsufficientDeviceDomains: 0x0038,
  CpuidFeatureValidationError: 0x003c,
  CpuidXsaveFeatureValidationError: 0x003d,
  ProcessorStartupTimeout: 0x003e,
  SmxEnabled: 0x003f,
  InvalidLpIndex: 0x0041,
  InvalidRegisterValue: 0x0050,
  InvalidVtlState: 0x0051,
  NxNotDetected: 0x0055,
  InvalidDeviceId: 0x0057,
  InvalidDeviceState: 0x0058,
  PendingPageRequests: 0x0059,
  PageRequestInvalid: 0x0060,
  KeyAlreadyExists: 0x0065,
  DeviceAlreadyInDomain: 0x0066,
  InvalidCpuGroupId: 0x006f,
  InvalidCpuGroupState: 0x0070,
  OperationFailed: 0x0071,
  NotAllowedWithNestedVirtActive: 0x0072,
  InsufficientRootMemory: 0x0073,
  EventBufferAlreadyFreed: 0x0074,
  TimeOut: 0x0078,
  CallPending: 0x0079,
  VtlAlreadyEnabled: 0x0086,
  UnknownRegisterName: 0x0087,
} as const;
/** An HV_STATUS value; any 16-bit number, known or not. */
export type HvStatus = number;

const statusNames = new Map<number, string>();
for (const [key, code] of Object.entries(HvStatus)) {
  // PascalCase key -> the TLFS identifier, e.g. InvalidVpIndex -> HV_STATUS_INVALID_VP_INDEX.
  statusNames.set(code, `HV_STATUS_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`);
}

/**
 * The TLFS identifier of a status code (`HV_STATUS_ACCESS_DENIED`), or `HV_STATUS_0x00NN` for a
 * code this table does not know. Never throws.
 */
export function hvStatusName(code: number): string {
  const name = statusNames.get(code);
  if (name !== undefined) return name;
  const hex =
    Number.isInteger(code) && code >= 0 ? code.toString(16).toUpperCase().padStart(4, '0') : String(code);
  return `HV_STATUS_0x${hex}`;
}
