// Guest programs and the built-in images now belong to the VM worker that runs them.
export {
  BUILTIN_IMAGES,
  type BuiltinImage,
  defineGuest,
  type GuestContext,
  type GuestProgram,
  VmwpRuntime,
  type VmwpRuntimeOptions,
} from '@viridian/vmwp';
export { type Caller, TokenStore } from './auth.js';
export type { BackupResult } from './backup.js';
export { type CheckpointDisk, type CheckpointInfo, CheckpointType } from './checkpoint-tree.js';
export {
  AutomaticStartAction,
  AutomaticStopAction,
  type CpuSettings,
  createVmConfig,
  DEFAULTS,
  type DeviceConfig,
  type DiskAttachment,
  type IntegrationServices,
  LIMITS,
  RecoveryAction,
  type VmChanges,
  type VmConfig,
  type VmSpec,
} from './config.js';
export { ErrorCode, isErrorCode, VmmsError } from './errors.js';
export { EventLevel, EventLog, type EventQuery, type VmEvent } from './event-log.js';
export { type Connection, connectInProcess } from './in-process.js';
export {
  type IcCall,
  type IcServiceState,
  type IcState,
  type KvpItem,
  KvpPoolName,
  type VssResultInfo,
} from './integration.js';
export { type JobError, type JobInfo, JobManager, JobState } from './jobs.js';
export { LifecycleEvent, legalIn, VmLifecycle, VmState } from './lifecycle.js';
export {
  type Api,
  type ClientMessage,
  COMMANDS,
  encodeFrame,
  FrameDecoder,
  type HostInfo,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  type Request,
  type RequestKind,
  type RequestOf,
  type ResultOf,
  Role,
  type ServerMessage,
  type TokenInfo,
} from './protocol.js';
export {
  type DiskSnapshotRequest,
  ExitReason,
  HeartbeatStatus,
  type RunningVm,
  type VmExit,
  type VmRuntime,
  type VmRuntimeStats,
  type VmStartOptions,
} from './runtime.js';
export { SAVED_STATE_FORMAT_VERSION } from './saved-state.js';
export { ApiServer, socketPathFor } from './server.js';
export { HostService, type HostServiceOptions, resolveDataDir } from './service.js';
export type { ApiHost } from './session.js';
export { CONFIG_FORMAT_VERSION, ConfigStore, type StoreProblem } from './store.js';
export { ThreadRuntime, type ThreadRuntimeOptions } from './thread-runtime.js';
export {
  type CheckpointRequest,
  type DiskAttachRequest,
  type StopOptions,
  type VmDetail,
  Vmms,
  type VmmsOptions,
  type VmSummary,
} from './vmms.js';
