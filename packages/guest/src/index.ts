// @viridian/guest: the enlightened guest runtime. The boot image itself is `@viridian/guest/image`.

/** The block device type of `guest.disks`, from the storage VSC. */
export type { BlockDevice } from '@viridian/storage';
export { GUEST_PAGE_SIZE, PageAllocator } from './allocator.js';
export {
  type ConsoleSink,
  GUEST_CONSOLE_TAG,
  type GuestConsoleEvent,
  type GuestLogLevel,
} from './console.js';
export type { DiskChange } from './disks.js';
export {
  defaultAllocator,
  discover,
  type Enlightenment,
  type EnlightenOptions,
  enlighten,
  GUEST_RUNTIME_VERSION,
  type HypervisorInfo,
  type ReferenceClock,
  VIRIDIAN_GUEST_OS_ID,
  VIRIDIAN_GUEST_OS_TYPE,
  VMBUS_SINT,
  VMBUS_VECTOR,
} from './enlighten.js';
export { GuestError, GuestErrorCode } from './errors.js';
export {
  BUILTIN_PROGRAMS,
  type BuiltinProgram,
  type GuestProgram,
  guestImageUrl,
  type ImageParameters,
  loadProgram,
  parseImageParameters,
  withParameters,
} from './program.js';
export { type RunResult, runGuest } from './run.js';
export {
  type ApplicationHealth,
  type BootOptions,
  boot,
  type Guest,
  type GuestClock,
  type GuestKvp,
  type GuestRuntime,
  type StopNotice,
} from './runtime.js';
export { Synic, type SynicMessage } from './synic.js';
