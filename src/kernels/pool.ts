// 2-D max and average pooling kernels (shaders/pool.wgsl), NHWC. CPU references: src/reference/pool.ts.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type DispatchCost, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { sameOrValid } from './conv2d.js';
import { tuningOf } from './tuning.js';

/** Sizes of one 2-D pooling, NHWC: batch, input, window, stride, padding and output. */
export interface Pool2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  c: number;
  outH: number;
  outW: number;
  poolH: number;
  poolW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

/** The most elements a pooling window may have (llvmpipe ends any shader loop after 65535 iterations). */
export const MAX_POOL_WINDOW = 65535;

/** Keras/TF pooling geometry (same rules as conv2dGeometry). Throws a ShapeError when the output would be empty. */
export function pool2dGeometry(
  inShape: [number, number, number, number],
  pool: [number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
): Pool2dGeometry {
  const [batch, inH, inW, c] = inShape;
  if (![inH, inW, c, ...pool, ...strides].every((v) => Number.isInteger(v) && v > 0) || !Number.isInteger(batch) || batch < 0)
    throw new ShapeError(`pool2d: input ${shapeStr(inShape)}, pool ${shapeStr(pool)}, strides ${shapeStr(strides)}: sizes must be positive whole numbers.`);
  // One invocation loops over a whole window (nested loops whose iterations llvmpipe counts together): past 65535
  // elements it would silently stop early.
  if (pool[0] * pool[1] > MAX_POOL_WINDOW)
    throw new ShapeError(`pool2d: a ${pool[0]}x${pool[1]} window has ${pool[0] * pool[1]} elements, more than the ${MAX_POOL_WINDOW} one invocation may loop over; pool in two steps (e.g. AveragePooling2D first).`);
  const h = sameOrValid(inH, pool[0], strides[0], padding);
  const w = sameOrValid(inW, pool[1], strides[1], padding);
  if (h.out <= 0 || w.out <= 0)
    throw new ShapeError(`pool2d: a ${pool[0]}x${pool[1]} pool with '${padding}' padding does not fit input ${shapeStr(inShape)} (output ${h.out}x${w.out}).`);
  return {
    batch, inH, inW, c, outH: h.out, outW: w.out, poolH: pool[0], poolW: pool[1],
    strideH: strides[0], strideW: strides[1], padTop: h.padBefore, padLeft: w.padBefore,
  };
}

function check(what: string, t: Tensor, n: number, name: string): void {
  if (t.size !== n) throw new ShapeError(`${what}: ${name} should hold ${n} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

function run(rec: Recorder, entry: string, g: Pool2dGeometry, n: number, bindings: (Tensor | null)[]): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).poolWorkgroup;
  const u = rec.uniform([g.batch, g.inH, g.inW, g.c, g.outH, g.outW, g.poolH, g.poolW, g.strideH, g.strideW, g.padTop, g.padLeft, n, 0, 0, 0], 'iiiiiiiiiiiiuuuu');
  rec.dispatch({ shader: 'pool', entry, constants: { WG: wg }, bindings: [u, ...bindings], workgroups: grid1d(rec.engine, n, wg), label: `pool.${entry}`, cost: poolCost(entry, g, wg) });
}

/**
 * What a pooling dispatch costs: forward and scatter entries loop over one window per output, the gathers over
 * the outputs covering one input. Bytes: x or dy, y or dx, and the argmax (max pooling) each once.
 */
function poolCost(entry: string, g: Pool2dGeometry, wg: number): DispatchCost {
  const window = g.poolH * g.poolW;
  const covering = Math.ceil(g.poolH / g.strideH) * Math.ceil(g.poolW / g.strideW);
  const gather = entry === 'maxBackward' || entry === 'avgBackward';
  const max = entry.startsWith('max');
  const ins = inSize(g), outs = outSize(g);
  return {
    variant: entry.endsWith('4') ? 'vec4' : 'scalar',
    threads: wg,
    serial: gather ? covering : window,
    flops: gather ? ins * covering : outs * window,
    bytes: 4 * (ins + outs + (max ? outs : 0)),
  };
}

/** Windows that do not overlap: backward can scatter (one writer per input) instead of gathering. */
function disjoint(g: Pool2dGeometry): boolean {
  return g.strideH >= g.poolH && g.strideW >= g.poolW;
}

/** Every input lies in some window (so a scatter writes all of dx). */
function covers(g: Pool2dGeometry): boolean {
  return g.strideH <= g.poolH && g.strideW <= g.poolW &&
    (g.outH - 1) * g.strideH - g.padTop + g.poolH >= g.inH && (g.outW - 1) * g.strideW - g.padLeft + g.poolW >= g.inW;
}

const inSize = (g: Pool2dGeometry) => g.batch * g.inH * g.inW * g.c;
const outSize = (g: Pool2dGeometry) => g.batch * g.outH * g.outW * g.c;

/** y = window max; argmax (u32, same size as y) = flat input index of the first max in row-major window order. */
export function maxPool2dForward(rec: Recorder, x: Tensor, y: Tensor, argmax: Tensor, g: Pool2dGeometry): void {
  check('maxPool2dForward', x, inSize(g), 'x');
  check('maxPool2dForward', y, outSize(g), 'y');
  check('maxPool2dForward', argmax, outSize(g), 'argmax');
  if (argmax.dtype !== 'u32') throw new ShapeError(`maxPool2dForward: argmax must be a u32 tensor, got ${argmax.dtype}.`);
  // Channels a multiple of 4: four per invocation, vec4 loads and stores (maxForward4).
  if (g.c % 4 === 0) run(rec, 'maxForward4', g, outSize(g) / 4, [x, null, y, argmax]);
  else run(rec, 'maxForward', g, outSize(g), [x, null, y, argmax]);
}

/**
 * dx = dy routed to each window's max (every dx value written: zero where no max landed). Overlapping windows
 * gather (each input sums the outputs whose argmax it is, in row-major order); disjoint ones scatter.
 */
export function maxPool2dBackward(rec: Recorder, dy: Tensor, argmax: Tensor, dx: Tensor, g: Pool2dGeometry): void {
  check('maxPool2dBackward', dy, outSize(g), 'dy');
  check('maxPool2dBackward', argmax, outSize(g), 'argmax');
  check('maxPool2dBackward', dx, inSize(g), 'dx');
  if (!disjoint(g)) return run(rec, 'maxBackward', g, inSize(g), [dy, argmax, dx, null]);
  if (!covers(g)) rec.clear(dx, 'pool.maxBackward (clear)');
  if (g.c % 4 === 0) run(rec, 'maxBackwardScatter4', g, outSize(g) / 4, [dy, argmax, dx, null]);
  else run(rec, 'maxBackwardScatter', g, outSize(g), [dy, argmax, dx, null]);
}

/** y = mean of the window's real elements (Keras 'same' divides by the count of non-padded elements). */
export function avgPool2dForward(rec: Recorder, x: Tensor, y: Tensor, g: Pool2dGeometry): void {
  check('avgPool2dForward', x, inSize(g), 'x');
  check('avgPool2dForward', y, outSize(g), 'y');
  run(rec, 'avgForward', g, outSize(g), [x, null, y, null]);
}

/** Records average pooling's backward pass: dx = dy spread evenly over each window (dx is overwritten). */
export function avgPool2dBackward(rec: Recorder, dy: Tensor, dx: Tensor, g: Pool2dGeometry): void {
  check('avgPool2dBackward', dy, outSize(g), 'dy');
  check('avgPool2dBackward', dx, inSize(g), 'dx');
  if (!disjoint(g)) return run(rec, 'avgBackward', g, inSize(g), [dy, null, dx, null]);
  if (!covers(g)) rec.clear(dx, 'pool.avgBackward (clear)');
  run(rec, 'avgBackwardScatter', g, outSize(g), [dy, null, dx, null]);
}
