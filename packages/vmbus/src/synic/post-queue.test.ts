import { HvStatus } from '@viridian/hvdef';
import { expect, it } from 'vitest';
import { SynicErrorReason, type SynicTransportError } from './errors.js';
import { PostQueue } from './synic.js';

/** A hypervisor stand-in with `free` message buffers that the test frees like a consuming peer. */
function peer() {
  const delivered: number[] = [];
  const state = { free: 2, status: HvStatus.Success as number };
  const post = (bytes: Uint8Array) => {
    if (state.status !== HvStatus.Success) return state.status;
    if (state.free === 0) return HvStatus.InsufficientBuffers;
    state.free--;
    delivered.push(bytes[0] as number);
    return HvStatus.Success;
  };
  return { delivered, state, post };
}

it('keeps order across buffer shortages and retries until the peer frees buffers', async () => {
  const p = peer();
  const errors: SynicTransportError[] = [];
  const q = new PostQueue(p.post, (e) => errors.push(e), 100);
  for (let i = 0; i < 6; i++) q.send(new Uint8Array([i]), 1);
  expect(p.delivered).toEqual([0, 1]);
  expect(q.queued).toBe(4);
  p.state.free = 10;
  await new Promise((r) => setTimeout(r, 50));
  expect(p.delivered).toEqual([0, 1, 2, 3, 4, 5]);
  expect(q.queued).toBe(0);
  expect(errors).toEqual([]);
  q.close();
});

it('drops (and reports) what overflows the queue or fails for good, never throws', () => {
  const p = peer();
  const errors: SynicTransportError[] = [];
  const q = new PostQueue(p.post, (e) => errors.push(e), 2);
  p.state.free = 0;
  for (let i = 0; i < 5; i++) q.send(new Uint8Array([i]), 1);
  expect(q.queued).toBe(2);
  expect(errors.map((e) => e.reason)).toEqual([
    SynicErrorReason.QueueOverflow,
    SynicErrorReason.QueueOverflow,
    SynicErrorReason.QueueOverflow,
  ]);
  q.close();
  const q2 = new PostQueue(p.post, (e) => errors.push(e), 2);
  p.state.status = HvStatus.InvalidPortId;
  q2.send(new Uint8Array([9]), 1);
  q2.send(new Uint8Array(241), 1);
  expect(q2.queued).toBe(0);
  expect(errors.slice(3).map((e) => [e.reason, e.status])).toEqual([
    [SynicErrorReason.PostFailed, HvStatus.InvalidPortId],
    [SynicErrorReason.PostFailed, undefined],
  ]);
  q2.close();
});

it('retries INVALID_CONNECTION_ID only where the connection may still appear (the guest side)', () => {
  const errors: SynicTransportError[] = [];
  const refused = () => HvStatus.InvalidConnectionId;
  const host = new PostQueue(refused, (e) => errors.push(e), 8);
  host.send(new Uint8Array([1]), 1);
  expect([host.queued, errors.length]).toEqual([0, 1]);
  const guest = new PostQueue(refused, (e) => errors.push(e), 8, true);
  guest.send(new Uint8Array([1]), 1);
  expect([guest.queued, errors.length]).toEqual([1, 1]);
  host.close();
  guest.close();
});
