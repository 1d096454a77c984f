// Batch normalization kernels (shaders/batchnorm.wgsl) over x viewed as [rows, cols] (cols = channels, the last
// axis). Per-channel sums are columnSum's (fixed-order chunks: serial on software adapters, workgroup trees on
// GPUs), so both adapter classes get their reduction variant and the results are deterministic. CPU reference:
// src/reference/batchnorm.ts.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import { Tensor } from '../gpu/tensor.js';
import { columnSum, type ReduceOptions } from './elementwise.js';
import { tuningOf } from './tuning.js';

/** The sizes and constants of one batch normalization. */
export interface BatchNormSpec {
  /** Positions normalised together (batch × height × width). */
  rows: number;
  /** Channels (the normalised axis). */
  cols: number;
  epsilon: number;
  momentum: number;
}

/** The per-channel tensors a batch normalization reads and writes (gamma and beta absent without scale/center). */
export interface BatchNormTensors {
  gamma?: Tensor;
  beta?: Tensor;
  movingMean: Tensor;
  movingVariance: Tensor;
  /** Shape (2, cols): the mean, then 1/sqrt(variance + epsilon); written by the forward pass, read by backward. */
  stats: Tensor;
  /** [cols] scratch for per-channel sums: Σx and Σ(x - mean)² in forward, Σdy and Σdy·x̂ in backward. */
  sumA: Tensor;
  sumB: Tensor;
}

const TRAINING = 1, GAMMA = 2, BETA = 4, UPDATE = 8;

function check(what: string, name: string, t: Tensor | undefined, n: number): void {
  if (t && t.size !== n) throw new ShapeError(`${what}: ${name} should hold ${n} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

function checkAll(what: string, s: BatchNormSpec, t: BatchNormTensors, big: Record<string, Tensor>): void {
  for (const [name, v] of Object.entries(big)) check(what, name, v, s.rows * s.cols);
  for (const name of ['gamma', 'beta', 'movingMean', 'movingVariance'] as const) check(what, name, t[name], s.cols);
  check(what, 'stats', t.stats, 2 * s.cols);
  check(what, 'sumA', t.sumA, s.cols);
  check(what, 'sumB', t.sumB, s.cols);
}

/**
 * Records one entry. Per-element entries (`perElement`) run their vec4 form when the channels are a multiple of 4
 * (on every adapter class: four channels per invocation, a quarter of the index arithmetic; measured on llvmpipe,
 * where each storage access and integer divide is a per-lane loop) unless `opts.vec4` is false.
 */
function run(rec: Recorder, entry: string, s: BatchNormSpec, flags: number, items: number, bindings: (Tensor | null)[], flopsPer: number, tensorsTouched: number, opts: BatchNormOptions, perElement = true): void {
  if (items === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const v4 = perElement && s.cols % 4 === 0 && opts.vec4 !== false;
  const n = v4 ? items / 4 : items;
  rec.dispatch({
    shader: 'batchnorm',
    entry: v4 ? `${entry}4` : entry,
    constants: { WG: wg },
    bindings: [rec.uniform([s.rows, s.cols, n, flags, s.epsilon, s.momentum, 0, 0], 'uuuuffuu'), ...bindings],
    workgroups: grid1d(rec.engine, n, wg),
    label: `batchnorm.${entry}`,
    cost: { variant: v4 ? 'vec4' : 'scalar', threads: wg, serial: 1, flops: flopsPer * items, bytes: 4 * items * tensorsTouched },
  });
}

/** Options of the batch-normalization kernels: the reduction variant, and the vec4 per-element entries. */
export interface BatchNormOptions extends ReduceOptions {
  /** false forces the scalar entries where the channels would allow vec4 (tests). */
  vec4?: boolean;
}

/**
 * y = gamma·(x - mean)·invStd + beta. `training`: mean and the biased variance of this batch (per channel over
 * rows), written to t.stats for backward, and, with `updateMoving`, moving = moving·momentum + batch·(1 - momentum);
 * otherwise the moving statistics. y must not overlap x.
 */
export function batchNormForward(rec: Recorder, x: Tensor, y: Tensor, s: BatchNormSpec, t: BatchNormTensors, training: boolean, updateMoving = training, opts: BatchNormOptions = {}): void {
  checkAll('batchNormForward', s, t, { x, y });
  const n = s.rows * s.cols;
  const flags = (training ? TRAINING : 0) | (t.gamma ? GAMMA : 0) | (t.beta ? BETA : 0) | (training && updateMoving ? UPDATE : 0);
  if (training) {
    columnSum(rec, x, s.rows, s.cols, t.sumA, false, opts);
    // y holds the centred squares until normalizeForward overwrites it
    run(rec, 'centeredSquares', s, flags, n, [x, null, null, t.sumA, y], 3, 2, opts);
    columnSum(rec, y, s.rows, s.cols, t.sumB, false, opts);
  }
  run(rec, 'channelStats', s, flags, s.cols, [null, null, t.stats, t.sumA, null, t.movingMean, t.movingVariance, null, null, t.sumB], 8, 6, opts, false);
  // x stands in for an absent gamma/beta: a read-only binding the entry never reads (flags say so)
  run(rec, 'normalizeForward', s, flags, n, [x, null, t.stats, null, y, null, null, t.gamma ?? x, t.beta ?? x], 4, 2, opts);
}

/**
 * Backward of batchNormForward with the statistics it wrote to t.stats: dgamma = Σ dy·x̂ and dbeta = Σ dy per channel
 * (into `dgamma` / `dbeta` when given), and dx (when given): through the batch mean and variance when `training`,
 * else gamma·invStd·dy. dx must not overlap x or dy.
 */
export function batchNormBackward(
  rec: Recorder, x: Tensor, dy: Tensor, dx: Tensor | null, s: BatchNormSpec, t: BatchNormTensors, training: boolean,
  grads: { dgamma?: Tensor; dbeta?: Tensor } = {}, opts: BatchNormOptions = {},
): void {
  checkAll('batchNormBackward', s, t, dx ? { x, dy, dx } : { x, dy });
  check('batchNormBackward', 'dgamma', grads.dgamma, s.cols);
  check('batchNormBackward', 'dbeta', grads.dbeta, s.cols);
  const n = s.rows * s.cols;
  const flags = (training ? TRAINING : 0) | (t.gamma ? GAMMA : 0) | (t.beta ? BETA : 0);
  const sumDy = t.sumA, sumDyXhat = t.sumB;
  // The sums are needed for dx in training mode and for the parameter gradients in either mode.
  const needSums = (dx && training) || grads.dgamma || grads.dbeta;
  if (needSums) {
    columnSum(rec, dy, s.rows, s.cols, sumDy, false, opts);
    if ((dx && training) || grads.dgamma) {
      // dy·x̂ goes through dx (or, without dx, a recorder scratch) before its column sums
      const tmp = dx ?? Tensor.view(rec.engine, rec.scratch(n * 4, 'batchNormBackward dy·x̂').buffer, 0, [s.rows, s.cols]);
      run(rec, 'dyXhat', s, flags, n, [x, dy, t.stats, null, tmp], 3, 3, opts);
      columnSum(rec, tmp, s.rows, s.cols, sumDyXhat, false, opts);
    }
  }
  if (grads.dgamma) rec.copy(sumDyXhat, grads.dgamma, s.cols * 4, 'batchnorm.dgamma');
  if (grads.dbeta) rec.copy(sumDy, grads.dbeta, s.cols * 4, 'batchnorm.dbeta');
  if (dx) run(rec, 'inputGrad', s, flags, n, [x, dy, t.stats, sumDy, dx, null, null, t.gamma ?? x, null, sumDyXhat], 8, 4, opts);
}
