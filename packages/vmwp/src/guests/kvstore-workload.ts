// The kvstore program's deterministic workload: transaction `s` puts numbers 3s-2 … 3s, and put `p`
// writes value `v<p>` under key `k<p mod 97>`. So the whole expected map follows from the committed
// sequence alone, and any reader can check every value.

export const PUTS_PER_TRANSACTION = 3;
export const KEY_SPACE = 97;

/** The puts of transaction `sequence` (1, 2, …). */
export function transactionPuts(sequence: number): [key: string, value: string][] {
  const puts: [string, string][] = [];
  for (let i = PUTS_PER_TRANSACTION - 1; i >= 0; i--) {
    const put = sequence * PUTS_PER_TRANSACTION - i;
    puts.push([`k${put % KEY_SPACE}`, `v${put}`]);
  }
  return puts;
}

/** Why `entries` is not the map the workload leaves after `committed` transactions, if it is not. */
export function workloadProblem(entries: ReadonlyMap<string, string>, committed: number): string | undefined {
  const lastPut = committed * PUTS_PER_TRANSACTION;
  const expectedKeys = Math.min(KEY_SPACE, lastPut);
  if (entries.size !== expectedKeys)
    return `${entries.size} keys after sequence ${committed}, expected ${expectedKeys}`;
  for (let slot = 0; slot < KEY_SPACE; slot++) {
    // The last put at or before lastPut that wrote this key.
    const put = lastPut - ((((lastPut - slot) % KEY_SPACE) + KEY_SPACE) % KEY_SPACE);
    const key = `k${slot}`;
    const value = entries.get(key);
    if (put < 1) {
      if (value !== undefined) return `key ${key} is present before any put wrote it`;
    } else if (value !== `v${put}`) {
      return `key ${key} is ${value === undefined ? 'absent' : JSON.stringify(value.slice(0, 40))}, expected v${put} at sequence ${committed}`;
    }
  }
  return undefined;
}
