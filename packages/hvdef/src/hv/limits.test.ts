import { describe, expect, it } from 'vitest';
import { HV_LINUX_MAX_PROCESSORS, HYPERV_MAXIMUMS } from './limits.js';

const TB = 2 ** 40;

describe('published Hyper-V maximums (spec 8)', () => {
  it('pins the confirmed rows', () => {
    const row = (r: string) => HYPERV_MAXIMUMS.find((m) => m.release === r)!;
    expect(row('Windows Server 2016')).toMatchObject({
      hostLogicalProcessors: 512,
      rootLogicalProcessors: 320,
      hostMemoryBytes: 24 * TB,
      runningVmsPerHost: 1024,
      virtualProcessorsPerHost: 2048,
      virtualProcessorsPerVm: 240,
      virtualProcessorsPerGen1Vm: 64,
      memoryPerVmBytes: 12 * TB,
      memoryPerGen1VmBytes: TB,
    });
    expect(row('Windows Server 2019').virtualProcessorsPerVm).toBe(250);
    expect(row('Windows Server 2022')).toMatchObject({
      hostLogicalProcessors: 1024,
      hostMemoryBytes: 4 * 1024 * TB,
      hostMemoryBytes4LevelPaging: 256 * TB,
      virtualProcessorsPerVm: 1024,
      memoryPerVmBytes: 240 * TB,
    });
    expect(row('Windows Server 2025')).toMatchObject({
      hostLogicalProcessors: 2048,
      rootLogicalProcessors: 2048,
      virtualProcessorsPerVm: 2048,
    });
    expect(row('Windows Server 2012 / 2012 R2')).toMatchObject({
      hostLogicalProcessors: 320,
      hostMemoryBytes: 4 * TB,
      virtualProcessorsPerVm: 64,
      memoryPerVmBytes: TB,
    });
  });

  it('leaves unconfirmed figures null and omits Windows Server 2008', () => {
    const r2 = HYPERV_MAXIMUMS.find((m) => m.release === 'Windows Server 2008 R2')!;
    expect(r2.hostLogicalProcessors).toBeNull();
    expect(r2.runningVmsPerHost).toBeNull();
    expect(r2.virtualProcessorsPerVm).toBe(4);
    expect(r2.memoryPerVmBytes).toBe(64 * 2 ** 30);
    expect(HYPERV_MAXIMUMS.some((m) => m.release === 'Windows Server 2008')).toBe(false);
    expect(HV_LINUX_MAX_PROCESSORS).toBe(2048);
  });
});
