// Per-call metadata for the checks every hypercall goes through (spec section 1.5).
import * as L from './call-layouts.js';
import { HvCallCode as C } from './calls.js';
import { HvPartitionPrivilege as P } from './privileges.js';

/**
 * Who may name which target partition (current TLFS rules):
 * - `parent`: the caller must be the target's parent;
 * - `parent-or-self`: the parent, or the partition naming itself (HV_PARTITION_ID_SELF);
 * - `parent-or-root`: the parent, or the root acting on itself;
 * - `root`: the root partition only;
 * - `any`: any partition holding `privilege` (if one is listed).
 */
export type HypercallCaller = 'parent' | 'parent-or-self' | 'parent-or-root' | 'root' | 'any';

/** What the hypervisor needs to know about a call before running it. */
export interface HypercallInfo {
  /** The {@link HvCallCode} key. */
  readonly name: string;
  readonly kind: 'simple' | 'rep';
  /** The register (fast) calling convention is accepted. */
  readonly fastCapable: boolean;
  /** The call takes a variable header (otherwise a non-zero variable header size is invalid input). */
  readonly variableHeader: boolean;
  /** Fixed input header size in bytes, padded to 8 (0 = no input). Absent when the layout is unpublished. */
  readonly inputSize?: number;
  /** Fixed output size in bytes (0 = no output). Absent when the layout is unpublished. */
  readonly outputSize?: number;
  /** Rep calls: bytes of input per element (0 = the element carries no input). */
  readonly repInputElementSize?: number;
  /** Rep calls: bytes of output per element (0 = no per-element output). */
  readonly repOutputElementSize?: number;
  /** HvPartitionPrivilege bit the caller must hold; ACCESS_DENIED otherwise. */
  readonly privilege?: number;
  readonly caller: HypercallCaller;
}

interface Opts {
  fast?: boolean;
  variableHeader?: boolean;
  out?: number;
  privilege?: number;
}

function simple(name: keyof typeof C, caller: HypercallCaller, input: number | undefined, o: Opts = {}) {
  const info: HypercallInfo = {
    name,
    kind: 'simple',
    fastCapable: o.fast ?? false,
    variableHeader: o.variableHeader ?? false,
    caller,
    ...(input === undefined ? {} : { inputSize: input, outputSize: o.out ?? 0 }),
    ...(o.privilege === undefined ? {} : { privilege: o.privilege }),
  };
  return [C[name], info] as const;
}

function rep(
  name: keyof typeof C,
  caller: HypercallCaller,
  input: number,
  elementIn: number,
  elementOut: number,
  o: Opts = {},
) {
  const info: HypercallInfo = {
    name,
    kind: 'rep',
    fastCapable: o.fast ?? false,
    variableHeader: o.variableHeader ?? false,
    caller,
    inputSize: input,
    outputSize: o.out ?? 0,
    repInputElementSize: elementIn,
    repOutputElementSize: elementOut,
    ...(o.privilege === undefined ? {} : { privilege: o.privilege }),
  };
  return [C[name], info] as const;
}

/**
 * Metadata of every call in spec section 2.1 and of the section 2.2 calls whose layouts are
 * published. Fast capability = TLFS 2.0 "[fast]" tags, the TLFS 6.0b call table, and calls Linux
 * issues in fast form. Codes not in this map answer INVALID_HYPERCALL_CODE.
 */
export const HYPERCALLS: ReadonlyMap<number, HypercallInfo> = new Map<number, HypercallInfo>([
  // 2.1 Partition management and messaging
  simple('CreatePartition', 'any', L.CreatePartitionInput.size, {
    out: L.CreatePartitionOutput.size,
    privilege: P.CreatePartitions,
  }),
  simple('InitializePartition', 'parent', L.InitializePartitionInput.size, { fast: true }),
  simple('FinalizePartition', 'parent', L.FinalizePartitionInput.size, { fast: true }),
  simple('DeletePartition', 'parent', L.DeletePartitionInput.size, { fast: true }),
  simple('GetPartitionProperty', 'parent-or-root', L.GetPartitionPropertyInput.size, {
    out: L.GetPartitionPropertyOutput.size,
  }),
  simple('SetPartitionProperty', 'parent-or-root', L.SetPartitionPropertyInput.size),
  simple('GetPartitionId', 'any', 0, { out: L.GetPartitionIdOutput.size, privilege: P.AccessPartitionId }),
  simple('GetNextChildPartition', 'parent', L.GetNextChildPartitionInput.size, {
    out: L.GetNextChildPartitionOutput.size,
  }),
  rep('DepositMemory', 'parent-or-root', L.DepositMemoryInput.size, L.DepositMemoryInputElement.size, 0, {
    privilege: P.AccessMemoryPool,
  }),
  rep('WithdrawMemory', 'parent-or-root', L.WithdrawMemoryInput.size, 0, L.WithdrawMemoryOutputElement.size, {
    privilege: P.AccessMemoryPool,
  }),
  simple('GetMemoryBalance', 'parent-or-root', L.GetMemoryBalanceInput.size, {
    out: L.GetMemoryBalanceOutput.size,
    privilege: P.AccessMemoryPool,
  }),
  rep('MapGpaPages', 'parent-or-root', L.MapGpaPagesInput.size, L.MapGpaPagesInputElement.size, 0),
  rep('UnmapGpaPages', 'parent', L.UnmapGpaPagesInput.size, 0, 0),
  simple('InstallIntercept', 'parent', L.InstallInterceptInput.size),
  simple('CreateVp', 'parent', L.CreateVpInput.size),
  simple('DeleteVp', 'parent', L.DeleteVpInput.size, { fast: true }),
  // AccessVpRegisters is required when a partition names itself; a parent needs no privilege.
  rep(
    'GetVpRegisters',
    'any',
    L.GetVpRegistersInput.size,
    L.GetVpRegistersInputElement.size,
    L.GetVpRegistersOutputElement.size,
    { privilege: P.AccessVpRegisters },
  ),
  rep('SetVpRegisters', 'any', L.SetVpRegistersInput.size, L.SetVpRegistersInputElement.size, 0, {
    privilege: P.AccessVpRegisters,
  }),
  simple('TranslateVirtualAddress', 'any', L.TranslateVirtualAddressInput.size, {
    out: L.TranslateVirtualAddressOutput.size,
  }),
  simple('ReadGpa', 'parent', L.ReadGpaInput.size, { out: L.ReadGpaOutput.size }),
  simple('WriteGpa', 'parent', L.WriteGpaInput.size, { out: L.WriteGpaOutput.size }),
  simple('AssertVirtualInterruptDeprecated', 'parent', L.AssertVirtualInterruptDeprecatedInput.size),
  simple('ClearVirtualInterrupt', 'parent', L.ClearVirtualInterruptInput.size, { fast: true }),
  simple('CreatePortDeprecated', 'parent-or-root', L.CreatePortDeprecatedInput.size, {
    privilege: P.CreatePort,
  }),
  simple('DeletePort', 'parent-or-root', L.DeletePortInput.size, { fast: true, privilege: P.CreatePort }),
  simple('ConnectPortDeprecated', 'parent-or-root', L.ConnectPortDeprecatedInput.size, {
    privilege: P.ConnectPort,
  }),
  simple('GetPortProperty', 'parent-or-self', L.GetPortPropertyInput.size, {
    out: L.GetPortPropertyOutput.size,
  }),
  simple('DisconnectPort', 'parent-or-self', L.DisconnectPortInput.size, { fast: true }),
  simple('PostMessage', 'any', L.PostMessageInput.size, { privilege: P.PostMessages }),
  simple('SignalEvent', 'any', L.SignalEventInput.size, { fast: true, privilege: P.SignalEvents }),
  simple('SavePartitionState', 'parent', L.SavePartitionStateInput.size, {
    out: L.SavePartitionStateOutput.size,
  }),
  simple('RestorePartitionState', 'parent', L.RestorePartitionStateInput.size, {
    out: L.RestorePartitionStateOutput.size,
    privilege: P.CreatePartitions,
  }),
  // Layout not published in the TLFS.
  simple('SetPortProperty', 'parent-or-self', undefined, { privilege: P.CreatePort }),
  simple('AssertVirtualInterrupt', 'any', L.AssertVirtualInterruptInput.size),
  simple('CreatePort', 'root', L.CreatePortInput.size, { privilege: P.CreatePort }),
  simple('ConnectPort', 'root', L.ConnectPortInput.size, { privilege: P.ConnectPort }),

  // 2.2 calls with published layouts
  simple('SwitchVirtualAddressSpace', 'any', L.SwitchVirtualAddressSpaceInput.size, { fast: true }),
  simple('FlushVirtualAddressSpace', 'any', L.FlushVirtualAddressSpaceInput.size),
  rep('FlushVirtualAddressList', 'any', L.FlushVirtualAddressListInput.size, L.GvaRangeElement.size, 0),
  simple('NotifyLongSpinWait', 'any', L.NotifyLongSpinWaitInput.size, { fast: true }),
  simple('SendSyntheticClusterIpi', 'any', L.SendSyntheticClusterIpiInput.size, { fast: true }),
  simple('FlushVirtualAddressSpaceEx', 'any', L.FlushVirtualAddressSpaceExInput.size, {
    variableHeader: true,
  }),
  rep('FlushVirtualAddressListEx', 'any', L.FlushVirtualAddressListExInput.size, L.GvaRangeElement.size, 0, {
    variableHeader: true,
  }),
  simple('SendSyntheticClusterIpiEx', 'any', L.SendSyntheticClusterIpiExInput.size, { variableHeader: true }),
  simple('StartVirtualProcessor', 'any', L.StartVirtualProcessorInput.size, {
    privilege: P.StartVirtualProcessor,
  }),
  rep(
    'GetVpIndexFromApicId',
    'any',
    L.GetVpIndexFromApicIdInput.size,
    L.GetVpIndexFromApicIdInputElement.size,
    L.GetVpIndexFromApicIdOutputElement.size,
  ),
]);
