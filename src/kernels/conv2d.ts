// 2-D convolution kernels (shaders/conv2d.wgsl): forward with fused bias and relu, backward-input (gather),
// backward-filter (fixed-order reduction). NHWC activations, Keras [kH, kW, inC, outC] filters.
// The bias gradient is conv2dBackwardBias (a chunked column sum: columnSum's single loop stops at 65535 rows on llvmpipe).
// Two variant sets, picked here from the adapter class: software adapters run the register-blocked,
// barrier-free tiles (ConvTile); GPUs run implicit GEMMs tiled in workgroup memory (ConvGemmVariant), with
// split-K backward-filter and a tree-summed bias gradient, every invocation's serial loop at most 4096 long.
// CPU references: src/reference/conv2d.ts.
import { ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { grid1d, type DispatchCost, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ConvTile } from '../kernels/tuning.js';
import { pow2Bucket, tunedChoice } from './autotune.js';
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
    cost: cost('reducePartials', wg, chunks, n * chunks, n * chunks + n),
  });
}

/** A dispatch's stated cost (bytes given in float32 values). */
function cost(variant: string, threads: number, serial: number, flops: number, values: number): DispatchCost {
  return { variant, threads, serial, flops, bytes: 4 * values };
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
  kernel?: ConvKernel,
): void {
  expectSize('conv2dForward', x, g.batch * g.inH * g.inW * g.inC, 'x');
  expectSize('conv2dForward', w, g.kH * g.kW * g.inC * g.outC, 'w');
  if (bias) expectSize('conv2dForward', bias, g.outC, 'bias');
  expectSize('conv2dForward', y, g.batch * g.outH * g.outW * g.outC, 'y');
  const rows = g.batch * g.outH * g.outW;
  if (rows === 0) return;
  const pick = convKernelFor(rec.engine, 'forward', g, kernel);
  if (pick.gemm) {
    gemmPasses(rec, 'gemmForward', pick.gemm, rows, g.outC, g.kH * g.kW * g.inC, (k0, k1, i, last) => ({
      uniform: uniform(rec, g, rows, { relu: last && activation === 'relu', hasBias: last && bias !== null, k0, k1, accumulate: i > 0 }),
      bindings: [x, w.vec4Binding('conv2d: w'), bias ?? x, y],
      values: ((x.size + w.size) * (k1 - k0)) / (g.kH * g.kW * g.inC) + y.size * (i > 0 ? 2 : 1) + (last && bias ? g.outC : 0),
    }));
    return;
  }
  const tile = pick.tile;
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
      cost: cost(
        vec4 ? 'forward4' : 'forward', tile.workgroup, g.kH * g.kW * (k1 - k0), 2 * rows * g.outC * g.kH * g.kW * (k1 - k0),
        ((x.size + w.size) * (k1 - k0)) / g.inC + y.size * (i > 0 ? 2 : 1) + (last && bias ? g.outC : 0),
      ),
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
    cost: cost('forwardNaive', wg, g.kH * g.kW * g.inC, 2 * n * g.kH * g.kW * g.inC, x.size + w.size + n + (bias ? g.outC : 0)),
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
  kernel?: ConvKernel,
): void {
  expectSize('conv2dBackwardInput', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardInput', w, g.kH * g.kW * g.inC * g.outC, 'w');
  expectSize('conv2dBackwardInput', dx, g.batch * g.inH * g.inW * g.inC, 'dx');
  const rows = g.batch * g.inH * g.inW;
  if (rows === 0) return;
  const pick = convKernelFor(rec.engine, 'backwardInput', g, kernel);
  if (pick.gemm) {
    // Real work: the dense convolution's products (the GEMM also walks taps a stride skips, as zeros).
    gemmPasses(rec, 'gemmBackwardInput', pick.gemm, rows, g.inC, g.kH * g.kW * g.outC, (k0, k1, i) => ({
      uniform: uniform(rec, g, rows, { k0, k1, accumulate: i > 0 }),
      bindings: [dy, w.vec4Binding('conv2d: w'), dy, dx],
      values: ((dy.size + w.size) * (k1 - k0)) / (g.kH * g.kW * g.outC) + dx.size * (i > 0 ? 2 : 1),
      flops: 2 * g.batch * g.outH * g.outW * g.inC * (k1 - k0),
    }));
    return;
  }
  const tile = pick.tile;
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
      cost: cost(
        vec4 ? 'backwardInput4' : 'backwardInput', tile.workgroup, g.kH * g.kW * (k1 - k0),
        2 * g.batch * g.outH * g.outW * g.inC * g.kH * g.kW * (k1 - k0),
        ((dy.size + w.size) * (k1 - k0)) / g.outC + dx.size * (i > 0 ? 2 : 1),
      ),
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
  kernel?: ConvKernel,
  /** GEMM: at most this many split-K slices' partials at once (default: what one binding holds); for tests. */
  slicesPerRound?: number,
): void {
  expectSize('conv2dBackwardFilter', x, g.batch * g.inH * g.inW * g.inC, 'x');
  expectSize('conv2dBackwardFilter', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardFilter', dw, g.kH * g.kW * g.inC * g.outC, 'dw');
  const rows = g.kH * g.kW * g.inC;
  if (g.batch === 0) {
    rec.clear(dw, 'conv2d.backwardFilter (empty batch)');
    return;
  }
  const pick = convKernelFor(rec.engine, 'backwardFilter', g, kernel);
  if (pick.gemm) {
    gemmBackwardFilter(rec, x, dy, dw, g, pick.gemm, slicesPerRound);
    return;
  }
  const tile = kernel === undefined ? fitFilterRows(pick.tile, rows) : pick.tile;
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
    cost: cost(entry, tile.workgroup, aligned ? per * g.outW : per, 2 * rows * g.outC * positions, x.size + dy.size + (chunks === 1 ? 1 : chunks) * rows * g.outC),
  });
  if (chunks > 1) reducePartials(rec, target as GPUBufferBinding, rows * g.outC, chunks, dw, g, 'conv2d.backwardFilter (sum of chunks)');
}

/**
 * db[co] = sum of dy over batch and positions, in a fixed order: chunks of rows (below llvmpipe's loop cap),
 * then the chunk sums in order. Use this rather than `columnSum`, whose single loop stops at 65535 rows there.
 */
export function conv2dBackwardBias(rec: Recorder, dy: Tensor, db: Tensor, g: Conv2dGeometry, variant?: ConvBiasVariant): void {
  expectSize('conv2dBackwardBias', dy, g.batch * g.outH * g.outW * g.outC, 'dy');
  expectSize('conv2dBackwardBias', db, g.outC, 'db');
  const rows = g.batch * g.outH * g.outW;
  if (rows === 0) {
    rec.clear(db, 'conv2d.backwardBias (empty batch)');
    return;
  }
  const lanes = biasLanes(rec.engine.limits);
  const wanted = variant ?? (tuningOf(rec.engine).conv2d.implicitGemm ? 'biasChunks' : 'biasPartial');
  if (wanted === 'biasChunks' && lanes === 0)
    rec.engine.noteFallback('conv2d bias gradient: biasChunks needs 64 invocations of 32 x 2 per workgroup; this adapter allows fewer, so biasPartial runs instead.');
  if (wanted === 'biasChunks' && lanes > 0) {
    biasChunks(rec, dy, db, g, rows, lanes);
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
    cost: cost('biasPartial', wg, per, rows * g.outC, rows * g.outC + chunks * g.outC),
  });
  if (chunks > 1) reducePartials(rec, target as GPUBufferBinding, g.outC, chunks, db, g, 'conv2d.backwardBias (sum of chunks)');
}

// ================================================================ implicit GEMM (the GPU class)

/**
 * Workgroup-memory GEMM tiles (shaders/conv2d.wgsl, gemm*): named rows x columns of the output tile, built from
 * gx x gy invocations of 4x4 outputs each. 64x32 and 32x32 waste less where N (or M) is 32 or less.
 */
export type ConvGemmVariant = 'gemm64x64' | 'gemm64x32' | 'gemm32x32';
/** Each conv GEMM variant's workgroup shape (gx by gy invocations, 4x4 outputs each). */
export const CONV_GEMM: Record<ConvGemmVariant, { gx: number; gy: number }> = {
  gemm64x64: { gx: 16, gy: 16 },
  gemm64x32: { gx: 8, gy: 16 },
  gemm32x32: { gx: 8, gy: 8 },
};
/** Largest first: the fallback order when a tile does not fit the adapter. */
const GEMM_ORDER: ConvGemmVariant[] = ['gemm64x64', 'gemm64x32', 'gemm32x32'];
/** A register-blocked tile (the software kernels) or an implicit-GEMM tile. */
export type ConvKernel = ConvTile | ConvGemmVariant;
/** Conv2D's bias-gradient kernels: per-workgroup partials, or fixed-size chunks summed in a second pass. */
export type ConvBiasVariant = 'biasPartial' | 'biasChunks';
/** The longest serial loop any GPU-class invocation runs (K elements per pass or slice, partials per sum). */
export const GPU_SERIAL_MAX = 4096;
/** Split-K and chunked reductions aim for at least this many workgroups (enough to fill a big GPU). */
const MIN_WORKGROUPS = 256;
/** Rows of dy per biasChunks workgroup. */
const BIAS_CHUNK = 1024;
/** Partials per group in a level of orderedSum that does not sum everything at once. */
const SUM_GROUP = 64;
/** orderedSum adds all partials in one level when that is at most this many additions (or n alone fills the GPU). */
const SMALL_SUM = 1 << 22;

type ConvPass = 'forward' | 'backwardInput' | 'backwardFilter';
/** The device limits a conv GEMM tile must fit. */
export type GemmLimits = Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxComputeWorkgroupSizeY'>;

/** Workgroup memory a GEMM tile uses: two BK=16 by (4*g + 4)-float tiles (one vec4 of padding per row). */
export function gemmStorageBytes(v: ConvGemmVariant): number {
  const { gx, gy } = CONV_GEMM[v];
  return 16 * 16 * (gx + 1 + gy + 1);
}

/** Why tile `v` cannot run under `limits`, or null when it can. */
function gemmMisfit(v: ConvGemmVariant, limits: GemmLimits): string | null {
  const { gx, gy } = CONV_GEMM[v];
  if (gemmStorageBytes(v) > limits.maxComputeWorkgroupStorageSize) return `${gemmStorageBytes(v)} bytes of workgroup storage (the adapter allows ${limits.maxComputeWorkgroupStorageSize})`;
  if (gx * gy > limits.maxComputeInvocationsPerWorkgroup) return `${gx * gy} invocations per workgroup (the adapter allows ${limits.maxComputeInvocationsPerWorkgroup})`;
  if (gx > limits.maxComputeWorkgroupSizeX || gy > limits.maxComputeWorkgroupSizeY)
    return `a ${gx}x${gy} workgroup (the adapter allows ${limits.maxComputeWorkgroupSizeX}x${limits.maxComputeWorkgroupSizeY})`;
  return null;
}

/**
 * `preferred` when it fits `limits`, else the next smaller tile that does (each skipped one with why), else null
 * (the caller runs the register-blocked kernels).
 */
export function pickConvGemm(limits: GemmLimits, preferred: ConvGemmVariant): { variant: ConvGemmVariant | null; skipped: string[] } {
  const skipped: string[] = [];
  for (const v of GEMM_ORDER.slice(GEMM_ORDER.indexOf(preferred))) {
    const why = gemmMisfit(v, limits);
    if (!why) return { variant: v, skipped };
    skipped.push(`${v} needs ${why}`);
  }
  return { variant: null, skipped };
}

/** The GEMM's M, N, K for a pass. */
function gemmDims(kind: ConvPass, g: Conv2dGeometry): [number, number, number] {
  const taps = g.kH * g.kW;
  if (kind === 'forward') return [g.batch * g.outH * g.outW, g.outC, taps * g.inC];
  if (kind === 'backwardInput') return [g.batch * g.inH * g.inW, g.inC, taps * g.outC];
  return [taps * g.inC, g.outC, g.batch * g.outH * g.outW];
}

/**
 * The default tile for an M x N output: 32 columns when N <= 32, 32 rows as well when M <= 32. With `fill` (passes
 * without split-K: forward, backward-input) a smaller tile where only it gives 256 workgroups, as matmul does (e.g. a
 * 7x7x64 layer at batch 128, M = 6272: 64x64 tiles make 98 workgroups, 32x32 ones 392).
 */
export function defaultConvGemm(m: number, n: number, fill = false): ConvGemmVariant {
  if (m <= 32) return 'gemm32x32';
  const first: ConvGemmVariant = n <= 32 ? 'gemm64x32' : 'gemm64x64';
  if (!fill) return first;
  const tiles: Record<ConvGemmVariant, number> = {
    gemm64x64: Math.ceil(m / 64) * Math.ceil(n / 64), gemm64x32: Math.ceil(m / 64) * Math.ceil(n / 32), gemm32x32: Math.ceil(m / 32) * Math.ceil(n / 32),
  };
  const order = (first === 'gemm64x64' ? ['gemm64x64', 'gemm64x32', 'gemm32x32'] : ['gemm64x32', 'gemm32x32']) as ConvGemmVariant[];
  return order.find((v) => tiles[v] >= 256) ?? first; // none reaches 256: the big tile, as matmul keeps it
}

/**
 * The kernel one pass runs: an explicit choice, else the class default (the autotuned GEMM tile on GPUs). A GEMM
 * tile that does not fit the adapter falls back to the next smaller one, then to the register-blocked tiles,
 * noted in engine.describe().
 */
function convKernelFor(engine: Engine, kind: ConvPass, g: Conv2dGeometry, kernel?: ConvKernel): { gemm: ConvGemmVariant | null; tile: ConvTile } {
  const t = tuningOf(engine).conv2d;
  if (typeof kernel === 'object') return { gemm: null, tile: kernel };
  if (kernel === undefined && !t.implicitGemm) return { gemm: null, tile: t[kind] };
  const [m, n, k] = gemmDims(kind, g);
  const wanted = kernel ?? tunedConvGemm(engine, kind, g, m, n, k);
  const { variant, skipped } = pickConvGemm(engine.limits, wanted);
  if (skipped.length)
    engine.noteFallback(`conv2d ${kind}: ${skipped.join('; ')}; running ${variant ?? `the register-blocked kernel (wg ${t[kind].workgroup})`} instead.`);
  return { gemm: variant, tile: t[kind] };
}

/** The GEMM tiles the autotune times for a pass (those that fit this adapter), default first. */
function tunedConvGemm(engine: Engine, kind: ConvPass, g: Conv2dGeometry, m: number, n: number, k: number): ConvGemmVariant {
  const dflt = defaultConvGemm(m, n, kind !== 'backwardFilter');
  const candidates = [dflt, ...GEMM_ORDER.filter((v) => v !== dflt)].filter((v) => !gemmMisfit(v, engine.limits));
  if (candidates.length < 2) return dflt;
  const id = tunedChoice(
    engine,
    {
      family: `conv2d.${kind}`,
      bucket: `${pow2Bucket(m)}x${pow2Bucket(n)}x${pow2Bucket(k)} ${g.kH}x${g.kW}/${g.strideH}x${g.strideW}`,
      candidates,
      setup: (e) => {
        const made = [e.empty([g.batch, g.inH, g.inW, g.inC]), e.empty([g.kH, g.kW, g.inC, g.outC]), e.empty([g.batch, g.outH, g.outW, g.outC])];
        const [x, w, y] = made as [Tensor, Tensor, Tensor];
        // Deterministic finite inputs: the timing must not depend on NaN or denormal paths.
        for (const t of made) t.write(new Float32Array(t.size).fill(0.5));
        return {
          record: (r, c) => {
            const v = c as ConvGemmVariant;
            if (kind === 'forward') conv2dForward(r, x, w, null, y, g, 'relu', v);
            else if (kind === 'backwardInput') conv2dBackwardInput(r, y, w, x, g, v);
            else conv2dBackwardFilter(r, x, y, w, g, v);
          },
          dispose: () => made.forEach((t) => t.dispose()),
        };
      },
    },
    dflt,
  );
  return id as ConvGemmVariant;
}


/** [y, z] workgroups for `tiles` tiles along M, folded into z past the per-dimension limit. */
function foldTiles(engine: Engine, tiles: number): [number, number] {
  const z = Math.ceil(tiles / engine.limits.maxComputeWorkgroupsPerDimension);
  return [Math.ceil(tiles / z), z];
}

interface GemmPass {
  uniform: GPUBuffer;
  /** Bindings 1..4: A source, B source (vec4), bias slot (bound even when unused), out. */
  bindings: [Tensor, GPUBufferBinding, Tensor, Tensor];
  /** float32 values read and written. */
  values: number;
  /** Default 2*M*N*(k1-k0). */
  flops?: number;
}

/**
 * forward / backward-input as GEMM passes over K of at most GPU_SERIAL_MAX each (later passes add to out, the
 * last one applies the epilogue): the serial rule holds at any channel count.
 */
function gemmPasses(
  rec: Recorder, entry: 'gemmForward' | 'gemmBackwardInput', v: ConvGemmVariant, m: number, n: number, k: number,
  pass: (k0: number, k1: number, i: number, last: boolean) => GemmPass,
): void {
  const { gx, gy } = CONV_GEMM[v];
  const passes = ranges(k, GPU_SERIAL_MAX);
  const [wy, wz] = foldTiles(rec.engine, Math.ceil(m / (4 * gy)));
  const name = entry === 'gemmForward' ? 'forward' : 'backwardInput';
  passes.forEach(([k0, k1], i) => {
    const p = pass(k0, k1, i, i === passes.length - 1);
    rec.dispatch({
      shader: 'conv2d',
      entry,
      constants: { GX: gx, GY: gy, VEC_B: entry === 'gemmForward' && n % 4 === 0 ? 1 : 0 },
      bindings: [p.uniform, ...p.bindings],
      workgroups: [Math.ceil(n / (4 * gx)), wy, wz],
      label: passes.length > 1 ? `conv2d.${name}[${i}]` : `conv2d.${name}`,
      cost: cost(`${entry}.${v}`, gx * gy, k1 - k0, p.flops ?? 2 * m * n * (k1 - k0), p.values),
    });
  });
}

/**
 * backward-filter as a split-K GEMM: K (the B*outH*outW positions) in slices of at most GPU_SERIAL_MAX, enough of
 * them for MIN_WORKGROUPS workgroups; slice z writes partial filter z, orderedSum adds them in slice order. When
 * all partials would not fit one binding, the slices run in rounds, each round's sum added to dw in order.
 */
function gemmBackwardFilter(rec: Recorder, x: Tensor, dy: Tensor, dw: Tensor, g: Conv2dGeometry, v: ConvGemmVariant, roundLimit = Infinity): void {
  const { gx, gy } = CONV_GEMM[v];
  const [m, n, k] = gemmDims('backwardFilter', g);
  const engine = rec.engine;
  const tilesN = Math.ceil(n / (4 * gx)), tilesM = Math.ceil(m / (4 * gy));
  const maxDim = engine.limits.maxComputeWorkgroupsPerDimension;
  if (tilesM > maxDim || tilesN > maxDim)
    throw new ShapeError(`conv2dBackwardFilter: ${m} filter rows by ${n} filters are too many tiles for one dispatch on this adapter.`);
  const wanted = Math.max(Math.ceil(k / GPU_SERIAL_MAX), Math.ceil(MIN_WORKGROUPS / (tilesM * tilesN)));
  // Slice length: a multiple of the K tile (16), at most GPU_SERIAL_MAX (floor keeps it there and the count up).
  const per = Math.max(16, Math.floor(Math.ceil(k / wanted) / 16) * 16);
  const slices = Math.ceil(k / per);
  const filter = m * n;
  const perRound = Math.min(slices, maxDim, roundLimit, Math.floor(engine.limits.maxStorageBufferBindingSize / (4 * filter)));
  if (perRound < 1) throw new ShapeError(`conv2dBackwardFilter: a ${m}x${n} filter's partial sums exceed this adapter's binding size.`);
  const scratch = slices === 1 ? null : rec.scratch(perRound * filter * 4, 'conv2dBackwardFilter (partial sums)');
  for (let s0 = 0, round = 0; s0 < slices; s0 += perRound, round++) {
    const count = Math.min(perRound, slices - s0);
    const positions = Math.min(k, (s0 + count) * per) - s0 * per;
    rec.dispatch({
      shader: 'conv2d',
      entry: 'gemmBackwardFilter',
      constants: { GX: gx, GY: gy, VEC_B: n % 4 === 0 ? 1 : 0 },
      bindings: [uniform(rec, g, m, { k0: s0, chunk: per }), x, dy.vec4Binding('conv2d: dy'), x, scratch ?? dw],
      workgroups: [tilesN, tilesM, count],
      label: slices > perRound ? `conv2d.backwardFilter[${round}]` : 'conv2d.backwardFilter',
      cost: cost(`gemmBackwardFilter.${v}`, gx * gy, per, 2 * filter * positions, ((x.size + dy.size) * positions) / k + count * filter),
    });
    if (scratch) orderedSum(rec, scratch, filter, count, dw, round > 0, g, 'conv2d.backwardFilter (sum of slices)');
  }
}

/**
 * out[i] (+)= sum over `chunks` partials (in order) of partial[c * n + i], no invocation adding more than
 * GPU_SERIAL_MAX. One level when that is small work or n outputs alone give MIN_WORKGROUPS workgroups; else
 * groups of SUM_GROUP consecutive partials are summed first, level by level (a fixed tree of in-order sums that
 * depends only on the shape, so every run adds in the same order).
 */
function orderedSum(rec: Recorder, partial: GPUBufferBinding, n: number, chunks: number, out: Tensor, accumulate: boolean, g: Conv2dGeometry, label: string): void {
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  let src = partial;
  let count = chunks;
  for (let level = 0; ; level++) {
    const final = count <= GPU_SERIAL_MAX && (n * count <= SMALL_SUM || Math.ceil(n / wg) >= MIN_WORKGROUPS);
    const group = final ? count : SUM_GROUP;
    const groups = Math.ceil(count / group);
    const dst = final ? out : rec.scratch(groups * n * 4, `${label} (level ${level})`);
    rec.dispatch({
      shader: 'conv2d',
      entry: 'reduceGroups',
      constants: { WG: wg },
      bindings: [uniform(rec, g, n, { chunk: count, k0: group, accumulate: final && accumulate }), src, null, null, dst],
      workgroups: grid1d(rec.engine, n * groups, wg),
      label: final && level === 0 ? label : `${label} [level ${level}]`,
      cost: cost('reduceGroups', wg, group, n * count, n * count + n * groups * (final && accumulate ? 2 : 1)),
    });
    if (final) return;
    src = dst as GPUBufferBinding;
    count = groups;
  }
}

/** Row lanes per channel of biasChunks that fit `limits` (a power of two up to 8), or 0 when even 2 do not. */
export function biasLanes(limits: Pick<GPUSupportedLimits, 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxComputeWorkgroupSizeY'>): number {
  if (limits.maxComputeWorkgroupSizeX < 32) return 0;
  let lanes = 8;
  while (lanes >= 2 && (32 * lanes > limits.maxComputeInvocationsPerWorkgroup || lanes > limits.maxComputeWorkgroupSizeY)) lanes /= 2;
  return lanes >= 2 ? lanes : 0;
}

/** db = column sums of dy: BIAS_CHUNK-row chunks by 32 channels per workgroup (tree-summed), then orderedSum. */
function biasChunks(rec: Recorder, dy: Tensor, db: Tensor, g: Conv2dGeometry, rows: number, lanes: number): void {
  const chunks = Math.ceil(rows / BIAS_CHUNK);
  const target = chunks === 1 ? db : rec.scratch(chunks * g.outC * 4, 'conv2dBackwardBias (partial sums)');
  const [wx, wz] = foldTiles(rec.engine, chunks);
  rec.dispatch({
    shader: 'conv2d',
    entry: 'biasChunks',
    constants: { BR: lanes },
    bindings: [uniform(rec, g, rows, { k0: BIAS_CHUNK }), dy, null, null, target],
    workgroups: [wx, Math.ceil(g.outC / 32), wz],
    label: 'conv2d.backwardBias',
    cost: cost('biasChunks', 32 * lanes, BIAS_CHUNK / lanes + Math.log2(lanes), rows * g.outC, rows * g.outC + chunks * g.outC),
  });
  if (chunks > 1) orderedSum(rec, target as GPUBufferBinding, g.outC, chunks, db, false, g, 'conv2d.backwardBias (sum of chunks)');
}
