// Shared test checks: compare a GPU result with a float64 CPU reference, element by element.
import { expect } from 'vitest';
import { mulberry32 } from '../../src/reference/random.js';

/**
 * Max relative error |gpu - ref| / max(|ref|, floor) over all elements; fails on NaN and on length mismatch.
 * `floor` keeps near-zero references from turning float32 rounding into huge relative errors; it is the scale
 * of the values involved (e.g. the magnitude of a dot product's terms), not a loosened tolerance.
 */
export function maxRelError(gpu: ArrayLike<number>, ref: ArrayLike<number>, floor = 1): number {
  expect(gpu.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = gpu[i]!;
    const r = ref[i]!;
    if (!Number.isFinite(g)) return Infinity;
    const e = Math.abs(g - r) / Math.max(Math.abs(r), floor);
    if (e > worst) worst = e;
  }
  return worst;
}

export function expectClose(gpu: ArrayLike<number>, ref: ArrayLike<number>, tol: number, floor = 1, what = ''): number {
  const e = maxRelError(gpu, ref, floor);
  expect(e, `${what} max relative error ${e}`).toBeLessThanOrEqual(tol);
  return e;
}

/** A NaN-filled Float32Array, for poisoning outputs before a kernel runs (unwritten elements then fail). */
export function nanArray(n: number): Float32Array {
  return new Float32Array(n).fill(NaN);
}

/** n seeded class indices in [0, c). */
export function randomLabels(n: number, c: number, seed: number): Uint32Array {
  const r = mulberry32(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * c));
}

/** One-hot rows [n, c] of class indices. */
export function oneHot(l: ArrayLike<number>, c: number): Float32Array {
  const t = new Float32Array(l.length * c);
  for (let r = 0; r < l.length; r++) t[r * c + l[r]!] = 1;
  return t;
}
