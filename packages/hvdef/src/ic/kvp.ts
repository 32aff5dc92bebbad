// KVP (data exchange) bodies (spec vmbus.md 7.5). Keys and string values are UTF-16LE, NUL-terminated,
// with sizes in bytes including the terminator.
import { availableBytes, decoded, invalidField, truncated, type VmbusDecoded } from '../vmbus/errors.js';
import { decodeUtf16z, writeUtf16zField } from './utf16.js';

export const KvpOperation = {
  Get: 0,
  Set: 1,
  Delete: 2,
  Enumerate: 3,
  GetIpInfo: 4,
  SetIpInfo: 5,
} as const;
export type KvpOperation = number;
export const KVP_OPERATION_COUNT = 6;

export const KvpPool = {
  /** Written by the host, read by the guest. */
  External: 0,
  /** Written by the guest, read by the host. */
  Guest: 1,
  /** Guest intrinsic data, enumerated by the host. */
  Auto: 2,
  /** Host intrinsic data pushed to the guest. */
  AutoExternal: 3,
  /** Guest-local; never exchanged. */
  AutoInternal: 4,
} as const;
export type KvpPool = number;
export const KVP_POOL_COUNT = 5;

/**
 * value_type. Windows (icsvc, openvmm) uses REG_QWORD = 11 for 64-bit values; the Linux guest
 * driver understands REG_U64 = 8 instead, kept here as `LinuxU64`.
 */
export const KvpValueType = {
  String: 1,
  ExpandString: 2,
  Dword: 4,
  LinuxU64: 8,
  Qword: 11,
} as const;
export type KvpValueType = number;

/** Key array size in bytes (256 UTF-16 units, terminator included). */
export const KVP_MAX_KEY_SIZE = 512;
/** Value array size in bytes. */
export const KVP_MAX_VALUE_SIZE = 2048;

/** Index-to-key mapping of pool AUTO enumeration (Linux). */
export const KVP_AUTO_POOL_KEYS: readonly string[] = [
  'FullyQualifiedDomainName',
  'IntegrationServicesVersion',
  'NetworkAddressIPv4',
  'NetworkAddressIPv6',
  'OSBuildNumber',
  'OSName',
  'OSMajorVersion',
  'OSMinorVersion',
  'OSVersion',
  'ProcessorArchitecture',
];

/** Header at the start of every KVP body. */
export const KvpHeader = { operation: 0, pool: 1, size: 4 } as const;

/** hv_kvp_exchg_msg_value. */
export const KvpValueRecord = {
  valueType: 0,
  keySize: 4,
  valueSize: 8,
  key: 12,
  value: 524,
  size: 2572,
} as const;

export const KvpGetSetMessage = { operation: 0, pool: 1, value: 4, size: 2576 } as const;
export const KvpDeleteMessage = { operation: 0, pool: 1, keySize: 4, key: 8, size: 520 } as const;
export const KvpEnumerateMessage = { operation: 0, pool: 1, index: 4, value: 8, size: 2580 } as const;

/** A value: string for String/ExpandString, number for Dword, bigint for Qword/LinuxU64, bytes otherwise. */
export type KvpValue = string | number | bigint | Uint8Array;

export interface KvpValueFields {
  valueType: KvpValueType;
  key: string;
  value: KvpValue;
}

function isStringType(t: number): boolean {
  return t === KvpValueType.String || t === KvpValueType.ExpandString;
}
function isU64Type(t: number): boolean {
  return t === KvpValueType.Qword || t === KvpValueType.LinuxU64;
}

/** Write a value record. Throws TypeError / RangeError when `value` does not suit `valueType` or does not fit. */
export function encodeKvpValue(view: DataView, offset: number, f: KvpValueFields): number {
  new Uint8Array(view.buffer, view.byteOffset + offset, KvpValueRecord.size).fill(0);
  view.setUint32(offset + KvpValueRecord.valueType, f.valueType, true);
  const keySize = writeUtf16zField(view, offset + KvpValueRecord.key, KVP_MAX_KEY_SIZE, f.key, 'key');
  view.setUint32(offset + KvpValueRecord.keySize, keySize, true);
  const at = offset + KvpValueRecord.value;
  let valueSize: number;
  if (isStringType(f.valueType)) {
    if (typeof f.value !== 'string') throw new TypeError('a string value type needs a string');
    valueSize = writeUtf16zField(view, at, KVP_MAX_VALUE_SIZE, f.value, 'value');
  } else if (f.valueType === KvpValueType.Dword) {
    if (typeof f.value !== 'number') throw new TypeError('a DWORD value needs a number');
    view.setUint32(at, f.value, true);
    valueSize = 4;
  } else if (isU64Type(f.valueType)) {
    if (typeof f.value !== 'bigint') throw new TypeError('a 64-bit value needs a bigint');
    view.setBigUint64(at, f.value, true);
    valueSize = 8;
  } else {
    if (!(f.value instanceof Uint8Array)) throw new TypeError('an unknown value type needs bytes');
    if (f.value.length > KVP_MAX_VALUE_SIZE)
      throw new RangeError(`value exceeds ${KVP_MAX_VALUE_SIZE} bytes`);
    new Uint8Array(view.buffer, view.byteOffset + at, f.value.length).set(f.value);
    valueSize = f.value.length;
  }
  view.setUint32(offset + KvpValueRecord.valueSize, valueSize, true);
  return KvpValueRecord.size;
}

/** Read a value record; sizes come from the peer and are checked against the arrays. */
export function decodeKvpValue(view: DataView, offset: number, length: number): VmbusDecoded<KvpValueFields> {
  const name = 'KvpValueRecord';
  const avail = availableBytes(view, offset, length);
  if (avail < KvpValueRecord.size) return truncated(name, KvpValueRecord.size, Math.max(avail, 0));
  const valueType = view.getUint32(offset + KvpValueRecord.valueType, true);
  const keySize = view.getUint32(offset + KvpValueRecord.keySize, true);
  const valueSize = view.getUint32(offset + KvpValueRecord.valueSize, true);
  if (keySize > KVP_MAX_KEY_SIZE) return invalidField(name, 'keySize', `${keySize} > ${KVP_MAX_KEY_SIZE}`);
  if (keySize % 2 !== 0) return invalidField(name, 'keySize', 'odd size for UTF-16');
  if (valueSize > KVP_MAX_VALUE_SIZE)
    return invalidField(name, 'valueSize', `${valueSize} > ${KVP_MAX_VALUE_SIZE}`);
  const key = decodeUtf16z(view, offset + KvpValueRecord.key, keySize);
  const at = offset + KvpValueRecord.value;
  let value: KvpValue;
  if (isStringType(valueType)) {
    if (valueSize % 2 !== 0) return invalidField(name, 'valueSize', 'odd size for UTF-16');
    value = decodeUtf16z(view, at, valueSize);
  } else if (valueType === KvpValueType.Dword) {
    value = view.getUint32(at, true);
  } else if (isU64Type(valueType)) {
    value = view.getBigUint64(at, true);
  } else {
    value = new Uint8Array(view.buffer, view.byteOffset + at, valueSize).slice();
  }
  return decoded({ valueType, key, value });
}

function checkHeader(
  name: string,
  view: DataView,
  offset: number,
  length: number,
  size: number,
): number | VmbusDecoded<never> {
  const avail = availableBytes(view, offset, length);
  if (avail < size) return truncated(name, size, Math.max(avail, 0));
  return avail;
}

function writeHeader(view: DataView, offset: number, operation: number, pool: number, size: number): void {
  new Uint8Array(view.buffer, view.byteOffset + offset, size).fill(0);
  view.setUint8(offset + KvpHeader.operation, operation);
  view.setUint8(offset + KvpHeader.pool, pool);
}

export interface KvpGetSetFields {
  /** Get or Set. */
  operation: KvpOperation;
  pool: KvpPool;
  value: KvpValueFields;
}

export function encodeKvpGetSet(view: DataView, offset: number, f: KvpGetSetFields): number {
  writeHeader(view, offset, f.operation, f.pool, KvpGetSetMessage.size);
  encodeKvpValue(view, offset + KvpGetSetMessage.value, f.value);
  return KvpGetSetMessage.size;
}

export function decodeKvpGetSet(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<KvpGetSetFields> {
  const avail = checkHeader('KvpGetSet', view, offset, length, KvpGetSetMessage.size);
  if (typeof avail !== 'number') return avail;
  const v = decodeKvpValue(view, offset + KvpGetSetMessage.value, avail - KvpGetSetMessage.value);
  if (!v.ok) return v;
  return decoded({ operation: view.getUint8(offset), pool: view.getUint8(offset + 1), value: v.value });
}

export interface KvpDeleteFields {
  pool: KvpPool;
  key: string;
}

export function encodeKvpDelete(view: DataView, offset: number, f: KvpDeleteFields): number {
  writeHeader(view, offset, KvpOperation.Delete, f.pool, KvpDeleteMessage.size);
  const n = writeUtf16zField(view, offset + KvpDeleteMessage.key, KVP_MAX_KEY_SIZE, f.key, 'key');
  view.setUint32(offset + KvpDeleteMessage.keySize, n, true);
  return KvpDeleteMessage.size;
}

export function decodeKvpDelete(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<KvpDeleteFields> {
  const name = 'KvpDelete';
  const avail = checkHeader(name, view, offset, length, KvpDeleteMessage.size);
  if (typeof avail !== 'number') return avail;
  const keySize = view.getUint32(offset + KvpDeleteMessage.keySize, true);
  if (keySize > KVP_MAX_KEY_SIZE) return invalidField(name, 'keySize', `${keySize} > ${KVP_MAX_KEY_SIZE}`);
  if (keySize % 2 !== 0) return invalidField(name, 'keySize', 'odd size for UTF-16');
  return decoded({
    pool: view.getUint8(offset + KvpHeader.pool),
    key: decodeUtf16z(view, offset + KvpDeleteMessage.key, keySize),
  });
}

export interface KvpEnumerateFields {
  pool: KvpPool;
  index: number;
  /** The host's request carries an all-zero record; the guest's reply fills it. */
  value: KvpValueFields | null;
}

export function encodeKvpEnumerate(view: DataView, offset: number, f: KvpEnumerateFields): number {
  writeHeader(view, offset, KvpOperation.Enumerate, f.pool, KvpEnumerateMessage.size);
  view.setUint32(offset + KvpEnumerateMessage.index, f.index, true);
  if (f.value !== null) encodeKvpValue(view, offset + KvpEnumerateMessage.value, f.value);
  return KvpEnumerateMessage.size;
}

/** Decode an ENUMERATE body; an all-zero record (the host's request) decodes as `value: null`. */
export function decodeKvpEnumerate(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<KvpEnumerateFields> {
  const avail = checkHeader('KvpEnumerate', view, offset, length, KvpEnumerateMessage.size);
  if (typeof avail !== 'number') return avail;
  const at = offset + KvpEnumerateMessage.value;
  const empty =
    view.getUint32(at + KvpValueRecord.valueType, true) === 0 &&
    view.getUint32(at + KvpValueRecord.keySize, true) === 0 &&
    view.getUint32(at + KvpValueRecord.valueSize, true) === 0;
  let value: KvpValueFields | null = null;
  if (!empty) {
    const v = decodeKvpValue(view, at, avail - KvpEnumerateMessage.value);
    if (!v.ok) return v;
    value = v.value;
  }
  return decoded({
    pool: view.getUint8(offset + KvpHeader.pool),
    index: view.getUint32(offset + KvpEnumerateMessage.index, true),
    value,
  });
}

// ---- IP address information ----

export const KvpAddressFamily = {
  None: 0,
  Ipv4: 1,
  Ipv6: 2,
  Both: 3,
} as const;
export type KvpAddressFamily = number;

/** GET/SET_IP_INFO, string form (message versions below 5.0). Offsets from the body start. */
export const KvpIpInfoMessage = {
  operation: 0,
  pool: 1,
  adapterId: 2,
  addressFamily: 258,
  dhcpEnabled: 259,
  ipAddresses: 260,
  subnets: 2308,
  gateways: 4356,
  dnsServers: 5380,
  size: 7428,
} as const;

/** Capacity in bytes of each UTF-16 field of the string form. */
export const KvpIpInfoCapacity = {
  adapterId: 256,
  ipAddresses: 2048,
  subnets: 2048,
  gateways: 1024,
  dnsServers: 2048,
} as const;

export interface KvpIpInfoFields {
  operation: KvpOperation;
  pool: KvpPool;
  adapterId: string;
  addressFamily: KvpAddressFamily;
  dhcpEnabled: boolean;
  /** Semicolon-separated lists. */
  ipAddresses: string;
  subnets: string;
  gateways: string;
  dnsServers: string;
}

const IP_STRING_FIELDS = ['adapterId', 'ipAddresses', 'subnets', 'gateways', 'dnsServers'] as const;

export function encodeKvpIpInfo(view: DataView, offset: number, f: KvpIpInfoFields): number {
  writeHeader(view, offset, f.operation, f.pool, KvpIpInfoMessage.size);
  for (const k of IP_STRING_FIELDS)
    writeUtf16zField(view, offset + KvpIpInfoMessage[k], KvpIpInfoCapacity[k], f[k], k);
  view.setUint8(offset + KvpIpInfoMessage.addressFamily, f.addressFamily);
  view.setUint8(offset + KvpIpInfoMessage.dhcpEnabled, f.dhcpEnabled ? 1 : 0);
  return KvpIpInfoMessage.size;
}

export function decodeKvpIpInfo(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<KvpIpInfoFields> {
  const avail = checkHeader('KvpIpInfo', view, offset, length, KvpIpInfoMessage.size);
  if (typeof avail !== 'number') return avail;
  const s = (k: (typeof IP_STRING_FIELDS)[number]) =>
    decodeUtf16z(view, offset + KvpIpInfoMessage[k], KvpIpInfoCapacity[k]);
  return decoded({
    operation: view.getUint8(offset + KvpIpInfoMessage.operation),
    pool: view.getUint8(offset + KvpIpInfoMessage.pool),
    adapterId: s('adapterId'),
    addressFamily: view.getUint8(offset + KvpIpInfoMessage.addressFamily),
    dhcpEnabled: view.getUint8(offset + KvpIpInfoMessage.dhcpEnabled) !== 0,
    ipAddresses: s('ipAddresses'),
    subnets: s('subnets'),
    gateways: s('gateways'),
    dnsServers: s('dnsServers'),
  });
}

/** GET/SET_IP_INFO, binary form (message version 5.0, openvmm). Offsets from the body start. */
export const KvpIpInfoBinaryMessage = {
  operation: 0,
  pool: 1,
  ipv4AddressCount: 4,
  ipv6AddressCount: 8,
  ipv4GatewayCount: 12,
  ipv6GatewayCount: 16,
  ipv4DnsServerCount: 20,
  ipv6DnsServerCount: 24,
  adapterId: 28,
  addressFamily: 284,
  dhcpEnabled: 285,
  padding: 286,
  ipv4Addresses: 288,
  ipv6Addresses: 544,
  ipv4Subnets: 1568,
  ipv6Prefixes: 1824,
  ipv4Gateways: 2080,
  ipv6Gateways: 2100,
  ipv4DnsServers: 2180,
  ipv6DnsServers: 2436,
  origins: 3460,
  size: 3716,
} as const;

/** Array capacities of the binary form. */
export const KvpIpInfoBinaryCapacity = {
  addresses: 64,
  gateways: 5,
  dnsServers: 64,
  /** IPv4 then IPv6 address origins, without a gap. */
  origins: 128,
} as const;

/** Origin of an address in the binary form. */
export const KvpAddressOrigin = {
  Unknown: 0,
  Other: 1,
  Static: 2,
} as const;

export interface KvpIpInfoBinaryFields {
  operation: KvpOperation;
  pool: KvpPool;
  adapterId: string;
  addressFamily: KvpAddressFamily;
  dhcpEnabled: boolean;
  /** Octets in network order (4 bytes each). */
  ipv4Addresses: Uint8Array[];
  /** Same count as ipv4Addresses. */
  ipv4Subnets: Uint8Array[];
  /** Octets in network order (16 bytes each). */
  ipv6Addresses: Uint8Array[];
  /** Prefix lengths; same count as ipv6Addresses. */
  ipv6Prefixes: number[];
  ipv4Gateways: Uint8Array[];
  ipv6Gateways: Uint8Array[];
  ipv4DnsServers: Uint8Array[];
  ipv6DnsServers: Uint8Array[];
  /** One per address, IPv4 first. */
  origins: number[];
}

function putAddrs(
  view: DataView,
  at: number,
  width: number,
  list: readonly Uint8Array[],
  cap: number,
  name: string,
): void {
  if (list.length > cap) throw new RangeError(`${name}: at most ${cap} entries`);
  list.forEach((a, i) => {
    if (a.length !== width) throw new RangeError(`${name}[${i}]: ${width} bytes expected`);
    new Uint8Array(view.buffer, view.byteOffset + at + width * i, width).set(a);
  });
}

function getAddrs(view: DataView, at: number, width: number, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++)
    out.push(new Uint8Array(view.buffer, view.byteOffset + at + width * i, width).slice());
  return out;
}

export function encodeKvpIpInfoBinary(view: DataView, offset: number, f: KvpIpInfoBinaryFields): number {
  const M = KvpIpInfoBinaryMessage;
  const C = KvpIpInfoBinaryCapacity;
  if (f.ipv4Subnets.length !== f.ipv4Addresses.length)
    throw new RangeError('one IPv4 subnet per IPv4 address');
  if (f.ipv6Prefixes.length !== f.ipv6Addresses.length)
    throw new RangeError('one IPv6 prefix per IPv6 address');
  if (f.origins.length !== f.ipv4Addresses.length + f.ipv6Addresses.length)
    throw new RangeError('one origin per address');
  writeHeader(view, offset, f.operation, f.pool, M.size);
  view.setUint32(offset + M.ipv4AddressCount, f.ipv4Addresses.length, true);
  view.setUint32(offset + M.ipv6AddressCount, f.ipv6Addresses.length, true);
  view.setUint32(offset + M.ipv4GatewayCount, f.ipv4Gateways.length, true);
  view.setUint32(offset + M.ipv6GatewayCount, f.ipv6Gateways.length, true);
  view.setUint32(offset + M.ipv4DnsServerCount, f.ipv4DnsServers.length, true);
  view.setUint32(offset + M.ipv6DnsServerCount, f.ipv6DnsServers.length, true);
  writeUtf16zField(view, offset + M.adapterId, 256, f.adapterId, 'adapterId');
  view.setUint8(offset + M.addressFamily, f.addressFamily);
  view.setUint8(offset + M.dhcpEnabled, f.dhcpEnabled ? 1 : 0);
  putAddrs(view, offset + M.ipv4Addresses, 4, f.ipv4Addresses, C.addresses, 'ipv4Addresses');
  putAddrs(view, offset + M.ipv6Addresses, 16, f.ipv6Addresses, C.addresses, 'ipv6Addresses');
  putAddrs(view, offset + M.ipv4Subnets, 4, f.ipv4Subnets, C.addresses, 'ipv4Subnets');
  for (let i = 0; i < f.ipv6Prefixes.length; i++)
    view.setUint32(offset + M.ipv6Prefixes + 4 * i, f.ipv6Prefixes[i]!, true);
  putAddrs(view, offset + M.ipv4Gateways, 4, f.ipv4Gateways, C.gateways, 'ipv4Gateways');
  putAddrs(view, offset + M.ipv6Gateways, 16, f.ipv6Gateways, C.gateways, 'ipv6Gateways');
  putAddrs(view, offset + M.ipv4DnsServers, 4, f.ipv4DnsServers, C.dnsServers, 'ipv4DnsServers');
  putAddrs(view, offset + M.ipv6DnsServers, 16, f.ipv6DnsServers, C.dnsServers, 'ipv6DnsServers');
  for (let i = 0; i < f.origins.length; i++) view.setUint16(offset + M.origins + 2 * i, f.origins[i]!, true);
  return M.size;
}

/** Decode the binary form; every count is checked against its array's capacity. */
export function decodeKvpIpInfoBinary(
  view: DataView,
  offset: number,
  length: number,
): VmbusDecoded<KvpIpInfoBinaryFields> {
  const name = 'KvpIpInfoBinary';
  const M = KvpIpInfoBinaryMessage;
  const C = KvpIpInfoBinaryCapacity;
  const avail = checkHeader(name, view, offset, length, M.size);
  if (typeof avail !== 'number') return avail;
  const count = (field: keyof typeof M, cap: number): number | undefined => {
    const n = view.getUint32(offset + M[field], true);
    return n <= cap ? n : undefined;
  };
  const v4 = count('ipv4AddressCount', C.addresses);
  const v6 = count('ipv6AddressCount', C.addresses);
  const g4 = count('ipv4GatewayCount', C.gateways);
  const g6 = count('ipv6GatewayCount', C.gateways);
  const d4 = count('ipv4DnsServerCount', C.dnsServers);
  const d6 = count('ipv6DnsServerCount', C.dnsServers);
  if (v4 === undefined) return invalidField(name, 'ipv4AddressCount', 'exceeds capacity');
  if (v6 === undefined) return invalidField(name, 'ipv6AddressCount', 'exceeds capacity');
  if (g4 === undefined) return invalidField(name, 'ipv4GatewayCount', 'exceeds capacity');
  if (g6 === undefined) return invalidField(name, 'ipv6GatewayCount', 'exceeds capacity');
  if (d4 === undefined) return invalidField(name, 'ipv4DnsServerCount', 'exceeds capacity');
  if (d6 === undefined) return invalidField(name, 'ipv6DnsServerCount', 'exceeds capacity');
  const ipv6Prefixes: number[] = [];
  for (let i = 0; i < v6; i++) ipv6Prefixes.push(view.getUint32(offset + M.ipv6Prefixes + 4 * i, true));
  const origins: number[] = [];
  for (let i = 0; i < v4 + v6; i++) origins.push(view.getUint16(offset + M.origins + 2 * i, true));
  return decoded({
    operation: view.getUint8(offset + M.operation),
    pool: view.getUint8(offset + M.pool),
    adapterId: decodeUtf16z(view, offset + M.adapterId, 256),
    addressFamily: view.getUint8(offset + M.addressFamily),
    dhcpEnabled: view.getUint8(offset + M.dhcpEnabled) !== 0,
    ipv4Addresses: getAddrs(view, offset + M.ipv4Addresses, 4, v4),
    ipv4Subnets: getAddrs(view, offset + M.ipv4Subnets, 4, v4),
    ipv6Addresses: getAddrs(view, offset + M.ipv6Addresses, 16, v6),
    ipv6Prefixes,
    ipv4Gateways: getAddrs(view, offset + M.ipv4Gateways, 4, g4),
    ipv6Gateways: getAddrs(view, offset + M.ipv6Gateways, 16, g6),
    ipv4DnsServers: getAddrs(view, offset + M.ipv4DnsServers, 4, d4),
    ipv6DnsServers: getAddrs(view, offset + M.ipv6DnsServers, 16, d6),
    origins,
  });
}
