// ZeroPadding2D kernels (shaders/padding.wgsl), NHWC. CPU reference: src/reference/padding.ts.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

/** Sizes of one zero padding, NHWC: the input, the rows/columns added on each side, and the output. */
export interface Pad2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  c: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
  outH: number;
  outW: number;
}

/** The geometry of padding [batch, h, w, c] by [[top, bottom], [left, right]] (whole numbers >= 0). */
export function pad2dGeometry(inShape: [number, number, number, number], pad: [[number, number], [number, number]]): Pad2dGeometry {
  const [batch, inH, inW, c] = inShape;
  const [[top, bottom], [left, right]] = pad;
  if (![inH, inW, c].every((v) => Number.isInteger(v) && v > 0) || !Number.isInteger(batch) || batch < 0 || ![top, bottom, left, right].every((v) => Number.isInteger(v) && v >= 0))
    throw new ShapeError(`pad2d: input ${shapeStr(inShape)} and padding ${JSON.stringify(pad)}: sizes must be whole numbers (padding >= 0).`);
  return { batch, inH, inW, c, top, bottom, left, right, outH: inH + top + bottom, outW: inW + left + right };
}

function run(rec: Recorder, entry: string, g: Pad2dGeometry, n: number, src: Tensor, dst: Tensor): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'padding',
    entry,
    constants: { WG: wg },
    bindings: [rec.uniform([g.inH, g.inW, g.c, g.top, g.outH, g.outW, g.left, n], 'iiiiiiiu'), src, dst],
    workgroups: grid1d(rec.engine, n, wg),
    label: `padding.${entry}`,
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: 0, bytes: 8 * n },
  });
}

const inSize = (g: Pad2dGeometry) => g.batch * g.inH * g.inW * g.c;
const outSize = (g: Pad2dGeometry) => g.batch * g.outH * g.outW * g.c;

function check(what: string, name: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new ShapeError(`${what}: ${name} should hold ${n} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

/** y = x surrounded by zeros (every y value written). */
export function pad2dForward(rec: Recorder, x: Tensor, y: Tensor, g: Pad2dGeometry): void {
  check('pad2dForward', 'x', x, inSize(g));
  check('pad2dForward', 'y', y, outSize(g));
  run(rec, 'padForward', g, outSize(g), x, y);
}

/** dx = dy cropped to the input (the border's gradients are dropped). */
export function pad2dBackward(rec: Recorder, dy: Tensor, dx: Tensor, g: Pad2dGeometry): void {
  check('pad2dBackward', 'dy', dy, outSize(g));
  check('pad2dBackward', 'dx', dx, inSize(g));
  run(rec, 'padBackward', g, inSize(g), dy, dx);
}
