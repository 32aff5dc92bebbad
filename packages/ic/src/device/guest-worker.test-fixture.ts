// A guest partition's IC side in its own thread, driven by the host test through messages.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestBus, type ThreadTransportHandle } from '@viridian/device-sdk';
import { IC_NAMES } from './devices.js';
import { IcGuest } from './ic-guest.js';
import { icDrivers } from './sdk.js';

interface Data {
  readonly handle: ThreadTransportHandle;
  /** The guest's memory (rings are allocated in it). */
  readonly memory: SharedArrayBuffer;
  /** Reference time origin shared with the host (ms on the performance.timeOrigin + now scale). */
  readonly referenceOrigin: number;
  readonly drift: number;
  readonly clockStartOffset: number;
  readonly vssFreezeTimeoutMs: number;
  readonly heartbeatVersions?: readonly { major: number; minor: number }[];
}

const data = workerData as Data;
const port = parentPort!;
const absNow = () => performance.timeOrigin + performance.now();
const referenceTime = () => BigInt(Math.round((absNow() - data.referenceOrigin) * 10_000));

const guest = new IcGuest({
  referenceTime,
  clockDrift: data.drift,
  clockStart: absNow() + data.clockStartOffset,
  vssFreezeTimeoutMs: data.vssFreezeTimeoutMs,
  ...(data.heartbeatVersions ? { messageVersions: { heartbeat: data.heartbeatVersions } } : {}),
  intrinsics: () => ({
    FullyQualifiedDomainName: 'guest1.viridian.test',
    IntegrationServicesVersion: '0.1.0',
    NetworkAddressIPv4: '10.0.0.2',
    OSName: 'Viridian Guest',
    OSVersion: '1.0',
    OSMajorVersion: '1',
    ProcessorArchitecture: 'x64',
  }),
  onShutdown: (notice) => {
    port.postMessage({ event: 'shutdown-hooks', notice });
    // Shutdown hooks ran; the VPs stop: this thread ends.
    setTimeout(() => process.exit(0), 10);
  },
  onVssEvent: (e) => port.postMessage({ event: 'vss', e }),
});
// Start the VMBus client and bind a VSC to each IC offer by interface GUID.
let next = 64;
const bus = new GuestBus({
  memory: data.memory,
  transport: data.handle,
  allocatePages: (n) => {
    next += n;
    return next - n;
  },
});
await bus.connect();
for (const driver of icDrivers(guest)) await bus.bind(driver);

type Command =
  | { id: number; cmd: 'app-state'; value: number }
  | { id: number; cmd: 'answer-heartbeat'; on: boolean }
  | { id: number; cmd: 'answer-shutdown'; on: boolean }
  | { id: number; cmd: 'kvp-set'; key: string; value: string }
  | { id: number; cmd: 'kvp-get'; key: string }
  | { id: number; cmd: 'clock-error' }
  | { id: number; cmd: 'writer'; name: string; freezeMs: number; hang: boolean }
  | { id: number; cmd: 'versions' };

port.on('message', (m: Command) => {
  const reply = (result: unknown) => port.postMessage({ id: m.id, result });
  switch (m.cmd) {
    case 'app-state':
      guest.heartbeat.applicationState = m.value;
      return reply(true);
    case 'answer-heartbeat':
      guest.heartbeat.answering = m.on;
      return reply(true);
    case 'answer-shutdown':
      guest.shutdown.answering = m.on;
      return reply(true);
    case 'kvp-set':
      return reply(guest.kvp.set(m.key, m.value));
    case 'kvp-get':
      return reply(guest.kvp.get(m.key) ?? null);
    case 'clock-error':
      return reply({ error: guest.clock.now() - absNow(), history: guest.timeSync.history.length });
    case 'writer':
      guest.vss.register({
        name: m.name,
        freeze: async () => {
          port.postMessage({ event: 'writer', name: m.name, phase: 'flush' });
          await new Promise((r) => setTimeout(r, m.freezeMs));
          if (m.hang) await new Promise(() => {});
          port.postMessage({ event: 'writer', name: m.name, phase: 'quiesced' });
        },
        thaw: () => {
          port.postMessage({ event: 'writer', name: m.name, phase: 'thawed' });
        },
      });
      return reply(true);
    case 'versions':
      return reply(Object.fromEntries(IC_NAMES.map((ic) => [ic, guest.negotiatedVersion(ic) ?? null])));
  }
});
port.postMessage({ event: 'ready' });
