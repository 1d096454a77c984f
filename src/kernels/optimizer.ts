// Optimizer kernels (shaders/optimizer.wgsl): each updates a whole flat parameter arena in one dispatch, with
// Keras' update rules. CPU references: src/reference/optimizer.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { useVec4 } from './elementwise.js';
import { tuningOf } from './tuning.js';

function sameSize(what: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.size !== ts[0]!.size) throw new ShapeError(`${what}: sizes differ: ${ts.map((x) => shapeStr(x.shape)).join(' vs ')}`);
}

function distinct(what: string, ...ts: Tensor[]): void {
  for (let i = 0; i < ts.length; i++)
    for (let j = i + 1; j < ts.length; j++) {
      const a = ts[i]!, b = ts[j]!;
      if (a.buffer === b.buffer && a.size > 0 && b.size > 0 && a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength)
        throw new ShaderflowError(`${what}: parameters, gradients and optimizer state must be separate buffer ranges.`);
    }
}

function finite(what: string, o: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(o))
    if (typeof v === 'number' && !Number.isFinite(v)) throw new ShaderflowError(`${what}: ${k} must be a finite number, got ${v}.`);
}

/** Per-parameter floating-point work and bytes moved (params, grads and state read and written) of each update. */
const UPDATE_COST: Record<string, { flops: number; bytes: number }> = {
  sgd: { flops: 2, bytes: 12 },
  sgdMomentum: { flops: 5, bytes: 20 },
  adam: { flops: 13, bytes: 28 },
  rmsprop: { flops: 8, bytes: 20 },
};

/**
 * The learning rate an update reads: a number (baked into the recording, as a uniform the recorder owns), or a
 * learning-rate buffer from `createLearningRateBuffer` that the host rewrites between runs of the same recording
 * (`writeLearningRate`: one 4-byte write, no re-recording).
 */
export type LearningRateInput = number | GPUBuffer;

/** Bytes of a learning-rate buffer: one f32, padded to the 16 bytes a WGSL uniform struct takes. */
const LR_BYTES = 16;

/**
 * A uniform buffer holding the learning rate `value` for the optimizer dispatches. The caller owns it and frees it
 * with `engine.release(buffer)`.
 */
export function createLearningRateBuffer(engine: Engine, value: number): GPUBuffer {
  const buf = engine.acquire(LR_BYTES, 'uniform');
  writeLearningRate(engine, buf, value);
  return buf;
}

/**
 * Sets the learning rate a recorded optimizer dispatch reads at its next run: one 4-byte queue write, ordered
 * before any later submit (WebGPU's queue order), so a step already submitted keeps the rate it was run with.
 */
export function writeLearningRate(engine: Engine, buffer: GPUBuffer, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new ShaderflowError(`learning rate must be a finite number >= 0, got ${value}.`);
  if (!engine.isVirtual(buffer)) engine.device.queue.writeBuffer(buffer, 0, new Float32Array([value]));
}

/** Options shared by the optimizer steps: `vec4` overrides the class's choice of the vec4 entries. */
export interface OptimizerKernelOptions {
  vec4?: boolean;
}

function update(rec: Recorder, entry: string, n: number, lr: LearningRateInput, values: number[], bindings: (Tensor | GPUBuffer | null)[], constants: Record<string, number>, opts: OptimizerKernelOptions): void {
  if (n === 0) return;
  const lrBinding = typeof lr === 'number' ? rec.uniform([lr, 0, 0, 0], 'ffff') : lr;
  const slots: (Tensor | GPUBuffer | null)[] = [...bindings, null, null, null, null, null, null].slice(0, 6);
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const v4 = useVec4(rec, n, opts.vec4);
  const items = v4 ? n / 4 : n;
  const c = UPDATE_COST[entry]!;
  rec.dispatch({
    shader: 'optimizer',
    entry: v4 ? `${entry}4` : entry,
    constants: { WG: wg, ...constants },
    bindings: [rec.uniform([items, ...values], 'ufff'), ...slots, lrBinding],
    workgroups: grid1d(rec.engine, items, wg),
    label: `optimizer.${entry}`,
    // serial: Adam's bias correction runs two fixed series (14 + 11 terms) per invocation; the rest is one update
    cost: { variant: v4 ? 'vec4' : 'scalar', threads: wg, serial: entry === 'adam' ? 25 : 1, flops: c.flops * n, bytes: c.bytes * n },
  });
}

/** stepState[0] += 1: recorded at the start of each training step (t counts updates including the current one). */
export function incrementStep(rec: Recorder, stepState: GPUBuffer): void {
  rec.dispatch({
    shader: 'optimizer',
    entry: 'incrementStep',
    bindings: [null, null, null, null, null, null, stepState],
    workgroups: [1],
    label: 'optimizer.incrementStep',
    cost: { variant: 'single', threads: 1, serial: 1, flops: 0, bytes: 8 },
  });
}

/**
 * Keras SGD. momentum 0: p -= lr*g. momentum > 0 (needs velocity): v = m*v - lr*g; p += v, or with nesterov
 * p += m*v - lr*g (the new v).
 */
export function sgdStep(rec: Recorder, params: Tensor, grads: Tensor, velocity: Tensor | null, o: { lr: LearningRateInput; momentum: number; nesterov: boolean }, k: OptimizerKernelOptions = {}): void {
  finite('sgdStep', o);
  if (o.momentum < 0) throw new ShaderflowError(`sgdStep: momentum must be >= 0, got ${o.momentum}.`);
  if (o.momentum > 0 || velocity) {
    if (!velocity) throw new ShaderflowError('sgdStep: momentum > 0 needs a velocity tensor.');
    sameSize('sgdStep', params, grads, velocity);
    distinct('sgdStep', params, grads, velocity);
    update(rec, 'sgdMomentum', params.size, o.lr, [o.momentum, 0, 0], [params, grads, velocity], { NESTEROV: o.nesterov ? 1 : 0 }, k);
    return;
  }
  sameSize('sgdStep', params, grads);
  distinct('sgdStep', params, grads);
  update(rec, 'sgd', params.size, o.lr, [0, 0, 0], [params, grads], {}, k);
}

/**
 * Keras Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²; lr_t = lr*sqrt(1-b2^t)/(1-b1^t);
 * p -= lr_t*m/(sqrt(v)+eps), with t = stepState[0] read on the GPU (Keras defaults 0.001/0.9/0.999/1e-7).
 */
export function adamStep(rec: Recorder, params: Tensor, grads: Tensor, m: Tensor, v: Tensor, stepState: GPUBuffer, o: { lr: LearningRateInput; beta1: number; beta2: number; epsilon: number }, k: OptimizerKernelOptions = {}): void {
  finite('adamStep', o);
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1)) throw new ShaderflowError(`adamStep: beta1 and beta2 must be in [0, 1), got ${o.beta1}, ${o.beta2}.`);
  sameSize('adamStep', params, grads, m, v);
  distinct('adamStep', params, grads, m, v);
  update(rec, 'adam', params.size, o.lr, [o.beta1, o.beta2, o.epsilon], [params, grads, m, v, stepState], {}, k);
}

/** Keras RMSprop without momentum, not centered: ms = rho*ms + (1-rho)*g²; p -= lr*g/(sqrt(ms)+eps). */
export function rmspropStep(rec: Recorder, params: Tensor, grads: Tensor, ms: Tensor, o: { lr: LearningRateInput; rho: number; epsilon: number }, k: OptimizerKernelOptions = {}): void {
  finite('rmspropStep', o);
  sameSize('rmspropStep', params, grads, ms);
  distinct('rmspropStep', params, grads, ms);
  update(rec, 'rmsprop', params.size, o.lr, [o.rho, 0, o.epsilon], [params, grads, ms], {}, k);
}
