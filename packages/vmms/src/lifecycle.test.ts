import fc from 'fast-check';
import { expect, test } from 'vitest';
import { LifecycleEvent, legalIn, VmLifecycle, VmState } from './lifecycle.js';

const E = LifecycleEvent;

test("follows Hyper-V's happy paths and reports every transition", () => {
  const seen: string[] = [];
  const vm = new VmLifecycle(VmState.Off, { onTransition: (from, to) => seen.push(`${from}>${to}`) });
  for (const event of [E.Start, E.Started, E.Pause, E.Paused, E.Resume, E.Resumed, E.Save, E.SaveCompleted]) {
    vm.apply(event);
  }
  expect(vm.state).toBe(VmState.Saved);
  vm.apply(E.Start);
  vm.apply(E.Started);
  vm.apply(E.Stop);
  vm.apply(E.Stopped);
  expect(vm.state).toBe(VmState.Off);
  expect(seen.slice(0, 4)).toEqual(['Off>Starting', 'Starting>Running', 'Running>Pausing', 'Pausing>Paused']);
});

test('an invalid request is refused naming the current state and the request', () => {
  const vm = new VmLifecycle(VmState.Off);
  expect(() => vm.apply(E.Pause)).toThrow('cannot pause while the VM is Off');
  expect(() => vm.apply(E.TurnOff)).toThrow('cannot turn off while the VM is Off');
  vm.apply(E.Start);
  expect(() => vm.apply(E.Start)).toThrow(expect.objectContaining({ code: 'InvalidState' }));
  expect(vm.state).toBe(VmState.Starting);
});

test('an aborted operation returns to where it began', () => {
  const vm = new VmLifecycle(VmState.Off);
  vm.apply(E.Start);
  vm.apply(E.Started);
  vm.apply(E.Stop);
  vm.apply(E.Aborted); // guest refused
  expect(vm.state).toBe(VmState.Running);
  vm.apply(E.Pause);
  vm.apply(E.Paused);
  vm.apply(E.Save);
  vm.apply(E.Aborted);
  expect(vm.state).toBe(VmState.Paused);
  const saved = new VmLifecycle(VmState.Saved);
  saved.apply(E.Start);
  saved.apply(E.Aborted); // unreadable saved state
  expect(saved.state).toBe(VmState.Saved);
});

test('a turn-off during a graceful stop still ends Off, and Critical turns off directly', () => {
  const vm = new VmLifecycle(VmState.Running);
  vm.apply(E.Stop);
  vm.apply(E.TurnOff);
  vm.apply(E.Stopped);
  expect(vm.state).toBe(VmState.Off);
  const critical = new VmLifecycle(VmState.Critical);
  critical.apply(E.TurnOff);
  expect(critical.state).toBe(VmState.Off);
});

test('legal states per request match the table', () => {
  expect(legalIn(E.Start).sort()).toEqual(['Critical', 'Off', 'Saved']);
  expect(legalIn(E.Pause)).toEqual(['Running']);
  expect(legalIn(E.Save).sort()).toEqual(['Paused', 'Running']);
});

test('property: any sequence of events keeps a known state; refused events change nothing', () => {
  const events = Object.values(LifecycleEvent);
  const states = new Set<string>(Object.values(VmState));
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...events), { maxLength: 60 }), (sequence) => {
      const vm = new VmLifecycle();
      for (const event of sequence) {
        const before = vm.state;
        if (vm.can(event)) {
          vm.apply(event);
        } else {
          expect(() => vm.apply(event)).toThrow(`while the VM is ${before}`);
          expect(vm.state).toBe(before);
        }
        expect(states.has(vm.state)).toBe(true);
      }
    }),
  );
});
