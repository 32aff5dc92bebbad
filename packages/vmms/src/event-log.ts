import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

export const EventLevel = { Info: 'Info', Warning: 'Warning', Error: 'Error' } as const;
export type EventLevel = (typeof EventLevel)[keyof typeof EventLevel];

/** One thing that happened to a VM (or to the host, with `vmId` 'host'). */
export interface VmEvent {
  seq: number;
  time: number;
  vmId: string;
  vmName: string;
  level: EventLevel;
  kind: string;
  message: string;
}

export interface EventQuery {
  vmId?: string;
  /** Only events with a larger sequence number. */
  afterSeq?: number;
  /** At most this many, the newest. */
  limit?: number;
}

export const HOST_LOG_ID = 'host';
const SAFE_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * An append-only JSON-lines file per VM in `<dataDir>/events/`, bounded: when a file holds more than
 * twice `maxPerVm` lines it is rewritten (atomically) with the newest `maxPerVm`. A torn last line
 * after a crash is skipped on load.
 */
export class EventLog {
  readonly dir: string;
  readonly #maxPerVm: number;
  readonly #events = new Map<string, VmEvent[]>();
  readonly #onDisk = new Map<string, number>();
  readonly #listeners = new Set<(event: VmEvent) => void>();
  #seq = 0;

  constructor(dataDir: string, maxPerVm = 1000) {
    this.dir = join(dataDir, 'events');
    this.#maxPerVm = maxPerVm;
    mkdirSync(this.dir, { recursive: true });
    for (const entry of readdirSync(this.dir)) {
      if (!entry.endsWith('.log')) continue;
      const vmId = entry.slice(0, -4);
      const events: VmEvent[] = [];
      const lines = readFileSync(join(this.dir, entry), 'utf8').split('\n');
      for (const line of lines) {
        if (line.length === 0) continue;
        try {
          const event = JSON.parse(line) as VmEvent;
          if (typeof event.seq === 'number') events.push(event);
        } catch {
          // torn tail of an interrupted append
        }
      }
      for (const event of events) this.#seq = Math.max(this.#seq, event.seq);
      this.#events.set(vmId, events.slice(-this.#maxPerVm));
      this.#onDisk.set(vmId, lines.length);
    }
  }

  append(vmId: string, vmName: string, level: EventLevel, kind: string, message: string): VmEvent {
    if (!SAFE_ID.test(vmId)) throw new Error(`event log id "${vmId}" is not a safe file name`);
    const event: VmEvent = { seq: ++this.#seq, time: Date.now(), vmId, vmName, level, kind, message };
    const events = this.#events.get(vmId) ?? [];
    events.push(event);
    if (events.length > this.#maxPerVm) events.splice(0, events.length - this.#maxPerVm);
    this.#events.set(vmId, events);
    const file = join(this.dir, `${vmId}.log`);
    const lines = (this.#onDisk.get(vmId) ?? 0) + 1;
    if (lines > this.#maxPerVm * 2) {
      writeFileAtomic(file, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      this.#onDisk.set(vmId, events.length);
    } else {
      appendFileSync(file, `${JSON.stringify(event)}\n`);
      this.#onDisk.set(vmId, lines);
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // listeners never break logging
      }
    }
    return event;
  }

  query(query: EventQuery = {}): VmEvent[] {
    const source =
      query.vmId === undefined
        ? [...this.#events.values()].flat()
        : [...(this.#events.get(query.vmId) ?? [])];
    const after = query.afterSeq ?? 0;
    const selected = source.filter((event) => event.seq > after).sort((a, b) => a.seq - b.seq);
    return query.limit === undefined ? selected : selected.slice(-query.limit);
  }

  subscribe(listener: (event: VmEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
