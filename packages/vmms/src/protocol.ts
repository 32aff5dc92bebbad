import { Packr } from 'msgpackr';
import type { CheckpointInfo, CheckpointType } from './checkpoint-tree.js';
import type { VmChanges, VmSpec } from './config.js';
import { ErrorCode, VmmsError } from './errors.js';
import type { VmEvent } from './event-log.js';
import type { IcState, KvpItem, VssResultInfo } from './integration.js';
import type { JobError, JobInfo } from './jobs.js';
import { LifecycleEvent, legalIn, type VmState } from './lifecycle.js';
import type { VmDetail, VmSummary } from './vmms.js';

/** Version of the management protocol; the hello carries it and a different one is refused. */
export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts, in bytes (payload, without the 4-byte length prefix). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Roles in the spirit of AzMan: each includes the rights of the ones before it. */
export const Role = { Viewer: 'viewer', Operator: 'operator', Administrator: 'administrator' } as const;
export type Role = (typeof Role)[keyof typeof Role];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, administrator: 2 };
export function roleAllows(held: Role, needed: Role): boolean {
  return RANK[held] >= RANK[needed];
}
export function isRole(value: unknown): value is Role {
  return value === 'viewer' || value === 'operator' || value === 'administrator';
}

export interface HostInfo {
  protocolVersion: number;
  productVersion: string;
  dataDir: string;
  vmCount: number;
  configProblems: Array<{ file: string; code: string; message: string }>;
}

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: number;
}

/**
 * Every management command: its request fields and its result. One union, one vocabulary for
 * every transport.
 */
export interface Api {
  'host.info': { request: Record<never, never>; result: HostInfo };
  'vm.list': { request: Record<never, never>; result: VmSummary[] };
  'vm.get': { request: { vm: string }; result: VmDetail };
  'vm.create': { request: { spec: VmSpec }; result: VmDetail };
  'vm.set': { request: { vm: string; changes: VmChanges }; result: VmDetail };
  'vm.remove': { request: { vm: string }; result: null };
  'vm.start': { request: { vm: string }; result: JobInfo };
  'vm.stop': { request: { vm: string; turnOff?: boolean; timeoutMs?: number }; result: JobInfo };
  'vm.restart': { request: { vm: string; timeoutMs?: number }; result: JobInfo };
  'vm.save': { request: { vm: string }; result: JobInfo };
  'vm.pause': { request: { vm: string }; result: JobInfo };
  'vm.resume': { request: { vm: string }; result: JobInfo };
  'vm.discardSaved': { request: { vm: string }; result: VmDetail };
  'vm.disk.attach': {
    request: { vm: string; path: string; lun?: number; readOnly?: boolean };
    result: VmDetail;
  };
  'vm.disk.detach': { request: { vm: string; lun: number }; result: VmDetail };
  /** The job's result is the new checkpoint's CheckpointInfo (its `type` says what was made). */
  'checkpoint.create': { request: { vm: string; name?: string; type?: CheckpointType }; result: JobInfo };
  'checkpoint.list': { request: { vm: string }; result: CheckpointInfo[] };
  /** The job's result is the VM's summary (Saved when the checkpoint had memory state, else Off). */
  'checkpoint.apply': { request: { vm: string; checkpoint: string }; result: JobInfo };
  'checkpoint.rename': { request: { vm: string; checkpoint: string; name: string }; result: CheckpointInfo };
  /** The job's result is `{ removed: string[] }`, the ids of the checkpoints removed. */
  'checkpoint.remove': { request: { vm: string; checkpoint: string; subtree?: boolean }; result: JobInfo };
  /** The job's result is a BackupResult. */
  'vm.backup': { request: { vm: string; destination: string }; result: JobInfo };
  /** The job's result is the new VM's VmDetail. */
  'vm.restoreBackup': { request: { source: string; name?: string }; result: JobInfo };
  'ic.list': { request: { vm: string }; result: IcState };
  'kvp.get': { request: { vm: string; key: string; pool?: number }; result: KvpItem };
  'kvp.list': { request: { vm: string; pool?: number }; result: KvpItem[] };
  'kvp.set': { request: { vm: string; key: string; value: string; pool?: number }; result: null };
  'kvp.remove': { request: { vm: string; key: string; pool?: number }; result: null };
  'vss.freeze': { request: { vm: string }; result: VssResultInfo };
  'vss.thaw': { request: { vm: string }; result: VssResultInfo };
  'job.get': { request: { job: string }; result: JobInfo };
  'job.list': { request: Record<never, never>; result: JobInfo[] };
  'job.cancel': { request: { job: string }; result: JobInfo };
  /** Answers with the job now, then streams `job` messages until it ends. */
  'job.follow': { request: { job: string }; result: JobInfo };
  'events.query': { request: { vm?: string; afterSeq?: number; limit?: number }; result: VmEvent[] };
  /** Answers with a subscription number, then streams `event` messages. */
  'events.subscribe': { request: { vm?: string }; result: { subscription: number } };
  'events.unsubscribe': { request: { subscription: number }; result: null };
  'token.create': {
    request: { name: string; role: Role };
    result: { name: string; role: Role; token: string };
  };
  'token.list': { request: Record<never, never>; result: TokenInfo[] };
  'token.revoke': { request: { name: string }; result: null };
}
export type RequestKind = keyof Api;
export type Request = { [K in RequestKind]: { kind: K } & Api[K]['request'] }[RequestKind];
export type RequestOf<K extends RequestKind> = { kind: K } & Api[K]['request'];
export type ResultOf<K extends RequestKind> = Api[K]['result'];

/** Messages a client sends. */
export type ClientMessage =
  | { t: 'hello'; version: number; token: string }
  | { t: 'req'; id: number; req: Request };

/** Messages the service sends. */
export type ServerMessage =
  | { t: 'welcome'; version: number; role: Role; name: string }
  | { t: 'res'; id: number | null; ok: true; result: unknown }
  | { t: 'res'; id: number | null; ok: false; error: JobError }
  | { t: 'job'; job: JobInfo }
  | { t: 'event'; subscription: number; event: VmEvent }
  | { t: 'bye'; error: JobError };

type Field = 'string' | 'number' | 'boolean' | 'object' | 'role';
interface CommandSpec {
  role: Role;
  /** VM states in which the command is legal (documentation for callers; the lifecycle enforces it). */
  legalIn?: VmState[];
  required: Record<string, Field>;
  optional?: Record<string, Field>;
}

const vm = { vm: 'string' } as const;
const none = {} as const;

/** Each command: the role it needs, the states it is legal in, and the shape of its fields. */
export const COMMANDS: Record<RequestKind, CommandSpec> = {
  'host.info': { role: Role.Viewer, required: none },
  'vm.list': { role: Role.Viewer, required: none },
  'vm.get': { role: Role.Viewer, required: vm },
  'vm.create': { role: Role.Administrator, required: { spec: 'object' } },
  'vm.set': { role: Role.Administrator, required: { vm: 'string', changes: 'object' } },
  'vm.remove': { role: Role.Administrator, legalIn: ['Off', 'Saved', 'Critical'], required: vm },
  'vm.start': { role: Role.Operator, legalIn: legalIn(LifecycleEvent.Start), required: vm },
  'vm.stop': {
    role: Role.Operator,
    legalIn: legalIn(LifecycleEvent.TurnOff),
    required: vm,
    optional: { turnOff: 'boolean', timeoutMs: 'number' },
  },
  'vm.restart': {
    role: Role.Operator,
    legalIn: legalIn(LifecycleEvent.Stop),
    required: vm,
    optional: { timeoutMs: 'number' },
  },
  'vm.save': { role: Role.Operator, legalIn: legalIn(LifecycleEvent.Save), required: vm },
  'vm.pause': { role: Role.Operator, legalIn: legalIn(LifecycleEvent.Pause), required: vm },
  'vm.resume': { role: Role.Operator, legalIn: legalIn(LifecycleEvent.Resume), required: vm },
  'vm.discardSaved': { role: Role.Operator, legalIn: legalIn(LifecycleEvent.DiscardSaved), required: vm },
  'vm.disk.attach': {
    role: Role.Administrator,
    legalIn: ['Off', 'Running', 'Critical'],
    required: { vm: 'string', path: 'string' },
    optional: { lun: 'number', readOnly: 'boolean' },
  },
  'vm.disk.detach': {
    role: Role.Administrator,
    legalIn: ['Off', 'Running', 'Critical'],
    required: { vm: 'string', lun: 'number' },
  },
  'checkpoint.create': {
    role: Role.Operator,
    legalIn: ['Off', 'Saved', 'Critical', 'Running', 'Paused'],
    required: vm,
    optional: { name: 'string', type: 'string' },
  },
  'checkpoint.list': { role: Role.Viewer, required: vm },
  'checkpoint.apply': {
    role: Role.Operator,
    legalIn: ['Off', 'Saved'],
    required: { vm: 'string', checkpoint: 'string' },
  },
  'checkpoint.rename': {
    role: Role.Operator,
    required: { vm: 'string', checkpoint: 'string', name: 'string' },
  },
  'checkpoint.remove': {
    role: Role.Operator,
    legalIn: ['Off', 'Saved', 'Critical', 'Running', 'Paused'],
    required: { vm: 'string', checkpoint: 'string' },
    optional: { subtree: 'boolean' },
  },
  'vm.backup': {
    role: Role.Operator,
    legalIn: ['Off', 'Saved', 'Critical', 'Running'],
    required: { vm: 'string', destination: 'string' },
  },
  'vm.restoreBackup': {
    role: Role.Administrator,
    required: { source: 'string' },
    optional: { name: 'string' },
  },
  'ic.list': { role: Role.Viewer, legalIn: ['Running', 'Paused'], required: vm },
  'kvp.get': {
    role: Role.Viewer,
    legalIn: ['Running', 'Paused'],
    required: { vm: 'string', key: 'string' },
    optional: { pool: 'number' },
  },
  'kvp.list': {
    role: Role.Viewer,
    legalIn: ['Running', 'Paused'],
    required: vm,
    optional: { pool: 'number' },
  },
  'kvp.set': {
    role: Role.Operator,
    legalIn: ['Running', 'Paused'],
    required: { vm: 'string', key: 'string', value: 'string' },
    optional: { pool: 'number' },
  },
  'kvp.remove': {
    role: Role.Operator,
    legalIn: ['Running', 'Paused'],
    required: { vm: 'string', key: 'string' },
    optional: { pool: 'number' },
  },
  'vss.freeze': { role: Role.Operator, legalIn: ['Running'], required: vm },
  'vss.thaw': { role: Role.Operator, legalIn: ['Running'], required: vm },
  'job.get': { role: Role.Viewer, required: { job: 'string' } },
  'job.list': { role: Role.Viewer, required: none },
  'job.cancel': { role: Role.Operator, required: { job: 'string' } },
  'job.follow': { role: Role.Viewer, required: { job: 'string' } },
  'events.query': {
    role: Role.Viewer,
    required: none,
    optional: { vm: 'string', afterSeq: 'number', limit: 'number' },
  },
  'events.subscribe': { role: Role.Viewer, required: none, optional: { vm: 'string' } },
  'events.unsubscribe': { role: Role.Viewer, required: { subscription: 'number' } },
  'token.create': { role: Role.Administrator, required: { name: 'string', role: 'role' } },
  'token.list': { role: Role.Administrator, required: none },
  'token.revoke': { role: Role.Administrator, required: { name: 'string' } },
};

function matches(value: unknown, field: Field): boolean {
  switch (field) {
    case 'string':
      return typeof value === 'string' && value.length <= 4096;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'role':
      return isRole(value);
  }
}

/** Checks an untrusted request's kind and field types; throws InvalidArgument naming what is wrong. */
export function validateRequest(raw: unknown): Request {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new VmmsError(ErrorCode.InvalidArgument, 'a request must be an object');
  }
  const kind = (raw as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !Object.hasOwn(COMMANDS, kind)) {
    throw new VmmsError(
      ErrorCode.InvalidArgument,
      `unknown request kind ${JSON.stringify(String(kind)).slice(0, 80)}`,
    );
  }
  const spec = COMMANDS[kind as RequestKind];
  const record = raw as Record<string, unknown>;
  for (const [name, field] of Object.entries(spec.required)) {
    if (!matches(record[name], field))
      throw new VmmsError(ErrorCode.InvalidArgument, `${kind}: ${name} must be a ${field}`);
  }
  for (const [name, field] of Object.entries(spec.optional ?? {})) {
    if (record[name] !== undefined && record[name] !== null && !matches(record[name], field)) {
      throw new VmmsError(ErrorCode.InvalidArgument, `${kind}: ${name} must be a ${field}`);
    }
  }
  for (const name of Object.keys(record)) {
    if (name !== 'kind' && !(name in spec.required) && !(name in (spec.optional ?? {}))) {
      throw new VmmsError(ErrorCode.InvalidArgument, `${kind}: unknown field ${name}`);
    }
  }
  return raw as Request;
}

// Plain msgpack (no record extension) so any msgpack implementation can talk to the service.
const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false });

/** Encodes one message as a length-prefixed frame. */
export function encodeFrame(message: ClientMessage | ServerMessage): Buffer {
  const payload = packr.pack(message);
  if (payload.length > MAX_FRAME_BYTES) {
    throw new VmmsError(
      ErrorCode.InvalidArgument,
      `message of ${payload.length} bytes exceeds the frame limit`,
    );
  }
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

export type FrameResult = { ok: true; message: unknown } | { ok: false; fatal: boolean; error: VmmsError };

/**
 * Splits a byte stream into frames. A frame whose declared length exceeds the limit is fatal (the
 * stream cannot be trusted past it); a frame that is not valid msgpack is reported and skipped.
 */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #max: number;

  constructor(max = MAX_FRAME_BYTES) {
    this.#max = max;
  }

  push(chunk: Buffer): FrameResult[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: FrameResult[] = [];
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUInt32BE(0);
      if (length > this.#max) {
        out.push({
          ok: false,
          fatal: true,
          error: new VmmsError(
            ErrorCode.InvalidArgument,
            `frame of ${length} bytes exceeds the limit of ${this.#max}`,
          ),
        });
        this.#buffer = Buffer.alloc(0);
        return out;
      }
      if (this.#buffer.length < 4 + length) break;
      const payload = this.#buffer.subarray(4, 4 + length);
      this.#buffer = this.#buffer.subarray(4 + length);
      try {
        out.push({ ok: true, message: packr.unpack(payload) });
      } catch (error) {
        out.push({
          ok: false,
          fatal: false,
          error: new VmmsError(
            ErrorCode.InvalidArgument,
            `frame is not valid msgpack: ${(error as Error).message}`,
          ),
        });
      }
    }
    return out;
  }
}
