// Loss kernels (shaders/loss.wgsl): gradients in parallel; statistics in one fixed-order workgroup (software
// class) or a fixed-order tree over workgroups of rows (GPU class).
// CPU references: src/reference/loss.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type DispatchCost, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { treeFits } from './elementwise.js';
import { tuningOf } from './tuning.js';

/** How the fused loss kernel reads its labels and where it adds its statistics. */
export interface LossOptions {
  /** Multiplies every gradient element, e.g. 1/n for a batch mean. */
  gradScale: number;
  /** The target is u32 class indices [n] instead of one-hot f32 [n, c]. */
  sparse?: boolean;
  /** Override the adapter class's statistics kernel (tests, benchmarks). */
  statsVariant?: StatsVariant;
  /**
   * Sample weights, one f32 per row ([n]): each row's loss and gradient are multiplied by its weight (Keras'
   * sample_weight; the caller's gradScale still divides by the batch size, Keras' sum_over_batch_size). The
   * correct count stays unweighted.
   */
  weights?: Tensor;
}

/**
 * How the statistics are summed: 'serial' (software class): one workgroup, each invocation looping over every
 * WG-th row; 'tree' (GPU class): one row per invocation, a fixed-order tree per workgroup, then trees over the
 * partials (serial work per invocation: one row, at any batch size).
 */
export type StatsVariant = 'serial' | 'tree';

const LOSS_CODE = { softmaxCrossEntropy: 0, crossEntropyFromProbs: 1, meanSquaredError: 2, sigmoidCrossEntropy: 4, binaryCrossEntropyFromProbs: 5 } as const;
type LossKind = keyof typeof LOSS_CODE;

function overlaps(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.byteLength > 0 && b.byteLength > 0 && a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength;
}

function check(what: string, name: string, t: Tensor, size: number): void {
  if (t.size !== size) throw new ShapeError(`${what}: ${name} should hold ${size} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

function validate(what: string, x: Tensor, target: Tensor, outs: (Tensor | null)[], stats: Tensor | null, n: number, c: number, opts: LossOptions): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(c) || c < 1) throw new ShapeError(`${what}: n=${n}, c=${c} must be whole numbers (c >= 1).`);
  check(what, 'the prediction', x, n * c);
  if (opts.sparse) {
    check(what, 'the sparse target', target, n);
    if (target.dtype === 'f32') throw new ShaderflowError(`${what}: sparse targets are u32 class indices, got an f32 tensor.`);
  } else check(what, 'the one-hot target', target, n * c);
  for (const o of outs) if (o) check(what, 'an output', o, n * c);
  if (stats) check(what, 'stats', stats, 4);
  if (opts.weights) {
    check(what, 'the sample weights', opts.weights, n);
    if (opts.weights.dtype !== 'f32') throw new ShaderflowError(`${what}: sample weights are f32, got a ${opts.weights.dtype} tensor.`);
  }
  const all = [x, target, ...outs, stats, opts.weights ?? null].filter((t): t is Tensor => t !== null);
  const writable = [...outs, stats].filter((t): t is Tensor => t !== null);
  for (const w of writable)
    for (const t of all)
      if (t !== w && overlaps(t, w)) throw new ShaderflowError(`${what}: output ${shapeStr(w.shape)} overlaps another argument; give each its own buffer range.`);
  if (!Number.isFinite(opts.gradScale)) throw new ShaderflowError(`${what}: gradScale must be finite, got ${opts.gradScale}.`);
}

function constants(rec: Recorder, kind: LossKind, opts: LossOptions): Record<string, number> {
  return { WG: tuningOf(rec.engine).elementwiseWorkgroup, LOSS: LOSS_CODE[kind], SPARSE: opts.sparse ? 1 : 0, WEIGHTED: opts.weights ? 1 : 0 };
}

/** Binding 6 of the entries that weight rows: the weights, or (unweighted) x, which the shader reads and discards. */
function rowWeights(x: Tensor, opts: LossOptions): Tensor {
  return opts.weights ?? x;
}

/** Adds this batch's loss sum, correct count, n and the nonFinite flag into stats (fixed order). */
function accumulate(rec: Recorder, kind: LossKind | 'accuracy', x: Tensor, target: Tensor, stats: Tensor, n: number, c: number, opts: LossOptions): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const k: LossKind = kind === 'accuracy' ? 'meanSquaredError' : kind;
  const consts = { ...constants(rec, k, opts), ...(kind === 'accuracy' ? { LOSS: 3 } : {}) };
  const label = kind === 'accuracy' ? 'loss.accuracy' : `loss.${kind}.stats`;
  const gradScale = kind === 'accuracy' ? 0 : opts.gradScale;
  const readBytes = 4 * (n * c + (opts.sparse ? n : n * c));
  const rowFlops = 4 * n * c; // max/compare, exp, subtract, add per class (roughly)
  const variant = opts.statsVariant ?? (treeFits(rec, wg, 'loss statistics') ? 'tree' : 'serial');
  if (variant === 'serial') {
    rec.dispatch({
      shader: 'loss',
      entry: 'accumulate',
      constants: consts,
      bindings: [rec.uniform([n, c, gradScale, 0], 'uufu'), x, target, null, null, stats, rowWeights(x, opts)],
      workgroups: [1],
      label,
      // invocation 0 loops over its rows (c classes each), then over the WG partials
      cost: { variant: 'serial', threads: wg, serial: Math.ceil(n / wg) * c + wg, flops: rowFlops, bytes: readBytes + 32 },
    });
    return;
  }
  // 'tree': level 1 reduces rows per workgroup of wg, each further level wg partials per workgroup, until one
  // workgroup is left; that one adds into stats. Partials are vec4 (loss, correct, flag, 0).
  const tree = Math.log2(wg);
  let items = n;
  let input: Tensor | GPUBufferBinding = x;
  for (let level = 1; ; level++) {
    const groups = Math.ceil(items / wg);
    const rows = level === 1;
    const final = groups === 1;
    const out = final ? null : rec.scratch(groups * 16, `${label} (level ${level} partials)`);
    rec.dispatch({
      shader: 'loss',
      entry: `${rows ? 'statsRows' : 'statsPartials'}${final ? 'Final' : ''}`,
      constants: consts,
      bindings: [rec.uniform([n, c, gradScale, items], 'uufu'), input, rows ? target : null, out, null, final ? stats : null, rows ? rowWeights(x, opts) : null],
      workgroups: grid1d(rec.engine, groups, 1),
      label: final && rows ? label : `${label} (level ${level}${final ? ', final' : ''})`,
      cost: {
        variant: 'tree',
        threads: wg,
        serial: (rows ? c : 1) + tree,
        flops: rows ? rowFlops : 3 * items,
        bytes: (rows ? readBytes : 16 * items) + (final ? 32 : 16 * groups),
      },
    });
    if (final) return;
    input = out!;
    items = groups;
  }
}

function elementGrad(rec: Recorder, kind: LossKind, x: Tensor, target: Tensor, grad: Tensor, n: number, c: number, opts: LossOptions): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'loss',
    entry: 'elementGrad',
    constants: constants(rec, kind, opts),
    bindings: [rec.uniform([n, c, opts.gradScale, 0], 'uufu'), x, target, null, grad, null, rowWeights(x, opts)],
    workgroups: grid1d(rec.engine, n * c, wg),
    label: `loss.${kind}.grad`,
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: 4 * n * c, bytes: 4 * (2 * n * c + (opts.sparse ? n : n * c)) },
  });
}

/**
 * Fused softmax + categorical cross-entropy on logits (stable log-sum-exp). Writes probs [n, c],
 * dLogits = (p - t) * gradScale (when not null), and accumulates [loss sum, argmax-correct count, n, nonFinite]
 * into stats (when not null). nonFinite is set when a logit or a row's loss is NaN or infinite.
 */
export function softmaxCrossEntropy(
  rec: Recorder, logits: Tensor, target: Tensor, probs: Tensor, dLogits: Tensor | null, stats: Tensor | null, n: number, c: number, opts: LossOptions,
): void {
  validate('softmaxCrossEntropy', logits, target, [probs, dLogits], stats, n, c, opts);
  // one invocation per row, looping over its c classes (max, exp and sum, normalize; the gradient)
  fusedProbs(rec, 'softmaxCrossEntropy', 'softmax', logits, target, probs, dLogits, n, c, opts, n, {
    variant: 'row', serial: c, flops: (dLogits ? 6 : 4) * n * c, bytes: 4 * (2 * n * c + (dLogits ? n * c + (opts.sparse ? n : n * c) : 0)),
  });
  if (stats) accumulate(rec, 'softmaxCrossEntropy', logits, target, stats, n, c, opts);
}

/** The probabilities (and with dLogits, the gradient) of a fused loss: `${prefix}Probs` or `${prefix}ProbsGrad` over `items` invocations. */
function fusedProbs(
  rec: Recorder, kind: LossKind, prefix: string, logits: Tensor, target: Tensor, probs: Tensor, dLogits: Tensor | null, n: number, c: number, opts: LossOptions,
  items: number, cost: Omit<DispatchCost, 'threads'>,
): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'loss',
    entry: dLogits ? `${prefix}ProbsGrad` : `${prefix}Probs`,
    constants: constants(rec, kind, opts),
    bindings: [rec.uniform([n, c, opts.gradScale, 0], 'uufu'), logits, dLogits ? target : null, probs, dLogits, null, dLogits ? rowWeights(logits, opts) : null],
    workgroups: grid1d(rec.engine, items, wg),
    label: `loss.${kind}.probs`,
    cost: { ...cost, threads: wg },
  });
}

/**
 * Categorical cross-entropy on probabilities (the last activation is not a fused softmax). Like Keras, p is
 * clipped to [1e-7, 1 - 1e-7]: loss = -Σ t·log(clip(p)); dProbs = -t/p * gradScale inside the clip range and 0
 * outside it (TF's clip_by_value passes no gradient there, and -t/p would be infinite at p = 0).
 */
export function crossEntropyFromProbs(
  rec: Recorder, probs: Tensor, target: Tensor, dProbs: Tensor | null, stats: Tensor | null, n: number, c: number, opts: LossOptions,
): void {
  validate('crossEntropyFromProbs', probs, target, [dProbs], stats, n, c, opts);
  if (dProbs) elementGrad(rec, 'crossEntropyFromProbs', probs, target, dProbs, n, c, opts);
  if (stats) accumulate(rec, 'crossEntropyFromProbs', probs, target, stats, n, c, opts);
}

/**
 * Mean squared error as Keras computes it: the mean over the last axis, then (by the caller's gradScale) over the
 * batch. dPred = 2 (p - t) / c * gradScale; accuracy counts argmax matches. Sparse targets act as one-hot.
 */
export function meanSquaredError(
  rec: Recorder, pred: Tensor, target: Tensor, dPred: Tensor | null, stats: Tensor | null, n: number, c: number, opts: LossOptions,
): void {
  validate('meanSquaredError', pred, target, [dPred], stats, n, c, opts);
  if (dPred) elementGrad(rec, 'meanSquaredError', pred, target, dPred, n, c, opts);
  if (stats) accumulate(rec, 'meanSquaredError', pred, target, stats, n, c, opts);
}

/**
 * Fused sigmoid + binary cross-entropy on logits z [n, c] with 0/1 (or soft) targets [n, c]: probs = sigmoid(z),
 * dLogits = (sigmoid(z) - t) / c · gradScale (when not null); stats += [Σ rows of mean_j (max(z, 0) - z·t +
 * log(1 + e^-|z|)), Σ rows of binary_accuracy (z > 0 against t), n, nonFinite] (when not null).
 */
export function sigmoidCrossEntropy(
  rec: Recorder, logits: Tensor, target: Tensor, probs: Tensor, dLogits: Tensor | null, stats: Tensor | null, n: number, c: number, opts: LossOptions,
): void {
  if (opts.sparse) throw new ShaderflowError('sigmoidCrossEntropy: binary cross-entropy takes target rows [n, c], not sparse class indices.');
  validate('sigmoidCrossEntropy', logits, target, [probs, dLogits], stats, n, c, opts);
  fusedProbs(rec, 'sigmoidCrossEntropy', 'sigmoid', logits, target, probs, dLogits, n, c, opts, n * c, {
    variant: 'scalar', serial: 1, flops: (dLogits ? 7 : 4) * n * c, bytes: 4 * n * c * (dLogits ? 4 : 2),
  });
  if (stats) accumulate(rec, 'sigmoidCrossEntropy', logits, target, stats, n, c, opts);
}

/**
 * Binary cross-entropy on probabilities p [n, c] (the last activation is not a fused sigmoid), as Keras: p clipped
 * to [1e-7, 1 - 1e-7], loss = mean_j -(t·log p + (1 - t)·log(1 - p)); dProbs = (-t/p + (1 - t)/(1 - p)) / c ·
 * gradScale inside the clip range, 0 outside. Stats as sigmoidCrossEntropy (binary_accuracy with threshold 0.5).
 */
export function binaryCrossEntropyFromProbs(
  rec: Recorder, probs: Tensor, target: Tensor, dProbs: Tensor | null, stats: Tensor | null, n: number, c: number, opts: LossOptions,
): void {
  if (opts.sparse) throw new ShaderflowError('binaryCrossEntropyFromProbs: binary cross-entropy takes target rows [n, c], not sparse class indices.');
  validate('binaryCrossEntropyFromProbs', probs, target, [dProbs], stats, n, c, opts);
  if (dProbs) elementGrad(rec, 'binaryCrossEntropyFromProbs', probs, target, dProbs, n, c, opts);
  if (stats) accumulate(rec, 'binaryCrossEntropyFromProbs', probs, target, stats, n, c, opts);
}

/** Accuracy only (evaluate/predict paths): accumulates the argmax-correct count and n, with a zero loss. */
export function accuracy(rec: Recorder, pred: Tensor, target: Tensor, stats: Tensor, n: number, c: number, opts: { sparse?: boolean; statsVariant?: StatsVariant } = {}): void {
  const o: LossOptions = { gradScale: 0, sparse: opts.sparse, statsVariant: opts.statsVariant };
  validate('accuracy', pred, target, [], stats, n, c, o);
  accumulate(rec, 'accuracy', pred, target, stats, n, c, o);
}
