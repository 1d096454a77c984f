// Elementwise and reduction kernels: shaders/elementwise.wgsl, shaders/reduce.wgsl.
// CPU references: src/reference/elementwise.ts.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

function sameSize(what: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.size !== ts[0]!.size) throw new ShapeError(`${what}: sizes differ: ${ts.map((x) => shapeStr(x.shape)).join(' vs ')}`);
}

/** out = alpha * a + beta * b (out may alias a or b). */
export function axpby(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, alpha = 1, beta = 1): void {
  sameSize('axpby', a, b, out);
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'elementwise',
    entry: 'axpby',
    constants: { WG: wg },
    bindings: [rec.uniform([a.size, alpha, beta, 0], 'uffu'), a, b, out],
    workgroups: grid1d(rec.engine, a.size, wg),
  });
}

/** out = a + b */
export function add(rec: Recorder, a: Tensor, b: Tensor, out: Tensor): void {
  axpby(rec, a, b, out, 1, 1);
}

/** out = alpha * a */
export function scale(rec: Recorder, a: Tensor, out: Tensor, alpha: number): void {
  sameSize('scale', a, out);
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'elementwise',
    entry: 'scale',
    constants: { WG: wg },
    bindings: [rec.uniform([a.size, alpha, 0, 0], 'uffu'), a, null, out],
    workgroups: grid1d(rec.engine, a.size, wg),
  });
}

/**
 * Terms per partial sum in columnSum/rowSum: below llvmpipe's silent 65535-iteration loop cap, and the same on
 * every adapter so the summation order (and so the result, bit for bit) does not depend on the adapter.
 */
export const REDUCE_CHUNK = 32768;

/**
 * Sums x viewed as [rows, cols] over one axis: 'columns' gives out[c] = sum_r x[r, c] (a Dense bias gradient),
 * 'rows' gives out[r] = sum_c x[r, c]. Longer sums than REDUCE_CHUNK are split into partials (a recorder-owned
 * scratch buffer) that a second dispatch adds in chunk order. `accumulate` adds to out instead of overwriting.
 */
function axisSum(rec: Recorder, axis: 'columns' | 'rows', x: Tensor, rows: number, cols: number, out: Tensor, accumulate: boolean): void {
  const name = axis === 'columns' ? 'columnSum' : 'rowSum';
  const outputs = axis === 'columns' ? cols : rows;
  const length = axis === 'columns' ? rows : cols;
  if (rows * cols !== x.size || out.size !== outputs)
    throw new ShapeError(`${name}: x ${shapeStr(x.shape)} as [${rows}, ${cols}] into out ${shapeStr(out.shape)}`);
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const chunks = Math.max(1, Math.ceil(length / REDUCE_CHUNK));
  const target = chunks === 1 ? out : rec.scratch(chunks * outputs * 4, `${name} of [${rows}, ${cols}]`);
  rec.dispatch({
    shader: 'reduce',
    entry: name,
    constants: { WG: wg },
    bindings: [rec.uniform([rows, cols, accumulate ? 1 : 0, REDUCE_CHUNK, chunks, outputs, 0, 0]), x, target],
    workgroups: grid1d(rec.engine, chunks * outputs, wg),
    label: chunks === 1 ? `reduce.${name}` : `reduce.${name} (partials)`,
  });
  if (chunks === 1) return;
  rec.dispatch({
    shader: 'reduce',
    entry: 'sumPartials',
    constants: { WG: wg },
    bindings: [rec.uniform([rows, cols, accumulate ? 1 : 0, REDUCE_CHUNK, chunks, outputs, 0, 0]), target, out],
    workgroups: grid1d(rec.engine, outputs, wg),
    label: `reduce.${name} (sum of partials)`,
  });
}

/** out[c] = sum_r x[r, c] for x viewed as [rows, cols]; `accumulate` adds to out instead of overwriting. */
export function columnSum(rec: Recorder, x: Tensor, rows: number, cols: number, out: Tensor, accumulate = false): void {
  axisSum(rec, 'columns', x, rows, cols, out, accumulate);
}

/** out[r] = sum_c x[r, c] for x viewed as [rows, cols]. */
export function rowSum(rec: Recorder, x: Tensor, rows: number, cols: number, out: Tensor, accumulate = false): void {
  axisSum(rec, 'rows', x, rows, cols, out, accumulate);
}
