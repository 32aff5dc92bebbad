// Joins a server core and a client core in one thread through explicit queues, so tests decide when
// each side's messages are delivered and can inspect or tamper with the bytes in between.

import { type ClientCoreOptions, VmbusClientCore } from './client-core.js';
import type { VmbusError } from './errors.js';
import { type ServerCoreOptions, VmbusServerCore } from './server-core.js';
import { type ChannelMessage, decodeMessage } from './wire.js';

export interface Link {
  server: VmbusServerCore;
  client: VmbusClientCore;
  toGuest: Uint8Array[];
  toHost: { bytes: Uint8Array; connectionId: number }[];
  serverErrors: VmbusError[];
  clientErrors: VmbusError[];
  events: string[];
  /** Delivers queued messages both ways until both queues are empty. */
  pump(): void;
  /** Decoded messages the server sent since the last call. */
  sentToGuest(): ChannelMessage[];
}

export function makeLink(
  server: Partial<ServerCoreOptions> = {},
  client: Partial<ClientCoreOptions> = {},
): Link {
  const toGuest: Uint8Array[] = [];
  const toHost: { bytes: Uint8Array; connectionId: number }[] = [];
  const log: Uint8Array[] = [];
  const serverErrors: VmbusError[] = [];
  const clientErrors: VmbusError[] = [];
  const events: string[] = [];
  const s = new VmbusServerCore({
    guestPageCount: 1024,
    sendMessage: (b) => {
      toGuest.push(b);
      log.push(b);
    },
    onError: (e) => serverErrors.push(e),
    onConnect: (i) => events.push(`connect ${i.version.toString(16)}`),
    onClose: (relid, reason) => events.push(`close ${relid} ${reason}`),
    onReleased: (relid) => events.push(`released ${relid}`),
    onDisconnect: (reason) => events.push(`disconnect ${reason}`),
    ...server,
  });
  const c = new VmbusClientCore({
    sendMessage: (bytes, connectionId) => toHost.push({ bytes, connectionId }),
    onError: (e) => clientErrors.push(e),
    onConnected: (v) => events.push(`connected ${v.toString(16)}`),
    onConnectFailed: (e) => events.push(`connect failed ${e.code}`),
    onAllOffersDelivered: (offers) => events.push(`offers ${offers.map((o) => o.relid).join(',')}`),
    onRescind: (relid) => events.push(`rescind ${relid}`),
    onGpadlCreated: (relid, handle, status) => events.push(`gpadl ${relid} ${handle.toString(16)} ${status}`),
    onGpadlTorndown: (handle) => events.push(`torndown ${handle.toString(16)}`),
    onOpenResult: (relid, _openId, status) => events.push(`open ${relid} ${status}`),
    onUnloaded: () => events.push('unloaded'),
    ...client,
  });
  return {
    server: s,
    client: c,
    toGuest,
    toHost,
    serverErrors,
    clientErrors,
    events,
    pump() {
      while (toGuest.length > 0 || toHost.length > 0) {
        const h = toHost.shift();
        if (h) s.handleMessage(h.bytes, h.connectionId);
        const g = toGuest.shift();
        if (g) c.handleMessage(g);
      }
    },
    sentToGuest() {
      const out = log.splice(0).map((b) => {
        const d = decodeMessage(b);
        if (!d.ok) throw d.error;
        return d.message;
      });
      return out;
    },
  };
}

/** A ring GPADL range of `pages` pages starting at guest page `firstPfn`. */
export function ringRange(firstPfn: number, pages: number) {
  return {
    byteCount: pages * 4096,
    byteOffset: 0,
    pfns: Array.from({ length: pages }, (_, i) => firstPfn + i),
  };
}
