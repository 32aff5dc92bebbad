import {
  HEARTBEAT_BODY_SIZE,
  HEARTBEAT_MIN_BODY_SIZE,
  HeartbeatBody,
  KVP_DELETE_BODY_SIZE,
  KVP_ENUMERATE_BODY_SIZE,
  KVP_GET_SET_BODY_SIZE,
  KVP_HEADER_SIZE,
  KVP_MAX_KEY_SIZE,
  KVP_MAX_VALUE_SIZE,
  KvpDeleteBody,
  KvpEnumerateBody,
  KvpHeader,
  KvpOperation,
  KvpValueRecord,
  KvpValueType,
  SHUTDOWN_BODY_SIZE,
  SHUTDOWN_DISPLAY_MESSAGE_SIZE,
  ShutdownBody,
  TIMESYNC_V1_BODY_SIZE,
  TIMESYNC_V1_MIN_BODY_SIZE,
  TIMESYNC_V4_BODY_SIZE,
  TIMESYNC_V4_MIN_BODY_SIZE,
  TimeSyncBodyV1,
  TimeSyncBodyV4,
  VSS_BODY_SIZE,
  VssBody,
} from './defs.js';

// ---------------------------------------------------------------- UTF-16LE strings

/** UTF-16LE bytes of `text` followed by a NUL unit. */
export function utf16z(text: string): Uint8Array {
  const out = new Uint8Array(2 * (text.length + 1));
  const view = new DataView(out.buffer);
  for (let i = 0; i < text.length; i++) view.setUint16(2 * i, text.charCodeAt(i), true);
  return out;
}

/** Byte size of `text` as UTF-16LE including the terminator (the unit of key_size / value_size). */
export const utf16zSize = (text: string): number => 2 * (text.length + 1);

/** Reads `size` bytes of UTF-16LE at `offset`, stopping at the first NUL; an odd size drops its last byte. */
export function readUtf16(view: DataView, offset: number, size: number): string {
  const units = Math.floor(Math.max(0, Math.min(size, view.byteLength - offset)) / 2);
  let s = '';
  for (let i = 0; i < units; i++) {
    const c = view.getUint16(offset + 2 * i, true);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

function writeUtf16z(view: DataView, offset: number, text: string, capacity: number): number {
  const units = Math.min(text.length, capacity / 2 - 1);
  for (let i = 0; i < units; i++) view.setUint16(offset + 2 * i, text.charCodeAt(i), true);
  view.setUint16(offset + 2 * units, 0, true);
  return 2 * (units + 1);
}

export type BodyError = { readonly error: 'too-short'; readonly need: number; readonly have: number };
const tooShort = (need: number, have: number): BodyError => ({ error: 'too-short', need, have });
export const isBodyError = (v: unknown): v is BodyError =>
  typeof v === 'object' && v !== null && 'error' in v && (v as BodyError).error === 'too-short';

// ---------------------------------------------------------------- heartbeat

export interface HeartbeatMessage {
  readonly sequence: bigint;
  /** Present when the body carries it (openvmm layout). */
  readonly applicationState: number;
}

export function encodeHeartbeat(msg: HeartbeatMessage): Uint8Array {
  const body = new Uint8Array(HEARTBEAT_BODY_SIZE);
  const view = new DataView(body.buffer);
  view.setBigUint64(HeartbeatBody.sequence, msg.sequence, true);
  view.setUint32(HeartbeatBody.applicationState, msg.applicationState, true);
  return body;
}

export function decodeHeartbeat(body: DataView): HeartbeatMessage | BodyError {
  if (body.byteLength < HEARTBEAT_MIN_BODY_SIZE) return tooShort(HEARTBEAT_MIN_BODY_SIZE, body.byteLength);
  return {
    sequence: body.getBigUint64(HeartbeatBody.sequence, true),
    applicationState: body.byteLength >= 12 ? body.getUint32(HeartbeatBody.applicationState, true) : 0,
  };
}

// ---------------------------------------------------------------- shutdown

export interface ShutdownMessage {
  readonly reasonCode: number;
  readonly timeoutSeconds: number;
  readonly flags: number;
  /** Display message, UTF-16LE on the wire (at most 1023 characters travel). */
  readonly message: string;
}

export function encodeShutdown(msg: ShutdownMessage): Uint8Array {
  const body = new Uint8Array(SHUTDOWN_BODY_SIZE);
  const view = new DataView(body.buffer);
  view.setUint32(ShutdownBody.reasonCode, msg.reasonCode >>> 0, true);
  view.setUint32(ShutdownBody.timeoutSeconds, msg.timeoutSeconds >>> 0, true);
  view.setUint32(ShutdownBody.flags, msg.flags >>> 0, true);
  writeUtf16z(view, ShutdownBody.displayMessage, msg.message, SHUTDOWN_DISPLAY_MESSAGE_SIZE);
  return body;
}

export function decodeShutdown(body: DataView): ShutdownMessage | BodyError {
  if (body.byteLength < SHUTDOWN_BODY_SIZE) return tooShort(SHUTDOWN_BODY_SIZE, body.byteLength);
  return {
    reasonCode: body.getUint32(ShutdownBody.reasonCode, true),
    timeoutSeconds: body.getUint32(ShutdownBody.timeoutSeconds, true),
    flags: body.getUint32(ShutdownBody.flags, true),
    message: readUtf16(body, ShutdownBody.displayMessage, SHUTDOWN_DISPLAY_MESSAGE_SIZE),
  };
}

// ---------------------------------------------------------------- time sync

export interface TimeSyncMessage {
  /** Host UTC time, 100 ns units since 1601-01-01. */
  readonly parentTime: bigint;
  /** v4: the guest's reference time (100 ns) when parentTime was sampled; v1–3: childtime (unused). */
  readonly referenceTime: bigint;
  /** v1–3 only. */
  readonly roundTripTime: bigint;
  readonly flags: number;
  readonly leapFlags: number;
  readonly stratum: number;
}

export function encodeTimeSync(msg: TimeSyncMessage, v4: boolean): Uint8Array {
  const body = new Uint8Array(v4 ? TIMESYNC_V4_BODY_SIZE : TIMESYNC_V1_BODY_SIZE);
  const view = new DataView(body.buffer);
  if (v4) {
    view.setBigUint64(TimeSyncBodyV4.parentTime, msg.parentTime, true);
    view.setBigUint64(TimeSyncBodyV4.referenceTime, msg.referenceTime, true);
    view.setUint8(TimeSyncBodyV4.flags, msg.flags);
    view.setUint8(TimeSyncBodyV4.leapFlags, msg.leapFlags);
    view.setUint8(TimeSyncBodyV4.stratum, msg.stratum);
  } else {
    view.setBigUint64(TimeSyncBodyV1.parentTime, msg.parentTime, true);
    view.setBigUint64(TimeSyncBodyV1.childTime, msg.referenceTime, true);
    view.setBigUint64(TimeSyncBodyV1.roundTripTime, msg.roundTripTime, true);
    view.setUint8(TimeSyncBodyV1.flags, msg.flags);
  }
  return body;
}

export function decodeTimeSync(body: DataView, v4: boolean): TimeSyncMessage | BodyError {
  if (v4) {
    if (body.byteLength < TIMESYNC_V4_MIN_BODY_SIZE)
      return tooShort(TIMESYNC_V4_MIN_BODY_SIZE, body.byteLength);
    return {
      parentTime: body.getBigUint64(TimeSyncBodyV4.parentTime, true),
      referenceTime: body.getBigUint64(TimeSyncBodyV4.referenceTime, true),
      roundTripTime: 0n,
      flags: body.getUint8(TimeSyncBodyV4.flags),
      leapFlags: body.getUint8(TimeSyncBodyV4.leapFlags),
      stratum: body.getUint8(TimeSyncBodyV4.stratum),
    };
  }
  if (body.byteLength < TIMESYNC_V1_MIN_BODY_SIZE)
    return tooShort(TIMESYNC_V1_MIN_BODY_SIZE, body.byteLength);
  return {
    parentTime: body.getBigUint64(TimeSyncBodyV1.parentTime, true),
    referenceTime: body.getBigUint64(TimeSyncBodyV1.childTime, true),
    roundTripTime: body.getBigUint64(TimeSyncBodyV1.roundTripTime, true),
    flags: body.getUint8(TimeSyncBodyV1.flags),
    leapFlags: 0,
    stratum: 0,
  };
}

// ---------------------------------------------------------------- KVP

/** A key/value record as it travels (hv_kvp_exchg_msg_value). */
export interface KvpRecord {
  readonly valueType: number;
  /** Declared sizes in bytes, including the UTF-16 terminator; may exceed the buffers when hostile. */
  readonly keySize: number;
  readonly valueSize: number;
  readonly key: string;
  /** String types: the text; DWORD/QWORD: the number formatted in decimal. */
  readonly value: string;
}

export type KvpMessage =
  | {
      readonly operation: typeof KvpOperation.Get | typeof KvpOperation.Set;
      readonly pool: number;
      readonly record: KvpRecord;
    }
  | {
      readonly operation: typeof KvpOperation.Delete;
      readonly pool: number;
      readonly keySize: number;
      readonly key: string;
    }
  | {
      readonly operation: typeof KvpOperation.Enumerate;
      readonly pool: number;
      readonly index: number;
      readonly record: KvpRecord;
    }
  | { readonly operation: number; readonly pool: number; readonly unsupported: true };

/** Body size a KVP operation needs; undefined for operations this implementation does not carry. */
export function kvpBodySize(operation: number): number | undefined {
  switch (operation) {
    case KvpOperation.Get:
    case KvpOperation.Set:
      return KVP_GET_SET_BODY_SIZE;
    case KvpOperation.Delete:
      return KVP_DELETE_BODY_SIZE;
    case KvpOperation.Enumerate:
      return KVP_ENUMERATE_BODY_SIZE;
    default:
      return undefined;
  }
}

export function writeKvpRecord(view: DataView, at: number, key: string, value: string, valueType = 1): void {
  view.setUint32(at + KvpValueRecord.valueType, valueType, true);
  view.setUint32(
    at + KvpValueRecord.keySize,
    writeUtf16z(view, at + KvpValueRecord.key, key, KVP_MAX_KEY_SIZE),
    true,
  );
  if (valueType === KvpValueType.Dword) {
    view.setUint32(at + KvpValueRecord.value, Number(value) >>> 0, true);
    view.setUint32(at + KvpValueRecord.valueSize, 4, true);
  } else if (valueType === KvpValueType.Qword || valueType === KvpValueType.LinuxU64) {
    view.setBigUint64(at + KvpValueRecord.value, BigInt.asUintN(64, BigInt(value)), true);
    view.setUint32(at + KvpValueRecord.valueSize, 8, true);
  } else {
    const size = writeUtf16z(view, at + KvpValueRecord.value, value, KVP_MAX_VALUE_SIZE);
    view.setUint32(at + KvpValueRecord.valueSize, size, true);
  }
}

export function readKvpRecord(view: DataView, at: number): KvpRecord {
  const valueType = view.getUint32(at + KvpValueRecord.valueType, true);
  const keySize = view.getUint32(at + KvpValueRecord.keySize, true);
  const valueSize = view.getUint32(at + KvpValueRecord.valueSize, true);
  const key = readUtf16(view, at + KvpValueRecord.key, Math.min(keySize, KVP_MAX_KEY_SIZE));
  let value: string;
  if (valueType === KvpValueType.Dword) value = String(view.getUint32(at + KvpValueRecord.value, true));
  else if (valueType === KvpValueType.Qword || valueType === KvpValueType.LinuxU64) {
    value = String(view.getBigUint64(at + KvpValueRecord.value, true));
  } else value = readUtf16(view, at + KvpValueRecord.value, Math.min(valueSize, KVP_MAX_VALUE_SIZE));
  return { valueType, keySize, valueSize, key, value };
}

export function encodeKvpGetSet(operation: 0 | 1, pool: number, key: string, value = ''): Uint8Array {
  const body = new Uint8Array(KVP_GET_SET_BODY_SIZE);
  const view = new DataView(body.buffer);
  view.setUint8(KvpHeader.operation, operation);
  view.setUint8(KvpHeader.pool, pool);
  writeKvpRecord(view, KVP_HEADER_SIZE, key, value);
  if (operation === KvpOperation.Get) view.setUint32(KVP_HEADER_SIZE + KvpValueRecord.valueSize, 0, true);
  return body;
}

export function encodeKvpDelete(pool: number, key: string): Uint8Array {
  const body = new Uint8Array(KVP_DELETE_BODY_SIZE);
  const view = new DataView(body.buffer);
  view.setUint8(KvpHeader.operation, KvpOperation.Delete);
  view.setUint8(KvpHeader.pool, pool);
  view.setUint32(KvpDeleteBody.keySize, writeUtf16z(view, KvpDeleteBody.key, key, KVP_MAX_KEY_SIZE), true);
  return body;
}

export function encodeKvpEnumerate(pool: number, index: number): Uint8Array {
  const body = new Uint8Array(KVP_ENUMERATE_BODY_SIZE);
  const view = new DataView(body.buffer);
  view.setUint8(KvpHeader.operation, KvpOperation.Enumerate);
  view.setUint8(KvpHeader.pool, pool);
  view.setUint32(KvpEnumerateBody.index, index >>> 0, true);
  return body;
}

export function decodeKvp(body: DataView): KvpMessage | BodyError {
  if (body.byteLength < KVP_HEADER_SIZE) return tooShort(KVP_HEADER_SIZE, body.byteLength);
  const operation = body.getUint8(KvpHeader.operation);
  const pool = body.getUint8(KvpHeader.pool);
  const need = kvpBodySize(operation);
  if (need === undefined) return { operation, pool, unsupported: true };
  if (body.byteLength < need) return tooShort(need, body.byteLength);
  switch (operation) {
    case KvpOperation.Get:
    case KvpOperation.Set:
      return { operation, pool, record: readKvpRecord(body, KVP_HEADER_SIZE) };
    case KvpOperation.Delete: {
      const keySize = body.getUint32(KvpDeleteBody.keySize, true);
      return {
        operation,
        pool,
        keySize,
        key: readUtf16(body, KvpDeleteBody.key, Math.min(keySize, KVP_MAX_KEY_SIZE)),
      };
    }
    default:
      return {
        operation: KvpOperation.Enumerate,
        pool,
        index: body.getUint32(KvpEnumerateBody.index, true),
        record: readKvpRecord(body, KvpEnumerateBody.record),
      };
  }
}

// ---------------------------------------------------------------- VSS

export interface VssMessage {
  readonly operation: number;
  readonly flags: number;
}

export function encodeVss(msg: VssMessage): Uint8Array {
  const body = new Uint8Array(VSS_BODY_SIZE);
  const view = new DataView(body.buffer);
  view.setUint8(VssBody.operation, msg.operation);
  view.setUint32(VssBody.flags, msg.flags >>> 0, true);
  return body;
}

export function decodeVss(body: DataView): VssMessage | BodyError {
  if (body.byteLength < VSS_BODY_SIZE) return tooShort(VSS_BODY_SIZE, body.byteLength);
  return { operation: body.getUint8(VssBody.operation), flags: body.getUint32(VssBody.flags, true) };
}
