// Messages between the runtime (VMMS's thread), a VMWP thread and the firmware of a partition.
import type { VpHandle } from '@viridian/hypervisor';

/** A virtual disk file at a LUN of the VM's synthetic SCSI controller (path 0, target 0). */
export interface DiskAttachment {
  /** 0–63, unique within the VM. */
  readonly lun: number;
  /** Absolute path of a .vhd/.vhdx/.avhd/.avhdx file: the drive's current file. */
  readonly path: string;
  readonly readOnly: boolean;
}

/** Which LUNs `snapshotDisks` moves onto new differencing files, and whether it captures the VM state. */
export interface DiskSnapshotRequest {
  readonly disks: readonly { readonly lun: number; readonly path: string }[];
  readonly captureState: boolean;
}

/** The VM settings a VMWP needs (a structural subset of VMMS's VmConfig). */
export interface VmwpConfig {
  readonly id: string;
  readonly name: string;
  readonly memoryMB: number;
  readonly processorCount: number;
  readonly cpu: {
    readonly reservePercent: number;
    readonly limitPercent: number;
    readonly relativeWeight: number;
  };
  /** A built-in guest image name, or an absolute path / file URL of a guest program module. */
  readonly image: string;
  readonly integrationServices: {
    readonly heartbeat: boolean;
    readonly shutdown: boolean;
    readonly kvp?: boolean;
    readonly timesync?: boolean;
    readonly vss?: boolean;
  };
  /** Disks attached at start (hot add and remove change the running VM only). */
  readonly disks?: readonly DiskAttachment[];
}

/** A request to one of the VM's integration services (answered with the IC's own result value). */
export type IcRequest =
  | { op: 'kvpGet'; pool: number; key: string }
  | { op: 'kvpSet'; pool: number; key: string; value: string }
  | { op: 'kvpRemove'; pool: number; key: string }
  | { op: 'kvpList'; pool: number }
  | { op: 'vssFreeze' }
  | { op: 'vssThaw' }
  | { op: 'icState' };

/** What a VP's firmware posts to the hypervisor host (arrives as a hypervisor 'guest' event). */
export type FirmwareReport =
  | { type: 'firmware'; vpIndex: number; control: SharedArrayBuffer; ram: SharedArrayBuffer }
  | { type: 'log'; message: string };

export interface VmwpWorkerData {
  readonly config: VmwpConfig;
  readonly root: VpHandle;
  /** URL of the boot image the partition's VPs run. */
  readonly bootImage: string;
  /** URL of the guest program module the firmware loads. */
  readonly program: string;
  readonly restore: unknown;
  readonly hasRestore: boolean;
  readonly bootTimeoutMs: number;
  readonly safePointTimeoutMs: number;
}

/** Runtime → VMWP. */
export type ToVmwp =
  | { type: 'firmware'; vpIndex: number; control: SharedArrayBuffer; ram: SharedArrayBuffer }
  | { type: 'vp-exit'; vpIndex: number; error?: string; code?: number }
  | {
      type: 'call';
      id: number;
      op: 'pause' | 'resume' | 'save' | 'turnOff' | 'shutdown';
      timeoutMs?: number;
    }
  | { type: 'call'; id: number; op: 'attachDisk'; disk: DiskAttachment }
  | { type: 'call'; id: number; op: 'detachDisk' | 'mergeDisk'; lun: number }
  | { type: 'call'; id: number; op: 'snapshotDisks'; request: DiskSnapshotRequest }
  | { type: 'ic'; id: number; request: IcRequest };

/** VMWP → runtime. */
export type FromVmwp =
  | { type: 'partition'; partitionId: bigint }
  | { type: 'booted' }
  | { type: 'failed'; message: string }
  /** Something the worker reports about the VM (VMBus or device errors), for the VM's event log. */
  | { type: 'log'; message: string }
  | {
      type: 'tick';
      at: number;
      heartbeat: 'OK' | 'NoContact' | 'LostCommunication';
      /** The guest's shutdown service is connected and negotiated. */
      shutdownReady: boolean;
      /** Disks attached now, and SCSI commands executed since the start. */
      disks: { attached: number; commands: number };
    }
  /** `diskError`: the failure concerns a disk (a file, a LUN), not the VM's state. */
  | { type: 'reply'; id: number; ok: boolean; value?: unknown; error?: string; diskError?: boolean }
  | { type: 'exit'; reason: 'guestCrashed' | 'workerDied' | 'off'; message: string };
