// The example of the README, kept compiling and true.
import { describe, expect, it } from 'vitest';
import {
  CHILD_DEFAULT_PRIVILEGES,
  decodeHypercallInput,
  encodeHypercallInput,
  encodeHypercallResult,
  HvCallCode,
  HvStatus,
  HYPERCALLS,
  hasPrivilege,
} from './index.js';

function commonChecks(rcx: bigint, inputGpa: bigint, callerPrivileges: bigint): number | undefined {
  const input = decodeHypercallInput(rcx);
  const call = HYPERCALLS.get(input.callCode);
  if (call === undefined) return HvStatus.InvalidHypercallCode;
  if (
    input.reservedBitsSet ||
    (call.kind === 'simple' && (input.repCount !== 0 || input.repStartIndex !== 0)) ||
    (call.kind === 'rep' && (input.repCount === 0 || input.repStartIndex >= input.repCount)) ||
    (!call.variableHeader && input.variableHeaderSize !== 0) ||
    (input.fast && !call.fastCapable)
  ) {
    return HvStatus.InvalidHypercallInput;
  }
  if (
    !input.fast &&
    call.inputSize &&
    ((inputGpa & 7n) !== 0n || (inputGpa & 0xfffn) + BigInt(call.inputSize) > 0x1000n)
  ) {
    return HvStatus.InvalidAlignment;
  }
  if (call.privilege !== undefined && !hasPrivilege(callerPrivileges, call.privilege))
    return HvStatus.AccessDenied;
  return undefined;
}

describe('README example', () => {
  it('answers the common checks of section 1.5', () => {
    const status = commonChecks(0x5cn, 0x1000n, 0n) ?? HvStatus.Success;
    expect(encodeHypercallResult({ status, repsCompleted: 0 })).toBe(6n);
    expect(commonChecks(0x5cn, 0x1000n, CHILD_DEFAULT_PRIVILEGES)).toBeUndefined();
    expect(commonChecks(0x5cn, 0x1f08n, CHILD_DEFAULT_PRIVILEGES)).toBe(HvStatus.InvalidAlignment);
    expect(commonChecks(0x5cn, 0x1004n, CHILD_DEFAULT_PRIVILEGES)).toBe(HvStatus.InvalidAlignment);
    expect(commonChecks(0x7777n, 0n, CHILD_DEFAULT_PRIVILEGES)).toBe(HvStatus.InvalidHypercallCode);
    expect(commonChecks(0x5cn | (1n << 28n), 0x1000n, CHILD_DEFAULT_PRIVILEGES)).toBe(
      HvStatus.InvalidHypercallInput,
    );
    const fastPost = encodeHypercallInput({
      callCode: HvCallCode.PostMessage,
      fast: true,
      variableHeaderSize: 0,
      isNested: false,
      repCount: 0,
      repStartIndex: 0,
    });
    expect(commonChecks(fastPost, 0n, CHILD_DEFAULT_PRIVILEGES)).toBe(HvStatus.InvalidHypercallInput);
    const badRep = encodeHypercallInput({
      callCode: HvCallCode.GetVpRegisters,
      fast: false,
      variableHeaderSize: 0,
      isNested: false,
      repCount: 2,
      repStartIndex: 2,
    });
    expect(commonChecks(badRep, 0x1000n, -1n)).toBe(HvStatus.InvalidHypercallInput);
  });
});
