// Virtual APIC priority rules and timers, driven from a root VP on the test's main thread.
import { HvMsr } from '@viridian/hvdef';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { haltUntil } from './bounded.test-fixture.js';
import { connectRootVp, type GuestVp } from './guest-vp.js';
import { Hypervisor } from './hypervisor.js';

let hv: Hypervisor;
let vp: GuestVp;
const SIMP = 0x20_0000;
const TSC_PAGE = 0x21_0000;
const X2APIC = {
  tpr: 0x808,
  ppr: 0x80a,
  eoi: 0x80b,
  svr: 0x80f,
  isr: 0x810,
  irr: 0x820,
  lvtTimer: 0x832,
  init: 0x838,
  current: 0x839,
  divide: 0x83e,
  selfIpi: 0x83f,
};

beforeAll(async () => {
  hv = await Hypervisor.start({ rootMemoryBytes: 4 * 1024 * 1024 });
  vp = connectRootVp(await hv.attachRootVp());
});
afterAll(async () => {
  expect((await hv.stats()).internalErrors).toEqual([]);
  await hv.stop();
});

const selfIpi = (vector: number) => vp.wrmsr(X2APIC.selfIpi, BigInt(vector));
const word = (base: number, vector: number) => Number(vp.rdmsr(base + (vector >> 5)));

describe('virtual APIC', () => {
  test('priority masking by TPR and in-service vectors, EOI retires the highest first', () => {
    const log: number[] = [];
    vp.onInterrupt(0x61, (v) => log.push(v)); // no EOI yet: stays in service
    vp.onInterrupt(0x72, (v) => log.push(v));
    vp.onInterrupt(0x55, (v) => {
      log.push(v);
      vp.eoi();
    });
    vp.onInterrupt(0x45, (v) => {
      log.push(v);
      vp.x2apicEoi();
    });
    vp.setTpr(0x50);
    expect(vp.rdmsr(X2APIC.tpr)).toBe(0x50n);
    selfIpi(0x45); // class 4 ≤ TPR class 5: held
    selfIpi(0x61);
    expect(vp.pollInterrupts()).toBe(1);
    expect(log).toEqual([0x61]);
    expect(vp.rdmsr(X2APIC.ppr)).toBe(0x60n);

    selfIpi(0x55); // class 5 ≤ PPR class 6: held
    selfIpi(0x72); // class 7 beats PPR: nested
    expect(vp.pollInterrupts()).toBe(1);
    expect(log).toEqual([0x61, 0x72]);
    expect(vp.rdmsr(X2APIC.ppr)).toBe(0x70n);
    expect(word(X2APIC.irr, 0x45)).toBe((1 << (0x45 & 31)) | (1 << (0x55 & 31)));
    expect(word(X2APIC.isr, 0x61)).toBe((1 << (0x61 & 31)) | (1 << (0x72 & 31)));

    vp.eoi(); // retires 0x72, the highest in service
    expect(word(X2APIC.isr, 0x61)).toBe(1 << (0x61 & 31));
    expect(vp.rdmsr(X2APIC.ppr)).toBe(0x60n);
    expect(vp.pollInterrupts()).toBe(0);
    vp.x2apicEoi(); // retires 0x61; PPR falls to TPR 0x50, class 5 still does not beat it
    expect(vp.rdmsr(X2APIC.ppr)).toBe(0x50n);
    expect(vp.pollInterrupts()).toBe(0);
    vp.setTpr(0);
    expect(vp.pollInterrupts()).toBe(2);
    expect(log).toEqual([0x61, 0x72, 0x55, 0x45]);
    expect(word(X2APIC.isr, 0x61)).toBe(0);
    expect(word(X2APIC.irr, 0x45)).toBe(0);
  });

  test('IF=0 holds interrupts; a software-disabled APIC loses fixed interrupts; cluster IPI by VP index', () => {
    const log: number[] = [];
    vp.onInterrupt(0x80, (v) => {
      log.push(v);
      vp.eoi();
    });
    vp.interruptsEnabled = false;
    expect(vp.sendSyntheticClusterIpi(0x80, 1n << BigInt(vp.vpIndex))).toBe(0);
    expect(vp.pollInterrupts()).toBe(0);
    vp.interruptsEnabled = true;
    expect(vp.pollInterrupts()).toBe(1);
    vp.wrmsr(X2APIC.svr, 0xffn); // software disable
    selfIpi(0x80);
    vp.wrmsr(X2APIC.svr, 0x1ffn);
    expect(vp.pollInterrupts()).toBe(0);
    expect(log).toEqual([0x80]);
    expect(() => vp.wrmsr(X2APIC.eoi, 1n)).toThrow(expect.objectContaining({ code: 'GP' }));
    expect(() => vp.rdmsr(X2APIC.eoi)).toThrow(expect.objectContaining({ code: 'GP' }));
    expect(() => vp.wrmsr(X2APIC.ppr, 0n)).toThrow(expect.objectContaining({ code: 'GP' }));
  });

  test('LVT timer in periodic mode raises its vector repeatedly; writing 0 stops it', async () => {
    let ticks = 0;
    vp.onInterrupt(0x48, () => {
      ticks++;
      vp.eoi();
    });
    vp.wrmsr(X2APIC.divide, 0xbn); // divide by 1
    vp.wrmsr(X2APIC.lvtTimer, (1n << 17n) | 0x48n); // periodic
    vp.wrmsr(X2APIC.init, 400_000n); // 2 ms at 200 MHz
    expect(Number(vp.rdmsr(X2APIC.current))).toBeLessThanOrEqual(400_000);
    await haltUntil(
      vp,
      () => ticks >= 5,
      'five LVT timer interrupts',
      () => ({ ticks }),
    );
    vp.wrmsr(X2APIC.init, 0n);
    expect(vp.rdmsr(X2APIC.current)).toBe(0n);
  });
});

describe('time', () => {
  test('the reference TSC page and TIME_REF_COUNT agree and are monotonic', () => {
    vp.wrmsr(HvMsr.ReferenceTsc, BigInt(TSC_PAGE) | 1n);
    const a = vp.rdmsr(HvMsr.TimeRefCount);
    const b = vp.readReferenceTime(TSC_PAGE);
    const c = vp.rdmsr(HvMsr.TimeRefCount);
    expect(b).toBeGreaterThanOrEqual(a - 1n);
    expect(b).toBeLessThanOrEqual(c + 1n);
    expect(() => vp.wrmsr(HvMsr.TimeRefCount, 0n)).toThrow(expect.objectContaining({ code: 'GP' }));
  });

  test('a periodic STIMER delivers TimerExpired messages on time (median over 100 expiries)', async () => {
    vp.wrmsr(HvMsr.Simp, BigInt(SIMP) | 1n);
    vp.wrmsr(HvMsr.Sint0 + 3, 0x40n);
    vp.wrmsr(HvMsr.Scontrol, 1n);
    const slot = new DataView(vp.memory.ram, SIMP + 3 * 256, 256);
    const expiries: { expiration: bigint; delivery: bigint; timer: number }[] = [];
    vp.onInterrupt(0x40, () => {
      expect(slot.getUint32(0, true)).toBe(0x8000_0010);
      expect(slot.getUint8(4)).toBe(24);
      expiries.push({
        timer: slot.getUint32(16, true),
        expiration: slot.getBigUint64(24, true),
        delivery: slot.getBigUint64(32, true),
      });
      const pending = (slot.getUint8(5) & 1) !== 0;
      slot.setUint32(0, 0, true);
      if (pending) vp.wrmsr(HvMsr.Eom, 0n);
      vp.eoi();
    });
    const PERIOD = 20_000n; // 2 ms in 100 ns units
    vp.wrmsr(HvMsr.Stimer0Config + 3, PERIOD); // STIMER1_COUNT
    vp.wrmsr(HvMsr.Stimer0Config + 2 * 1, (3n << 16n) | 2n | 1n); // STIMER1: SINT3, periodic, enable
    await haltUntil(
      vp,
      () => expiries.length >= 100,
      '100 STIMER expiries',
      () => ({
        expiries: expiries.length,
      }),
    );
    vp.wrmsr(HvMsr.Stimer0Config + 2, 0n);
    expect(new Set(expiries.map((e) => e.timer))).toEqual(new Set([1]));
    const lateness = expiries.map((e) => Number(e.delivery - e.expiration) / 1e4).sort((x, y) => x - y); // ms
    expect(lateness[0]).toBeGreaterThanOrEqual(0); // never early
    expect(lateness[50]).toBeLessThan(5);
    // Expirations sit on the period grid (missed periods are skipped, never shifted).
    for (let i = 1; i < expiries.length; i++) {
      const gap = (expiries[i]?.expiration ?? 0n) - (expiries[i - 1]?.expiration ?? 0n);
      expect(gap % PERIOD).toBe(0n);
      expect(gap).toBeGreaterThan(0n);
    }
  });

  test('a one-shot direct-mode STIMER asserts its vector once and clears Enable', async () => {
    let fired = 0;
    vp.onInterrupt(0x41, () => {
      fired++;
      vp.eoi();
    });
    const now = vp.rdmsr(HvMsr.TimeRefCount);
    vp.wrmsr(HvMsr.Stimer0Config + 4, (1n << 12n) | (0x41n << 4n)); // STIMER2: direct, vector 0x41
    vp.wrmsr(HvMsr.Stimer0Config + 5, now + 10_000n);
    vp.wrmsr(HvMsr.Stimer0Config + 4, (1n << 12n) | (0x41n << 4n) | 1n);
    await haltUntil(
      vp,
      () => fired >= 1,
      'the one-shot STIMER',
      () => ({ fired }),
    );
    expect(vp.rdmsr(HvMsr.TimeRefCount)).toBeGreaterThanOrEqual(now + 10_000n);
    expect(vp.rdmsr(HvMsr.Stimer0Config + 4) & 1n).toBe(0n);
    expect(await vp.haltFor(50)).toBe(false);
    expect(fired).toBe(1);
  });
});
