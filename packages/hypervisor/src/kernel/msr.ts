// Synthetic MSRs, the x2APIC MSR range and the hypervisor CPUID leaves.
// `undefined` / `false` answers mean #GP in the guest.
import {
  CPUID_1_ECX_HYPERVISOR_PRESENT,
  HV_CPUID_INTERFACE_EAX,
  HV_CPUID_VENDOR_EBX,
  HV_CPUID_VENDOR_ECX,
  HV_CPUID_VENDOR_EDX,
  HV_SPIN_WAIT_NEVER_NOTIFY,
  HvCpuidFeaturesEdx,
  HvCpuidLeaf,
  HvMsr,
  IA32_APIC_BASE,
  HvPartitionPrivilege as Priv,
  privilegeMaskToCpuid,
  ApicRegister as R,
  HvCpuidRecommendationsEax as Rec,
  X2APIC_MSR_BASE,
  X2APIC_MSR_LAST,
  x2apicLdr,
  x2apicOffsetOfMsr,
} from '@viridian/hvdef';
import { ApicPage, VpControl } from '../layout.js';
import { Access } from '../memory.js';
import { vpRunTimeNs } from '../scheduler/vp-clock.js';
import { APIC_TIMER_HZ, type Kernel } from './kernel.js';
import type { Vp } from './state.js';

const has = (vp: Vp, bit: number): boolean => (vp.partition.privileges & (1n << BigInt(bit))) !== 0n;
const GPA_PAGE_MASK = ~0xfffn & 0xffff_ffff_ffff_ffffn;

/** A page-number MSR value names a GPA inside the partition's space. */
function pageInSpace(vp: Vp, value: bigint): boolean {
  const size = BigInt(vp.partition.memory?.size ?? 0);
  return (value & GPA_PAGE_MASK) < size;
}

function apicWord(offset: number): number {
  return (VpControl.apic + offset) >> 2;
}

export function readMsr(k: Kernel, vp: Vp, msr: number): bigint | undefined {
  const p = vp.partition;
  if (msr >= X2APIC_MSR_BASE && msr <= X2APIC_MSR_LAST) return readX2apic(k, vp, msr);
  if (msr === IA32_APIC_BASE) return vp.apicBase;
  if (msr >= HvMsr.Sint0 && msr < HvMsr.Sint0 + 16)
    return has(vp, Priv.AccessSynicRegs) ? vp.sints[msr - HvMsr.Sint0] : undefined;
  if (msr >= HvMsr.Stimer0Config && msr < HvMsr.Stimer0Config + 8) {
    if (!has(vp, Priv.AccessSyntheticTimerRegs)) return undefined;
    const t = vp.stimers[(msr - HvMsr.Stimer0Config) >> 1];
    if (!t) return undefined;
    return (msr & 1) === 0 ? t.config : t.count;
  }
  switch (msr) {
    case HvMsr.GuestOsId:
      return has(vp, Priv.AccessHypercallMsrs) ? p.guestOsId : undefined;
    case HvMsr.Hypercall:
      return has(vp, Priv.AccessHypercallMsrs) ? p.hypercallMsr : undefined;
    case HvMsr.VpIndex:
      return has(vp, Priv.AccessVpIndex) ? BigInt(vp.index) : undefined;
    case HvMsr.Reset:
      return has(vp, Priv.AccessResetReg) ? 0n : undefined;
    case HvMsr.VpRuntime:
      // 100 ns units of the run time the VP accounted (halted and parked time excluded).
      return has(vp, Priv.AccessVpRunTimeReg) ? BigInt(Math.floor(vpRunTimeNs(vp.control) / 100)) : undefined;
    case HvMsr.TimeRefCount:
      return has(vp, Priv.AccessPartitionReferenceCounter) ? k.referenceTime(p) : undefined;
    case HvMsr.ReferenceTsc:
      return has(vp, Priv.AccessPartitionReferenceTsc) ? p.referenceTscMsr : undefined;
    case HvMsr.TscFrequency:
      return has(vp, Priv.AccessFrequencyRegs) ? 1_000_000_000n : undefined;
    case HvMsr.ApicFrequency:
      return has(vp, Priv.AccessFrequencyRegs) ? APIC_TIMER_HZ : undefined;
    case HvMsr.Icr:
      return has(vp, Priv.AccessIntrCtrlRegs) ? 0n : undefined;
    case HvMsr.Tpr:
      return has(vp, Priv.AccessIntrCtrlRegs)
        ? BigInt(Atomics.load(vp.ctl, apicWord(ApicPage.tpr)) & 0xff)
        : undefined;
    case HvMsr.VpAssistPage:
      return has(vp, Priv.AccessIntrCtrlRegs) ? vp.vpAssist : undefined;
    case HvMsr.Scontrol:
      return has(vp, Priv.AccessSynicRegs) ? vp.scontrol : undefined;
    case HvMsr.Sversion:
      return has(vp, Priv.AccessSynicRegs) ? 1n : undefined;
    case HvMsr.Siefp:
      return has(vp, Priv.AccessSynicRegs) ? vp.siefp : undefined;
    case HvMsr.Simp:
      return has(vp, Priv.AccessSynicRegs) ? vp.simp : undefined;
    case HvMsr.Eom:
      return has(vp, Priv.AccessSynicRegs) ? 0n : undefined;
    case HvMsr.GuestIdle:
      // Would idle until an interrupt; the VP's halt() does that without a trap.
      return has(vp, Priv.AccessGuestIdleReg) ? 0n : undefined;
    default:
      return undefined; // EOI (write-only) and every unknown MSR
  }
}

export function writeMsr(k: Kernel, vp: Vp, msr: number, value: bigint): boolean {
  const p = vp.partition;
  if (msr >= X2APIC_MSR_BASE && msr <= X2APIC_MSR_LAST) return writeX2apic(k, vp, msr, value);
  if (msr === IA32_APIC_BASE) {
    // BSP bit and base are fixed; x2APIC/global enable may not be cleared in this model.
    if ((value & ~0xffff_ffff_ffff_f000n & 0xffff_ffff_ffff_ffffn) !== 0n) return false;
    return (value & 0xc00n) === 0xc00n && (value & ~0xfffn) === 0xfee0_0000n;
  }
  if (msr >= HvMsr.Sint0 && msr < HvMsr.Sint0 + 16) {
    if (!has(vp, Priv.AccessSynicRegs)) return false;
    const vector = Number(value & 0xffn);
    const masked = (value & 0x10000n) !== 0n;
    if (vector < 16 && !masked) return false;
    const s = msr - HvMsr.Sint0;
    // 15:8 and 63:21 are RsvdP: keep the old contents there.
    const rsvdP = 0xff00n | (~0x1f_ffffn & 0xffff_ffff_ffff_ffffn);
    const old = vp.sints[s] ?? 0n;
    vp.sints[s] = (old & rsvdP) | (value & ~rsvdP & 0xffff_ffff_ffff_ffffn);
    k.refreshAutoEoi(vp);
    k.retryDelivery(vp);
    return true;
  }
  if (msr >= HvMsr.Stimer0Config && msr < HvMsr.Stimer0Config + 8) {
    if (!has(vp, Priv.AccessSyntheticTimerRegs)) return false;
    const t = vp.stimers[(msr - HvMsr.Stimer0Config) >> 1];
    if (!t) return false;
    if ((msr & 1) === 0) {
      const rsvdZ = 0xe000n | (~0xf_ffffn & 0xffff_ffff_ffff_ffffn);
      if ((value & rsvdZ) !== 0n) return false;
      const direct = (value & (1n << 12n)) !== 0n;
      if (direct && Number((value >> 4n) & 0xffn) < 16 && (value & 1n) !== 0n) return false;
      let config = value;
      // Enabling with SINTx = 0 outside direct mode immediately clears Enable.
      if (!direct && ((config >> 16n) & 0xfn) === 0n) config &= ~1n;
      t.config = config;
      k.armStimer(vp, t);
    } else {
      t.count = value;
      if (value === 0n) t.config &= ~1n;
      else if ((t.config & 8n) !== 0n) {
        const direct = (t.config & (1n << 12n)) !== 0n;
        if (direct || ((t.config >> 16n) & 0xfn) !== 0n) t.config |= 1n;
      }
      k.armStimer(vp, t);
    }
    return true;
  }
  switch (msr) {
    case HvMsr.GuestOsId:
      if (!has(vp, Priv.AccessHypercallMsrs)) return false;
      p.guestOsId = value;
      if (value === 0n) p.hypercallMsr &= ~1n; // writing 0 disables the hypercall page
      return true;
    case HvMsr.Hypercall: {
      if (!has(vp, Priv.AccessHypercallMsrs)) return false;
      if ((p.hypercallMsr & 2n) !== 0n) return true; // locked until reset
      if ((value & 1n) !== 0n && !pageInSpace(vp, value)) return false;
      let next = (value & ~0xffcn) | (p.hypercallMsr & 0xffcn); // 11:2 RsvdP
      if (p.guestOsId === 0n) next &= ~1n; // no guest OS id: enable stays 0
      p.hypercallMsr = next;
      return true;
    }
    case HvMsr.Reset:
      if (!has(vp, Priv.AccessResetReg) || (value & ~1n) !== 0n) return false;
      if (value & 1n) k.host.event({ type: 'partition-reset', partitionId: p.id });
      return true;
    case HvMsr.ReferenceTsc: {
      if (!has(vp, Priv.AccessPartitionReferenceTsc)) return false;
      if ((value & 1n) !== 0n && !pageInSpace(vp, value)) return false;
      p.referenceTscMsr = (value & ~0xffen) | (p.referenceTscMsr & 0xffen);
      if ((value & 1n) !== 0n && !k.writeReferenceTscPage(p)) return false;
      return true;
    }
    case HvMsr.Eoi:
      if (!has(vp, Priv.AccessIntrCtrlRegs) || value >> 32n !== 0n) return false;
      k.eoi(vp);
      return true;
    case HvMsr.Icr:
      if (!has(vp, Priv.AccessIntrCtrlRegs)) return false;
      return k.sendIcr(vp, value);
    case HvMsr.Tpr:
      if (!has(vp, Priv.AccessIntrCtrlRegs) || value >> 8n !== 0n) return false;
      k.setTpr(vp, Number(value));
      return true;
    case HvMsr.VpAssistPage:
      if (!has(vp, Priv.AccessIntrCtrlRegs)) return false;
      if ((value & 1n) !== 0n && !pageInSpace(vp, value)) return false;
      vp.vpAssist = (value & ~0xffen) | (vp.vpAssist & 0xffen);
      return true;
    case HvMsr.Scontrol:
      if (!has(vp, Priv.AccessSynicRegs)) return false;
      vp.scontrol = (value & 1n) | (vp.scontrol & ~1n);
      k.retryDelivery(vp);
      return true;
    case HvMsr.Siefp:
    case HvMsr.Simp: {
      if (!has(vp, Priv.AccessSynicRegs)) return false;
      if ((value & 1n) !== 0n && !pageInSpace(vp, value)) return false;
      const old = msr === HvMsr.Simp ? vp.simp : vp.siefp;
      const next = (value & ~0xffen) | (old & 0xffen);
      if (msr === HvMsr.Simp) vp.simp = next;
      else vp.siefp = next;
      if ((next & 1n) !== 0n && (old & 1n) === 0n && p.memory) {
        // A newly enabled page starts zeroed (no stale messages or flags).
        const off = p.memory.blockOffset(Number(next & GPA_PAGE_MASK), 4096, Access.Write);
        if (off >= 0) p.memory.bytes.fill(0, off, off + 4096);
      }
      k.retryDelivery(vp);
      return true;
    }
    case HvMsr.Eom:
      if (!has(vp, Priv.AccessSynicRegs)) return false;
      k.retryDelivery(vp);
      return true;
    default:
      return false; // read-only (VP_INDEX, TIME_REF_COUNT, SVERSION, ...) and unknown MSRs
  }
}

// ---- x2APIC ---------------------------------------------------------------------------------

function readX2apic(k: Kernel, vp: Vp, msr: number): bigint | undefined {
  if ((vp.apicBase & 0x400n) === 0n) return undefined;
  // xAPIC register offset (x2APIC MSR = 0x800 + offset / 16); undefined beyond the register range.
  const reg = x2apicOffsetOfMsr(msr);
  if (reg === undefined) return undefined;
  const c = vp.ctl;
  if (reg >= R.Isr0 && reg < R.Irr0 + 0x80) {
    const base = reg < R.Tmr0 ? ApicPage.isr : reg < R.Irr0 ? ApicPage.tmr : ApicPage.irr;
    return BigInt(Atomics.load(c, apicWord(base) + ((reg >> 4) & 7)) >>> 0);
  }
  switch (reg) {
    case R.Id:
      return BigInt(vp.index);
    case R.Version:
      return 0x0005_0015n | (1n << 24n); // version 0x15, 6 LVT entries, EOI-broadcast suppression
    case R.Tpr:
      return BigInt(Atomics.load(c, apicWord(ApicPage.tpr)) & 0xff);
    case R.Ppr:
      return BigInt(k.processorPriority(vp));
    case R.Ldr:
      return BigInt(x2apicLdr(vp.index));
    case R.Svr:
      return BigInt(Atomics.load(c, apicWord(ApicPage.svr)) >>> 0);
    case R.Esr:
      return BigInt(vp.esr);
    case R.LvtCmci:
      return BigInt(vp.lvt[6] ?? 0);
    case R.IcrLow:
      return 0n;
    case R.LvtTimer:
      return BigInt(vp.apicTimer.lvt);
    case R.LvtThermal:
    case R.LvtPerfmon:
    case R.LvtLint0:
    case R.LvtLint1:
    case R.LvtError:
      return BigInt(vp.lvt[(reg - R.LvtThermal) >> 4] ?? 0);
    case R.TimerInitialCount:
      return BigInt(vp.apicTimer.initialCount);
    case R.TimerCurrentCount:
      return BigInt(k.apicCurrentCount(vp));
    case R.TimerDivideConfig:
      return BigInt(vp.apicTimer.divide);
    default:
      return undefined; // EOI and SELF IPI are write-only; the rest does not exist
  }
}

function writeX2apic(k: Kernel, vp: Vp, msr: number, value: bigint): boolean {
  if ((vp.apicBase & 0x400n) === 0n) return false;
  const reg = x2apicOffsetOfMsr(msr);
  if (reg === undefined) return false;
  const v32 = Number(value & 0xffff_ffffn);
  const high = value >> 32n;
  if (reg !== R.IcrLow && high !== 0n) return false;
  switch (reg) {
    case R.Tpr:
      if (v32 > 0xff) return false;
      k.setTpr(vp, v32);
      return true;
    case R.Eoi:
      if (value !== 0n) return false; // x2APIC EOI: non-zero write is #GP
      k.eoi(vp);
      return true;
    case R.Svr: {
      if ((v32 & ~0x13ff) !== 0) return false;
      Atomics.store(vp.ctl, apicWord(ApicPage.svr), v32);
      if ((v32 & 0x100) === 0) {
        // Software-disabled: every LVT is masked.
        vp.apicTimer.lvt |= 0x10000;
        for (let i = 0; i < vp.lvt.length; i++) vp.lvt[i] = (vp.lvt[i] ?? 0) | 0x10000;
      }
      k.ring(vp);
      return true;
    }
    case R.Esr:
      if (v32 !== 0) return false;
      vp.esr = 0;
      return true;
    case R.LvtCmci:
      vp.lvt[6] = v32 & 0x1_07ff;
      return true;
    case R.IcrLow:
      return k.sendIcr(vp, value);
    case R.LvtTimer: {
      if ((v32 & ~0x7_10ff) !== 0) return false;
      const enabled = (Atomics.load(vp.ctl, apicWord(ApicPage.svr)) & 0x100) !== 0;
      vp.apicTimer.lvt = enabled ? v32 : v32 | 0x10000;
      return true;
    }
    case R.LvtThermal:
    case R.LvtPerfmon:
    case R.LvtLint0:
    case R.LvtLint1:
    case R.LvtError:
      vp.lvt[(reg - R.LvtThermal) >> 4] = v32 & 0x1_f7ff;
      return true;
    case R.TimerInitialCount:
      vp.apicTimer.initialCount = v32;
      k.armApicTimer(vp);
      return true;
    case R.TimerDivideConfig:
      if ((v32 & ~0xb) !== 0) return false;
      vp.apicTimer.divide = v32;
      return true;
    case R.SelfIpi:
      if (v32 > 0xff) return false;
      k.assertInterrupt(vp, v32);
      return true;
    default:
      return false; // read-only or nonexistent
  }
}

// ---- CPUID ----------------------------------------------------------------------------------

export function cpuid(k: Kernel, vp: Vp, leaf: number, _subleaf: number): [number, number, number, number] {
  const priv = vp.partition.privileges;
  switch (leaf) {
    case 0x1:
      // ECX: hypervisor present, bit 21 x2APIC (architectural).
      return [0, vp.index << 24, CPUID_1_ECX_HYPERVISOR_PRESENT | (1 << 21), 0];
    case HvCpuidLeaf.VendorAndMaxFunction:
      return [HvCpuidLeaf.HardwareFeatures, HV_CPUID_VENDOR_EBX, HV_CPUID_VENDOR_ECX, HV_CPUID_VENDOR_EDX];
    case HvCpuidLeaf.Interface:
      return [HV_CPUID_INTERFACE_EAX, 0, 0, 0];
    case HvCpuidLeaf.Version:
      // Build 1, version 1.0.
      return [1, 0x0001_0000, 0, 0];
    case HvCpuidLeaf.Features: {
      const { eax, ebx } = privilegeMaskToCpuid(priv);
      return [
        eax,
        ebx,
        0,
        HvCpuidFeaturesEdx.FrequencyRegsAvailable | HvCpuidFeaturesEdx.DirectSyntheticTimers,
      ];
    }
    case HvCpuidLeaf.EnlightenmentInfo:
      return [
        Rec.UseApicMsrs | Rec.UseRelaxedTiming | Rec.UseX2ApicMsrs | Rec.UseSyntheticClusterIpi,
        HV_SPIN_WAIT_NEVER_NOTIFY,
        0,
        0,
      ];
    case HvCpuidLeaf.ImplementationLimits:
      return [k.options.maxVpsPerPartition, 64, 0, 0];
    case HvCpuidLeaf.HardwareFeatures:
      return [0, 0, 0, 0];
    default:
      return [0, 0, 0, 0];
  }
}
