// Inverted dropout (shaders/dropout.wgsl) with a counter-based RNG keyed by (seed, stream, step t, element).
// CPU twin: src/reference/dropout.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

function sameSize(what: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.size !== ts[0]!.size) throw new ShapeError(`${what}: sizes differ: ${ts.map((x) => shapeStr(x.shape)).join(' vs ')}`);
}

function overlaps(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.byteLength > 0 && b.byteLength > 0 && a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength;
}

/** The integer keep threshold on a 24-bit uniform: an element is kept when (hash >> 8) >= it. */
export function dropoutThreshold(rate: number): number {
  return Math.round(rate * 2 ** 24);
}

/**
 * mask = 0 (dropped, probability `rate`) or 1/(1-rate) (kept), y = x * mask. The draw for element i hashes
 * (i, t = stepState[0], stream, seed), so each training step (t incremented on the GPU) draws a fresh mask.
 */
export function dropoutForward(rec: Recorder, x: Tensor, y: Tensor, mask: Tensor, rate: number, seed: number, stream: number, stepState: GPUBuffer): void {
  if (!(rate >= 0 && rate < 1)) throw new ShaderflowError(`dropoutForward: rate must be in [0, 1), got ${rate}.`);
  sameSize('dropoutForward', x, y, mask);
  if (overlaps(x, y) || overlaps(x, mask) || overlaps(y, mask)) throw new ShaderflowError('dropoutForward: x, y and mask must be separate buffers ranges.');
  if (x.size === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'dropout',
    entry: 'forward',
    constants: { WG: wg },
    bindings: [rec.uniform([x.size, dropoutThreshold(rate), 1 / (1 - rate), seed >>> 0, stream >>> 0, 0, 0, 0], 'uufuuuuu'), stepState, x, y, mask, null],
    workgroups: grid1d(rec.engine, x.size, wg),
    // one hash and one multiply per element; reads x, writes y and the mask
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: x.size, bytes: 12 * x.size + 4 },
  });
}

/** dx = dy * mask (dx may not overlap dy or mask). */
export function dropoutBackward(rec: Recorder, dy: Tensor, mask: Tensor, dx: Tensor): void {
  sameSize('dropoutBackward', dy, mask, dx);
  if (overlaps(dx, dy) || overlaps(dx, mask)) throw new ShaderflowError('dropoutBackward: dx must not overlap dy or the mask.');
  if (dy.size === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'dropout',
    entry: 'backward',
    constants: { WG: wg },
    bindings: [rec.uniform([dy.size, 0, 0, 0]), null, dy, dx, null, mask],
    workgroups: grid1d(rec.engine, dy.size, wg),
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: dy.size, bytes: 12 * dy.size },
  });
}
