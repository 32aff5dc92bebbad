import { connectRootVp, decodeResult, encodeInput, type GuestVp, Hypervisor } from '@viridian/hypervisor';
import { compared, median, quantile } from '../stats.js';
import type { BenchRecord, BenchSuite } from '../types.js';

/**
 * Hypercall trap latency (a root VP on this thread, the hypervisor on its own) against a
 * MessagePort request/response round trip to the same thread, measured in the same run; with
 * and without adaptive spinning; and periodic synthetic-timer lateness.
 */
const CALLS = 20_000;
const PINGS = 5_000;
const NULL_CALL = encodeInput(0x08); // NotifyLongSpinWait: always SUCCESS

function trapSamples(vp: GuestVp): Float64Array {
  const samples = new Float64Array(CALLS);
  for (let i = 0; i < 2_000; i++) vp.fastHypercall(NULL_CALL, 0n, 0n); // warm-up
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const rax = vp.fastHypercall(NULL_CALL, 0n, 0n);
    samples[i] = (performance.now() - t0) * 1000;
    if ((rax & 0xffffn) !== 0n) throw new Error(`null hypercall failed: ${decodeResult(rax).status}`);
  }
  return samples;
}

async function pingSamples(hv: Hypervisor): Promise<Float64Array> {
  const samples = new Float64Array(PINGS);
  for (let i = 0; i < 500; i++) await hv.ping();
  for (let i = 0; i < PINGS; i++) {
    const t0 = performance.now();
    await hv.ping();
    samples[i] = (performance.now() - t0) * 1000;
  }
  return samples;
}

async function timerLateness(vp: GuestVp, expiries: number): Promise<Float64Array> {
  const SIMP = 0x20_0000;
  vp.wrmsr(0x4000_0083, BigInt(SIMP) | 1n);
  vp.wrmsr(0x4000_0093, 0x40n); // SINT3 → vector 0x40
  vp.wrmsr(0x4000_0080, 1n);
  const slot = new DataView(vp.memory.ram, SIMP + 3 * 256, 256);
  const late: number[] = [];
  vp.onInterrupt(0x40, () => {
    late.push(Number(slot.getBigUint64(32, true) - slot.getBigUint64(24, true)) / 10); // µs
    const pending = (slot.getUint8(5) & 1) !== 0;
    slot.setUint32(0, 0, true);
    if (pending) vp.wrmsr(0x4000_0084, 0n);
    vp.eoi();
  });
  vp.wrmsr(0x4000_00b1, 10_000n); // 1 ms period
  vp.wrmsr(0x4000_00b0, (3n << 16n) | 2n | 1n);
  while (late.length < expiries) await vp.halt();
  vp.wrmsr(0x4000_00b0, 0n);
  return Float64Array.from(late);
}

export const suite: BenchSuite = {
  name: 'hypercall',
  async run(): Promise<BenchRecord[]> {
    const records: BenchRecord[] = [];
    const hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
    try {
      const vp = connectRootVp(await hv.attachRootVp());
      const trap = trapSamples(vp);
      const ping = await pingSamples(hv);
      records.push(
        compared(
          'null hypercall round trip, median',
          median(trap),
          'µs',
          'MessagePort round trip median',
          median(ping),
        ),
        compared(
          'null hypercall round trip, p99',
          quantile(trap, 0.99),
          'µs',
          'MessagePort round trip p99',
          quantile(ping, 0.99),
        ),
      );
      const late = await timerLateness(vp, 200);
      records.push(
        { name: 'STIMER periodic 1 ms lateness, median', value: median(late), unit: 'µs' },
        { name: 'STIMER periodic 1 ms lateness, p99', value: quantile(late, 0.99), unit: 'µs' },
      );
    } finally {
      await hv.stop();
    }
    const spinning = await Hypervisor.start({
      rootMemoryBytes: 4 * 1024 * 1024,
      vpSpinIterations: 20_000,
      hypervisorSpinIterations: 200_000,
    });
    try {
      const vp = connectRootVp(await spinning.attachRootVp());
      const spun = trapSamples(vp);
      const plainHv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
      const plain = trapSamples(connectRootVp(await plainHv.attachRootVp()));
      await plainHv.stop();
      records.push(
        compared(
          'null hypercall with adaptive spin, median',
          median(spun),
          'µs',
          'Atomics.wait only',
          median(plain),
        ),
        compared(
          'null hypercall with adaptive spin, p99',
          quantile(spun, 0.99),
          'µs',
          'Atomics.wait only',
          quantile(plain, 0.99),
        ),
      );
    } finally {
      await spinning.stop();
    }
    return records;
  },
};
