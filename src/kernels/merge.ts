// Merge kernels: shaders/merge.wgsl. CPU references: src/reference/merge.ts. The merge layers (src/layers/merge.ts)
// and the step plan's fan-out gradient sums record these; none binds a buffer twice (in-place updates go through
// `out` alone), so WebGPU's writable-aliasing rule never applies.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { useVec4, type ElementwiseOptions } from './elementwise.js';
import { tuningOf } from './tuning.js';

function sameSize(what: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.size !== ts[0]!.size) throw new ShapeError(`${what}: sizes differ: ${ts.map((x) => shapeStr(x.shape)).join(' vs ')}`);
}

function perElement(rec: Recorder, entry: string, bindings: (Tensor | null)[], n: number, flopsPer: number, bytesPer: number, opts: ElementwiseOptions): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const v4 = useVec4(rec, n, opts.vec4);
  const items = v4 ? n / 4 : n;
  rec.dispatch({
    shader: 'merge',
    entry: v4 ? `${entry}4` : entry,
    constants: { WG: wg },
    bindings: [rec.uniform([items, 0, 0, 0, 0, 0, 0, 0]), ...bindings],
    workgroups: grid1d(rec.engine, items, wg),
    label: `merge.${entry}`,
    cost: { variant: v4 ? 'vec4' : 'scalar', threads: wg, serial: 1, flops: flopsPer * n, bytes: bytesPer * n },
  });
}

/** out += a (elementwise; out and a must not overlap). */
export function accumulate(rec: Recorder, a: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  sameSize('accumulate', a, out);
  perElement(rec, 'accumulate', [a, null, out], a.size, 1, 12, opts);
}

/** out = a * b (elementwise). */
export function multiply(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  sameSize('multiply', a, b, out);
  perElement(rec, 'multiply', [a, b, out], a.size, 1, 12, opts);
}

/** out *= a (elementwise; out and a must not overlap). */
export function multiplyInto(rec: Recorder, a: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  sameSize('multiplyInto', a, out);
  perElement(rec, 'multiplyInto', [a, null, out], a.size, 1, 12, opts);
}

/** Where copyColumns reads and writes: `rows` rows of `cols` values, from column srcOff of src's srcCols-wide rows to column dstOff of dst's dstCols-wide rows. */
export interface ColumnCopy {
  rows: number;
  cols: number;
  srcCols: number;
  srcOff: number;
  dstCols: number;
  dstOff: number;
}

/**
 * dst[r, dstOff + c] = src[r, srcOff + c] for r < rows, c < cols: Concatenate's forward (an input into its columns
 * of the output) and backward (an input's columns of the output gradient).
 */
export function copyColumns(rec: Recorder, src: Tensor, dst: Tensor, g: ColumnCopy): void {
  const { rows, cols, srcCols, srcOff, dstCols, dstOff } = g;
  if (srcOff + cols > srcCols || dstOff + cols > dstCols || src.size < rows * srcCols || dst.size < rows * dstCols)
    throw new ShapeError(`copyColumns: columns ${srcOff}..${srcOff + cols} of ${shapeStr(src.shape)} (rows of ${srcCols}) into columns ${dstOff}.. of ${shapeStr(dst.shape)} (rows of ${dstCols}) do not fit.`);
  const n = rows * cols;
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'merge',
    entry: 'copyColumns',
    constants: { WG: wg },
    bindings: [rec.uniform([n, cols, srcCols, srcOff, dstCols, dstOff, 0, 0]), src, null, dst],
    workgroups: grid1d(rec.engine, n, wg),
    label: 'merge.copyColumns',
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: 0, bytes: 8 * n },
  });
}
