export { FIRMWARE_STORAGE_BUFFERS } from './firmware-page.js';
export { defineGuest, type GuestContext, type GuestProgram } from './guest.js';
export { BUILTIN_IMAGES, type BuiltinImage } from './guests/index.js';
export { builtinImageUrl } from './module-url.js';
export type { DiskAttachment, DiskSnapshotRequest, IcRequest, VmwpConfig } from './protocol.js';
export {
  ExitReason,
  HeartbeatStatus,
  VmwpError,
  type VmwpExit,
  VmwpRuntime,
  type VmwpRuntimeOptions,
  type VmwpStartOptions,
  type VmwpStats,
  VmwpVm,
} from './runtime.js';
export { SAVED_VM_VERSION, type SavedMemory, SavedStateError, type SavedVm } from './saved-vm.js';
