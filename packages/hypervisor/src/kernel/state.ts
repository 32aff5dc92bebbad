// Hypervisor-private state: lives only in the hypervisor thread.
import type { Worker } from 'node:worker_threads';
import { HV_SYNIC_SINT_COUNT, type HvPartitionState } from '@viridian/hvdef';
import type { GuestMemory } from '../memory.js';

export interface QueuedMessage {
  readonly type: number;
  readonly payload: Uint8Array;
  readonly origin: bigint;
  /** Port whose buffer this message holds (freed at delivery). */
  readonly port?: Port;
  /** STIMER whose dedicated buffer this message is; DeliveryTime is stamped at delivery. */
  readonly stimer?: SyntheticTimer;
  /** Intercept buffer of a VP (overwritten in place while queued). */
  readonly interceptOf?: Vp;
}

export interface SyntheticTimer {
  readonly index: number;
  config: bigint;
  count: bigint;
  /** Next expiry in host nanoseconds (hrtime), or -1 when not armed. */
  deadlineNs: bigint;
  /** Scheduled expiry in partition reference time of the pending expiry. */
  expirationRef: bigint;
  /** The dedicated message buffer is queued or in a slot awaiting delivery. */
  bufferQueued: boolean;
  /** Lateness of past expiries (ns), kept for measurement. */
  readonly lateness: number[];
}

export interface ApicTimer {
  lvt: number;
  initialCount: number;
  divide: number;
  /** Start of the current count period (hrtime ns), or -1 when stopped. */
  startNs: bigint;
  deadlineNs: bigint;
}

export interface Vp {
  readonly partition: Partition;
  readonly index: number;
  readonly control: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly view: DataView;
  worker: Worker | undefined;
  deleted: boolean;
  readonly createdNs: bigint;
  // SynIC
  scontrol: bigint;
  simp: bigint;
  siefp: bigint;
  readonly sints: bigint[];
  readonly queues: QueuedMessage[][];
  eomPending: boolean;
  readonly stimers: SyntheticTimer[];
  vpAssist: bigint;
  // APIC
  apicBase: bigint;
  esr: number;
  readonly lvt: number[];
  readonly apicTimer: ApicTimer;
  initPending: boolean;
}

export interface Port {
  readonly owner: Partition;
  readonly id: number;
  readonly type: number;
  readonly connectionPartition: Partition;
  readonly targetSint: number;
  readonly targetVp: number;
  readonly baseFlag: number;
  readonly flagCount: number;
  freeBuffers: number;
  connection: Connection | undefined;
  deleted: boolean;
}

export interface Connection {
  readonly owner: Partition;
  readonly id: number;
  port: Port | undefined;
}

export interface Partition {
  readonly id: bigint;
  readonly parent: Partition | undefined;
  readonly depth: number;
  state: HvPartitionState;
  privileges: bigint;
  readonly children: Map<bigint, Partition>;
  readonly properties: Map<number, bigint>;
  poolPages: number;
  pagesInUse: number;
  /** Guest memory with the authoritative, hypervisor-private page table. */
  memory: GuestMemory | undefined;
  /** The page-table mirror the partition's VPs read (never trusted by the hypervisor). */
  sharedTable: Int32Array | undefined;
  readonly vps: Map<number, Vp>;
  readonly ports: Map<number, Port>;
  readonly connections: Map<number, Connection>;
  image: string | undefined;
  guestOsId: bigint;
  hypercallMsr: bigint;
  referenceTscMsr: bigint;
  tscSequence: number;
  readonly createdNs: bigint;
}

export function newSints(): bigint[] {
  return Array.from({ length: HV_SYNIC_SINT_COUNT }, () => 0x10000n);
}
