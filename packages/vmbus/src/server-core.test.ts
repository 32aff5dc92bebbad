import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmbusErrorCode } from './errors.js';
import { makeLink, ringRange } from './test-link.test-fixture.js';
import { encodeMessage, guidBytes, MessageType, VmbusVersion } from './wire.js';

const HEARTBEAT = '57164f39-9115-4e78-ab55-382f3bd5422d';
const SCSI = 'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f';
const INSTANCE = '11111111-2222-3333-4444-555555555555';

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function connected(server = {}, client = {}) {
  const link = makeLink(server, client);
  link.client.connect();
  link.pump();
  return link;
}

/** Offers one device, connects, creates a 16-page ring GPADL and opens the channel. */
function openChannel(server = {}) {
  const link = makeLink(server);
  const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
  link.client.connect();
  link.pump();
  const handle = link.client.createGpadl(relid, [ringRange(100, 16)]);
  link.pump();
  link.client.openChannel(relid, handle, 8);
  link.pump();
  return { link, relid, handle };
}

describe('version negotiation', () => {
  it('answers TV7: INITIATE_CONTACT 5.3 on connection 4 gets the 16-byte success naming connection 1', () => {
    const link = makeLink();
    const contact = Uint8Array.from(
      '0e 00 00 00 00 00 00 00 03 00 05 00 00 00 00 00 02 00 00 00 00 00 00 00 00 50 34 12 00 00 00 00 00 60 34 12 00 00 00 00'
        .split(' ')
        .map((x) => Number.parseInt(x, 16)),
    );
    link.server.handleMessage(contact, 4);
    expect(link.toGuest).toHaveLength(1);
    expect(hex(link.toGuest[0]!)).toBe('0f 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00');
    expect(link.server.connection).toEqual({ version: 0x50003, targetVcpu: 0, messageConnectionId: 1 });
  });

  it('refuses versions it does not speak with supported = 0, and the client falls back to one it does', () => {
    const link = makeLink({ versions: [VmbusVersion.Win8_1] });
    link.client.connect();
    link.pump();
    expect(link.events).toContain('connected 30000');
    const contacts = link.serverErrors.filter((e) => e.code === VmbusErrorCode.UnexpectedMessage);
    // 5.3, 5.2, 5.1, 5.0, 4.1, 4.0 refused before 3.0 is accepted.
    expect(contacts).toHaveLength(6);
    expect(link.server.connection?.version).toBe(VmbusVersion.Win8_1);
  });

  it('a refused version answers exactly 0f..00 with version_supported 0', () => {
    const link = makeLink();
    link.server.handleMessage(
      encodeMessage({
        type: MessageType.InitiateContact,
        version: VmbusVersion.Ws2008,
        targetVcpu: 0,
        interruptPageOrTarget: 0n,
        monitorPage1: 0n,
        monitorPage2: 0n,
      }),
      1,
    );
    expect(hex(link.toGuest[0]!)).toBe('0f 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00');
    expect(link.server.connection).toBeUndefined();
  });

  it('negotiation failure: no common version leaves both sides disconnected and reports it', () => {
    const link = makeLink({ versions: [VmbusVersion.Win10V6_0] });
    link.client.connect();
    link.pump();
    expect(link.events).toEqual(['connect failed ERR_VMBUS_UNEXPECTED_MESSAGE']);
    expect(link.server.connection).toBeUndefined();
    // Nothing but INITIATE_CONTACT/UNLOAD is accepted while disconnected.
    link.server.handleMessage(encodeMessage({ type: MessageType.RequestOffers }), 1);
    expect(link.serverErrors.at(-1)?.code).toBe(VmbusErrorCode.InvalidState);
  });

  it('a pre-5.0 connection keeps using connection id 1 and a 5.x one the id named in the response', () => {
    const link = connected({ messageConnectionId: 7 });
    expect(link.server.connection?.messageConnectionId).toBe(7);
    link.server.handleMessage(encodeMessage({ type: MessageType.RequestOffers }), 1);
    expect(link.serverErrors.at(-1)?.code).toBe(VmbusErrorCode.WrongConnectionId);
  });

  it('refuses a contact with only one monitor page or a SINT other than 2 with FAILED_UNKNOWN_FAILURE', () => {
    const link = makeLink();
    const base = {
      type: MessageType.InitiateContact,
      version: VmbusVersion.Win10V5_3,
      targetVcpu: 0,
      monitorPage1: 0n,
      monitorPage2: 0n,
    } as const;
    link.server.handleMessage(encodeMessage({ ...base, interruptPageOrTarget: 3n }), 4);
    link.server.handleMessage(
      encodeMessage({ ...base, interruptPageOrTarget: 2n, monitorPage1: 0x5000n }),
      4,
    );
    expect(link.toGuest.map((b) => hex(b.subarray(8, 10)))).toEqual(['01 02', '01 02']);
    expect(link.server.connection).toBeUndefined();
  });
});

describe('offers', () => {
  it('offers get relids from 1, per-offer connection ids, and ALLOFFERS_DELIVERED closes the list', () => {
    const link = makeLink();
    link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.server.offer({ interfaceId: SCSI, instanceId: INSTANCE, flags: 0x11 });
    link.client.connect();
    link.pump();
    const sent = link.sentToGuest();
    expect(sent.map((m) => m.type)).toEqual([15, 1, 1, 4]);
    const offers = [...link.client.offers.values()];
    expect(offers.map((o) => [o.relid, o.connectionId, o.flags])).toEqual([
      [1, 0x2001, 0],
      [2, 0x2002, 0x11],
    ]);
    expect(offers[1]!.interfaceId).toEqual(guidBytes(SCSI));
    expect(link.events).toContain('offers 1,2');
  });

  it('a second REQUESTOFFERS is dropped with a typed error; a late offer is sent at once', () => {
    const link = connected();
    link.server.handleMessage(encodeMessage({ type: MessageType.RequestOffers }), 1);
    expect(link.serverErrors.at(-1)?.code).toBe(VmbusErrorCode.OffersAlreadySent);
    link.sentToGuest();
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    expect(link.sentToGuest()).toMatchObject([{ type: 1, relid }]);
  });
});

describe('GPADLs', () => {
  it('TV10: a 64-page GPADL travels as a 236-byte header and bodies of 240 and 96 bytes', () => {
    const link = makeLink();
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.client.connect();
    link.pump();
    const handle = link.client.createGpadl(relid, [ringRange(10, 64)]);
    expect(link.toHost.map((m) => m.bytes.byteLength)).toEqual([236, 240, 96]);
    link.pump();
    expect(link.events).toContain(`gpadl ${relid} ${handle.toString(16)} 0`);
    expect(link.server.gpadl(handle)?.ranges[0]?.pfns).toHaveLength(64);
  });

  it('pages outside guest memory: GPADL_CREATED fails with a logged GpadlPageOutOfRange', () => {
    const link = makeLink({ guestPageCount: 64 });
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.client.connect();
    link.pump();
    const handle = link.client.createGpadl(relid, [ringRange(40, 40)]);
    link.pump();
    expect(link.events).toContain(`gpadl ${relid} ${handle.toString(16)} ${0x8000ffff}`);
    expect(link.serverErrors.map((e) => e.code)).toEqual([VmbusErrorCode.GpadlPageOutOfRange]);
    expect(link.server.gpadl(handle)).toBeUndefined();
  });

  it('refuses malformed headers, duplicate handles, unknown relids and overrunning bodies', () => {
    const link = connected();
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.pump();
    const header = (
      fields: Partial<{ relid: number; gpadl: number; rangeBufLen: number; rangeCount: number }>,
    ) =>
      encodeMessage({
        type: MessageType.GpadlHeader,
        relid,
        gpadl: 5,
        rangeBufLen: 16,
        rangeCount: 1,
        values: [4096n, 3n],
        ...fields,
      });
    link.server.handleMessage(header({ rangeCount: 0 }), 1);
    link.server.handleMessage(header({ rangeBufLen: 12 }), 1);
    link.server.handleMessage(header({ relid: 99 }), 1);
    link.server.handleMessage(header({}), 1);
    link.server.handleMessage(header({}), 1); // duplicate handle 5
    link.server.handleMessage(header({ gpadl: 6, rangeBufLen: 24 }), 1); // needs one more value
    link.server.handleMessage(
      encodeMessage({ type: MessageType.GpadlBody, msgNumber: 0, gpadl: 6, values: [1n, 2n] }),
      1,
    );
    link.server.handleMessage(
      encodeMessage({ type: MessageType.GpadlBody, msgNumber: 0, gpadl: 77, values: [1n] }),
      1,
    );
    expect(link.serverErrors.map((e) => e.code)).toEqual([
      VmbusErrorCode.MalformedGpadl,
      VmbusErrorCode.MalformedGpadl,
      VmbusErrorCode.UnknownRelid,
      VmbusErrorCode.DuplicateGpadl,
      VmbusErrorCode.MalformedGpadl,
      VmbusErrorCode.UnknownGpadl,
    ]);
    const created = link.sentToGuest().filter((m) => m.type === MessageType.GpadlCreated);
    expect(created.map((m) => ('status' in m ? m.status : -1))).toEqual([
      0x8000ffff, 0x8000ffff, 0x8000ffff, 0, 0x8000ffff,
    ]);
    expect(link.server.gpadl(5)?.ranges).toEqual([{ byteCount: 4096, byteOffset: 0, pfns: [3] }]);
  });

  it('caps GPADLs in progress: the guest cannot make the root hold unbounded partial lists', () => {
    const link = connected({ maxGpadlsInProgress: 4 });
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    for (let h = 1; h <= 6; h++) {
      link.server.handleMessage(
        encodeMessage({
          type: MessageType.GpadlHeader,
          relid,
          gpadl: h,
          rangeBufLen: 800,
          rangeCount: 1,
          values: [],
        }),
        1,
      );
    }
    expect(link.serverErrors.map((e) => e.code)).toEqual([
      VmbusErrorCode.GpadlLimit,
      VmbusErrorCode.GpadlLimit,
    ]);
  });

  it('teardown of a ring GPADL while its channel is open is answered after the close', () => {
    const { link, relid, handle } = openChannel();
    link.client.teardownGpadl(relid, handle);
    link.pump();
    expect(link.events.filter((e) => e.startsWith('torndown'))).toEqual([]);
    link.client.closeChannel(relid);
    link.pump();
    expect(link.events.slice(-2)).toEqual([`close ${relid} guest`, `torndown ${handle.toString(16)}`]);
    expect(link.server.gpadl(handle)).toBeUndefined();
  });
});

describe('open and close', () => {
  it('opens through the device callback and closes on CLOSECHANNEL', () => {
    const opens: number[] = [];
    const { link, relid } = openChannel({ onOpen: (r: { relid: number }) => opens.push(r.relid) });
    expect(opens).toEqual([relid]);
    expect(link.server.channelState(relid)).toBe('opening');
    link.server.completeOpen(relid, true);
    link.pump();
    expect(link.events).toContain(`open ${relid} 0`);
    expect(link.server.openRequest(relid)?.downstreamPageOffset).toBe(8);
    link.client.closeChannel(relid);
    link.pump();
    expect(link.server.channelState(relid)).toBe('offered');
    expect(link.events.at(-1)).toBe(`close ${relid} guest`);
  });

  it('refuses opens that cannot work with OPENCHANNEL_RESULT failure and a typed error', () => {
    const link = makeLink();
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.client.connect();
    link.pump();
    const ring = link.client.createGpadl(relid, [ringRange(0, 8)]);
    const odd = link.client.createGpadl(relid, [{ byteCount: 100, byteOffset: 8, pfns: [50] }]);
    link.pump();
    link.client.openChannel(relid, 0x999, 4); // unknown GPADL
    link.client.openChannel(relid, odd, 1); // not a ring GPADL
    link.client.openChannel(relid, ring, 7); // leaves the second ring 1 page
    link.client.openChannel(42, ring, 4); // unknown relid
    link.pump();
    expect(link.serverErrors.map((e) => e.code)).toEqual([
      VmbusErrorCode.UnknownGpadl,
      VmbusErrorCode.BadRingGpadl,
      VmbusErrorCode.BadRingGpadl,
      VmbusErrorCode.UnknownRelid,
    ]);
    expect(link.events.filter((e) => e.startsWith('open'))).toEqual([
      `open ${relid} ${0x8000ffff}`,
      `open ${relid} ${0x8000ffff}`,
      `open ${relid} ${0x8000ffff}`,
      `open 42 ${0x8000ffff}`,
    ]);
    link.client.openChannel(relid, ring, 4);
    link.pump();
    expect(link.events.at(-1)).toBe(`open ${relid} 0`);
    link.client.openChannel(relid, ring, 4); // already open
    link.pump();
    expect(link.serverErrors.at(-1)?.code).toBe(VmbusErrorCode.InvalidState);
  });

  it('a device refusal answers failure and leaves the channel openable', () => {
    let accept = false;
    const link = makeLink({ onOpen: (r) => link.server.completeOpen(r.relid, accept) });
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.client.connect();
    link.pump();
    const ring = link.client.createGpadl(relid, [ringRange(0, 8)]);
    link.client.openChannel(relid, ring, 4);
    link.pump();
    expect(link.serverErrors.map((e) => e.code)).toEqual([VmbusErrorCode.OpenRefused]);
    accept = true;
    link.client.openChannel(relid, ring, 4);
    link.pump();
    expect(link.server.channelState(relid)).toBe('open');
  });
});

describe('rescind, release and unload', () => {
  it('rescind of an open channel closes the device, tells the guest, and frees the relid on RELID_RELEASED', () => {
    const { link, relid, handle } = openChannel();
    link.server.rescind(relid);
    link.pump();
    expect(link.events.slice(-2)).toEqual([`close ${relid} rescind`, `rescind ${relid}`]);
    // The guest cleans up the way Linux does: close, teardown, release.
    link.client.closeChannel(relid);
    link.client.teardownGpadl(relid, handle);
    link.client.openChannel(relid, handle, 8); // hostile: open after rescind
    link.client.releaseRelid(relid);
    link.pump();
    expect(link.events.slice(-3)).toEqual([
      `torndown ${handle.toString(16)}`,
      `open ${relid} ${0x8000ffff}`,
      `released ${relid}`,
    ]);
    expect(link.server.channelState(relid)).toBeUndefined();
    expect(link.server.offer({ interfaceId: SCSI, instanceId: INSTANCE })).toBe(relid);
  });

  it('rescind while the device is deciding on an open closes it as soon as it accepts', () => {
    const link = makeLink({ onOpen: () => undefined });
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.client.connect();
    link.pump();
    link.client.openChannel(relid, link.client.createGpadl(relid, [ringRange(0, 8)]), 4);
    link.pump();
    link.server.rescind(relid);
    link.server.completeOpen(relid, true);
    link.pump();
    expect(link.events.slice(-2)).toEqual([`close ${relid} rescind`, `rescind ${relid}`]);
    expect(link.events.some((e) => e.startsWith('open'))).toBe(false);
  });

  it('RELID_RELEASED for a channel that was not rescinded is refused', () => {
    const { link, relid } = openChannel();
    link.client.releaseRelid(relid);
    link.pump();
    expect(link.serverErrors.at(-1)?.code).toBe(VmbusErrorCode.InvalidState);
    expect(link.server.channelState(relid)).toBe('open');
  });

  it('UNLOAD closes every channel, drops GPADLs, answers UNLOAD_RESPONSE, and a reconnect re-offers', () => {
    const { link, relid, handle } = openChannel();
    const other = link.server.offer({ interfaceId: SCSI, instanceId: INSTANCE });
    link.server.rescind(other);
    link.pump();
    link.client.unload();
    link.pump();
    expect(link.events.slice(-3)).toEqual([`close ${relid} unload`, 'disconnect unload', 'unloaded']);
    expect(link.server.gpadl(handle)).toBeUndefined();
    expect(link.server.channelState(other)).toBeUndefined();
    link.client.connect();
    link.pump();
    expect(link.events.at(-1)).toBe(`offers ${relid}`);
  });

  it('a second INITIATE_CONTACT resets the connection like an unload', () => {
    const { link, relid } = openChannel();
    link.client.connect();
    link.pump();
    expect(link.events).toContain(`close ${relid} reconnect`);
    expect(link.server.channelState(relid)).toBe('offered');
  });
});

describe('hostile guests', () => {
  it('a message flood is cut off with one MessageFlood report; the control plane answers again later', () => {
    let now = 0;
    const link = connected({ now: () => now, messageBudget: { burst: 100, perSecond: 1000 } });
    const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
    link.sentToGuest();
    const bogus = encodeMessage({ type: MessageType.CloseChannel, relid: 999 });
    for (let i = 0; i < 10_000; i++) link.server.handleMessage(bogus, 1);
    expect(link.server.stats.floodDropped).toBeGreaterThan(9_800);
    expect(link.serverErrors.filter((e) => e.code === VmbusErrorCode.MessageFlood)).toHaveLength(1);
    now += 1000;
    const handle = link.client.createGpadl(relid, [ringRange(0, 8)]);
    link.pump();
    expect(link.events.at(-1)).toBe(`gpadl ${relid} ${handle.toString(16)} 0`);
  });

  it('messages that are short, oversized, unknown or host-only are dropped with typed errors', () => {
    const link = connected();
    link.server.handleMessage(new Uint8Array(3), 1);
    link.server.handleMessage(new Uint8Array(300), 1);
    link.server.handleMessage(Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), 1); // OPENCHANNEL, 12 bytes
    link.server.handleMessage(Uint8Array.of(99, 0, 0, 0, 0, 0, 0, 0), 1);
    link.server.handleMessage(encodeMessage({ type: MessageType.AllOffersDelivered }), 1);
    expect(link.serverErrors.map((e) => e.code)).toEqual([
      VmbusErrorCode.MalformedMessage,
      VmbusErrorCode.MalformedMessage,
      VmbusErrorCode.MalformedMessage,
      VmbusErrorCode.UnexpectedMessage,
      VmbusErrorCode.UnexpectedMessage,
    ]);
  });

  it('property: random message bytes never throw, and a well-behaved session still works afterwards', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 20 }),
            fc.uint8Array({ minLength: 0, maxLength: 250 }),
            fc.constantFrom(1, 4, 9),
          ),
          { maxLength: 60 },
        ),
        (msgs) => {
          const link = makeLink({ guestPageCount: 256 });
          const relid = link.server.offer({ interfaceId: HEARTBEAT, instanceId: INSTANCE });
          for (const [type, body, conn] of msgs) {
            const bytes = new Uint8Array(Math.max(8, body.length));
            bytes.set(body);
            new DataView(bytes.buffer).setUint32(0, type, true);
            link.server.handleMessage(bytes, conn);
          }
          link.toGuest.length = 0;
          link.client.unload();
          link.pump();
          link.client.connect();
          link.pump();
          const handle = link.client.createGpadl(relid, [ringRange(0, 8)]);
          link.pump();
          link.client.openChannel(relid, handle, 4);
          link.pump();
          return link.server.channelState(relid) === 'open';
        },
      ),
      { numRuns: 300 },
    );
  });
});
