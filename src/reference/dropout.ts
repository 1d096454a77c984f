// CPU twin of the counter-based hash in shaders/dropout.wgsl and shaders/initializer.wgsl (pcg4d, Jarzynski &
// Olano 2020): the same u32 arithmetic, so GPU and CPU agree bit for bit.
import { dropoutThreshold } from '../kernels/dropout.js';

/** pcg4d of (a, b, c, d): four u32 outputs. */
export function pcg4d(a: number, b: number, c: number, d: number): [number, number, number, number] {
  let x = (Math.imul(a >>> 0, 1664525) + 1013904223) >>> 0;
  let y = (Math.imul(b >>> 0, 1664525) + 1013904223) >>> 0;
  let z = (Math.imul(c >>> 0, 1664525) + 1013904223) >>> 0;
  let w = (Math.imul(d >>> 0, 1664525) + 1013904223) >>> 0;
  x = (x + Math.imul(y, w)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  w = (w + Math.imul(y, z)) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  y = (y ^ (y >>> 16)) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  w = (w ^ (w >>> 16)) >>> 0;
  x = (x + Math.imul(y, w)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  w = (w + Math.imul(y, z)) >>> 0;
  return [x, y, z, w];
}

/** The dropout mask for n elements at step t: 0 or fround(1/(1-rate)), exactly as the GPU computes it. */
export function dropoutMaskRef(n: number, rate: number, seed: number, stream: number, t: number): Float32Array {
  const threshold = dropoutThreshold(rate);
  const scale = Math.fround(1 / (1 - rate));
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = pcg4d(i, t, stream, seed)[0] >>> 8 >= threshold ? scale : 0;
  return mask;
}
