// The SDK contract end to end, both bus sides in one thread (the transport is still a real
// MessagePort and the rings real SharedArrayBuffer pages; cross-thread runs are in examples/echo-device).
import { describe, expect, it } from 'vitest';
import type { DeviceChannel } from './channel.js';
import { DeviceHost, defineDevice, defineDriver, GuestBus } from './device.js';

const IFACE = 'aaaa0000-0000-4000-8000-00000000000a';

function setup(device: Parameters<DeviceHost['add']>[0]) {
  const memory = new SharedArrayBuffer(128 * 4096);
  const host = new DeviceHost({ memory });
  host.add(device);
  let next = 64;
  const bus = new GuestBus({
    memory,
    transport: host.guestHandle!,
    allocatePages: (n) => {
      next += n;
      return next - n;
    },
  });
  return { memory, host, bus };
}

describe('device SDK', () => {
  it('GPA-direct: the VSP reads exactly the guest pages a packet names, and nothing outside guest memory', async () => {
    const device = defineDevice({
      name: 'summer',
      interfaceId: IFACE,
      instanceId: IFACE,
      versions: [1],
      open(channel) {
        channel.onMessage((m) => {
          if (!m.isGpaDirect) return void m.reply();
          if (!m.memory) return void m.reply(Uint8Array.of(0xee));
          let sum = 0;
          const bytes = m.memory.slice(0, m.memory.byteLength)!;
          for (const b of bytes) sum = (sum + b) & 0xffff;
          // Reads past the granted bytes are refused.
          const refused = m.memory.read(m.memory.byteLength - 2, new Uint8Array(4)) === false;
          void m.reply(Uint8Array.of(sum & 0xff, sum >> 8, refused ? 1 : 0));
        });
      },
    });
    const { memory, host, bus } = setup(device);
    await bus.connect();
    let channel: DeviceChannel | undefined;
    await bus.bind(
      defineDriver({
        name: 'summer',
        interfaceId: IFACE,
        versions: [1],
        open: (c) => {
          channel = c;
        },
      }),
    );
    const u8 = new Uint8Array(memory);
    u8.fill(1, 10 * 4096 + 100, 10 * 4096 + 100 + 5000); // 5000 bytes of 1 across pages 10-11
    const reply = await channel!.requestGpaDirect(
      [{ byteCount: 5000, byteOffset: 100, pfns: [10, 11] }],
      new Uint8Array(8),
    );
    expect(Array.from(reply.subarray(0, 3))).toEqual([5000 & 0xff, 5000 >> 8, 1]);
    const outside = await channel!.requestGpaDirect(
      [{ byteCount: 4096, byteOffset: 0, pfns: [1_000_000] }],
      new Uint8Array(8),
    );
    expect(outside[0]).toBe(0xee);
    host.close();
  });

  it('save/restore are optional: a device without them saves nothing; one with them round-trips', async () => {
    let state = 7;
    const plain = defineDevice({
      name: 'plain',
      interfaceId: IFACE,
      instanceId: IFACE,
      versions: [1],
      open: () => true,
    });
    const { host } = setup(plain);
    expect((await host.save()).size).toBe(0);
    const stateful = defineDevice({
      name: 'stateful',
      interfaceId: IFACE,
      instanceId: 'bbbb0000-0000-4000-8000-00000000000b',
      versions: [1],
      open: () => true,
      save: () => Uint8Array.of(state),
      restore: (s) => {
        state = s[0]!;
      },
    });
    host.add(stateful);
    const saved = await host.save();
    state = 0;
    await host.restore(saved);
    expect(state).toBe(7);
    host.close();
  });

  it('a device that refuses the open makes bind fail with a typed error', async () => {
    const { host, bus } = setup(
      defineDevice({ name: 'no', interfaceId: IFACE, instanceId: IFACE, versions: [1], open: () => false }),
    );
    await bus.connect();
    await expect(
      bus.bind(defineDriver({ name: 'no', interfaceId: IFACE, versions: [1], open: () => undefined })),
    ).rejects.toMatchObject({
      code: 'ERR_VMBUS_OPEN_REFUSED',
    });
    host.close();
  });
});
