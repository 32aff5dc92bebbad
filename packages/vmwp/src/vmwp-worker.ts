// A VM worker (VMWP): one thread per running VM. It attaches to the hypervisor as a root VP and,
// through hypercalls as the root, creates the VM's child partition, gives it memory and VPs, names
// its boot image and starts it; it pauses, saves and tears the partition down on request. Everything
// it reads from the partition (the firmware page, VP reports) is treated as hostile.

import { parentPort, workerData } from 'node:worker_threads';
import { DeviceHost } from '@viridian/device-sdk';
import {
  CHILD_DEFAULT_PRIVILEGES,
  HvMsr,
  HvPartitionPrivilege,
  HvPartitionProperty,
  HvRegisterName,
  hvStatusName,
  privilegeMask,
} from '@viridian/hvdef';
import { connectRootVp, PAGE_SIZE, VP_CONTROL_BYTES, VpControl, VpRunState } from '@viridian/hypervisor';
import { IC_NAMES, HeartbeatStatus as IcHeartbeat, IcHost, type IcName, icDevices } from '@viridian/ic';
import { createSynicServerTransport, type SynicServerTransport } from '@viridian/vmbus';
import { checkDisks, checkSnapshotRequest, DiskError } from './disk-config.js';
import { DiskSet } from './disk-set.js';
import {
  type BootParams,
  FW_MAGIC,
  FW_MAX_VPS,
  FW_PARAMS_MAX,
  FW_VERSION,
  Fw,
  FwGo,
  FwStatus,
  fwWord,
  guestLayout,
} from './firmware-page.js';
import type { DiskSnapshotRequest, FromVmwp, IcRequest, ToVmwp, VmwpWorkerData } from './protocol.js';
import { capturePages, restorePages, SAVED_VM_VERSION, type SavedVm, validateSavedVm } from './saved-vm.js';

const data = workerData as VmwpWorkerData;
const port = parentPort!;
const post = (message: FromVmwp): void => port.postMessage(message);
const config = data.config;
const root = connectRootVp(data.root);

/**
 * Registers captured per VP: the general registers (TLFS names 0x20000–0x20011). The SynIC is not
 * restored: the firmware re-enables it at resume and VMBus reconnects, as after hibernation.
 */
const SAVED_REGISTERS: readonly number[] = Array.from({ length: 0x12 }, (_, i) => 0x0002_0000 + i);

class HvFailure extends Error {}

/** Reports a device or bus error to the VM's event log; a flood is cut to 20 lines a second. */
let reportWindow = 0;
let reportCount = 0;
function report(error: { code?: string; message: string }): void {
  const second = Math.floor(Date.now() / 1000);
  if (second !== reportWindow) {
    reportWindow = second;
    reportCount = 0;
  }
  if (++reportCount <= 20)
    post({ type: 'log', message: `vmbus: ${error.code ?? 'error'}: ${error.message}` });
}

function check(status: number, what: string): void {
  if (status !== 0) throw new HvFailure(`${what} failed: ${hvStatusName(status)} (0x${status.toString(16)})`);
}

const pageCount = config.memoryMB * 256;
const vpCount = config.processorCount;
let partitionId = 0n;
let ram: SharedArrayBuffer | undefined;
let fw: Int32Array | undefined;
const controls = new Map<number, Int32Array>();
let phase: 'booting' | 'running' | 'paused' | 'down' = 'booting';
let quiesceSeq = 0;
let tick: NodeJS.Timeout | undefined;
/** Integration services offered over VMBus, by the VM's settings. */
const icNames: IcName[] = [
  ...(config.integrationServices.heartbeat ? (['heartbeat'] as const) : []),
  ...(config.integrationServices.kvp === true ? (['kvp'] as const) : []),
  ...(config.integrationServices.timesync === true ? (['timeSync'] as const) : []),
  ...(config.integrationServices.shutdown ? (['shutdown'] as const) : []),
  ...(config.integrationServices.vss === true ? (['vss'] as const) : []),
];
let transport: SynicServerTransport | undefined;
let devices: DeviceHost | undefined;
let ics: IcHost | undefined;
let shuttingDown = false;
let interruptPoll: NodeJS.Timeout | undefined;
/** The VM's SCSI controller and disk files; always offered, so disks can be hot-added. */
const disks = new DiskSet(config.id);
let disksClosed: Promise<void> | undefined;

// ---- partition lifecycle ------------------------------------------------------------------------

function createPartition(): void {
  const created = root.createPartition();
  check(created.status, 'CreatePartition');
  partitionId = created.partitionId;
  post({ type: 'partition', partitionId });
  const privileges =
    CHILD_DEFAULT_PRIVILEGES | privilegeMask(HvPartitionPrivilege.AccessPartitionReferenceTsc);
  check(
    root.setPartitionProperty(partitionId, HvPartitionProperty.PrivilegeFlags, privileges),
    'PrivilegeFlags',
  );
  // Reserve and cap are fractions of one logical processor in 1/65536 units; weight is 1–10000.
  const lp = (percent: number): bigint =>
    BigInt(Math.round((Math.min(100, Math.max(0, percent)) * 0x10000) / 100));
  check(
    root.setPartitionProperty(partitionId, HvPartitionProperty.CpuReserve, lp(config.cpu.reservePercent)),
    'CpuReserve',
  );
  check(
    root.setPartitionProperty(partitionId, HvPartitionProperty.CpuCap, lp(config.cpu.limitPercent)),
    'CpuCap',
  );
  check(
    root.setPartitionProperty(partitionId, HvPartitionProperty.CpuWeight, BigInt(config.cpu.relativeWeight)),
    'CpuWeight',
  );
  // Deposit: one element per page, as many as one input page holds per call.
  for (let done = 0; done < pageCount; ) {
    const n = Math.min(511, pageCount - done);
    const r = root.depositMemory(partitionId, n);
    check(r.status, `DepositMemory (${done + r.repsCompleted} of ${pageCount} pages)`);
    done += n;
  }
  check(root.initializePartition(partitionId), 'InitializePartition');
  // Identity map: GPA page i is pool page i, readable, writable and executable.
  for (let base = 0; base < pageCount; ) {
    const n = Math.min(509, pageCount - base);
    const pool = Array.from({ length: n }, (_, i) => BigInt(base + i));
    check(root.mapGpaPages(partitionId, BigInt(base), 7, pool).status, 'MapGpaPages');
    base += n;
  }
  // The VMBus server's SynIC end: ports and connections both ways, SINT 2 on this root VP. Every VM
  // has one: the SCSI controller is always offered.
  {
    transport = createSynicServerTransport(root, partitionId, { onError: report });
    // Backing for the transport's interrupt pump: messages for a VP were seen to wait in the
    // hypervisor's queue until the next delivery trigger (EOM, EOI), and VMBus contact then hung.
    // Polling interrupts and an occasional EOM (a retry trigger) keep them moving.
    let turns = 0;
    interruptPoll = setInterval(() => {
      try {
        root.pollInterrupts();
        if (++turns % 5 === 0) root.wrmsr(HvMsr.Eom, 0n);
      } catch (error) {
        report(error as Error);
      }
    }, 10);
  }
  root.setPartitionImage(partitionId, data.bootImage);
  // VP 0 starts the boot image at once; the others wait for INIT/SIPI.
  for (let i = 0; i < vpCount; i++) check(root.createVp(partitionId, i), `CreateVp ${i}`);
}

function teardown(): void {
  if (phase === 'down') return;
  phase = 'down';
  if (tick !== undefined) clearInterval(tick);
  if (interruptPoll !== undefined) clearInterval(interruptPoll);
  ics?.close();
  transport?.close();
  if (partitionId === 0n) return;
  // Finalizing deletes the VPs (their threads end), ports and connections; then the partition goes.
  root.finalizePartition(partitionId);
  root.deletePartition(partitionId);
}

/** Closes the disk files (each close flushes) once the partition is gone; problems go to the event log. */
function closeDisks(): Promise<void> {
  disksClosed ??= disks.close().then((problems) => {
    for (const problem of problems) post({ type: 'log', message: `disk did not close cleanly: ${problem}` });
  });
  return disksClosed;
}

/**
 * Tears the partition down, then closes the disks: after the disk operation under way, if any (a
 * merge or snapshot cut off half-way would leave its files to be repaired), waiting at most 5 s.
 */
async function teardownAndClose(afterDiskOps = true): Promise<void> {
  teardown();
  if (afterDiskOps) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([diskQueue, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
    clearTimeout(timer);
  }
  await closeDisks();
}

// ---- boot -------------------------------------------------------------------------------------

function writeBootPage(memory: SharedArrayBuffer, go: number): void {
  const view = new DataView(memory);
  const words = new Int32Array(memory, 0, PAGE_SIZE / 4);
  const params: BootParams = {
    ics: icNames,
    storage: true,
    program: data.program,
    vmId: config.id,
    vmName: config.name,
    memoryMB: config.memoryMB,
    processorCount: config.processorCount,
  };
  const bytes = new TextEncoder().encode(JSON.stringify(params));
  if (bytes.length > FW_PARAMS_MAX) throw new Error('boot parameters do not fit the firmware page');
  view.setUint32(Fw.magic, FW_MAGIC, true);
  view.setUint32(Fw.version, FW_VERSION, true);
  view.setUint32(Fw.params, bytes.length, true);
  new Uint8Array(memory, Fw.params + 4, bytes.length).set(bytes);
  for (let i = 0; i < FW_MAX_VPS; i++) view.setFloat64(Fw.busyMs + i * 8, 0, true);
  Atomics.store(words, fwWord(Fw.status), FwStatus.Loading);
  Atomics.store(words, fwWord(Fw.quiesceRequest), 0);
  Atomics.store(words, fwWord(Fw.quiesceAck), 0);
  Atomics.store(words, fwWord(Fw.quiesceFailed), 0);
  Atomics.store(words, fwWord(Fw.quiesced), 0);
  Atomics.store(words, fwWord(Fw.go), go);
  Atomics.notify(words, fwWord(Fw.go));
}

async function boot(memory: SharedArrayBuffer): Promise<void> {
  ram = memory;
  fw = new Int32Array(memory, 0, PAGE_SIZE / 4);
  if (transport !== undefined) {
    // The VSPs: one per offered integration service and the SCSI controller (its disks are attached
    // already), on the device SDK over the SynIC transport.
    ics = new IcHost({ referenceTime: childReferenceTime, heartbeat: { intervalMs: 1000 } });
    devices = new DeviceHost({ memory, transport, onError: report });
    for (const device of icDevices(ics, icNames)) devices.add(device);
    devices.add(disks.controller);
  }
  if (saved !== undefined) {
    const layout = guestLayout(pageCount, vpCount);
    restorePages(
      memory,
      saved.memory,
      (page) => page === 0 || (page >= layout.ringFirstPage && page <= layout.simpPage),
    );
    for (const vp of saved.vps) {
      const r = root.setVpRegisters(partitionId, vp.index, vp.registers);
      check(r.status, `SetVpRegisters (VP ${vp.index}, ${r.repsCompleted} of ${vp.registers.length})`);
    }
    writeBootPage(memory, FwGo.Resume);
  } else {
    writeBootPage(memory, FwGo.Boot);
  }
  // Start the application processors the way a BSP would not have to: the parent starts them.
  const deadline = Date.now() + data.bootTimeoutMs;
  while (Atomics.load(fw, fwWord(Fw.status)) === FwStatus.Loading) {
    if (phase === 'down') return;
    if (Date.now() > deadline) throw new Error(`the guest did not boot within ${data.bootTimeoutMs} ms`);
    await sleep(10);
  }
  if (Atomics.load(fw, fwWord(Fw.status)) !== FwStatus.Running)
    throw new Error('the guest failed while booting');
  phase = 'running';
  tick = setInterval(onTick, 250);
  post({ type: 'booted' });
}

/** The child's partition reference time (100 ns), for time sync. */
function childReferenceTime(): bigint {
  const r = root.getVpRegisters(partitionId, 0, [HvRegisterName.TimeRefCount]);
  return r.status === 0 ? (r.values[0] ?? 0n) : 0n;
}

function heartbeat(): 'OK' | 'NoContact' | 'LostCommunication' {
  const status = ics?.heartbeat().status ?? IcHeartbeat.NoContact;
  if (status === IcHeartbeat.NoContact) return 'NoContact';
  if (status === IcHeartbeat.LostCommunication) return 'LostCommunication';
  return 'OK';
}

function onTick(): void {
  if (phase === 'down') return;
  if (fw !== undefined && !shuttingDown && Atomics.load(fw, fwWord(Fw.status)) === FwStatus.Off) {
    // The guest powered itself off.
    void teardownAndClose().finally(() =>
      post({ type: 'exit', reason: 'off', message: 'the guest shut down' }),
    );
    return;
  }
  post({
    type: 'tick',
    at: Date.now(),
    heartbeat: heartbeat(),
    shutdownReady: ics?.status('shutdown') === 'ok',
    disks: { attached: disks.attachments.length, commands: disks.controller.stats.srbs },
  });
}

// ---- pause / resume / save ----------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Suspend holds every VP of the partition at its next safe point (the hypervisor's scheduler does it). */
function hold(on: boolean): void {
  root.setPartitionProperty(partitionId, HvPartitionProperty.Suspend, on ? 1n : 0n);
}

function stoppedAtSafePoint(ctl: Int32Array): boolean {
  const state = Atomics.load(ctl, VpControl.runState >> 2);
  return (
    Atomics.load(ctl, VpControl.schedParked >> 2) === 1 ||
    state === VpRunState.Halted ||
    state === VpRunState.WaitForSipi
  );
}

async function pause(): Promise<void> {
  if (phase === 'paused') return;
  if (phase !== 'running' || fw === undefined) throw new Error(`cannot pause while ${phase}`);
  const seq = ++quiesceSeq;
  Atomics.store(fw, fwWord(Fw.quiesceRequest), seq);
  const deadline = Date.now() + data.safePointTimeoutMs;
  const fail = (): never => {
    Atomics.store(fw as Int32Array, fwWord(Fw.quiesceAck), seq);
    release();
    throw new Error(`the guest did not reach a safe point within ${data.safePointTimeoutMs} ms`);
  };
  // First the firmware puts the program state in memory and idles; only then does Suspend hold
  // the VPs (a VP held earlier would park before it sees the request).
  while (Atomics.load(fw, fwWord(Fw.quiesceAck)) !== seq) {
    if (Date.now() > deadline || phase !== 'running') fail();
    await sleep(5);
  }
  hold(true);
  while (![...controls.values()].every(stoppedAtSafePoint)) {
    if (Date.now() > deadline || phase !== 'running') fail();
    await sleep(5);
  }
  phase = 'paused';
}

function release(): void {
  if (fw !== undefined) Atomics.store(fw, fwWord(Fw.quiesced), 0);
  hold(false);
}

function resume(): void {
  if (phase === 'running') return;
  if (phase !== 'paused') throw new Error(`cannot resume while ${phase}`);
  release();
  phase = 'running';
}

async function save(): Promise<SavedVm> {
  const wasRunning = phase === 'running';
  await pause();
  let saved: SavedVm;
  try {
    saved = captureState();
  } catch (error) {
    if (wasRunning) resume();
    throw error;
  }
  // The disks are flushed and closed as part of the teardown: the state and the files belong together.
  // (Save itself runs as a disk operation, so it does not wait for one.)
  await teardownAndClose(false);
  return saved;
}

function quiesceFailed(): boolean {
  return fw === undefined || Atomics.load(fw, fwWord(Fw.quiesceFailed)) !== 0;
}

/** The VM's state while it is paused: memory and VP registers (the program state is in memory). */
function captureState(): SavedVm {
  if (phase !== 'paused' || fw === undefined || ram === undefined) throw new Error('no partition memory');
  if (quiesceFailed()) throw new Error('the guest could not put its program state in memory');
  const vps: SavedVm['vps'] = [];
  for (let index = 0; index < vpCount; index++) {
    const r = root.getVpRegisters(partitionId, index, SAVED_REGISTERS);
    check(r.status, `GetVpRegisters (VP ${index})`);
    vps.push({ index, registers: SAVED_REGISTERS.map((name, k) => ({ name, value: r.values[k] ?? 0n })) });
  }
  return {
    kind: 'viridian-vmwp-state',
    version: SAVED_VM_VERSION,
    pageCount,
    memory: capturePages(ram),
    vps,
    devices: {},
  };
}

// ---- disks -------------------------------------------------------------------------------------

/** Disk operations (and save) run one at a time. */
let diskQueue: Promise<unknown> = Promise.resolve();
function serialized<T>(op: () => Promise<T>): Promise<T> {
  const run = diskQueue.then(op, op);
  diskQueue = run.catch(() => undefined);
  return run;
}

function requireOn(): void {
  if (phase !== 'running' && phase !== 'paused') throw new Error(`the VM is ${phase}`);
}

/** Runs `op` with the VM paused at a safe point and every disk flushed; resumes it if it was running. */
async function whilePaused<T>(op: () => Promise<T>): Promise<T> {
  requireOn();
  const wasRunning = phase === 'running';
  await pause();
  try {
    await disks.flush();
    return await op();
  } finally {
    if (wasRunning && phase === 'paused') resume();
  }
}

async function snapshotDisks(value: DiskSnapshotRequest): Promise<{ state?: SavedVm }> {
  const request = checkSnapshotRequest(value);
  requireOn();
  await disks.checkSnapshot(request.disks);
  return whilePaused(async () => {
    // A state that could not be captured fails the request before any file changes.
    if (request.captureState && quiesceFailed())
      throw new Error('the guest could not put its program state in memory');
    const moved: number[] = [];
    for (const { lun, path } of request.disks) {
      try {
        await disks.snapshot(lun, path);
      } catch (error) {
        const done = moved.length === 0 ? '' : ` (LUN ${moved.join(', ')} already write to their new files)`;
        throw new DiskError(`${(error as Error).message}${done}`);
      }
      moved.push(lun);
    }
    return request.captureState ? { state: captureState() } : {};
  });
}

/**
 * Asks the guest through the shutdown IC and waits (up to the timeout) for it to power off. True
 * once the partition is gone; false if the guest refused, did not answer or did not finish.
 */
async function shutdown(timeoutMs: number): Promise<boolean> {
  if (ics === undefined || phase !== 'running' || fw === undefined) return false;
  const deadline = Date.now() + timeoutMs;
  shuttingDown = true;
  try {
    // A guest still starting its services gets until the deadline to connect the shutdown IC.
    while (ics.status('shutdown') !== 'ok') {
      if (Date.now() >= deadline || phase !== 'running') return false;
      await sleep(20);
    }
    const left = Math.max(1, deadline - Date.now());
    const result = await ics.shutdown({
      kind: 'shutdown',
      timeoutMs: left,
      reason: 'shutdown requested by the host',
    });
    if (result.outcome !== 'accepted') return false;
    while (Date.now() < deadline && phase === 'running') {
      if (Atomics.load(fw, fwWord(Fw.status)) === FwStatus.Off) {
        await teardownAndClose();
        return true;
      }
      await sleep(20);
    }
    return false;
  } finally {
    shuttingDown = false;
  }
}

// ---- integration services ------------------------------------------------------------------------

/** The guest's clock minus the host's, ms, from what the firmware last wrote (undefined if unknown). */
function guestClockOffsetMs(): number | undefined {
  if (ram === undefined || phase === 'down') return undefined;
  const view = new DataView(ram);
  const clockMs = view.getFloat64(Fw.clockMs, true);
  const atRefMs = view.getFloat64(Fw.clockRefMs, true);
  // Guest-written: only plausible readings count.
  if (!Number.isFinite(clockMs) || !Number.isFinite(atRefMs) || clockMs <= 0 || atRefMs <= 0)
    return undefined;
  const refNowMs = Number(childReferenceTime()) / 10_000;
  const elapsed = refNowMs - atRefMs;
  if (!(elapsed >= 0) || elapsed > 60_000) return undefined;
  return Math.round((clockMs + elapsed - Date.now()) * 10) / 10;
}

/** A service the VM does not run: answered as a value, like every IC outcome. */
const notOffered = (ic: IcName) => ({
  ok: false,
  outcome: 'not-offered',
  reason: 'not-offered',
  message: `the ${ic} integration service is not offered to this VM`,
});

function icRequest(request: IcRequest): Promise<unknown> | unknown {
  const kvpIc = (): IcHost | undefined => (icNames.includes('kvp') ? ics : undefined);
  switch (request.op) {
    case 'kvpGet':
      return kvpIc()?.kvp.get(request.pool, request.key) ?? notOffered('kvp');
    case 'kvpSet':
      return kvpIc()?.kvp.set(request.pool, request.key, request.value) ?? notOffered('kvp');
    case 'kvpRemove':
      return kvpIc()?.kvp.remove(request.pool, request.key) ?? notOffered('kvp');
    case 'kvpList':
      return kvpIc()?.kvp.list(request.pool) ?? notOffered('kvp');
    case 'vssFreeze':
      return (icNames.includes('vss') ? ics?.vssFreeze(60_000) : undefined) ?? notOffered('vss');
    case 'vssThaw':
      return (icNames.includes('vss') ? ics?.vssThaw(30_000) : undefined) ?? notOffered('vss');
    case 'icState': {
      const services = IC_NAMES.map((name) => ({
        name,
        enabled: icNames.includes(name),
        status: icNames.includes(name) ? (ics?.status(name) ?? 'not-connected') : 'disabled',
        version: ics?.negotiatedVersion(name),
      }));
      const ts = icNames.includes('timeSync') ? ics?.timeSync() : undefined;
      return {
        services,
        heartbeat: ics?.heartbeat().text,
        timeSync:
          ts === undefined
            ? undefined
            : {
                samplesSent: ts.samplesSent,
                samplesAnswered: ts.samplesAnswered,
                guestClockOffsetMs: guestClockOffsetMs(),
              },
      };
    }
  }
}

// ---- messages from the runtime -------------------------------------------------------------------

function onFirmware(m: Extract<ToVmwp, { type: 'firmware' }>): void {
  if (controls.has(m.vpIndex) || m.vpIndex >= vpCount) return;
  if (!(m.control instanceof SharedArrayBuffer) || m.control.byteLength !== VP_CONTROL_BYTES) return;
  if (!(m.ram instanceof SharedArrayBuffer) || m.ram.byteLength !== pageCount * PAGE_SIZE) return;
  controls.set(m.vpIndex, new Int32Array(m.control));
  if (m.vpIndex === 0) {
    boot(m.ram).catch((error: unknown) => {
      const message = (error as Error).message;
      void teardownAndClose().finally(() => post({ type: 'failed', message }));
    });
  }
}

function onVpExit(m: Extract<ToVmwp, { type: 'vp-exit' }>): void {
  if (phase === 'down') return;
  const status = fw === undefined ? FwStatus.Loading : Atomics.load(fw, fwWord(Fw.status));
  const wasBooting = phase === 'booting';
  const message = m.error ?? `VP ${m.vpIndex} stopped (code ${m.code ?? 'none'})`;
  // A crashed guest's disks keep what was flushed; the files are closed before the VMWP ends.
  void teardownAndClose().finally(() => {
    if (wasBooting) post({ type: 'failed', message });
    else if (status === FwStatus.Off && m.error === undefined) post({ type: 'exit', reason: 'off', message });
    else post({ type: 'exit', reason: 'guestCrashed', message: firstLine(message) });
  });
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim().length > 0) ?? text;
  return line.replace(/^Error: /, '').slice(0, 500);
}

async function call(m: Extract<ToVmwp, { type: 'call' }>): Promise<unknown> {
  switch (m.op) {
    case 'pause':
      return pause();
    case 'resume':
      return resume();
    case 'save':
      return serialized(save);
    case 'turnOff':
      return teardownAndClose();
    case 'shutdown':
      return shutdown(m.timeoutMs ?? 30_000);
    case 'attachDisk':
      return serialized(async () => {
        requireOn();
        await disks.attach(m.disk);
      });
    case 'detachDisk':
      return serialized(async () => {
        requireOn();
        await disks.detach(m.lun);
      });
    case 'snapshotDisks':
      return serialized(() => snapshotDisks(m.request));
    case 'mergeDisk':
      return serialized(() => whilePaused(() => disks.merge(m.lun)));
  }
}

port.on('message', (m: ToVmwp) => {
  switch (m.type) {
    case 'firmware':
      onFirmware(m);
      break;
    case 'vp-exit':
      onVpExit(m);
      break;
    case 'ic':
      Promise.resolve()
        .then(() => {
          if (phase !== 'running' && phase !== 'paused') throw new Error(`the VM is ${phase}`);
          return icRequest(m.request);
        })
        .then(
          (value) => post({ type: 'reply', id: m.id, ok: true, value }),
          (error: unknown) => post({ type: 'reply', id: m.id, ok: false, error: (error as Error).message }),
        );
      break;
    case 'call':
      call(m).then(
        (value) => post({ type: 'reply', id: m.id, ok: true, value }),
        (error: unknown) =>
          post({
            type: 'reply',
            id: m.id,
            ok: false,
            error: (error as Error).message,
            ...(error instanceof DiskError ? { diskError: true } : {}),
          }),
      );
      break;
  }
});

let saved: SavedVm | undefined;
void (async () => {
  // A state that cannot be restored, or a disk that cannot be opened, is refused before any
  // partition exists.
  if (data.hasRestore) saved = validateSavedVm(data.restore, pageCount, vpCount);
  await disks.open(checkDisks(config.disks));
  createPartition();
})().catch((error: unknown) => {
  try {
    teardown();
  } finally {
    void closeDisks().finally(() => post({ type: 'failed', message: (error as Error).message }));
  }
});
