import { afterAll, beforeAll, expect, test } from 'vitest';
import { type VmwpExit, VmwpRuntime } from './index.js';
import type { VmwpConfig } from './protocol.js';

let runtime: VmwpRuntime;

beforeAll(() => {
  runtime = new VmwpRuntime({ safePointTimeoutMs: 5_000 });
});

afterAll(async () => {
  await runtime.close();
});

function vmConfig(name: string, image: string, extra: Partial<VmwpConfig> = {}): VmwpConfig {
  return {
    id: `00000000-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    name,
    memoryMB: 32,
    processorCount: 1,
    cpu: { reservePercent: 0, limitPercent: 100, relativeWeight: 100 },
    image,
    integrationServices: { heartbeat: true, shutdown: true },
    ...extra,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a VM is a child partition with its VPs; turning it off deletes the partition', async () => {
  const exits: VmwpExit[] = [];
  const vm = await runtime.start(vmConfig('a', 'idle', { processorCount: 2 }), {
    onExit: (e) => exits.push(e),
  });
  const hv = await runtime.hypervisor();
  const id = vm.partitionId;
  expect(id).toBeDefined();
  const stats = await hv.stats();
  expect(stats.partitions).toContain(id);
  expect(stats.vps.filter((v) => v.partitionId === id).map((v) => v.vpIndex)).toEqual([0, 1]);
  expect(vm.stats()).toMatchObject({ memoryDemandMB: 32, heartbeat: 'NoContact' });
  await vm.turnOff();
  const after = await hv.stats();
  expect(after.partitions).not.toContain(id);
  expect(exits).toEqual([]);
});
