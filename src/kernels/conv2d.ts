// 2-D convolution kernels (shaders/conv2d.wgsl): forward with fused bias and relu, backward-input (gather),
// backward-filter (fixed-order reduction). NHWC activations, Keras [kH, kW, inC, outC] filters.
// The bias gradient is `columnSum` (src/kernels/elementwise.ts) over dy viewed as [B*outH*outW, outC].
// CPU references: src/reference/conv2d.ts.
import { ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ConvTile } from '../gpu/tuning.js';

export interface Conv2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

/** Output size and leading padding of one spatial axis, exactly as TensorFlow computes them. */
export function sameOrValid(size: number, k: number, s: number, padding: 'same' | 'valid'): { out: number; padBefore: number } {
  if (padding === 'same') {
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + k - size, 0);
    return { out, padBefore: Math.floor(total / 2) };
  }
  return { out: Math.floor((size - k) / s) + 1, padBefore: 0 };
}

/**
 * Keras/TF geometry. 'same': outH = ceil(H/s), pad_total = max((outH-1)*s + k - H, 0), padTop = floor(total/2)
 * (the extra row/column goes to the bottom/right). 'valid': outH = floor((H-k)/s)+1, no padding.
 * Throws a ShapeError when the output would be empty or a size is not a positive whole number.
 */
export function conv2dGeometry(
  inShape: [number, number, number, number],
  filters: number,
  kernel: [number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
): Conv2dGeometry {
  const [batch, inH, inW, inC] = inShape;
  const all = [inH, inW, inC, filters, ...kernel, ...strides];
  if (!all.every((v) => Number.isInteger(v) && v > 0) || !Number.isInteger(batch) || batch < 0)
    throw new ShapeError(
      `conv2d: input ${shapeStr(inShape)}, ${filters} filters, kernel ${shapeStr(kernel)}, strides ${shapeStr(strides)}: sizes must be positive whole numbers.`,
    );
  const h = sameOrValid(inH, kernel[0], strides[0], padding);
  const w = sameOrValid(inW, kernel[1], strides[1], padding);
  if (h.out <= 0 || w.out <= 0)
    throw new ShapeError(
      `conv2d: a ${kernel[0]}x${kernel[1]} kernel with '${padding}' padding does not fit input ${shapeStr(inShape)} (output ${h.out}x${w.out}).`,
    );
  return {
    batch, inH, inW, inC, outH: h.out, outW: w.out, outC: filters,
    kH: kernel[0], kW: kernel[1], strideH: strides[0], strideW: strides[1], padTop: h.padBefore, padLeft: w.padBefore,
  };
}

function expectSize(what: string, t: Tensor, n: number, desc: string): void {
  if (t.size !== n) throw new ShapeError(`${what}: ${desc} should hold ${n} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

function uniform(rec: Recorder, g: Conv2dGeometry, relu: boolean, hasBias: boolean, rows: number): GPUBuffer {
  return rec.uniform(
    [g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft, relu ? 1 : 0, hasBias ? 1 : 0, rows],
    'iiiiiiiiiiiiiuuu',
  );
}

/** Workgroups for `rows` rows in tiles of WG*PX by channel blocks of 4*CV, folding tiles past the limit into z. */
export function conv2dTileGrid(engine: Engine, rows: number, channels: number, t: ConvTile): [number, number, number] {
  const tiles = Math.max(1, Math.ceil(rows / (t.workgroup * t.px)));
  const blocks = Math.ceil(channels / (4 * t.cv));
  const max = engine.limits.maxComputeWorkgroupsPerDimension;
  const z = Math.ceil(tiles / max);
  return [Math.ceil(tiles / z), blocks, z];
}

function tileConstants(t: ConvTile): Record<string, number> {
  if (t.px < 1 || t.px > 16 || t.cv < 1 || t.cv > 4) throw new ShapeError(`conv2d tuning: px must be 1..16 and cv 1..4, got ${t.px}, ${t.cv}`);
  return { WG: t.workgroup, PX: t.px, CV: t.cv };
}

/** y = act(conv(x, w) + bias): x [B,H,W,inC], w [kH,kW,inC,outC], bias [outC] or null, y [B,outH,outW,outC]. */
export function conv2dForward(
  rec: Recorder,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  y: Tensor,
  g: Conv2dGeometry,
  activation: 'linear' | 'relu',
  tile: ConvTile = rec.engine.tuning.conv2d.forward,
): void {
  expectSize('conv2dForward', x, g.batch * g.inH * g.inW * g.inC, 'x');
  expectSize('conv2dForward', w, g.kH * g.kW * g.inC * g.outC, 'w');
  if (bias) expectSize('conv2dForward', bias, g.outC, 'bias');
  expectSize('conv2dForward', y, g.batch * g.outH * g.outW * g.outC, 'y');
  const rows = g.batch * g.outH * g.outW;
  if (rows === 0) return;
  rec.dispatch({
    shader: 'conv2d',
    entry: 'forward',
    constants: tileConstants(tile),
    // An absent bias binds w in its slot (never read: hasBias is 0).
    bindings: [uniform(rec, g, activation === 'relu', bias !== null, rows), x, w, bias ?? w, y],
    workgroups: conv2dTileGrid(rec.engine, rows, g.outC, tile),
    label: 'conv2d.forward',
  });
}

/** The one-invocation-per-output baseline (documented reference variant, for tests and benchmarks). */
export function conv2dForwardNaive(
  rec: Recorder,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  y: Tensor,
  g: Conv2dGeometry,
  activation: 'linear' | 'relu',
): void {
  const n = g.batch * g.outH * g.outW * g.outC;
  expectSize('conv2dForwardNaive', y, n, 'y');
  if (n === 0) return;
  const wg = rec.engine.tuning.elementwiseWorkgroup;
  rec.dispatch({
    shader: 'conv2d',
    entry: 'forwardNaive',
    constants: { WG: wg },
    bindings: [uniform(rec, g, activation === 'relu', bias !== null, n), x, w, bias ?? w, y],
    workgroups: grid1d(rec.engine, n, wg),
    label: 'conv2d.forwardNaive',
  });
}

/** dx = gradient of Σ y·dy with respect to x for the linear convolution (a gather; every dx value written). */
export function conv2dBackwardInput(
  rec: Recorder,
  dy: Tensor,
  w: Tensor,
  dx: Tensor,
  g: Conv2dGeometry,
  tile: ConvTile = rec.engine.tuning.conv2d.backwardInput,
): void {
  expectSize('conv2dBackwardInput', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardInput', w, g.kH * g.kW * g.inC * g.outC, 'w');
  expectSize('conv2dBackwardInput', dx, g.batch * g.inH * g.inW * g.inC, 'dx');
  const rows = g.batch * g.inH * g.inW;
  if (rows === 0) return;
  rec.dispatch({
    shader: 'conv2d',
    entry: 'backwardInput',
    constants: tileConstants(tile),
    bindings: [uniform(rec, g, false, false, rows), dy, w, null, dx],
    workgroups: conv2dTileGrid(rec.engine, rows, g.inC, tile),
    label: 'conv2d.backwardInput',
  });
}

/** dw = gradient of Σ y·dy with respect to w: summed over batch and positions in a fixed order (overwrites dw). */
export function conv2dBackwardFilter(
  rec: Recorder,
  x: Tensor,
  dy: Tensor,
  dw: Tensor,
  g: Conv2dGeometry,
  tile: ConvTile = rec.engine.tuning.conv2d.backwardFilter,
): void {
  expectSize('conv2dBackwardFilter', x, g.batch * g.inH * g.inW * g.inC, 'x');
  expectSize('conv2dBackwardFilter', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardFilter', dw, g.kH * g.kW * g.inC * g.outC, 'dw');
  const rows = g.kH * g.kW * g.inC;
  if (g.batch === 0) {
    rec.clear(dw, 'conv2d.backwardFilter (empty batch)');
    return;
  }
  rec.dispatch({
    shader: 'conv2d',
    entry: 'backwardFilter',
    constants: tileConstants(tile),
    bindings: [uniform(rec, g, false, false, rows), x, dy, null, dw],
    workgroups: conv2dTileGrid(rec.engine, rows, g.outC, tile),
    label: 'conv2d.backwardFilter',
  });
}
