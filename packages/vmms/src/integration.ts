import { ErrorCode, VmmsError } from './errors.js';
import type { RunningVm } from './runtime.js';

/** KVP pools by name (hv_kvp pool numbers; spec/vmbus.md). */
export const KvpPoolName = { external: 0, guest: 1, auto: 2, autoExternal: 3, autoInternal: 4 } as const;
export type KvpPoolName = keyof typeof KvpPoolName;

export interface KvpItem {
  key: string;
  value: string;
}

/** State of one integration service of a running VM. */
export interface IcServiceState {
  name: string;
  enabled: boolean;
  /** ok, negotiating, not-connected, version-not-supported, no-reply, or disabled. */
  status: string;
  version?: string;
}

export interface IcState {
  services: IcServiceState[];
  heartbeat?: string;
  timeSync?: { samplesSent: number; samplesAnswered: number; guestClockOffsetMs?: number };
}

export interface VssResultInfo {
  outcome: 'ok';
}

/** A request the runtime's integration services answer (VmwpVm.ic). */
export type IcCall =
  | { op: 'kvpGet'; pool: number; key: string }
  | { op: 'kvpSet'; pool: number; key: string; value: string }
  | { op: 'kvpRemove'; pool: number; key: string }
  | { op: 'kvpList'; pool: number }
  | { op: 'vssFreeze' }
  | { op: 'vssThaw' }
  | { op: 'icState' };

const E_FAIL = 0x8000_4005;

export function checkPool(pool: number | undefined): number {
  const p = pool ?? KvpPoolName.external;
  if (!Number.isInteger(p) || p < 0 || p > 4)
    throw new VmmsError(ErrorCode.InvalidArgument, `KVP pool ${p} is not valid (0–4)`);
  return p;
}

/** Sends one IC request; turns the IC's failure values into VmmsErrors with stable codes. */
export async function icCall(running: RunningVm, call: IcCall): Promise<unknown> {
  if (running.ic === undefined)
    throw new VmmsError(ErrorCode.InvalidState, 'this VM runtime has no integration-service access');
  let value: unknown;
  try {
    value = await running.ic(call);
  } catch (error) {
    throw new VmmsError(ErrorCode.InvalidState, (error as Error).message);
  }
  const r = value as {
    ok?: boolean;
    outcome?: string;
    reason?: string;
    status?: number;
    message?: string;
  } | null;
  if (r === null || typeof r !== 'object') throw new VmmsError(ErrorCode.Internal, 'no answer');
  if (r.ok === false || (r.outcome !== undefined && r.outcome !== 'ok')) {
    const why = r.reason ?? r.outcome ?? 'failed';
    const status = typeof r.status === 'number' ? ` (status 0x${(r.status >>> 0).toString(16)})` : '';
    if (why === 'not-offered') throw new VmmsError(ErrorCode.InvalidState, r.message ?? why);
    if (why === 'not-ready')
      throw new VmmsError(
        ErrorCode.InvalidState,
        `the guest's ${call.op.startsWith('kvp') ? 'KVP' : 'VSS'} service is not connected`,
      );
    if (why === 'timeout') throw new VmmsError(ErrorCode.Timeout, `the guest did not answer ${call.op}`);
    if (why === 'invalid-argument')
      throw new VmmsError(ErrorCode.InvalidArgument, `the key or value is too long${status}`);
    if (why === 'guest-status' && r.status === E_FAIL && (call.op === 'kvpGet' || call.op === 'kvpRemove'))
      throw new VmmsError(ErrorCode.NotFound, `no KVP item "${call.key}" in pool ${call.pool}`);
    throw new VmmsError(ErrorCode.Internal, `${call.op} failed: ${why}${status}`);
  }
  return value;
}

export function versionText(v: unknown): string | undefined {
  const version = v as { major?: unknown; minor?: unknown } | undefined;
  if (typeof version?.major !== 'number' || typeof version.minor !== 'number') return undefined;
  return `${version.major}.${version.minor}`;
}
