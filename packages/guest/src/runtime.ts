// boot(vp): enlightenment, VMBus, VSC binding, integration services; and the `guest` object a guest
// program receives.

import { type DeviceChannel, type DriverDefinition, GuestBus, guidString } from '@viridian/device-sdk';
import { HeartbeatApplicationState } from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import {
  IcGuest,
  icDrivers,
  type KvpChange,
  type KvpLocalResult,
  KvpPool,
  type ShutdownNotice,
  type TimeSyncCorrection,
  type VssWriter,
} from '@viridian/ic';
import { type BlockDevice, SCSI_INTERFACE_ID } from '@viridian/storage';
import type { ClientTransport, VmbusError } from '@viridian/vmbus';
import { type ConsoleSink, defaultConsoleSink, type GuestLogLevel, RateLimitedConsole } from './console.js';
import { bindStorage, type DiskChange, DiskSet } from './disks.js';
import {
  type Enlightenment,
  type EnlightenOptions,
  enlighten,
  GUEST_RUNTIME_VERSION,
  VMBUS_SINT,
  VMBUS_VECTOR,
} from './enlighten.js';

/** Why the runtime stopped. */
export interface StopNotice {
  readonly kind: 'shutdown' | 'restart' | 'hibernate';
  readonly reason: string;
  /** 'host': a shutdown IC request; 'program': the guest program asked (or returned). */
  readonly by: 'host' | 'program';
}

/** KVP as a guest program sees it. */
export interface GuestKvp {
  /** Publishes an item in the guest pool (the host reads it). Size limits answer E_INVALIDARG. */
  set(key: string, value: string): KvpLocalResult;
  /** Removes an item of the guest pool. */
  delete(key: string): boolean;
  /** Reads the host-to-guest pool (External); another pool by number. */
  get(key: string, pool?: number): string | undefined;
  entries(pool?: number): [string, string][];
  /** Called when the host adds, changes or removes an item. */
  onChange(listener: (change: KvpChange) => void): () => void;
}

export interface GuestClock {
  /** Partition reference time, 100 ns units since the partition was created. */
  referenceTime(): bigint;
  /** Wall-clock time in ms since the Unix epoch, as corrected by time sync. */
  now(): number;
  /** The clock's rate relative to reference time (1 = exact). */
  readonly rate: number;
  /** Every correction time sync applied, oldest first. */
  readonly corrections: readonly TimeSyncCorrection[];
}

export type ApplicationHealth = 'unknown' | 'healthy' | 'critical';

/** What a guest program's `main(guest)` receives. */
export interface Guest {
  readonly partitionId: bigint;
  readonly vpIndex: number;
  /** The intrinsic items reported in the KVP auto pool. */
  readonly identity: Readonly<Record<string, string>>;
  readonly kvp: GuestKvp;
  readonly clock: GuestClock;
  /**
   * The block devices of the synthetic SCSI controller present now, by LUN (empty without a
   * controller). Live: a disk the host hot-adds appears after the controller's rescan; a removed one
   * leaves, and its `removed` is set.
   */
  readonly disks: readonly BlockDevice[];
  /** The block device at `lun`, if one is present. */
  disk(lun: number): BlockDevice | undefined;
  /** Called after a rescan added or removed disks. Returns an unsubscribe function. */
  onDiskChange(listener: (change: DiskChange) => void): () => void;
  /** Names of the VSC drivers bound at boot. */
  readonly drivers: readonly string[];
  /** Registers a hook run on a shutdown request, before the VPs stop. Returns an unregister function. */
  onShutdown(hook: (notice: StopNotice) => void | Promise<void>): () => void;
  /** VSS writers: flushed and quiesced on freeze, resumed on thaw (in reverse order). */
  readonly vss: { register(writer: VssWriter): () => void; readonly frozen: boolean };
  /** Application health reported with each heartbeat ("OK (Applications healthy)" / "critical"). */
  setHealth(health: ApplicationHealth): void;
  /** Binds a driver of the program's own to an offer of its interface; undefined without VMBus or offer. */
  bindDriver(driver: DriverDefinition): Promise<DeviceChannel | undefined>;
  /** A line on the host's view of this guest's console. */
  log(text: string, level?: GuestLogLevel): void;
  /** The scheduler's safe point: call it often in long computations. */
  yield(): Promise<void>;
  /** Halts the VP for `ms` (interrupts still served); resolves false early once the guest is stopping. */
  sleep(ms: number): Promise<boolean>;
  /** Asks the runtime to power the guest off (runs the shutdown hooks). */
  powerOff(kind?: StopNotice['kind'], reason?: string): void;
  readonly stopping: boolean;
  /** Resolves once the shutdown hooks have run. */
  readonly stopped: Promise<StopNotice>;
}

export interface BootOptions extends EnlightenOptions {
  /**
   * The VMBus client transport, or a factory given the enlightened VP (the SynIC transport is built
   * from it). Without one the guest boots without VMBus: KVP stays local and the clock uncorrected.
   */
  readonly transport?: ClientTransport | ((e: Enlightenment) => ClientTransport | Promise<ClientTransport>);
  /** VSC drivers beyond the integration components, bound by interface GUID. */
  readonly drivers?: readonly DriverDefinition[];
  /** The guest oscillator's error (0.01 = 1 % fast): a VM's clock drifts; time sync corrects it. */
  readonly clockDrift?: number;
  /** The wall clock's reading at boot, ms since the epoch (default: the host's clock, as an RTC). */
  readonly clockStart?: number;
  /** FullyQualifiedDomainName in KVP (default viridian-<partition id>). */
  readonly hostName?: string;
  /** Where console events go (default: the VP thread's port to the hypervisor). */
  readonly console?: ConsoleSink;
  /** Longest a shutdown waits for program hooks, ms (default 30 000). */
  readonly shutdownHookTimeoutMs?: number;
  /** Whether the guest answers hibernate requests (default false: answered E_FAIL). */
  readonly hibernateSupported?: boolean;
  /**
   * Longest the storage controller's handshake and first bus scan may take, ms (default 10 000); past
   * it the guest boots without disks (they still appear if the controller answers later).
   */
  readonly storageTimeoutMs?: number;
}

/** The booted runtime. */
export interface GuestRuntime {
  readonly enlightenment: Enlightenment;
  readonly guest: Guest;
  readonly ics: IcGuest;
  /** Present when VMBus connected. */
  readonly bus: GuestBus | undefined;
  readonly vmbusVersion: number | undefined;
  /** VMBus errors and refused offers seen so far. */
  readonly busErrors: readonly string[];
  readonly console: RateLimitedConsole;
  /** Stops VMBus and the SynIC (after the hooks ran): the VP is then quiet. */
  quiesce(): Promise<void>;
}

function osRelease(): string {
  const v = GUEST_RUNTIME_VERSION;
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** The enlightened boot: discovery, MSRs, SynIC, VMBus, drivers, ICs. */
export async function boot(vp: GuestVp, options: BootOptions = {}): Promise<GuestRuntime> {
  const console = new RateLimitedConsole(options.console ?? defaultConsoleSink);
  const busErrors: string[] = [];
  const enlightenment = enlighten(vp, {
    ...options,
    onListenerError: (e) => busErrors.push(`synic listener: ${String(e)}`),
  });
  const clock = enlightenment.clock;

  const identity: Record<string, string> = {
    FullyQualifiedDomainName: options.hostName ?? `viridian-${vp.partitionId}`,
    OSName: 'Viridian Guest',
    OSVersion: osRelease(),
    OSMajorVersion: String(GUEST_RUNTIME_VERSION.major),
    OSMinorVersion: String(GUEST_RUNTIME_VERSION.minor),
    OSBuildNumber: String(GUEST_RUNTIME_VERSION.patch),
    IntegrationServicesVersion: osRelease(),
    ProcessorArchitecture: 'x86_64',
    NetworkAddressIPv4: '',
    NetworkAddressIPv6: '',
  };

  const kvpListeners = new Set<(c: KvpChange) => void>();
  const hooks: ((n: StopNotice) => void | Promise<void>)[] = [];
  let stopping = false;
  let resolveStopped: (n: StopNotice) => void = () => {};
  const stopped = new Promise<StopNotice>((r) => {
    resolveStopped = r;
  });
  const log = (text: string, level: GuestLogLevel = 'info') =>
    void console.emit({
      type: 'viridian-guest',
      event: 'log',
      level,
      text: String(text),
      referenceTime: clock.now().toString(),
    });

  const stop = (notice: StopNotice): void => {
    if (stopping) return;
    stopping = true;
    const limit = options.shutdownHookTimeoutMs ?? 30_000;
    void (async () => {
      for (const hook of [...hooks]) {
        try {
          await Promise.race([
            Promise.resolve().then(() => hook(notice)),
            new Promise((r) => setTimeout(r, limit).unref?.()),
          ]);
        } catch (error) {
          log(`shutdown hook failed: ${String(error)}`, 'error');
        }
      }
      resolveStopped(notice);
    })();
  };

  const ics = new IcGuest({
    referenceTime: clock.now,
    ...(options.clockDrift !== undefined ? { clockDrift: options.clockDrift } : {}),
    ...(options.clockStart !== undefined ? { clockStart: options.clockStart } : {}),
    intrinsics: () => identity,
    ...(options.hibernateSupported !== undefined ? { hibernateSupported: options.hibernateSupported } : {}),
    onShutdown: (n: ShutdownNotice) => stop({ kind: n.kind, reason: n.reason, by: 'host' }),
    onKvpChange: (change) => {
      for (const l of kvpListeners) {
        try {
          l(change);
        } catch (error) {
          log(`kvp listener failed: ${String(error)}`, 'error');
        }
      }
    },
  });

  const disks = new DiskSet((error) => log(`disk change listener failed: ${String(error)}`, 'error'));

  // VMBus: connect over the given transport, then bind every offered interface we have a driver for.
  let bus: GuestBus | undefined;
  let vmbusVersion: number | undefined;
  const bound: string[] = [];
  const drivers: DriverDefinition[] = [...icDrivers(ics), ...(options.drivers ?? [])];
  if (options.transport && enlightenment.synic) {
    const transport =
      typeof options.transport === 'function' ? await options.transport(enlightenment) : options.transport;
    const allocator = enlightenment.allocator;
    bus = new GuestBus({
      memory: vp.memory.ram,
      transport,
      allocatePages: (count) => allocator.allocateOrThrow(count),
      onError: (e: VmbusError) => busErrors.push(`${e.code}: ${e.message}`),
    });
    vmbusVersion = await bus.connect();
    for (const driver of drivers) {
      if (!offered(bus, driver.interfaceId)) continue;
      try {
        await bus.bind(driver);
        bound.push(driver.name);
      } catch (error) {
        busErrors.push(`bind ${driver.name}: ${String(error)}`);
      }
    }
    // Storage last: a controller that fails or stalls must not keep the other drivers from binding.
    if (offered(bus, SCSI_INTERFACE_ID)) {
      const result = await bindStorage(bus, disks, {
        memory: vp.memory.ram,
        allocatePages: (count) => allocator.allocateOrThrow(count),
        timeoutMs: options.storageTimeoutMs ?? 10_000,
        onLate: (late) => {
          if (late.outcome === 'bound') {
            bound.push('storvsc');
            log(`storage controller initialized late, ${late.disks} disk(s)`, 'warn');
          } else {
            log(`storage controller failed late: ${late.error}`, 'error');
          }
        },
      });
      if (result.outcome === 'bound') {
        bound.push('storvsc');
      } else {
        const why = result.outcome === 'failed' ? result.error : 'no answer from the controller in time';
        busErrors.push(`bind storvsc: ${why}`);
        log(`storage controller not initialized, no disks: ${why}`, 'error');
      }
    }
  }

  const guest: Guest = {
    partitionId: vp.partitionId,
    vpIndex: vp.vpIndex,
    identity,
    kvp: {
      set: (key, value) => ics.kvp.set(key, value),
      delete: (key) => ics.kvp.delete(key),
      get: (key, pool = KvpPool.External) => ics.kvp.get(key, pool),
      entries: (pool = KvpPool.External) => ics.kvp.entries(pool),
      onChange(listener) {
        kvpListeners.add(listener);
        return () => kvpListeners.delete(listener);
      },
    },
    clock: {
      referenceTime: clock.now,
      now: () => ics.clock.now(),
      get rate() {
        return ics.clock.rate;
      },
      get corrections() {
        return ics.timeSync.history;
      },
    },
    get disks() {
      return disks.devices;
    },
    disk: (lun) => disks.device(lun),
    onDiskChange: (listener) => disks.onChange(listener),
    drivers: bound,
    onShutdown(hook) {
      hooks.push(hook);
      return () => {
        const i = hooks.indexOf(hook);
        if (i >= 0) hooks.splice(i, 1);
      };
    },
    vss: {
      register: (writer) => ics.vss.register(writer),
      get frozen() {
        return ics.vss.frozen;
      },
    },
    setHealth(health) {
      ics.heartbeat.applicationState =
        health === 'healthy'
          ? HeartbeatApplicationState.Healthy
          : health === 'critical'
            ? HeartbeatApplicationState.Critical
            : HeartbeatApplicationState.Unknown;
    },
    async bindDriver(driver) {
      if (!bus || !offered(bus, driver.interfaceId)) return undefined;
      const channel = await bus.bind(driver);
      bound.push(driver.name);
      return channel;
    },
    log,
    yield: () => vp.yield(),
    async sleep(ms) {
      const until = performance.now() + ms;
      for (;;) {
        if (stopping) return false;
        const left = until - performance.now();
        if (left <= 0) return true;
        await vp.haltFor(Math.min(left, 50));
      }
    },
    powerOff(kind = 'shutdown', reason = 'requested by the guest program') {
      stop({ kind, reason, by: 'program' });
    },
    get stopping() {
      return stopping;
    },
    stopped,
  };

  const runtime: GuestRuntime = {
    enlightenment,
    guest,
    ics,
    bus,
    vmbusVersion,
    busErrors,
    console,
    async quiesce() {
      // As hv_machine_shutdown: unload VMBus (channels close), then the SynIC goes off.
      if (bus) {
        try {
          await Promise.race([bus.unload(), new Promise((r) => setTimeout(r, 2_000).unref?.())]);
        } catch {
          // An unload the host does not answer is no reason to keep running.
        }
      }
      if (enlightenment.synic) {
        enlightenment.synic.mask(VMBUS_SINT);
        enlightenment.synic.disable();
      }
      // The hypercall page stays enabled: transport timers may still post while the VP winds down.
    },
  };
  return runtime;
}

/** Whether the bus offers `interfaceId` (GUID strings compared without regard to case or braces). */
function offered(bus: GuestBus, interfaceId: string): boolean {
  const n = (s: string) => s.replace(/[{}]/g, '').toLowerCase();
  return bus.offers.some((o) => n(guidString(o.interfaceId)) === n(interfaceId));
}

/** The vector VMBus interrupts use (re-exported for transports that program SINT 2 themselves). */
export { VMBUS_VECTOR };
