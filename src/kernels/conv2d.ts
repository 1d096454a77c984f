// 2-D convolution kernels (shaders/conv2d.wgsl): forward with fused bias and relu, backward-input (gather),
// backward-filter (fixed-order reduction). NHWC activations, Keras [kH, kW, inC, outC] filters.
// The bias gradient is conv2dBackwardBias (a chunked column sum: columnSum's single loop stops at 65535 rows on llvmpipe).
// CPU references: src/reference/conv2d.ts.
import { ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ConvTile } from '../kernels/tuning.js';
import { tuningOf } from './tuning.js';

/** Sizes of one 2-D convolution, NHWC: batch, input, filter, stride, padding and output. */
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

interface PassFields {
  relu?: boolean;
  hasBias?: boolean;
  k0?: number;
  k1?: number;
  accumulate?: boolean;
  chunk?: number;
}

function uniform(rec: Recorder, g: Conv2dGeometry, rows: number, f: PassFields = {}): GPUBuffer {
  return rec.uniform(
    [
      g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft,
      f.relu ? 1 : 0, f.hasBias ? 1 : 0, rows, f.k0 ?? 0, f.k1 ?? 0, f.accumulate ? 1 : 0, f.chunk ?? 0,
    ],
    'iiiiiiiiiiiiiuuuiiui',
  );
}

/**
 * Innermost loop steps one invocation may take in one pass. llvmpipe (gallivm) silently ends any loop after
 * 65535 iterations, counted over the nested loops its compiler did not unroll (on this adapter the PX and CV
 * loops are not always unrolled: up to 2 + PX + PX*CV + CV counted iterations per innermost step). Longer
 * reductions are split into passes (forward, backward-input) or chunks with a fixed-order second pass
 * (backward-filter, bias). `tuning.conv2d.loopLimit` is 0 (no limit) on other adapters.
 */
export function conv2dStepsPerPass(engine: Engine, t: ConvTile): number {
  if (t.steps) return t.steps;
  const limit = tuningOf(engine).conv2d.loopLimit;
  return limit > 0 ? Math.max(1, Math.floor(limit / (2 + t.px + t.px * t.cv + t.cv))) : 2 ** 30;
}

/** out[i] = sum over `chunks` partials (in order) of partial[c * n + i]. */
function reducePartials(rec: Recorder, partial: GPUBufferBinding, n: number, chunks: number, out: Tensor, g: Conv2dGeometry, label: string): void {
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'conv2d',
    entry: 'reducePartials',
    constants: { WG: wg },
    bindings: [uniform(rec, g, n, { chunk: chunks }), partial, null, null, out],
    workgroups: grid1d(rec.engine, n, wg),
    label,
  });
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

/** [k0, k1) ranges of at most `per` covering [0, n). */
function ranges(n: number, per: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < n; k += per) out.push([k, Math.min(n, k + per)]);
  return out;
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
  tile: ConvTile = tuningOf(rec.engine).conv2d.forward,
): void {
  expectSize('conv2dForward', x, g.batch * g.inH * g.inW * g.inC, 'x');
  expectSize('conv2dForward', w, g.kH * g.kW * g.inC * g.outC, 'w');
  if (bias) expectSize('conv2dForward', bias, g.outC, 'bias');
  expectSize('conv2dForward', y, g.batch * g.outH * g.outW * g.outC, 'y');
  const rows = g.batch * g.outH * g.outW;
  if (rows === 0) return;
  // Input channels per pass (see conv2dStepsPerPass); later passes add to y, the last adds bias and applies relu.
  // forward4 (vec4 loads) when both channel counts are multiples of 4; its passes start at multiples of 4 (it
  // takes a quarter of the loop steps per channel, so the same pass length is safe).
  const vec4 = g.inC % 4 === 0 && g.outC % 4 === 0;
  let per = Math.max(1, Math.floor(conv2dStepsPerPass(rec.engine, tile) / (g.kH * g.kW)));
  if (vec4) per = Math.max(4, per - (per % 4));
  const passes = ranges(g.inC, per);
  passes.forEach(([k0, k1], i) => {
    const last = i === passes.length - 1;
    rec.dispatch({
      shader: 'conv2d',
      entry: vec4 ? 'forward4' : 'forward',
      constants: tileConstants(tile),
      // An absent bias binds w in its slot (never read: hasBias is 0).
      bindings: [uniform(rec, g, rows, { relu: last && activation === 'relu', hasBias: last && bias !== null, k0, k1, accumulate: i > 0 }), x, w, bias ?? w, y],
      workgroups: conv2dTileGrid(rec.engine, rows, g.outC, tile),
      label: passes.length > 1 ? `conv2d.forward[${i}]` : 'conv2d.forward',
    });
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
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'conv2d',
    entry: 'forwardNaive',
    constants: { WG: wg },
    bindings: [uniform(rec, g, n, { relu: activation === 'relu', hasBias: bias !== null }), x, w, bias ?? w, y],
    workgroups: grid1d(rec.engine, n, wg),
    label: 'conv2d.forwardNaive',
  });
}

/**
 * The tuned backward-filter tile, narrowed for layers with few filter rows (kH*kW*inC, e.g. 9 for a 3x3 conv on
 * one channel): every lane of a tile computes all its PX rows, so a 64-row tile on 9 rows wastes 85% of the work.
 * The smallest power-of-two PX whose workgroup still covers the rows, with the widest channel block (CV 4).
 * Measured on llvmpipe, batch 128: MNIST conv (9 rows) 56.9 -> 24.1 ms, CIFAR conv1 (27 rows) 79.3 -> 44.9 ms.
 */
export function fitFilterRows(t: ConvTile, rows: number): ConvTile {
  if (rows >= t.workgroup * t.px) return t;
  let px = 1;
  while (px < t.px && t.workgroup * px < rows) px *= 2;
  return { ...t, px: Math.min(px, t.px), cv: 4 };
}

/** dx = gradient of Σ y·dy with respect to x for the linear convolution (a gather; every dx value written). */
export function conv2dBackwardInput(
  rec: Recorder,
  dy: Tensor,
  w: Tensor,
  dx: Tensor,
  g: Conv2dGeometry,
  tile: ConvTile = tuningOf(rec.engine).conv2d.backwardInput,
): void {
  expectSize('conv2dBackwardInput', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardInput', w, g.kH * g.kW * g.inC * g.outC, 'w');
  expectSize('conv2dBackwardInput', dx, g.batch * g.inH * g.inW * g.inC, 'dx');
  const rows = g.batch * g.inH * g.inW;
  if (rows === 0) return;
  // Output channels per pass; later passes add to dx. backwardInput4 (vec4 loads) when both channel counts are
  // multiples of 4, with passes starting at multiples of 4.
  const vec4 = g.inC % 4 === 0 && g.outC % 4 === 0;
  let per = Math.max(1, Math.floor(conv2dStepsPerPass(rec.engine, tile) / (g.kH * g.kW)));
  if (vec4) per = Math.max(4, per - (per % 4));
  const passes = ranges(g.outC, per);
  passes.forEach(([k0, k1], i) => {
    rec.dispatch({
      shader: 'conv2d',
      entry: vec4 ? 'backwardInput4' : 'backwardInput',
      constants: tileConstants(tile),
      bindings: [uniform(rec, g, rows, { k0, k1, accumulate: i > 0 }), dy, w, null, dx],
      workgroups: conv2dTileGrid(rec.engine, rows, g.inC, tile),
      label: passes.length > 1 ? `conv2d.backwardInput[${i}]` : 'conv2d.backwardInput',
    });
  });
}

/** dw = gradient of Σ y·dy with respect to w: summed over batch and positions in a fixed order (overwrites dw). */
export function conv2dBackwardFilter(
  rec: Recorder,
  x: Tensor,
  dy: Tensor,
  dw: Tensor,
  g: Conv2dGeometry,
  explicitTile?: ConvTile,
): void {
  expectSize('conv2dBackwardFilter', x, g.batch * g.inH * g.inW * g.inC, 'x');
  expectSize('conv2dBackwardFilter', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardFilter', dw, g.kH * g.kW * g.inC * g.outC, 'dw');
  const rows = g.kH * g.kW * g.inC;
  const tile = explicitTile ?? fitFilterRows(tuningOf(rec.engine).conv2d.backwardFilter, rows);
  if (g.batch === 0) {
    rec.clear(dw, 'conv2d.backwardFilter (empty batch)');
    return;
  }
  // Positions per chunk (see conv2dStepsPerPass): chunk c (workgroup_id.z) writes partial filter c; a second
  // pass sums the partials in chunk order. One chunk writes dw directly.
  const aligned = g.inC % tile.px === 0;
  const positions = g.batch * g.outH * g.outW;
  const steps = conv2dStepsPerPass(rec.engine, tile);
  // The aligned variant chunks whole output rows (per = rows of outW positions), the other single positions.
  const units = aligned ? g.batch * g.outH : positions;
  const per = Math.min(units, aligned ? Math.max(1, Math.floor(steps / g.outW)) : steps);
  const chunks = Math.ceil(units / per);
  const limit = rec.engine.limits.maxComputeWorkgroupsPerDimension;
  const tiles = Math.ceil(rows / (tile.workgroup * tile.px));
  if (chunks > Math.min(limit, 60000) || tiles > limit)
    throw new ShapeError(`conv2dBackwardFilter: ${positions} positions in ${chunks} chunks or ${rows} filter rows are too many for one call; use a smaller batch.`);
  const target = chunks === 1 ? dw : rec.scratch(chunks * rows * g.outC * 4, 'conv2dBackwardFilter (partial sums)');
  // PX consecutive rows share one (kh, kw) when inC is a multiple of PX: the cheaper aligned variant, with vec4
  // loads when PX and outC are multiples of 4 as well.
  const entry = aligned ? (tile.px % 4 === 0 && g.outC % 4 === 0 ? 'backwardFilterAligned4' : 'backwardFilterAligned') : 'backwardFilter';
  rec.dispatch({
    shader: 'conv2d',
    entry,
    constants: tileConstants(tile),
    bindings: [uniform(rec, g, rows, { chunk: per }), x, dy, null, target],
    workgroups: [tiles, Math.ceil(g.outC / (4 * tile.cv)), chunks],
    label: `conv2d.${entry}`,
  });
  if (chunks > 1) reducePartials(rec, target as GPUBufferBinding, rows * g.outC, chunks, dw, g, 'conv2d.backwardFilter (sum of chunks)');
}

/**
 * db[co] = sum of dy over batch and positions, in a fixed order: chunks of rows (below llvmpipe's loop cap),
 * then the chunk sums in order. Use this rather than `columnSum`, whose single loop stops at 65535 rows there.
 */
export function conv2dBackwardBias(rec: Recorder, dy: Tensor, db: Tensor, g: Conv2dGeometry): void {
  expectSize('conv2dBackwardBias', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardBias', db, g.outC, 'db');
  const rows = g.batch * g.outH * g.outW;
  if (rows === 0) {
    rec.clear(db, 'conv2d.backwardBias (empty batch)');
    return;
  }
  const limit = tuningOf(rec.engine).conv2d.loopLimit;
  const per = limit > 0 ? Math.min(rows, limit) : rows;
  const chunks = Math.ceil(rows / per);
  const target = chunks === 1 ? db : rec.scratch(chunks * g.outC * 4, 'conv2dBackwardBias (partial sums)');
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'conv2d',
    entry: 'biasPartial',
    constants: { WG: wg },
    bindings: [uniform(rec, g, rows, { k0: per }), dy, null, null, target],
    workgroups: grid1d(rec.engine, chunks * g.outC, wg),
    label: 'conv2d.backwardBias',
  });
  if (chunks > 1) reducePartials(rec, target as GPUBufferBinding, g.outC, chunks, db, g, 'conv2d.backwardBias (sum of chunks)');
}
