// Hypercall validation (TLFS common checks) and the per-call handlers.
import {
  HV_PARTITION_ID_SELF,
  HV_VP_INDEX_SELF,
  HvCallCode,
  HvPartitionProperty,
  HvPartitionState,
  HvPortType,
  HvStatus,
  HYPERCALLS,
  HvPartitionPrivilege as Priv,
} from '@viridian/hvdef';
import { PAGE_SIZE, TrapOutcome, VpControl, VpRunState } from '../layout.js';
import { Access } from '../memory.js';
import type { Kernel } from './kernel.js';
import { readMsr, writeMsr } from './msr.js';
import type { Partition, Port, Vp } from './state.js';

/** What a handler sees: the caller, the copied input block and an output block to fill. */
interface Call {
  readonly k: Kernel;
  readonly vp: Vp;
  readonly caller: Partition;
  readonly input: DataView;
  readonly output: DataView;
  readonly repCount: number;
  readonly repStart: number;
  /** Set by rep handlers when they stop early for a time slice. */
  sliced: boolean;
}

interface Result {
  status: number;
  reps?: number;
}

/** What the dispatcher checks before running a handler (derived from hvdef's HYPERCALLS). */
interface CallDef {
  readonly name: string;
  readonly rep: boolean;
  readonly fast: boolean;
  /** Fixed input header bytes. */
  readonly inSize: number;
  readonly outSize: number;
  readonly repIn: number;
  readonly repOut: number;
  /** Privilege bit the caller's partition needs (ACCESS_DENIED otherwise). */
  readonly privilege: number | undefined;
  readonly run: (c: Call) => Result;
}

const ok: Result = { status: HvStatus.Success };
const st = (status: number): Result => ({ status });
const has = (p: Partition, bit: number): boolean => (p.privileges & (1n << BigInt(bit))) !== 0n;

/** Resolves a partition id the caller names; SELF is the caller. */
function resolve(c: Call, id: bigint): Partition | undefined {
  if (id === HV_PARTITION_ID_SELF) return c.caller;
  return c.k.partitions.get(id);
}

/** "P": the caller must be the target's parent. Returns the target or a status. */
function child(c: Call, id: bigint): Partition | number {
  const p = resolve(c, id);
  if (!p) return HvStatus.InvalidPartitionId;
  if (p.parent !== c.caller) return HvStatus.AccessDenied;
  return p;
}

/** "P or R": the parent, or the root acting on any partition. */
function childOrRoot(c: Call, id: bigint): Partition | number {
  const p = resolve(c, id);
  if (!p) return HvStatus.InvalidPartitionId;
  if (p.parent !== c.caller && c.caller !== c.k.root) return HvStatus.AccessDenied;
  return p;
}

function active(p: Partition): boolean {
  return p.state === HvPartitionState.Active;
}

const idValid = (id: number): boolean => id >>> 24 === 0;

// ---- partition management -------------------------------------------------------------------

function createPartition(c: Call): Result {
  if (c.caller.depth >= 2) return st(HvStatus.PartitionTooDeep);
  const flags = c.input.getBigUint64(0, true);
  // Known creation flags: 0 SMT, 1 nested, 13 LAPIC, 22 x2APIC; the rest is reserved.
  if ((flags & ~((1n << 0n) | (1n << 1n) | (1n << 13n) | (1n << 22n))) !== 0n)
    return st(HvStatus.InvalidParameter);
  const p = c.k.newPartition(c.caller);
  c.output.setBigUint64(0, p.id, true);
  return ok;
}

function initializePartition(c: Call): Result {
  const p = child(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (p.state !== HvPartitionState.Uninitialized) return st(HvStatus.InvalidPartitionState);
  if (p.poolPages < 1) return st(HvStatus.InsufficientMemory);
  c.k.allocateMemory(p);
  p.state = HvPartitionState.Active;
  return ok;
}

function finalizePartition(c: Call): Result {
  const p = child(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (p.state !== HvPartitionState.Active && p.state !== HvPartitionState.Finalizing) {
    return st(HvStatus.InvalidPartitionState);
  }
  p.state = HvPartitionState.Finalizing;
  c.k.finalize(p);
  return ok;
}

function deletePartition(c: Call): Result {
  const p = child(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (p.state !== HvPartitionState.Finalized) return st(HvStatus.InvalidPartitionState);
  if (p.children.size > 0) return st(HvStatus.ObjectInUse);
  c.caller.children.delete(p.id);
  c.k.partitions.delete(p.id);
  return ok;
}

/** Get/SetPartitionProperty: the parent, or the root on itself. */
function propertyTarget(c: Call): Partition | number {
  const p = resolve(c, c.input.getBigUint64(0, true));
  if (!p) return HvStatus.InvalidPartitionId;
  if (p === c.caller && p === c.k.root) return p;
  if (p.parent !== c.caller) return HvStatus.AccessDenied;
  return p;
}

function getPartitionProperty(c: Call): Result {
  const p = propertyTarget(c);
  if (typeof p === 'number') return st(p);
  const code = c.input.getUint32(8, true);
  let value: bigint | undefined;
  switch (code) {
    case HvPartitionProperty.PrivilegeFlags:
      value = p.privileges;
      break;
    case HvPartitionProperty.ReferenceTime:
      value = c.k.referenceTime(p);
      break;
    case HvPartitionProperty.GuestOsId:
      value = p.guestOsId;
      break;
    case HvPartitionProperty.ProcessorVendor:
      value = 0n; // Intel
      break;
    default:
      value = p.properties.get(code);
  }
  if (value === undefined) return st(HvStatus.UnknownProperty);
  c.output.setBigUint64(0, value, true);
  return ok;
}

function setPartitionProperty(c: Call): Result {
  const p = propertyTarget(c);
  if (typeof p === 'number') return st(p);
  const code = c.input.getUint32(8, true);
  const value = c.input.getBigUint64(16, true);
  switch (code) {
    case HvPartitionProperty.PrivilegeFlags:
      if (p.state !== HvPartitionState.Uninitialized) return st(HvStatus.InvalidPartitionState);
      // A parent cannot grant what it does not hold.
      if ((value & ~c.caller.privileges) !== 0n) return st(HvStatus.PropertyValueOutOfRange);
      p.privileges = value;
      return ok;
    case HvPartitionProperty.CpuReserve:
    case HvPartitionProperty.CpuCap:
      if (value > 0x10000n) return st(HvStatus.PropertyValueOutOfRange);
      p.properties.set(code, value);
      return ok;
    case HvPartitionProperty.CpuWeight:
      if (value < 1n || value > 10000n) return st(HvStatus.PropertyValueOutOfRange);
      p.properties.set(code, value);
      return ok;
    case HvPartitionProperty.Suspend:
    case HvPartitionProperty.TimeFreeze:
      if (value > 1n) return st(HvStatus.PropertyValueOutOfRange);
      p.properties.set(code, value);
      return ok;
    case HvPartitionProperty.ReferenceTime:
    case HvPartitionProperty.GuestOsId:
    case HvPartitionProperty.ProcessorVendor:
      return st(HvStatus.InvalidParameter); // read-only here
    default:
      return st(HvStatus.UnknownProperty);
  }
}

function getPartitionId(c: Call): Result {
  c.output.setBigUint64(0, c.caller.id, true);
  return ok;
}

function getNextChildPartition(c: Call): Result {
  const parentId = c.input.getBigUint64(0, true);
  const parent = resolve(c, parentId);
  if (!parent) return st(HvStatus.InvalidPartitionId);
  if (parent !== c.caller) return st(HvStatus.AccessDenied);
  const prev = c.input.getBigUint64(8, true);
  const ids = [...parent.children.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let next = 0n;
  if (prev === 0n) next = ids[0] ?? 0n;
  else {
    if (!parent.children.has(prev)) return st(HvStatus.InvalidParameter);
    next = ids.find((id) => id > prev) ?? 0n;
  }
  c.output.setBigUint64(0, next, true);
  return ok;
}

function depositMemory(c: Call): Result {
  const p = childOrRoot(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (p === c.caller) return st(HvStatus.InvalidParameter);
  if (p.state === HvPartitionState.Finalizing || p.state === HvPartitionState.Finalized) {
    return st(HvStatus.InvalidPartitionState);
  }
  const callerPages = c.caller.memory?.pageCount ?? 0;
  return eachRep(c, (i) => {
    const page = c.input.getBigUint64(8 + i * 8, true);
    if (page >= BigInt(callerPages)) return HvStatus.InvalidParameter;
    if (p.poolPages >= c.k.options.maxPartitionPages) return HvStatus.InsufficientMemory;
    p.poolPages++;
    return HvStatus.Success;
  });
}

function getMemoryBalance(c: Call): Result {
  const p = childOrRoot(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  const inUse = p.memory ? p.memory.pageCount : 0;
  c.output.setBigUint64(0, BigInt(p.poolPages - inUse), true);
  c.output.setBigUint64(8, BigInt(inUse), true);
  return ok;
}

// ---- memory ---------------------------------------------------------------------------------

function mapGpaPages(c: Call): Result {
  const p = childOrRoot(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (p === c.k.root) return st(HvStatus.InvalidParameter);
  if (!active(p) || !p.memory) return st(HvStatus.InvalidPartitionState);
  const base = c.input.getBigUint64(8, true);
  const flags = c.input.getUint32(16, true);
  if ((flags & ~7) !== 0) return st(HvStatus.InvalidParameter);
  const mem = p.memory;
  return eachRep(c, (i) => {
    const gpaPage = base + BigInt(i);
    const pool = c.input.getBigUint64(24 + i * 8, true);
    if (gpaPage >= BigInt(mem.pageCount) || pool >= BigInt(mem.pageCount)) return HvStatus.InvalidParameter;
    c.k.mapPage(p, Number(gpaPage), Number(pool), flags);
    return HvStatus.Success;
  });
}

function unmapGpaPages(c: Call): Result {
  const p = child(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (!active(p) || !p.memory) return st(HvStatus.InvalidPartitionState);
  const base = c.input.getBigUint64(8, true);
  if (c.input.getUint32(16, true) !== 0) return st(HvStatus.InvalidParameter);
  const mem = p.memory;
  return eachRep(c, (i) => {
    const gpaPage = base + BigInt(i);
    if (gpaPage >= BigInt(mem.pageCount)) return HvStatus.InvalidParameter;
    c.k.mapPage(p, Number(gpaPage), -1, 0);
    return HvStatus.Success;
  });
}

// ---- VPs ------------------------------------------------------------------------------------

function createVp(c: Call): Result {
  const p = child(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (!active(p)) return st(HvStatus.InvalidPartitionState);
  const index = c.input.getUint32(8, true);
  if (c.input.getBigUint64(24, true) !== 0n) return st(HvStatus.InvalidParameter); // Flags RsvdZ
  if (index >= c.k.options.maxVpsPerPartition || p.vps.has(index)) return st(HvStatus.InvalidVpIndex);
  const vp = c.k.createVp(p, index);
  c.k.startVpThread(vp);
  return ok;
}

function deleteVp(c: Call): Result {
  const p = child(c, c.input.getBigUint64(0, true));
  if (typeof p === 'number') return st(p);
  if (!active(p)) return st(HvStatus.InvalidPartitionState);
  const vp = p.vps.get(c.input.getUint32(8, true));
  if (!vp) return st(HvStatus.InvalidVpIndex);
  c.k.deleteVp(vp);
  return ok;
}

/** Target VP of Get/SetVpRegisters and StartVirtualProcessor. */
function targetVp(c: Call, selfNeeds: number | undefined): Vp | number {
  const p = resolve(c, c.input.getBigUint64(0, true));
  if (!p) return HvStatus.InvalidPartitionId;
  if (p === c.caller) {
    if (selfNeeds !== undefined && !has(p, selfNeeds)) return HvStatus.AccessDenied;
  } else if (p.parent !== c.caller) return HvStatus.AccessDenied;
  if (!active(p)) return HvStatus.InvalidPartitionState;
  let index = c.input.getUint32(8, true);
  if (index === HV_VP_INDEX_SELF) {
    if (p !== c.caller) return HvStatus.InvalidVpIndex;
    index = c.vp.index;
  }
  const vp = p.vps.get(index);
  return vp ?? HvStatus.InvalidVpIndex;
}

/** Maps a register name onto the MSR that backs it (synthetic registers). */
function registerMsr(name: number): number | undefined {
  if (name === 0x0009_0002) return 0x4000_0000;
  if (name === 0x0009_0003) return 0x4000_0002;
  if (name === 0x0009_0004) return 0x4000_0020;
  if (name === 0x0009_0017) return 0x4000_0021;
  if (name >= 0x000a_0000 && name <= 0x000a_000f) return 0x4000_0090 + (name - 0x000a_0000);
  if (name >= 0x000a_0010 && name <= 0x000a_0014) return 0x4000_0080 + (name - 0x000a_0010);
  if (name >= 0x000b_0000 && name <= 0x000b_0007) return 0x4000_00b0 + (name - 0x000b_0000);
  return undefined;
}

const GENERAL_FIRST = 0x0002_0000;
const GENERAL_LAST = 0x0002_0011;

function getVpRegisters(c: Call): Result {
  const vp = targetVp(c, Priv.AccessVpRegisters);
  if (typeof vp === 'number') return st(vp);
  if (c.input.getUint8(12) !== 0) return st(HvStatus.InvalidParameter);
  return eachRep(c, (i) => {
    const name = c.input.getUint32(16 + i * 4, true);
    let value: bigint | undefined;
    if (name >= GENERAL_FIRST && name <= GENERAL_LAST) {
      value = vp.view.getBigUint64(VpControl.registers + (name - GENERAL_FIRST) * 16, true);
    } else {
      const msr = registerMsr(name);
      if (msr === 0x4000_0084) value = 0n;
      else if (msr !== undefined) value = readMsrAsParent(c.k, vp, msr);
    }
    if (value === undefined) return HvStatus.InvalidParameter;
    c.output.setBigUint64(i * 16, value, true);
    c.output.setBigUint64(i * 16 + 8, 0n, true);
    return HvStatus.Success;
  });
}

/** Register access by a parent is not limited by the child's own MSR privileges. */
function readMsrAsParent(k: Kernel, vp: Vp, msr: number): bigint | undefined {
  const saved = vp.partition.privileges;
  vp.partition.privileges = 0xffff_ffff_ffff_ffffn;
  try {
    return readMsr(k, vp, msr);
  } finally {
    vp.partition.privileges = saved;
  }
}

function setVpRegisters(c: Call): Result {
  const vp = targetVp(c, Priv.AccessVpRegisters);
  if (typeof vp === 'number') return st(vp);
  if (c.input.getUint8(12) !== 0) return st(HvStatus.InvalidParameter);
  return eachRep(c, (i) => {
    const at = 16 + i * 32;
    const name = c.input.getUint32(at, true);
    if (c.input.getUint32(at + 4, true) !== 0 || c.input.getBigUint64(at + 8, true) !== 0n) {
      return HvStatus.InvalidParameter;
    }
    const value = c.input.getBigUint64(at + 16, true);
    if (name >= GENERAL_FIRST && name <= GENERAL_LAST) {
      vp.view.setBigUint64(VpControl.registers + (name - GENERAL_FIRST) * 16, value, true);
      return HvStatus.Success;
    }
    const msr = registerMsr(name);
    if (msr === undefined) return HvStatus.InvalidParameter;
    const saved = vp.partition.privileges;
    vp.partition.privileges = 0xffff_ffff_ffff_ffffn;
    try {
      return writeMsr(c.k, vp, msr, value) ? HvStatus.Success : HvStatus.InvalidParameter;
    } finally {
      vp.partition.privileges = saved;
    }
  });
}

function startVirtualProcessor(c: Call): Result {
  const vp = targetVp(c, undefined);
  if (typeof vp === 'number') return st(vp);
  if (vp.partition === c.caller) return st(HvStatus.AccessDenied);
  if (c.input.getUint8(12) !== 0) return st(HvStatus.InvalidParameter);
  if (Atomics.load(vp.ctl, VpControl.runState >> 2) !== VpRunState.WaitForSipi)
    return st(HvStatus.InvalidVpState);
  // VpContext: Rip@0, Rsp@8, Rflags@16 of the 224-byte context at input offset 16.
  vp.view.setBigUint64(VpControl.registers + 0x10 * 16, c.input.getBigUint64(16, true), true);
  vp.view.setBigUint64(VpControl.registers + 0x04 * 16, c.input.getBigUint64(24, true), true);
  vp.view.setBigUint64(VpControl.registers + 0x11 * 16, c.input.getBigUint64(32, true), true);
  Atomics.store(vp.ctl, VpControl.runState >> 2, VpRunState.Running);
  c.k.ring(vp);
  return ok;
}

function sendSyntheticClusterIpi(c: Call): Result {
  const vector = c.input.getUint32(0, true);
  if (vector < 0x10 || vector > 0xff) return st(HvStatus.InvalidParameter);
  if (c.input.getUint8(4) !== 0 || c.input.getUint8(5) !== 0 || c.input.getUint16(6, true) !== 0) {
    return st(HvStatus.InvalidParameter);
  }
  const mask = c.input.getBigUint64(8, true);
  for (let i = 0; i < 64; i++) {
    if (((mask >> BigInt(i)) & 1n) === 0n) continue;
    if (!c.caller.vps.has(i)) return st(HvStatus.InvalidParameter);
  }
  for (let i = 0; i < 64; i++) {
    if (((mask >> BigInt(i)) & 1n) === 0n) continue;
    const vp = c.caller.vps.get(i);
    if (vp) c.k.assertInterrupt(vp, vector);
  }
  return ok;
}

// ---- ports and messages ---------------------------------------------------------------------

/** Who may create/delete a port in `p`: the root, the parent, or the partition itself. */
function portAuthority(c: Call, id: bigint): Partition | number {
  const p = resolve(c, id);
  if (!p) return HvStatus.InvalidPartitionId;
  if (p !== c.caller && p.parent !== c.caller && c.caller !== c.k.root) return HvStatus.AccessDenied;
  return p;
}

function createPortWith(c: Call, infoAt: number, vtlChecked: boolean): Result {
  const owner = portAuthority(c, c.input.getBigUint64(0, true));
  if (typeof owner === 'number') return st(owner);
  const portId = c.input.getUint32(8, true);
  if (vtlChecked && (c.input.getUint8(12) !== 0 || c.input.getUint8(13) !== 0))
    return st(HvStatus.InvalidParameter);
  const connPartition = resolve(c, c.input.getBigUint64(16, true));
  if (!connPartition) return st(HvStatus.InvalidPartitionId);
  if (!idValid(portId)) return st(HvStatus.InvalidPortId);
  if (connPartition === owner) return st(HvStatus.InvalidParameter);
  if (!active(owner) || !active(connPartition)) return st(HvStatus.InvalidPartitionState);
  if (owner.ports.has(portId)) return st(HvStatus.InvalidPortId);
  const i = c.input;
  const type = i.getUint32(infoAt, true);
  if (i.getUint32(infoAt + 4, true) !== 0) return st(HvStatus.InvalidParameter);
  const sint = i.getUint32(infoAt + 8, true);
  const targetVp = i.getUint32(infoAt + 12, true);
  let baseFlag = 0;
  let flagCount = 0;
  if (type === HvPortType.Message) {
    if (i.getBigUint64(infoAt + 16, true) !== 0n) return st(HvStatus.InvalidParameter);
  } else if (type === HvPortType.Event) {
    baseFlag = i.getUint16(infoAt + 16, true);
    flagCount = i.getUint16(infoAt + 18, true);
    if (i.getUint32(infoAt + 20, true) !== 0) return st(HvStatus.InvalidParameter);
    if (flagCount < 1 || baseFlag + flagCount > 2048) return st(HvStatus.InvalidParameter);
  } else {
    return st(HvStatus.InvalidParameter); // monitor and doorbell ports are not offered
  }
  if (sint < 1 || sint > 15) return st(HvStatus.InvalidParameter);
  const port: Port = {
    owner,
    id: portId,
    type,
    connectionPartition: connPartition,
    targetSint: sint,
    targetVp,
    baseFlag,
    flagCount,
    freeBuffers: 16,
    connection: undefined,
    deleted: false,
  };
  owner.ports.set(portId, port);
  return ok;
}

function connectPortWith(c: Call, infoSize: number): Result {
  const connP = portAuthority(c, c.input.getBigUint64(0, true));
  if (typeof connP === 'number') return st(connP);
  const connId = c.input.getUint32(8, true);
  if (c.input.getUint8(12) !== 0) return st(HvStatus.InvalidParameter);
  const portP = resolve(c, c.input.getBigUint64(16, true));
  if (!portP) return st(HvStatus.InvalidPartitionId);
  const portId = c.input.getUint32(24, true);
  if (!idValid(connId)) return st(HvStatus.InvalidConnectionId);
  if (!idValid(portId)) return st(HvStatus.InvalidPortId);
  if (!active(connP) || !active(portP)) return st(HvStatus.InvalidPartitionState);
  if (connP.connections.has(connId)) return st(HvStatus.InvalidConnectionId);
  const port = portP.ports.get(portId);
  if (!port || port.connection) return st(HvStatus.InvalidPortId);
  if (port.connectionPartition !== connP) return st(HvStatus.AccessDenied);
  const type = c.input.getUint32(32, true);
  if (type !== port.type) return st(HvStatus.InvalidParameter);
  for (let b = 4; b < infoSize; b++) if (c.input.getUint8(32 + b) !== 0) return st(HvStatus.InvalidParameter);
  const conn = { owner: connP, id: connId, port };
  connP.connections.set(connId, conn);
  port.connection = conn;
  return ok;
}

function deletePort(c: Call): Result {
  const owner = portAuthority(c, c.input.getBigUint64(0, true));
  if (typeof owner === 'number') return st(owner);
  const port = owner.ports.get(c.input.getUint32(8, true));
  if (!port) return st(HvStatus.InvalidPortId);
  c.k.deletePort(port);
  return ok;
}

function disconnectPort(c: Call): Result {
  const connP = portAuthority(c, c.input.getBigUint64(0, true));
  if (typeof connP === 'number') return st(connP);
  const conn = connP.connections.get(c.input.getUint32(8, true));
  if (!conn) return st(HvStatus.InvalidConnectionId);
  if (conn.port) conn.port.connection = undefined;
  connP.connections.delete(conn.id);
  return ok;
}

/** The port behind one of the caller's connections, or a status. */
function connectedPort(c: Call, connId: number, type: number): Port | number {
  if (!idValid(connId)) return HvStatus.InvalidConnectionId;
  const conn = c.caller.connections.get(connId);
  if (!conn) return HvStatus.InvalidConnectionId;
  const port = conn.port;
  if (!port || port.deleted || !active(port.owner) || port.type !== type) return HvStatus.InvalidPortId;
  return port;
}

function postMessage(c: Call): Result {
  const port = connectedPort(c, c.input.getUint32(0, true), HvPortType.Message);
  if (typeof port === 'number') return st(port);
  const type = c.input.getUint32(8, true);
  const size = c.input.getUint32(12, true);
  if (type === 0 || type >>> 31 !== 0 || size > 240) return st(HvStatus.InvalidParameter);
  const payload = new Uint8Array(c.input.buffer, c.input.byteOffset + 16, size).slice();
  return st(c.k.postMessage(port, type, payload));
}

function signalEvent(c: Call): Result {
  const port = connectedPort(c, c.input.getUint32(0, true), HvPortType.Event);
  if (typeof port === 'number') return st(port);
  if (c.input.getUint16(6, true) !== 0) return st(HvStatus.InvalidParameter);
  return st(c.k.signalEvent(port, c.input.getUint16(4, true)));
}

// ---- the table ------------------------------------------------------------------------------

type Handler = (c: Call) => Result;

/**
 * The calls this hypervisor implements and their handlers. Everything the common checks need
 * (rep or simple, fast-capable, block sizes, the privilege) comes from @viridian/hvdef's
 * HYPERCALLS; `selfPrivilege` marks calls whose privilege applies only when the caller names
 * itself, which the handler checks (a parent needs none).
 */
const HANDLERS: readonly (readonly [code: number, run: Handler, selfPrivilege?: true])[] = [
  [HvCallCode.NotifyLongSpinWait, () => ok],
  [HvCallCode.SendSyntheticClusterIpi, sendSyntheticClusterIpi],
  [HvCallCode.CreatePartition, createPartition],
  [HvCallCode.InitializePartition, initializePartition],
  [HvCallCode.FinalizePartition, finalizePartition],
  [HvCallCode.DeletePartition, deletePartition],
  [HvCallCode.GetPartitionProperty, getPartitionProperty],
  [HvCallCode.SetPartitionProperty, setPartitionProperty],
  [HvCallCode.GetPartitionId, getPartitionId],
  [HvCallCode.GetNextChildPartition, getNextChildPartition],
  [HvCallCode.DepositMemory, depositMemory],
  [HvCallCode.GetMemoryBalance, getMemoryBalance],
  [HvCallCode.MapGpaPages, mapGpaPages],
  [HvCallCode.UnmapGpaPages, unmapGpaPages],
  [HvCallCode.CreateVp, createVp],
  [HvCallCode.DeleteVp, deleteVp],
  [HvCallCode.GetVpRegisters, getVpRegisters, true],
  [HvCallCode.SetVpRegisters, setVpRegisters, true],
  [HvCallCode.CreatePortDeprecated, (c) => createPortWith(c, 24, false)],
  [HvCallCode.CreatePort, (c) => createPortWith(c, 24, true)],
  [HvCallCode.ConnectPortDeprecated, (c) => connectPortWith(c, 8)],
  [HvCallCode.ConnectPort, (c) => connectPortWith(c, 32)],
  [HvCallCode.DeletePort, deletePort],
  [HvCallCode.DisconnectPort, disconnectPort],
  [HvCallCode.PostMessage, postMessage],
  [HvCallCode.SignalEvent, signalEvent],
  [HvCallCode.StartVirtualProcessor, startVirtualProcessor],
];

function define(code: number, run: Handler, selfPrivilege: boolean): CallDef {
  const info = HYPERCALLS.get(code);
  if (info?.inputSize === undefined) throw new Error(`no published layout for call 0x${code.toString(16)}`);
  const rep = info.kind === 'rep';
  return {
    name: info.name,
    rep,
    fast: info.fastCapable,
    inSize: info.inputSize,
    outSize: info.outputSize ?? 0,
    repIn: rep ? (info.repInputElementSize ?? 0) : 0,
    repOut: rep ? (info.repOutputElementSize ?? 0) : 0,
    privilege: selfPrivilege ? undefined : info.privilege,
    run,
  };
}

const CALLS = new Map<number, CallDef>(
  HANDLERS.map(([code, run, selfPrivilege]) => [code, define(code, run, selfPrivilege === true)]),
);

/** Names of the calls this hypervisor implements, by code. */
export const IMPLEMENTED_HYPERCALLS: ReadonlyMap<number, string> = new Map(
  [...CALLS].map(([k, v]) => [k, v.name]),
);

// Per-call scratch blocks: input/output copied out of guest memory, so the guest cannot change
// parameters while the call runs.
const inScratch = new DataView(new ArrayBuffer(PAGE_SIZE));
const outScratch = new DataView(new ArrayBuffer(PAGE_SIZE));

/** Runs `step` for each element from the start index, time-slicing long calls. */
function eachRep(c: Call, step: (i: number) => number): Result {
  const { repSliceMicros, repSliceElements } = c.k.options;
  const start = performance.now();
  let i = c.repStart;
  let done = 0;
  while (i < c.repCount) {
    const status = step(i);
    if (status !== HvStatus.Success) return { status, reps: i };
    i++;
    done++;
    if (
      i < c.repCount &&
      (done >= repSliceElements || (performance.now() - start) * 1000 >= repSliceMicros)
    ) {
      c.sliced = true;
      return { status: HvStatus.Success, reps: i };
    }
  }
  return { status: HvStatus.Success, reps: i };
}

const RSVD_MASK = (0xfn << 27n) | (0xfn << 44n) | (0xfn << 60n);

function result(vp: Vp, status: number, reps: number): number {
  vp.view.setBigUint64(VpControl.result, BigInt(status & 0xffff) | (BigInt(reps & 0xfff) << 32n), true);
  return TrapOutcome.Ok;
}

/** Validates and runs one hypercall from `vp`'s mailbox; returns the trap outcome. */
export function dispatchHypercall(k: Kernel, vp: Vp): number {
  const v = vp.view;
  const caller = vp.partition;
  // No hypercall page enabled: VMCALL is an invalid opcode.
  if ((caller.hypercallMsr & 1n) === 0n) return TrapOutcome.InvalidOpcode;
  const input = v.getBigUint64(VpControl.arg0, true);
  const code = Number(input & 0xffffn);
  const fast = (input & (1n << 16n)) !== 0n;
  const varHeader = Number((input >> 17n) & 0x3ffn);
  const nested = (input & (1n << 31n)) !== 0n;
  const repCount = Number((input >> 32n) & 0xfffn);
  const repStart = Number((input >> 48n) & 0xfffn);
  const def = CALLS.get(code);
  if (!def) return result(vp, HvStatus.InvalidHypercallCode, 0);
  if ((input & RSVD_MASK) !== 0n || nested || varHeader !== 0)
    return result(vp, HvStatus.InvalidHypercallInput, 0);
  if (def.rep ? repCount === 0 || repStart >= repCount : repCount !== 0 || repStart !== 0) {
    return result(vp, HvStatus.InvalidHypercallInput, 0);
  }
  if (fast && !def.fast) return result(vp, HvStatus.InvalidHypercallInput, 0);
  if (def.privilege !== undefined && !has(caller, def.privilege)) return result(vp, HvStatus.AccessDenied, 0);

  const inLen = def.inSize + (def.rep ? repCount * def.repIn : 0);
  const outLen = def.outSize + (def.rep ? repCount * def.repOut : 0);
  const inBlock = new DataView(inScratch.buffer, 0, PAGE_SIZE);
  new Uint8Array(inScratch.buffer).fill(0);
  const mem = caller.memory;
  let outGpa = -1;
  if (fast) {
    if (inLen > 16) return result(vp, HvStatus.InvalidHypercallInput, 0);
    inBlock.setBigUint64(0, v.getBigUint64(VpControl.arg1, true), true);
    inBlock.setBigUint64(8, v.getBigUint64(VpControl.arg2, true), true);
  } else {
    if (!mem) return result(vp, HvStatus.InvalidAlignment, 0);
    const inGpa = v.getBigUint64(VpControl.arg1, true);
    const outG = v.getBigUint64(VpControl.arg2, true);
    if (inLen > 0 && !blockOk(inGpa, inLen, mem.size)) return result(vp, HvStatus.InvalidAlignment, 0);
    if (outLen > 0 && !blockOk(outG, outLen, mem.size)) return result(vp, HvStatus.InvalidAlignment, 0);
    if (inLen > 0 && outLen > 0 && inGpa < outG + BigInt(outLen) && outG < inGpa + BigInt(inLen)) {
      return result(vp, HvStatus.InvalidParameter, 0); // input and output must not overlap
    }
    if (inLen > 0) {
      const off = mem.blockOffset(inGpa, inLen, Access.Read);
      if (off < 0) {
        k.memoryIntercept(vp, inGpa, Access.Read);
        v.setBigUint64(VpControl.arg0, inGpa, true);
        return TrapOutcome.MemoryIntercept;
      }
      new Uint8Array(inScratch.buffer).set(mem.bytes.subarray(off, off + inLen));
    }
    if (outLen > 0) {
      if (mem.blockOffset(outG, outLen, Access.Write) < 0) {
        k.memoryIntercept(vp, outG, Access.Write);
        v.setBigUint64(VpControl.arg0, outG, true);
        return TrapOutcome.MemoryIntercept;
      }
      outGpa = Number(outG);
    }
  }
  const call: Call = { k, vp, caller, input: inBlock, output: outScratch, repCount, repStart, sliced: false };
  if (outLen > 0) new Uint8Array(outScratch.buffer, 0, outLen).fill(0);
  const r = def.run(call);
  if (outGpa >= 0 && mem && (r.status === HvStatus.Success || def.rep)) {
    const off = mem.blockOffset(outGpa, outLen, Access.Write);
    if (off >= 0) {
      // Rep outputs: only the elements this slice produced.
      const from = def.rep ? def.outSize + repStart * def.repOut : 0;
      const to = def.rep ? def.outSize + (r.reps ?? repStart) * def.repOut : outLen;
      mem.bytes.set(new Uint8Array(outScratch.buffer, from, to - from), off + from);
    }
  }
  if (call.sliced) {
    const next = (input & ~(0xfffn << 48n)) | (BigInt(r.reps ?? repStart) << 48n);
    v.setBigUint64(VpControl.arg0, next, true);
    Atomics.add(vp.ctl, VpControl.continuations >> 2, 1);
    return TrapOutcome.Continue;
  }
  return result(vp, r.status, def.rep ? (r.reps ?? 0) : 0);
}

/** 8-byte aligned, inside one page, inside the partition's GPA space. */
function blockOk(gpa: bigint, length: number, space: number): boolean {
  if ((gpa & 7n) !== 0n) return false;
  if ((gpa & 0xfffn) + BigInt(length) > 0x1000n) return false;
  return gpa + BigInt(length) <= BigInt(space);
}
