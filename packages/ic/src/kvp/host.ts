import { type IcClock, systemClock } from '../core/clock.js';
import type { IcProtocolError } from '../core/errors.js';
import { IcHostEndpoint, type IcReply } from '../core/host-endpoint.js';
import {
  decodeKvp,
  encodeKvpDelete,
  encodeKvpEnumerate,
  encodeKvpGetSet,
  isBodyError,
  type KvpMessage,
} from '../wire/bodies.js';
import {
  IcMessageType,
  IcMessageVersions,
  IcStatus,
  type IcVersion,
  KVP_MAX_KEY_SIZE,
  KVP_MAX_VALUE_SIZE,
  KVP_POOL_COUNT,
  KvpOperation,
} from '../wire/defs.js';
import { checkKvpSizes } from './guest.js';

/** Why a KVP operation did not succeed. */
export type KvpFailure = 'guest-status' | 'timeout' | 'not-ready' | 'invalid-argument' | 'bad-reply';

export type KvpResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: KvpFailure; readonly status: number };
export type KvpGetResult =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly reason: KvpFailure; readonly status: number };
export type KvpListResult =
  | { readonly ok: true; readonly items: readonly { readonly key: string; readonly value: string }[] }
  | { readonly ok: false; readonly reason: KvpFailure; readonly status: number };

export interface KvpHostOptions {
  readonly send: (packet: Uint8Array) => void;
  readonly clock?: IcClock;
  /** Per-request wait (default 30 s, the guest daemon's own limit). */
  readonly timeoutMs?: number;
  readonly messageVersions?: readonly IcVersion[];
  readonly negotiateTimeoutMs?: number;
  /** Largest number of items an enumeration collects before stopping (a hostile guest never ends). */
  readonly maxEnumerate?: number;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/** Host side of KVP exchange: one transaction at a time, as Hyper-V hosts do. */
export class KvpHost {
  readonly endpoint: IcHostEndpoint;
  readonly #timeout: number;
  readonly #maxEnumerate: number;

  constructor(options: KvpHostOptions) {
    this.#timeout = options.timeoutMs ?? 30_000;
    this.#maxEnumerate = options.maxEnumerate ?? 4096;
    this.endpoint = new IcHostEndpoint({
      messageType: IcMessageType.KvpExchange,
      messageVersions: options.messageVersions ?? IcMessageVersions.kvp,
      send: options.send,
      clock: options.clock ?? systemClock,
      ...(options.negotiateTimeoutMs !== undefined ? { negotiateTimeoutMs: options.negotiateTimeoutMs } : {}),
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
    });
  }

  open(): void {
    this.endpoint.open();
  }

  close(): void {
    this.endpoint.close();
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  /** Add or modify an item in a host-written pool (EXTERNAL, or AUTO_EXTERNAL for host intrinsics). */
  async set(pool: number, key: string, value: string): Promise<KvpResult> {
    const bad = this.#check(pool, key, value);
    if (bad) return bad;
    const reply = await this.endpoint.request(
      encodeKvpGetSet(KvpOperation.Set, pool, key, value),
      this.#timeout,
    );
    const r = this.#judge(reply, KvpOperation.Set);
    return r.ok ? { ok: true } : r;
  }

  async get(pool: number, key: string): Promise<KvpGetResult> {
    const bad = this.#check(pool, key, '');
    if (bad) return bad;
    const reply = await this.endpoint.request(encodeKvpGetSet(KvpOperation.Get, pool, key), this.#timeout);
    const r = this.#judge(reply, KvpOperation.Get);
    if (!r.ok) return r;
    if (!('record' in r.msg) || r.msg.record.key !== key) return badReply();
    return { ok: true, value: r.msg.record.value };
  }

  async delete(pool: number, key: string): Promise<KvpResult> {
    const bad = this.#check(pool, key, '');
    if (bad) return bad;
    const reply = await this.endpoint.request(encodeKvpDelete(pool, key), this.#timeout);
    const r = this.#judge(reply, KvpOperation.Delete);
    return r.ok ? { ok: true } : r;
  }

  /** Every item of a pool: ENUMERATE index 0, 1, 2… until the guest answers NO_MORE_ITEMS. */
  async enumerate(pool: number): Promise<KvpListResult> {
    if (!Number.isInteger(pool) || pool < 0 || pool >= KVP_POOL_COUNT) return invalid('pool');
    const items: { key: string; value: string }[] = [];
    for (let index = 0; index < this.#maxEnumerate; index++) {
      const reply = await this.endpoint.request(encodeKvpEnumerate(pool, index), this.#timeout);
      if (reply.kind === 'reply' && reply.status === IcStatus.NoMoreItems) return { ok: true, items };
      const r = this.#judge(reply, KvpOperation.Enumerate);
      if (!r.ok) return r;
      if (!('index' in r.msg) || r.msg.index !== index) return badReply();
      items.push({ key: r.msg.record.key, value: r.msg.record.value });
    }
    return { ok: true, items };
  }

  #check(
    pool: number,
    key: string,
    value: string,
  ): { ok: false; reason: 'invalid-argument'; status: number } | undefined {
    if (!Number.isInteger(pool) || pool < 0 || pool >= KVP_POOL_COUNT) return invalid('pool');
    const c = checkKvpSizes(key, value);
    return c.ok ? undefined : { ok: false, reason: 'invalid-argument', status: c.status };
  }

  #judge(
    reply: IcReply,
    operation: number,
  ): { ok: true; msg: KvpMessage } | { ok: false; reason: KvpFailure; status: number } {
    if (reply.kind === 'timeout') return { ok: false, reason: 'timeout', status: IcStatus.Fail };
    if (reply.kind === 'not-ready')
      return { ok: false, reason: 'not-ready', status: IcStatus.DeviceNotConnected };
    if (reply.status !== IcStatus.Ok) return { ok: false, reason: 'guest-status', status: reply.status };
    const msg = decodeKvp(reply.body);
    if (isBodyError(msg) || msg.operation !== operation) return badReply();
    if (
      'record' in msg &&
      (msg.record.keySize > KVP_MAX_KEY_SIZE || msg.record.valueSize > KVP_MAX_VALUE_SIZE)
    ) {
      return badReply();
    }
    return { ok: true, msg };
  }
}

function invalid(_what: string): { ok: false; reason: 'invalid-argument'; status: number } {
  return { ok: false, reason: 'invalid-argument', status: IcStatus.InvalidArg };
}

function badReply(): { ok: false; reason: 'bad-reply'; status: number } {
  return { ok: false, reason: 'bad-reply', status: IcStatus.Fail };
}
