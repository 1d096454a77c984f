// Concatenate's column copy: shaders/merge.wgsl. CPU references: src/reference/merge.ts. (The merge layers'
// per-element kernels, accumulate / multiply / multiplyInto, are in src/kernels/elementwise.ts.)
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

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
    bindings: [rec.uniform([n, cols, srcCols, srcOff, dstCols, dstOff, 0, 0]), src, dst],
    workgroups: grid1d(rec.engine, n, wg),
    label: 'merge.copyColumns',
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: 0, bytes: 8 * n },
  });
}
