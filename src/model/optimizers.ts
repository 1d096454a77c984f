// Optimizer specs (Keras names and defaults) and how each one records its single update dispatch over the
// model's whole parameter arena.
import { ShaderflowError } from '../errors.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { adamStep, rmspropStep, sgdStep, type LearningRateInput } from '../kernels/optimizer.js';
import { scheduleFromConfig, type LearningRateSchedule } from './schedules.js';

/** Keras' keras.optimizers.schedules: the learning-rate schedules an optimizer's learningRate may be. */
export * as schedules from './schedules.js';

/** A learning rate: a number, or a schedule of the optimizer step (Keras' LearningRateSchedule). */
export type LearningRateArg = number | LearningRateSchedule;

/**
 * An optimizer and its hyperparameters (Keras' names). After compile, `model.optimizer.learningRate` reads the
 * rate the next step uses and (for a number, between batches) sets it: the model rewrites its learning-rate
 * buffer; nothing is re-recorded.
 */
export type OptimizerSpec =
  | { kind: 'sgd'; learningRate: LearningRateArg; momentum: number; nesterov: boolean }
  | { kind: 'adam'; learningRate: LearningRateArg; beta1: number; beta2: number; epsilon: number }
  | { kind: 'rmsprop'; learningRate: LearningRateArg; rho: number; epsilon: number };

/** Keras' defaults: SGD lr 0.01; Adam lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7; RMSprop lr 0.001, rho 0.9. */
export function sgd(o: { learningRate?: LearningRateArg; momentum?: number; nesterov?: boolean } = {}): OptimizerSpec {
  return { kind: 'sgd', learningRate: o.learningRate ?? 0.01, momentum: o.momentum ?? 0, nesterov: o.nesterov ?? false };
}
/** Adam with Keras' defaults unless given: lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7. */
export function adam(o: { learningRate?: LearningRateArg; beta1?: number; beta2?: number; epsilon?: number } = {}): OptimizerSpec {
  return { kind: 'adam', learningRate: o.learningRate ?? 0.001, beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, epsilon: o.epsilon ?? 1e-7 };
}
/** RMSprop with Keras' defaults unless given: lr 0.001, rho 0.9, epsilon 1e-7. */
export function rmsprop(o: { learningRate?: LearningRateArg; rho?: number; epsilon?: number } = {}): OptimizerSpec {
  return { kind: 'rmsprop', learningRate: o.learningRate ?? 0.001, rho: o.rho ?? 0.9, epsilon: o.epsilon ?? 1e-7 };
}

/** An OptimizerSpec from a name (sgd, adam, rmsprop, as Keras accepts them) or a spec; throws naming the valid ones. */
export function parseOptimizer(o: string | OptimizerSpec): OptimizerSpec {
  // a compiled model's optimizer reads its rate through an accessor: a copy keeps the schedule, not its current value
  const schedule = typeof o === 'string' ? undefined : (o as { schedule?: LearningRateSchedule }).schedule;
  if (typeof o !== 'string') return schedule ? { ...o, learningRate: schedule } : { ...o };
  switch (o.toLowerCase()) {
    case 'sgd':
      return sgd();
    case 'adam':
      return adam();
    case 'rmsprop':
      return rmsprop();
    default:
      throw new ShaderflowError(`Unknown optimizer "${o}": use 'sgd', 'adam' or 'rmsprop' (or optimizers.sgd({...}) etc.).`);
  }
}

/** How many arena-sized state tensors the optimizer keeps (SGD's velocity only with momentum). */
export function optimizerStateCount(spec: OptimizerSpec): number {
  return spec.kind === 'adam' ? 2 : spec.kind === 'rmsprop' ? 1 : spec.momentum > 0 ? 1 : 0;
}

/** Names of the optimizer's state tensors, in order (e.g. m and v for Adam). */
export function stateNames(spec: OptimizerSpec): string[] {
  return spec.kind === 'adam' ? ['m', 'v'] : spec.kind === 'rmsprop' ? ['ms'] : spec.momentum > 0 ? ['velocity'] : [];
}

/** The rate at optimizer step `step`: the number itself, or the schedule's value there. */
export function learningRateAt(lr: LearningRateArg, step: number): number {
  return typeof lr === 'number' ? lr : lr(step);
}

/**
 * One dispatch that updates every parameter of the model. `lr`: the model's learning-rate buffer (read on the GPU
 * at every run, rewritten by the host between steps); without it the spec's rate at step 0 is baked in.
 */
export function recordOptimizerStep(rec: Recorder, spec: OptimizerSpec, params: Tensor, grads: Tensor, state: Tensor[], stepState: GPUBuffer, lrBuffer?: GPUBuffer): void {
  const lr: LearningRateInput = lrBuffer ?? learningRateAt(spec.learningRate, 0);
  switch (spec.kind) {
    case 'sgd':
      sgdStep(rec, params, grads, state[0] ?? null, { lr, momentum: spec.momentum, nesterov: spec.nesterov });
      return;
    case 'adam':
      adamStep(rec, params, grads, state[0]!, state[1]!, stepState, { lr, beta1: spec.beta1, beta2: spec.beta2, epsilon: spec.epsilon });
      return;
    case 'rmsprop':
      rmspropStep(rec, params, grads, state[0]!, { lr, rho: spec.rho, epsilon: spec.epsilon });
      return;
  }
}

/**
 * The learning rate as model.json's optimizer config holds it: a number, or Keras' serialized schedule
 * ({class_name, config}) for a built-in schedule; a custom schedule function is saved as its rate at `step`.
 */
export function learningRateConfig(lr: LearningRateArg, step = 0): number | { class_name: string; config: Record<string, unknown> } {
  if (typeof lr === 'number') return lr;
  if (lr.className && lr.getConfig) return { class_name: lr.className, config: lr.getConfig() };
  return lr(step);
}

/** A learning rate from model.json's optimizer config: a number, or a built-in schedule's {class_name, config}. */
export function learningRateFromConfig(v: unknown): LearningRateArg | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { class_name?: unknown }).class_name === 'string') {
    const c = v as { class_name: string; config?: Record<string, unknown> };
    return scheduleFromConfig(c.class_name, c.config ?? {});
  }
  return undefined;
}

/** Keras/TF.js optimizer config, for model.json's training_config. */
export function optimizerConfig(spec: OptimizerSpec, lr: LearningRateArg = spec.learningRate): { class_name: string; config: Record<string, unknown> } {
  const learning_rate = learningRateConfig(lr);
  switch (spec.kind) {
    case 'sgd':
      return { class_name: 'SGD', config: { learning_rate, momentum: spec.momentum, nesterov: spec.nesterov } };
    case 'adam':
      return { class_name: 'Adam', config: { learning_rate, beta_1: spec.beta1, beta_2: spec.beta2, epsilon: spec.epsilon } };
    case 'rmsprop':
      return { class_name: 'RMSprop', config: { learning_rate, rho: spec.rho, epsilon: spec.epsilon } };
  }
}

/** The OptimizerSpec in model.json's training_config (TF.js / Keras names), or undefined when there is none. */
export function optimizerFromConfig(c: { class_name?: string; config?: Record<string, unknown> } | undefined): OptimizerSpec | undefined {
  if (!c?.class_name) return undefined;
  const cfg = c.config ?? {};
  const lr = learningRateFromConfig(cfg.learning_rate ?? cfg.lr);
  switch (c.class_name.toLowerCase()) {
    case 'sgd':
      return sgd({ learningRate: lr, momentum: cfg.momentum as number, nesterov: cfg.nesterov as boolean });
    case 'adam':
      return adam({ learningRate: lr, beta1: cfg.beta_1 as number, beta2: cfg.beta_2 as number, epsilon: cfg.epsilon as number });
    case 'rmsprop':
      return rmsprop({ learningRate: lr, rho: cfg.rho as number, epsilon: cfg.epsilon as number });
    default:
      return undefined;
  }
}
