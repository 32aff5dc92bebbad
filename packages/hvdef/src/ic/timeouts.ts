// Timeouts and sizes of spec vmbus.md 8 that a model of either side needs.

export const IcTimeouts = {
  /** Guest daemon reply (KVP, fcopy, VSS other than freeze); then the guest replies E_FAIL. */
  daemonReplyMs: 30_000,
  /** Linux HV_UTIL_NEGO_TIMEOUT. */
  negotiateMs: 55_000,
  /** VSS freeze (older Linux kernels: 10 s). */
  vssFreezeMs: 900_000,
  /** Host heartbeat request period (approximate). */
  heartbeatPeriodMs: 2_000,
  /** openvmm time-sync SAMPLE period; SYNC is sent once after open. */
  timeSyncSamplePeriodMs: 5_000,
  /** Linux treats time samples older than this as stale. */
  timeSyncStaleMs: 600_000,
  /** Linux optional implicit sync when the guest is this far behind. */
  timeSyncImplicitStepMs: 5_000,
} as const;

/** Linux IC ring: 4 pages per direction (control page + 3 data pages). */
export const IC_LINUX_RING_PAGES = 4;
/** Linux IC receive buffer (heartbeat, shutdown, time sync); a larger packet stays in the ring. */
export const IC_LINUX_RECV_BUFFER_SIZE = 4096;
/** Linux VSS receive buffer. */
export const IC_LINUX_VSS_RECV_BUFFER_SIZE = 8192;
