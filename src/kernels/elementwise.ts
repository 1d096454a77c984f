// Elementwise and reduction kernels: shaders/elementwise.wgsl, shaders/reduce.wgsl.
// CPU references: src/reference/elementwise.ts.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';

function sameSize(what: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.size !== ts[0]!.size) throw new ShapeError(`${what}: sizes differ: ${ts.map((x) => shapeStr(x.shape)).join(' vs ')}`);
}

/** out = alpha * a + beta * b (out may alias a or b). */
export function axpby(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, alpha = 1, beta = 1): void {
  sameSize('axpby', a, b, out);
  const wg = rec.engine.tuning.elementwiseWorkgroup;
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
  const wg = rec.engine.tuning.elementwiseWorkgroup;
  rec.dispatch({
    shader: 'elementwise',
    entry: 'scale',
    constants: { WG: wg },
    bindings: [rec.uniform([a.size, alpha, 0, 0], 'uffu'), a, null, out],
    workgroups: grid1d(rec.engine, a.size, wg),
  });
}

/** out[c] = sum_r x[r, c] for x viewed as [rows, cols]; `accumulate` adds to out instead of overwriting. */
export function columnSum(rec: Recorder, x: Tensor, rows: number, cols: number, out: Tensor, accumulate = false): void {
  if (rows * cols !== x.size || out.size !== cols)
    throw new ShapeError(`columnSum: x ${shapeStr(x.shape)} as [${rows}, ${cols}] into out ${shapeStr(out.shape)}`);
  const wg = rec.engine.tuning.elementwiseWorkgroup;
  rec.dispatch({
    shader: 'reduce',
    entry: 'columnSum',
    constants: { WG: wg },
    bindings: [rec.uniform([rows, cols, accumulate ? 1 : 0, 0]), x, out],
    workgroups: [Math.ceil(cols / wg)],
  });
}

/** out[r] = sum_c x[r, c] for x viewed as [rows, cols]. */
export function rowSum(rec: Recorder, x: Tensor, rows: number, cols: number, out: Tensor, accumulate = false): void {
  if (rows * cols !== x.size || out.size !== rows)
    throw new ShapeError(`rowSum: x ${shapeStr(x.shape)} as [${rows}, ${cols}] into out ${shapeStr(out.shape)}`);
  const wg = rec.engine.tuning.elementwiseWorkgroup;
  rec.dispatch({
    shader: 'reduce',
    entry: 'rowSum',
    constants: { WG: wg },
    bindings: [rec.uniform([rows, cols, accumulate ? 1 : 0, 0]), x, out],
    workgroups: [Math.ceil(rows / wg)],
  });
}
