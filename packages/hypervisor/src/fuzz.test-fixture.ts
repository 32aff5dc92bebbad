// Runs inside a child VP: thousands of random hypercalls and MSR accesses, classifying each answer.
import { HvStatus } from '@viridian/hvdef';
import fc from 'fast-check';
import { decodeResult, type GuestVp } from './guest-vp.js';

const STATUSES = new Set<number>(Object.values(HvStatus) as number[]);
const FAULTS = new Set(['GP', 'UD', 'MEMORY_INTERCEPT']);
const CODES = [
  0x08, 0x0b, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x4a, 0x4b, 0x4c, 0x4e, 0x4f, 0x50, 0x51,
  0x57, 0x58, 0x59, 0x5b, 0x5c, 0x5d, 0x95, 0x96, 0x99,
];
const MSRS = [
  0x1b, 0x4000_0000, 0x4000_0001, 0x4000_0002, 0x4000_0003, 0x4000_0010, 0x4000_0020, 0x4000_0021,
  0x4000_0022, 0x4000_0070, 0x4000_0071, 0x4000_0072, 0x4000_0073, 0x4000_0080, 0x4000_0081, 0x4000_0082,
  0x4000_0083, 0x4000_0084, 0x4000_0090, 0x4000_0092, 0x4000_009f, 0x4000_00b0, 0x4000_00b1, 0x4000_00b6,
  0x4000_00b7, 0x4000_00f0, 0x802, 0x808, 0x80a, 0x80b, 0x80f, 0x828, 0x830, 0x832, 0x838, 0x839, 0x83e,
  0x83f, 0x8ff,
];

type Op =
  | { kind: 'call'; input: bigint; inGpa: bigint; outGpa: bigint; bytes: Uint8Array }
  | { kind: 'wrmsr'; msr: number; value: bigint }
  | { kind: 'rdmsr'; msr: number };

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const gpa = fc.oneof(
  fc.integer({ min: 0, max: 0x1f_fff }).map(BigInt),
  fc.constantFrom(0x2000n, 0x3000n, 0x2ff8n, 0x2004n, 0x20_0000n),
  u64,
);
const small = (max: number) => fc.oneof(fc.constant(0), fc.integer({ min: 0, max }));
const input = fc.oneof(
  // A valid null call now and then, so successes are part of every run.
  { weight: 1, arbitrary: fc.constant(0x08n | (1n << 16n)) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...CODES), fc.boolean(), small(4), small(3))
      .map(
        ([code, fast, reps, start]) =>
          BigInt(code) | (fast ? 1n << 16n : 0n) | (BigInt(reps) << 32n) | (BigInt(start) << 48n),
      ),
  },
  { weight: 2, arbitrary: u64 },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('call' as const),
    input,
    inGpa: gpa,
    outGpa: gpa,
    bytes: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('wrmsr' as const),
    msr: fc.oneof(fc.constantFrom(...MSRS), fc.nat()),
    value: u64,
  }),
  fc.record({ kind: fc.constant('rdmsr' as const), msr: fc.oneof(fc.constantFrom(...MSRS), fc.nat()) }),
);

export function fuzz(
  vp: GuestVp,
  runs = 4000,
): { runs: number; answers: Record<string, number>; bad: string[] } {
  const answers: Record<string, number> = {};
  const bad: string[] = [];
  const count = (k: string): void => {
    answers[k] = (answers[k] ?? 0) + 1;
  };
  fc.assert(
    fc.property(op, (o) => {
      try {
        if (o.kind === 'call') {
          // Keep the hypercall page on so most inputs reach the validator.
          vp.wrmsr(0x4000_0000, 1n);
          vp.wrmsr(0x4000_0001, 0x1001n);
          vp.writeBytes(0x2000, o.bytes);
          const { status } = decodeResult(vp.hypercall(o.input, o.inGpa, o.outGpa));
          if (!STATUSES.has(status)) bad.push(`status 0x${status.toString(16)} for ${o.input.toString(16)}`);
          count(`status:${status}`);
        } else if (o.kind === 'wrmsr') {
          // Never lock the hypercall page off: the rest of the run would be all #UD.
          vp.wrmsr(o.msr, o.msr === 0x4000_0001 ? o.value & ~2n : o.value);
          count('wrmsr:ok');
        } else {
          vp.rdmsr(o.msr);
          count('rdmsr:ok');
        }
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (!FAULTS.has(code)) bad.push(`threw ${String(e)}`);
        count(`fault:${code}`);
      }
      return true;
    }),
    { numRuns: runs },
  );
  return { runs, answers, bad };
}
