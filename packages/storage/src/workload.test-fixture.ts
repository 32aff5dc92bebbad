// Deterministic workload shared by the guest thread and the host-side check.

/** Writes that never overlap: write i covers `blocks` blocks at slot `slot` (64 blocks per slot). */
export interface PlannedWrite {
  lba: number;
  blocks: number;
  seed: number;
}

export function plan(seed: number, count: number, diskBlocks: number): PlannedWrite[] {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const slots = Math.floor(diskBlocks / 64);
  const used = new Set<number>();
  const out: PlannedWrite[] = [];
  while (out.length < Math.min(count, slots)) {
    const slot = Math.floor(next() * slots);
    if (used.has(slot)) continue;
    used.add(slot);
    out.push({ lba: slot * 64, blocks: 1 + Math.floor(next() * 64), seed: seed * 1000 + out.length });
  }
  return out;
}

export function content(w: PlannedWrite, blockSize: number): Uint8Array {
  const b = new Uint8Array(w.blocks * blockSize);
  for (let i = 0; i < b.length; i++) b[i] = (w.seed * 13 + i * 7 + (i >> 8)) & 0xff;
  return b;
}
