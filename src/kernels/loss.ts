// Loss kernels (shaders/loss.wgsl): gradients in parallel, statistics in one fixed-order workgroup.
// CPU references: src/reference/loss.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

/** How the fused loss kernel reads its labels and where it adds its statistics. */
export interface LossOptions {
  /** Multiplies every gradient element, e.g. 1/n for a batch mean. */
  gradScale: number;
  /** The target is u32 class indices [n] instead of one-hot f32 [n, c]. */
  sparse?: boolean;
}

const LOSS_CODE = { softmaxCrossEntropy: 0, crossEntropyFromProbs: 1, meanSquaredError: 2 } as const;
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
  const all = [x, target, ...outs, stats].filter((t): t is Tensor => t !== null);
  const writable = [...outs, stats].filter((t): t is Tensor => t !== null);
  for (const w of writable)
    for (const t of all)
      if (t !== w && overlaps(t, w)) throw new ShaderflowError(`${what}: output ${shapeStr(w.shape)} overlaps another argument; give each its own buffer range.`);
  if (!Number.isFinite(opts.gradScale)) throw new ShaderflowError(`${what}: gradScale must be finite, got ${opts.gradScale}.`);
}

function constants(rec: Recorder, kind: LossKind, opts: LossOptions): Record<string, number> {
  return { WG: tuningOf(rec.engine).elementwiseWorkgroup, LOSS: LOSS_CODE[kind], SPARSE: opts.sparse ? 1 : 0 };
}

/** Adds this batch's loss sum, correct count, n and the nonFinite flag into stats (one workgroup, fixed order). */
function accumulate(rec: Recorder, kind: LossKind, x: Tensor, target: Tensor, stats: Tensor, n: number, c: number, opts: LossOptions): void {
  if (n === 0) return;
  rec.dispatch({
    shader: 'loss',
    entry: 'accumulate',
    constants: constants(rec, kind, opts),
    bindings: [rec.uniform([n, c, opts.gradScale, 0], 'uufu'), x, target, null, null, stats],
    workgroups: [1],
    label: `loss.${kind}.stats`,
  });
}

function elementGrad(rec: Recorder, kind: LossKind, x: Tensor, target: Tensor, grad: Tensor, n: number, c: number, opts: LossOptions): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'loss',
    entry: 'elementGrad',
    constants: constants(rec, kind, opts),
    bindings: [rec.uniform([n, c, opts.gradScale, 0], 'uufu'), x, target, null, grad, null],
    workgroups: grid1d(rec.engine, n * c, wg),
    label: `loss.${kind}.grad`,
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
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'loss',
    entry: dLogits ? 'softmaxProbsGrad' : 'softmaxProbs',
    constants: constants(rec, 'softmaxCrossEntropy', opts),
    bindings: [rec.uniform([n, c, opts.gradScale, 0], 'uufu'), logits, dLogits ? target : null, probs, dLogits, null],
    workgroups: grid1d(rec.engine, n, wg),
    label: 'loss.softmaxCrossEntropy.probs',
  });
  if (stats) accumulate(rec, 'softmaxCrossEntropy', logits, target, stats, n, c, opts);
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

/** Accuracy only (evaluate/predict paths): accumulates the argmax-correct count and n, with a zero loss. */
export function accuracy(rec: Recorder, pred: Tensor, target: Tensor, stats: Tensor, n: number, c: number, opts: { sparse?: boolean } = {}): void {
  const o: LossOptions = { gradScale: 0, sparse: opts.sparse };
  validate('accuracy', pred, target, [], stats, n, c, o);
  if (n === 0) return;
  rec.dispatch({
    shader: 'loss',
    entry: 'accumulate',
    constants: { ...constants(rec, 'meanSquaredError', o), LOSS: 3 },
    bindings: [rec.uniform([n, c, 0, 0], 'uufu'), pred, target, null, null, stats],
    workgroups: [1],
    label: 'loss.accuracy',
  });
}
