import type { IcProtocolError } from '../core/errors.js';
import { IcGuestEndpoint, type IcGuestRequest } from '../core/guest-endpoint.js';
import { decodeKvp, isBodyError, type KvpRecord, utf16zSize, writeKvpRecord } from '../wire/bodies.js';
import {
  IcMessageType,
  IcMessageVersions,
  IcStatus,
  type IcVersion,
  KVP_AUTO_POOL_KEYS,
  KVP_HEADER_SIZE,
  KVP_MAX_KEY_SIZE,
  KVP_MAX_VALUE_SIZE,
  KVP_POOL_COUNT,
  KvpEnumerateBody,
  KvpOperation,
  KvpPool,
} from '../wire/defs.js';

/** Intrinsic items of the AUTO pool, by key name. */
export type KvpIntrinsics = Partial<Record<(typeof KVP_AUTO_POOL_KEYS)[number], string>> &
  Record<string, string>;

export type KvpLocalResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: number; readonly reason: string };

export interface KvpChange {
  readonly pool: number;
  readonly key: string;
  /** undefined when the item was deleted. */
  readonly value: string | undefined;
}

export interface KvpGuestOptions {
  readonly send: (packet: Uint8Array) => void;
  /** The AUTO pool's content, read at each enumeration (addresses may change). */
  readonly intrinsics?: () => KvpIntrinsics;
  /** Most items a pool holds; a SET beyond that is answered DISK_FULL. */
  readonly maxItemsPerPool?: number;
  readonly messageVersions?: readonly IcVersion[];
  readonly onChange?: (change: KvpChange) => void;
  readonly onProtocolError?: (error: IcProtocolError) => void;
}

/** Pools the host may write: its own pool and its intrinsic pool. */
const HOST_WRITABLE = new Set<number>([KvpPool.External, KvpPool.AutoExternal]);

/** Checks a key/value pair against the protocol's limits (UTF-16 bytes including the terminator). */
export function checkKvpSizes(key: string, value: string): KvpLocalResult {
  if (key.length === 0) return { ok: false, status: IcStatus.InvalidArg, reason: 'empty key' };
  if (utf16zSize(key) > KVP_MAX_KEY_SIZE) {
    return {
      ok: false,
      status: IcStatus.InvalidArg,
      reason: `key is ${utf16zSize(key)} bytes, limit ${KVP_MAX_KEY_SIZE}`,
    };
  }
  if (utf16zSize(value) > KVP_MAX_VALUE_SIZE) {
    return {
      ok: false,
      status: IcStatus.InvalidArg,
      reason: `value is ${utf16zSize(value)} bytes, limit ${KVP_MAX_VALUE_SIZE}`,
    };
  }
  return { ok: true };
}

/**
 * Guest side of KVP exchange: holds the pools, answers the host's GET / SET / DELETE / ENUMERATE, fills the
 * AUTO pool from intrinsic data, and lets guest programs read the host's items and publish their own.
 */
export class KvpGuest {
  readonly endpoint: IcGuestEndpoint;
  readonly #pools: Map<string, string>[] = Array.from({ length: KVP_POOL_COUNT }, () => new Map());
  readonly #o: KvpGuestOptions;
  readonly #max: number;

  constructor(options: KvpGuestOptions) {
    this.#o = options;
    this.#max = options.maxItemsPerPool ?? 1024;
    this.endpoint = new IcGuestEndpoint({
      messageType: IcMessageType.KvpExchange,
      messageVersions: options.messageVersions ?? [...IcMessageVersions.kvp].reverse(),
      send: options.send,
      ...(options.onProtocolError ? { onProtocolError: options.onProtocolError } : {}),
      handle: (req) => this.#handle(req),
    });
  }

  receive(packet: Uint8Array): void {
    this.endpoint.receive(packet);
  }

  /** Publish an item in the GUEST pool (readable by the host). */
  set(key: string, value: string): KvpLocalResult {
    const check = checkKvpSizes(key, value);
    if (!check.ok) return check;
    const pool = this.#pool(KvpPool.Guest);
    if (!pool.has(key) && pool.size >= this.#max)
      return { ok: false, status: IcStatus.DiskFull, reason: 'pool full' };
    pool.set(key, value);
    return { ok: true };
  }

  /** Remove an item from the GUEST pool. */
  delete(key: string): boolean {
    return this.#pool(KvpPool.Guest).delete(key);
  }

  /** Read an item of any pool (the host's items are in EXTERNAL). */
  get(key: string, pool: number = KvpPool.External): string | undefined {
    if (pool === KvpPool.Auto) return this.#intrinsics()[key];
    return this.#pools[pool]?.get(key);
  }

  /** All items of a pool, in enumeration order. */
  entries(pool: number = KvpPool.External): [string, string][] {
    if (pool === KvpPool.Auto) return this.#autoEntries();
    return [...(this.#pools[pool] ?? new Map<string, string>())];
  }

  #pool(pool: number): Map<string, string> {
    return this.#pools[pool] as Map<string, string>;
  }

  #intrinsics(): KvpIntrinsics {
    return this.#o.intrinsics?.() ?? {};
  }

  /** AUTO pool: the fixed index → key order first, then any further intrinsic items. */
  #autoEntries(): [string, string][] {
    const data = this.#intrinsics();
    const known: readonly string[] = KVP_AUTO_POOL_KEYS;
    const out: [string, string][] = KVP_AUTO_POOL_KEYS.map((k) => [k, data[k] ?? '']);
    for (const [k, v] of Object.entries(data)) if (!known.includes(k)) out.push([k, v]);
    return out;
  }

  #handle(req: IcGuestRequest): void {
    req.respond(this.#answer(req));
  }

  /** Works out the reply status (and fills the reply body in place). */
  #answer(req: IcGuestRequest): number {
    const msg = decodeKvp(req.body);
    if (isBodyError(msg)) {
      this.endpoint.reportBodyError(`kvp body ${msg.have} < ${msg.need}`);
      return IcStatus.InvalidArg;
    }
    if (msg.pool >= KVP_POOL_COUNT) return IcStatus.InvalidArg;
    if ('unsupported' in msg) {
      // GET/SET_IP_INFO and unknown operations.
      return IcStatus.NotSupported;
    }
    switch (msg.operation) {
      case KvpOperation.Get: {
        if (!this.#recordKeyOk(msg.record)) return IcStatus.InvalidArg;
        const value = this.get(msg.record.key, msg.pool);
        if (value === undefined) return IcStatus.Fail;
        writeKvpRecord(req.body, KVP_HEADER_SIZE, msg.record.key, value);
        return IcStatus.Ok;
      }
      case KvpOperation.Set: {
        const r = msg.record;
        if (!this.#recordKeyOk(r) || r.valueSize > KVP_MAX_VALUE_SIZE) return IcStatus.InvalidArg;
        if (!HOST_WRITABLE.has(msg.pool)) return IcStatus.Fail;
        const pool = this.#pool(msg.pool);
        if (!pool.has(r.key) && pool.size >= this.#max) return IcStatus.DiskFull;
        pool.set(r.key, r.value);
        this.#o.onChange?.({ pool: msg.pool, key: r.key, value: r.value });
        return IcStatus.Ok;
      }
      case KvpOperation.Delete: {
        if (msg.keySize > KVP_MAX_KEY_SIZE || msg.key.length === 0) return IcStatus.InvalidArg;
        if (!HOST_WRITABLE.has(msg.pool)) return IcStatus.Fail;
        if (!this.#pool(msg.pool).delete(msg.key)) return IcStatus.Fail;
        this.#o.onChange?.({ pool: msg.pool, key: msg.key, value: undefined });
        return IcStatus.Ok;
      }
      default: {
        const entry = this.entries(msg.pool)[msg.index];
        if (!entry) return IcStatus.NoMoreItems;
        writeKvpRecord(req.body, KvpEnumerateBody.record, entry[0], entry[1]);
        return IcStatus.Ok;
      }
    }
  }

  #recordKeyOk(r: KvpRecord): boolean {
    return r.keySize <= KVP_MAX_KEY_SIZE && r.keySize >= 2 && r.key.length > 0;
  }
}
