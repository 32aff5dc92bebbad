// The boot image of every partition the VMWP creates: the firmware a VP thread runs (the
// hypervisor imports it and calls main(vp)). It reports its VP to the VMWP, waits for the boot
// parameters in the firmware page, then runs the guest program between safe points. The program's
// state lives in guest memory whenever the VM is quiesced, so a save is a copy of memory and VP
// registers, and a restore is the reverse.
//
// This module runs inside the partition: it sees only its own VP and memory.

import { performance } from 'node:perf_hooks';
import { deserialize, serialize } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { GuestBus } from '@viridian/device-sdk';
import { HvMsr } from '@viridian/hvdef';
import type { GuestVp } from '@viridian/hypervisor';
import { IC_NAMES, IcGuest, type IcName, icDrivers, type VssWriter } from '@viridian/ic';
import { type BlockDevice, type StorvscController, storvscDriver } from '@viridian/storage';
import { createSynicClientTransport } from '@viridian/vmbus';
import {
  type BootParams,
  FW_MAGIC,
  FW_MAX_VPS,
  Fw,
  FwGo,
  FwStatus,
  fwWord,
  guestLayout,
  STATE_GPA,
  STORVSC_SLOT_BYTES,
  STORVSC_SLOTS,
} from './firmware-page.js';
import type { GuestContext, GuestProgram } from './guest.js';
import type { FirmwareReport } from './protocol.js';

const RAX = 0x0002_0000;
const LOG_PER_SECOND = 10;
const KICK_MS = 50;
/** How long the first step waits for the storage controller to come up (the program expects its disks). */
const STORAGE_WAIT_MS = 20_000;
const post = (message: FirmwareReport): void => parentPort?.postMessage(message);

export async function main(vp: GuestVp): Promise<void> {
  // First message of this VP: the firmware's report, before any guest code has run.
  post({ type: 'firmware', vpIndex: vp.vpIndex, control: vp.handle.control, ram: vp.handle.ram });
  const fw = new Int32Array(vp.memory.ram, 0, 1024);
  if (vp.vpIndex !== 0) {
    // Application processors idle: the built-in programs are single-threaded.
    for (;;) await vp.halt();
  }
  while (Atomics.load(fw, fwWord(Fw.go)) === FwGo.Wait) await vp.haltFor(20);
  const view = new DataView(vp.memory.ram);
  if (view.getUint32(Fw.magic, true) !== FW_MAGIC) throw new Error('firmware page not initialized');
  const paramsLength = view.getUint32(Fw.params, true);
  const params = JSON.parse(
    new TextDecoder().decode(new Uint8Array(vp.memory.ram, Fw.params + 4, paramsLength)),
  ) as BootParams;

  const loaded = (await import(params.program)) as { default?: GuestProgram; program?: GuestProgram };
  const program = loaded.default ?? loaded.program;
  if (typeof program?.boot !== 'function' || typeof program.step !== 'function') {
    throw new Error(`${params.program} does not export a guest program (default export with boot and step)`);
  }
  await run(vp, fw, view, params, program);
}

/** What the guest's integration services ask of the program loop. */
interface Services {
  shutdownRequested: boolean;
  ics: IcGuest | undefined;
  /** The synthetic SCSI controller, once storvsc is bound. */
  storage: StorvscController | undefined;
  /** The storage driver is bound, or binding it failed or is not attempted. */
  storageSettled: boolean;
}

/**
 * The guest half of VMBus and the integration services: enables the hypercall page and the SynIC,
 * connects to the VMWP's VMBus server and binds the offered ICs. Runs in the background; the
 * program loop's safe points (and the transport's interrupt pump) deliver its interrupts.
 */
function startServices(
  vp: GuestVp,
  params: BootParams,
  writer: VssWriter,
  log: (line: string) => void,
): Services {
  const services: Services = {
    shutdownRequested: false,
    ics: undefined,
    storage: undefined,
    storageSettled: params.storage !== true,
  };
  const names = params.ics.filter((n): n is IcName => (IC_NAMES as readonly string[]).includes(n));
  if (names.length === 0 && params.storage !== true) return services;
  const layout = guestLayout(vp.memory.size / 4096, params.processorCount);
  vp.wrmsr(HvMsr.GuestOsId, 0x8100_0000_0000_0001n);
  vp.wrmsr(HvMsr.Hypercall, BigInt(layout.hypercallPage * 4096) | 1n);
  const transport = createSynicClientTransport(vp, {
    simpGpa: layout.simpPage * 4096,
    siefpGpa: layout.siefpPage * 4096,
    onError: (e) => log(`vmbus: ${e.code} ${e.message}`),
  });
  const ics = new IcGuest({
    referenceTime: () => vp.rdmsr(HvMsr.TimeRefCount),
    onShutdown: () => {
      services.shutdownRequested = true;
    },
    // What the host writes into the guest's KVP pools, as the guest sees it.
    onKvpChange: (change) =>
      log(
        change.value === undefined
          ? `kvp: host removed ${change.key} (pool ${change.pool})`
          : `kvp: host set ${change.key}=${change.value} (pool ${change.pool})`,
      ),
  });
  ics.vss.register(writer);
  if (names.length > 0) services.ics = ics;
  let next = layout.ringFirstPage;
  // Rings and the storage driver's bounce buffers, from the ring area.
  const allocatePages = (n: number): number => {
    if (next + n > layout.siefpPage) throw new RangeError('no guest memory left for VMBus rings');
    next += n;
    return next - n;
  };
  const bus = new GuestBus({
    memory: vp.memory.ram,
    transport,
    allocatePages,
    onError: (e) => log(`vmbus: ${e.code} ${e.message}`),
  });
  // While the bus comes up, an end-of-message write now and then makes the hypervisor retry
  // delivering any message it still holds for this VP's SINT (messages were seen to wait there
  // until the next trigger otherwise).
  const kick = setInterval(() => vp.wrmsr(HvMsr.Eom, 0n), KICK_MS);
  void (async () => {
    try {
      await bus.connect();
    } finally {
      if (params.storage !== true) services.storageSettled = true;
    }
    // Storage first: the program's first step waits for its disks.
    if (params.storage === true) {
      await bus
        .bind(
          storvscDriver(
            { memory: vp.memory.ram, allocatePages, slots: STORVSC_SLOTS, slotBytes: STORVSC_SLOT_BYTES },
            (controller) => {
              services.storage = controller;
            },
          ),
        )
        .catch((error: unknown) => log(`storage unavailable: ${(error as Error).message}`))
        .finally(() => {
          services.storageSettled = true;
        });
    }
    for (const driver of icDrivers(ics, names)) await bus.bind(driver);
  })()
    .catch((error: unknown) => {
      services.storageSettled = true;
      log(`integration services unavailable: ${(error as Error).message}`);
    })
    .finally(() => clearInterval(kick));
  return services;
}

async function run(
  vp: GuestVp,
  fw: Int32Array,
  view: DataView,
  params: BootParams,
  program: GuestProgram,
): Promise<void> {
  let bootAt = performance.now();
  let logWindow = 0;
  let logCount = 0;
  let services: Services | undefined;
  const ctx: GuestContext = {
    vmId: params.vmId,
    vmName: params.vmName,
    memoryMB: params.memoryMB,
    processorCount: params.processorCount,
    get uptimeMs() {
      return performance.now() - bootAt;
    },
    log(message: string) {
      const second = Math.floor(performance.now() / 1000);
      if (second !== logWindow) {
        logWindow = second;
        logCount = 0;
      }
      if (++logCount <= LOG_PER_SECOND) post({ type: 'log', message: String(message).slice(0, 1000) });
    },
    publish(key: string, value: string) {
      return services?.ics?.kvp.set(String(key), String(value)).ok === true;
    },
    hostItem(key: string) {
      return services?.ics?.kvp.get(String(key));
    },
    get disks(): readonly BlockDevice[] {
      const storage = services?.storage;
      return storage === undefined ? [] : [...storage.devices].sort((a, b) => a.lun - b.lun);
    },
    disk(lun: number) {
      return services?.storage?.device(lun);
    },
  };
  const crashed = (error: unknown): never => {
    Atomics.store(fw, fwWord(Fw.status), FwStatus.GuestCrashed);
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`guest program failed: ${message}`);
  };
  const stateLimit = guestLayout(view.byteLength / 4096, params.processorCount).stateLimit;

  let state: unknown;
  // The step count doubles as the program counter: it travels in RAX across a save and restore.
  let steps = 0n;
  if (Atomics.load(fw, fwWord(Fw.go)) === FwGo.Resume) {
    const length = view.getUint32(STATE_GPA, true);
    if (length > stateLimit) throw new Error('saved program state does not fit guest memory');
    state = deserialize(new Uint8Array(vp.memory.ram, STATE_GPA + 8, length));
    steps = vp.getRegister(RAX);
  } else {
    try {
      state = program.boot(ctx);
    } catch (error) {
      crashed(error);
    }
  }
  // VSS: a freeze stops the loop at the next step boundary (see below); a thaw lets it run again.
  let freezeAsked: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  let frozen = false;
  const writer: VssWriter = {
    name: 'guest-program',
    freeze: () =>
      new Promise<void>((resolve, reject) => {
        freezeAsked = { resolve, reject };
      }),
    async thaw() {
      if (!frozen) return;
      try {
        await program.thaw?.(state, ctx);
      } finally {
        frozen = false;
      }
    },
  };
  const flushDisks = async (): Promise<void> => {
    for (const disk of ctx.disks) await disk.flush();
  };

  bootAt = performance.now();
  services = startServices(vp, params, writer, (line) => ctx.log(line));
  const storageDeadline = performance.now() + STORAGE_WAIT_MS;
  const running = services;
  running.ics?.kvp.set('VirtualMachineName', params.vmName);
  running.ics?.kvp.set('GuestProgram', programName(params.program));
  Atomics.store(fw, fwWord(Fw.status), FwStatus.Running);

  const persist = (): void => {
    const bytes = serialize(state);
    if (bytes.length > stateLimit) throw new Error('program state exceeds guest memory');
    new Uint8Array(vp.memory.ram, STATE_GPA + 8, bytes.length).set(bytes);
    view.setUint32(STATE_GPA, bytes.length, true);
    vp.setRegister(RAX, steps);
  };

  const busy = Fw.busyMs + Math.min(vp.vpIndex, FW_MAX_VPS - 1) * 8;
  let busyMs = 0;
  for (;;) {
    const request = Atomics.load(fw, fwWord(Fw.quiesceRequest));
    if (request !== Atomics.load(fw, fwWord(Fw.quiesceAck))) {
      try {
        persist();
        Atomics.store(fw, fwWord(Fw.quiesceFailed), 0);
      } catch (error) {
        // The VM can still be paused; only a save needs the state in memory.
        Atomics.store(fw, fwWord(Fw.quiesceFailed), 1);
        ctx.log(`program state not kept in memory: ${(error as Error).message}`);
      }
      Atomics.store(fw, fwWord(Fw.quiesced), 1);
      Atomics.store(fw, fwWord(Fw.quiesceAck), request);
      Atomics.notify(fw, fwWord(Fw.quiesceAck));
      // Stay stopped (at safe points, where the scheduler hold also parks this VP) until released.
      while (Atomics.load(fw, fwWord(Fw.quiesced)) !== 0) await vp.haltFor(50);
      continue;
    }
    if (running.ics !== undefined) {
      // The guest's wall clock for the host's view of time sync (offset = guest − host).
      view.setFloat64(Fw.clockRefMs, Number(vp.rdmsr(HvMsr.TimeRefCount)) / 10_000, true);
      view.setFloat64(Fw.clockMs, running.ics.clock.now(), true);
    }
    if (freezeAsked !== undefined) {
      const asked = freezeAsked;
      freezeAsked = undefined;
      try {
        await program.freeze?.(state, ctx);
        await flushDisks();
        frozen = true;
        asked.resolve();
      } catch (error) {
        ctx.log(`freeze failed: ${(error as Error)?.message ?? String(error)}`);
        asked.reject(error);
      }
      continue;
    }
    if (running.shutdownRequested) {
      running.shutdownRequested = false;
      let accepted = true;
      try {
        accepted = program.shutdown?.(state, ctx) !== false;
      } catch (error) {
        crashed(error);
      }
      if (accepted) {
        // Power off: the VMWP sees the status and tears the partition down.
        Atomics.store(fw, fwWord(Fw.status), FwStatus.Off);
        for (;;) await vp.halt();
      }
    }
    // Frozen, or the disks not there yet: idle at safe points (a pause or save still gets through).
    if (frozen || (!running.storageSettled && performance.now() < storageDeadline)) {
      await vp.haltFor(20);
      continue;
    }
    const started = performance.now();
    let idle: number | undefined;
    try {
      idle = await program.step(state, ctx);
    } catch (error) {
      crashed(error);
    }
    steps++;
    const now = performance.now();
    const spent = now - started;
    busyMs += spent;
    view.setFloat64(busy, busyMs, true);

    // The hypervisor's scheduler grants this VP its share (reserve, limit, weight) at safe points.
    const wait = typeof idle === 'number' && idle > 0 ? idle : 0;
    // Each turn is a safe point: idle periods halt the VP, busy ones yield.
    if (wait > 0) await vp.haltFor(Math.min(wait, 250));
    else await vp.yield();
  }
}

/** A program's short name: the built-in image's file name without extension. */
function programName(url: string): string {
  const base = url.split(/[/\\]/).pop() ?? url;
  return base.replace(/\.(test-fixture\.)?[cm]?[jt]s$/, '').slice(0, 100);
}
