// Seeded byte mutations shared by the fuzz tests (datasets, model files, checkpoints): bit flips, truncation,
// inserted, deleted and overwritten bytes, and one format-specific "special value" mutation given by the caller.
import { DatasetError } from '../../src/errors.js';

export type Rand = () => number;

export const randInt = (r: Rand, n: number): number => Math.floor(r() * n);

/** Writes a format-specific special value into b (already a copy) near `pos`; returns the mutation's name. */
export type SpecialValue = (b: Uint8Array, r: Rand, pos: (len: number) => number) => string;

/**
 * One seeded mutation of `src`. 30% of positions fall in the first `headerBias` bytes, where headers (IDX, gzip,
 * the first tar header, JSON's opening fields) live.
 */
export function mutateBytes(src: Uint8Array, r: Rand, special: SpecialValue, headerBias = 64): { bytes: Uint8Array; kind: string } {
  const int = (n: number) => randInt(r, n);
  const pos = (len: number) => (r() < 0.3 ? int(Math.min(headerBias, len)) : int(len));
  const k = int(6);
  if (k === 0) {
    const b = src.slice();
    const flips = 1 + int(8);
    for (let i = 0; i < flips; i++) b[pos(b.length)] ^= 1 << int(8);
    return { bytes: b, kind: 'bit flips' };
  }
  if (k === 1) return { bytes: src.slice(0, int(src.length)), kind: 'truncation' };
  if (k === 2) {
    const at = pos(src.length + 1);
    const ins = Uint8Array.from({ length: 1 + int(16) }, () => int(256));
    const b = new Uint8Array(src.length + ins.length);
    b.set(src.subarray(0, at));
    b.set(ins, at);
    b.set(src.subarray(at), at + ins.length);
    return { bytes: b, kind: 'inserted bytes' };
  }
  if (k === 3) {
    const at = pos(src.length);
    const n = 1 + int(16);
    const b = new Uint8Array(Math.max(0, src.length - n));
    const from = Math.min(at, b.length);
    b.set(src.subarray(0, from));
    b.set(src.subarray(from + n).subarray(0, b.length - from), from);
    return { bytes: b, kind: 'deleted bytes' };
  }
  if (k === 4) {
    const b = src.slice();
    return { bytes: b, kind: special(b, r, pos) };
  }
  const b = src.slice();
  const at = pos(b.length);
  const n = 1 + int(32);
  for (let i = 0; i < n && at + i < b.length; i++) b[at + i] = int(256);
  return { bytes: b, kind: 'random run' };
}

/**
 * `cases` seeded mutations of `fixture` fed to `decode`: each must return (a valid decode, which `decode` checks)
 * or throw a DatasetError with a message, within `maxMs`. Returns the counts per outcome and mutation kind, and
 * the slowest case; anything else thrown, or a slow case, fails with the case number and mutation.
 */
export function fuzzDecoder(o: {
  name: string;
  fixture: Uint8Array;
  r: Rand;
  cases: number;
  maxMs: number;
  mutate: (src: Uint8Array, r: Rand, c: number) => { bytes: Uint8Array; kind: string };
  decode: (bytes: Uint8Array, c: number) => void;
  onError?: (e: DatasetError, c: number) => void;
}): Record<string, number> {
  const counts: Record<string, number> = { cases: 0, DatasetError: 0, 'valid decode': 0 };
  let worst = 0;
  for (let c = 0; c < o.cases; c++) {
    const { bytes, kind } = o.mutate(o.fixture, o.r, c);
    const t0 = performance.now();
    try {
      o.decode(bytes, c);
      counts['valid decode']!++;
    } catch (e) {
      if (!(e instanceof DatasetError) || e.message.length <= 10)
        throw new Error(`${o.name} case ${c} (${kind}): threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
      o.onError?.(e, c);
      counts.DatasetError!++;
    }
    const ms = performance.now() - t0;
    worst = Math.max(worst, ms);
    if (ms > o.maxMs) throw new Error(`${o.name} case ${c} (${kind}) took ${ms.toFixed(0)} ms`);
    counts.cases!++;
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  counts['worst ms'] = Math.round(worst * 10) / 10;
  console.log(`fuzz ${o.name}: ${JSON.stringify(counts)}`);
  return counts;
}
