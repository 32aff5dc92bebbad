// A guest image for tests: `main(vp)` runs one scenario chosen by the image URL's query.
import { parentPort } from 'node:worker_threads';
import { HvMsr } from '@viridian/hvdef';
import { decodeResult, encodeInput, type GuestVp } from './guest-vp.js';

const scenario = new URL(import.meta.url).searchParams.get('scenario') ?? 'idle';
/** Messages the synic-burst scenario expects (its test posts this many). */
export const SYNIC_BURST = 6;
const report = (data: Record<string, unknown>): void => parentPort?.postMessage(data);

/** What a guest does first: register the OS and enable the hypercall page (GPA page 1). */
export function enableHypercalls(vp: GuestVp): void {
  vp.wrmsr(HvMsr.GuestOsId, 0x8100_0000_0000_0001n);
  vp.wrmsr(HvMsr.Hypercall, 0x1000n | 1n);
}

function outcome(fn: () => unknown): string | number | bigint {
  try {
    const r = fn();
    return typeof r === 'bigint' ? decodeResult(r).status : (r as number);
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

export async function main(vp: GuestVp): Promise<void> {
  switch (scenario) {
    case 'hello':
      report({ hello: vp.vpIndex, partitionId: vp.partitionId });
      return;
    case 'denied': {
      const before = outcome(() => vp.hypercall(encodeInput(0x46), 0x2000, 0x3000));
      enableHypercalls(vp);
      report({
        before,
        createPartition: outcome(() => vp.createPartition().status),
        getPartitionId: outcome(() => vp.getPartitionId().status),
        createPort: outcome(() => vp.createPort(0xffff_ffff_ffff_ffffn, 1, 1n, { type: 1, sint: 2, vp: 0 })),
        depositMemory: outcome(() => vp.depositMemory(1n, 1).status),
        selfRegisters: outcome(
          () => vp.getVpRegisters(0xffff_ffff_ffff_ffffn, 0xffff_fffe, [0x20000]).status,
        ),
        referenceTscMsr: outcome(() => vp.rdmsr(HvMsr.ReferenceTsc)),
        unknownMsr: outcome(() => vp.rdmsr(0x4000_0555)),
        writeVpIndex: outcome(() => vp.wrmsr(HvMsr.VpIndex, 1n)),
        vpIndex: outcome(() => Number(vp.rdmsr(HvMsr.VpIndex))),
        eoiReserved: outcome(() => vp.wrmsr(HvMsr.Eoi, 1n << 40n)),
        stimerReserved: outcome(() => vp.wrmsr(HvMsr.Stimer0Config, 1n << 14n)),
        sintLowVector: outcome(() => vp.wrmsr(HvMsr.Sint0 + 2, 0x05n)),
        x2apicEoiNonZero: outcome(() => vp.wrmsr(0x80b, 1n)),
        postUnconnected: outcome(() => vp.postMessage(0x50, 1, new Uint8Array(4))),
        signalUnconnected: outcome(() => vp.signalEvent(0x60, 0)),
        cpuidVendor: vp.cpuid(0x4000_0000),
        cpuidInterface: vp.cpuid(0x4000_0001).eax,
        cpuidPrivileges: vp.cpuid(0x4000_0003),
      });
      return;
    }
    case 'memory': {
      enableHypercalls(vp);
      const before = vp.readU32(0x5000);
      vp.writeU32(0x5000, 0xc0ffee);
      const faults: Record<string, unknown> = {};
      for (const [name, gpa] of [
        ['beyond', 0x10_0000],
        ['unmapped', 0x1f000],
      ] as const) {
        try {
          vp.readU32(gpa);
          faults[name] = 'read';
        } catch (e) {
          faults[name] = (e as { code?: string }).code;
        }
      }
      report({ before, own: vp.readU32(0x5000), faults });
      return;
    }
    case 'synic': {
      enableHypercalls(vp);
      const simp = 0x8000;
      vp.wrmsr(HvMsr.Simp, BigInt(simp) | 1n);
      vp.wrmsr(HvMsr.Siefp, 0x9000n | 1n);
      vp.wrmsr(HvMsr.Sint0 + 2, 0x50n);
      vp.wrmsr(HvMsr.Scontrol, 1n);
      const slot = simp + 2 * 256;
      const off = vp.offsetForAtomics(slot, 256);
      const header = new Int32Array(vp.memory.ram, off, 2);
      const seen: { type: number; first: number; pending: boolean }[] = [];
      let events = 0;
      vp.onInterrupt(0x50, () => {
        const type = Atomics.load(header, 0) >>> 0;
        const flags = (Atomics.load(header, 1) >> 8) & 0xff;
        if (type !== 0)
          seen.push({ type, first: vp.memory.bytes[off + 16] ?? -1, pending: (flags & 1) !== 0 });
        // Event flags of SINT2 in the SIEF page.
        const ev = vp.readU32(0x9000 + 2 * 256);
        if (ev !== 0) {
          events |= ev;
          vp.writeU32(0x9000 + 2 * 256, 0);
        }
        vp.eoi();
      });
      report({ ready: true });
      // First message: keep the slot busy until the hypervisor marks it pending.
      while (seen.length < 1) await vp.halt();
      report({ got: 1 });
      const deadline = Date.now() + 10_000;
      while (((Atomics.load(header, 1) >> 8) & 1) === 0 && Date.now() < deadline) await vp.yield();
      const pendingSeen = ((Atomics.load(header, 1) >> 8) & 1) !== 0;
      // Guest side of the protocol: free the slot, then EOM because MessagePending was set.
      Atomics.store(header, 0, 0);
      vp.wrmsr(HvMsr.Eom, 0n);
      while (seen.length < 2) await vp.halt();
      Atomics.store(header, 0, 0);
      report({ pendingSeen, seen });
      while (events === 0) await vp.halt();
      report({ events });
      return;
    }
    case 'synic-burst': {
      // Several messages queued behind an occupied slot, consumed exactly as Linux's vmbus_on_msg_dpc
      // does: copy, free the slot, EOM only when MessagePending was set.
      enableHypercalls(vp);
      const simp = 0x8000;
      vp.wrmsr(HvMsr.Simp, BigInt(simp) | 1n);
      vp.wrmsr(HvMsr.Siefp, 0x9000n | 1n);
      vp.wrmsr(HvMsr.Sint0 + 2, 0x51n | (1n << 17n)); // AutoEOI, as the VMBus transports program it
      vp.wrmsr(HvMsr.Sint0 + 3, 0x52n | (1n << 17n));
      vp.wrmsr(HvMsr.Scontrol, 1n);
      const off = vp.offsetForAtomics(simp + 2 * 256, 256);
      const slot = new BigInt64Array(vp.memory.ram, off, 1);
      let go = false;
      vp.onInterrupt(0x51, () => undefined);
      vp.onInterrupt(0x52, () => {
        go = vp.readU32(0x9000 + 3 * 256) !== 0;
      });
      report({ ready: true });
      // The host posts the whole burst, then signals SINT 3.
      while (!go) await vp.halt();
      const got: { first: number; pending: boolean }[] = [];
      let idleUntil = performance.now() + 2_000;
      while (got.length < SYNIC_BURST && performance.now() < idleUntil) {
        const head = Atomics.load(slot, 0);
        if ((head & 0xffff_ffffn) === 0n) {
          await vp.haltFor(20);
          continue;
        }
        const first = vp.memory.bytes[off + 16] ?? -1;
        const last = Atomics.exchange(slot, 0, 0n);
        const pending = (last & (1n << 40n)) !== 0n;
        got.push({ first, pending });
        if (pending) vp.wrmsr(HvMsr.Eom, 0n);
        idleUntil = performance.now() + 2_000;
      }
      report({ got });
      return;
    }
    case 'smp': {
      enableHypercalls(vp);
      if (vp.vpIndex === 0) {
        report({ bsp: 'sending INIT/SIPI' });
        vp.sendIpi(0x4500, 1); // INIT, assert
        vp.sendIpi(0x4600 | 0x10, 1); // Startup, vector 0x10
        return;
      }
      report({ ap: vp.vpIndex, sipiVector: vp.sipiVector, rip: vp.getRegister(0x2_0010) });
      return;
    }
    case 'heartbeat': {
      enableHypercalls(vp);
      for (let beat = 0; ; beat++) {
        const status = decodeResult(vp.fastHypercall(encodeInput(0x08), 0n, 0n)).status;
        report({ beat, status });
        await vp.haltFor(20);
      }
    }
    case 'fuzz': {
      const { fuzz } = await import('./fuzz.test-fixture.js');
      report(fuzz(vp));
      return;
    }
    default:
      return;
  }
}
