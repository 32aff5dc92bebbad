import { describe, expect, it } from 'vitest';
import { HvStatus, hvStatusName } from './status.js';

// Section 1.7 of the hypervisor spec, copied literally: [code, TLFS identifier].
const SPEC_STATUS: ReadonlyArray<readonly [number, string]> = [
  [0x00, 'SUCCESS'],
  [0x02, 'INVALID_HYPERCALL_CODE'],
  [0x03, 'INVALID_HYPERCALL_INPUT'],
  [0x04, 'INVALID_ALIGNMENT'],
  [0x05, 'INVALID_PARAMETER'],
  [0x06, 'ACCESS_DENIED'],
  [0x07, 'INVALID_PARTITION_STATE'],
  [0x08, 'OPERATION_DENIED'],
  [0x09, 'UNKNOWN_PROPERTY'],
  [0x0a, 'PROPERTY_VALUE_OUT_OF_RANGE'],
  [0x0b, 'INSUFFICIENT_MEMORY'],
  [0x0c, 'PARTITION_TOO_DEEP'],
  [0x0d, 'INVALID_PARTITION_ID'],
  [0x0e, 'INVALID_VP_INDEX'],
  [0x10, 'NOT_FOUND'],
  [0x11, 'INVALID_PORT_ID'],
  [0x12, 'INVALID_CONNECTION_ID'],
  [0x13, 'INSUFFICIENT_BUFFERS'],
  [0x14, 'NOT_ACKNOWLEDGED'],
  [0x15, 'INVALID_VP_STATE'],
  [0x16, 'ACKNOWLEDGED'],
  [0x17, 'INVALID_SAVE_RESTORE_STATE'],
  [0x18, 'INVALID_SYNIC_STATE'],
  [0x19, 'OBJECT_IN_USE'],
  [0x1a, 'INVALID_PROXIMITY_DOMAIN_INFO'],
  [0x1b, 'NO_DATA'],
  [0x1c, 'INACTIVE'],
  [0x1d, 'NO_RESOURCES'],
  [0x1e, 'FEATURE_UNAVAILABLE'],
  [0x1f, 'PARTIAL_PACKET'],
  [0x20, 'PROCESSOR_FEATURE_NOT_SUPPORTED'],
  [0x30, 'PROCESSOR_CACHE_LINE_FLUSH_SIZE_INCOMPATIBLE'],
  [0x33, 'INSUFFICIENT_BUFFER'],
  [0x37, 'INCOMPATIBLE_PROCESSOR'],
  [0x38, 'INSUFFICIENT_DEVICE_DOMAINS'],
  [0x3c, 'CPUID_FEATURE_VALIDATION_ERROR'],
  [0x3d, 'CPUID_XSAVE_FEATURE_VALIDATION_ERROR'],
  [0x3e, 'PROCESSOR_STARTUP_TIMEOUT'],
  [0x3f, 'SMX_ENABLED'],
  [0x41, 'INVALID_LP_INDEX'],
  [0x50, 'INVALID_REGISTER_VALUE'],
  [0x51, 'INVALID_VTL_STATE'],
  [0x55, 'NX_NOT_DETECTED'],
  [0x57, 'INVALID_DEVICE_ID'],
  [0x58, 'INVALID_DEVICE_STATE'],
  [0x59, 'PENDING_PAGE_REQUESTS'],
  [0x60, 'PAGE_REQUEST_INVALID'],
  [0x65, 'KEY_ALREADY_EXISTS'],
  [0x66, 'DEVICE_ALREADY_IN_DOMAIN'],
  [0x6f, 'INVALID_CPU_GROUP_ID'],
  [0x70, 'INVALID_CPU_GROUP_STATE'],
  [0x71, 'OPERATION_FAILED'],
  [0x72, 'NOT_ALLOWED_WITH_NESTED_VIRT_ACTIVE'],
  [0x73, 'INSUFFICIENT_ROOT_MEMORY'],
  [0x74, 'EVENT_BUFFER_ALREADY_FREED'],
  [0x78, 'TIME_OUT'],
  [0x79, 'CALL_PENDING'],
  [0x86, 'VTL_ALREADY_ENABLED'],
  [0x87, 'UNKNOWN_REGISTER_NAME'],
];

describe('HvStatus', () => {
  it('holds exactly the codes of the spec table, each under its TLFS name', () => {
    const actual = Object.values(HvStatus)
      .map((code) => [code, hvStatusName(code)] as const)
      .sort((a, b) => a[0] - b[0]);
    expect(actual).toEqual(SPEC_STATUS.map(([code, name]) => [code, `HV_STATUS_${name}`]));
  });

  it('pins the codes the hypervisor returns most', () => {
    expect(HvStatus.Success).toBe(0);
    expect(HvStatus.InvalidHypercallCode).toBe(2);
    expect(HvStatus.InvalidHypercallInput).toBe(3);
    expect(HvStatus.InvalidAlignment).toBe(4);
    expect(HvStatus.AccessDenied).toBe(6);
    expect(HvStatus.InsufficientBuffers).toBe(0x13);
    expect(HvStatus.InvalidSynicState).toBe(0x18);
  });

  it('names unknown codes by their hex value and never throws', () => {
    expect(hvStatusName(0x0001)).toBe('HV_STATUS_0x0001');
    expect(hvStatusName(0x000f)).toBe('HV_STATUS_0x000F');
    expect(hvStatusName(0xbeef)).toBe('HV_STATUS_0xBEEF');
    expect(hvStatusName(-1)).toBe('HV_STATUS_0x-1');
    expect(hvStatusName(1.5)).toBe('HV_STATUS_0x1.5');
  });
});
