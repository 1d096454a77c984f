// Learning-rate schedules with Keras' LearningRateSchedule semantics: a function of the optimizer step (the number
// of updates made before this one, 0-based), evaluated on the host before each step; the step plan writes the
// value into the optimizer's learning-rate buffer when it changes (no re-recording). Formulas as Keras 3's
// keras/src/optimizers/schedules/learning_rate_schedule.py, in float64 (the buffer holds its f32 rounding).
import { ShaderflowError } from '../errors.js';

/** The Keras class names of the built-in schedules. */
export type ScheduleClassName = 'ExponentialDecay' | 'InverseTimeDecay' | 'PiecewiseConstantDecay' | 'CosineDecay';

/**
 * A learning-rate schedule: called with the optimizer step (0-based), returns the rate for that step. Any such
 * function can serve as an optimizer's `learningRate`; the built-in ones also carry their Keras class name and
 * config (saved in model.json's training config).
 */
export type LearningRateSchedule = ((step: number) => number) & {
  /** The Keras class name (built-in schedules). */
  readonly className?: string;
  /** The Keras config (snake_case keys as Keras writes them). */
  getConfig?(): Record<string, unknown>;
};

function fail(what: string, msg: string): never {
  throw new ShaderflowError(`${what}: ${msg}`);
}

function positive(what: string, name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) fail(what, `${name} must be a finite number > 0, got ${v}.`);
}

function nonNegative(what: string, name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) fail(what, `${name} must be a finite number >= 0, got ${v}.`);
}

function schedule(className: ScheduleClassName, config: Record<string, unknown>, f: (step: number) => number): LearningRateSchedule {
  return Object.assign((step: number) => f(step), { className, getConfig: () => ({ ...config }) });
}

/** exponentialDecay's and inverseTimeDecay's arguments (Keras' ExponentialDecay, InverseTimeDecay). */
export interface TimeDecayArgs {
  initialLearningRate: number;
  /** > 0. */
  decaySteps: number;
  /** exponentialDecay: > 0, the factor per decaySteps steps; inverseTimeDecay: >= 0. */
  decayRate: number;
  /** Decay in whole multiples of decaySteps (default false). */
  staircase?: boolean;
}

/** exponentialDecay's arguments. */
export type ExponentialDecayArgs = TimeDecayArgs;
/** inverseTimeDecay's arguments. */
export type InverseTimeDecayArgs = TimeDecayArgs;

/** Checks the arguments both time decays share; returns the step's decay exponent, step / decaySteps (floored with staircase). */
function timeDecay(what: string, a: TimeDecayArgs, rateCheck: typeof positive): (step: number) => number {
  positive(what, 'initialLearningRate', a.initialLearningRate);
  positive(what, 'decaySteps', a.decaySteps);
  rateCheck(what, 'decayRate', a.decayRate);
  return a.staircase ? (step) => Math.floor(step / a.decaySteps) : (step) => step / a.decaySteps;
}

function timeDecayConfig(a: TimeDecayArgs): Record<string, unknown> {
  return { initial_learning_rate: a.initialLearningRate, decay_steps: a.decaySteps, decay_rate: a.decayRate, staircase: a.staircase ?? false };
}

/** Keras' ExponentialDecay: lr = initialLearningRate · decayRate^(step / decaySteps) (the exponent floored with staircase). */
export function exponentialDecay(a: ExponentialDecayArgs): LearningRateSchedule {
  const p = timeDecay('exponentialDecay', a, positive);
  return schedule('ExponentialDecay', timeDecayConfig(a), (step) => a.initialLearningRate * a.decayRate ** p(step));
}

/** Keras' InverseTimeDecay: lr = initialLearningRate / (1 + decayRate · step / decaySteps) (floored with staircase). */
export function inverseTimeDecay(a: InverseTimeDecayArgs): LearningRateSchedule {
  const p = timeDecay('inverseTimeDecay', a, nonNegative);
  return schedule('InverseTimeDecay', timeDecayConfig(a), (step) => a.initialLearningRate / (1 + a.decayRate * p(step)));
}

/** piecewiseConstantDecay's arguments (Keras' PiecewiseConstantDecay). */
export interface PiecewiseConstantDecayArgs {
  /** Strictly increasing steps. */
  boundaries: number[];
  /** One more than boundaries, each > 0. */
  values: number[];
}

/** Keras' PiecewiseConstantDecay: values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i], the last value after. */
export function piecewiseConstantDecay(a: PiecewiseConstantDecayArgs): LearningRateSchedule {
  const what = 'piecewiseConstantDecay';
  const { boundaries, values } = a;
  if (values.length !== boundaries.length + 1) fail(what, `values needs one more entry than boundaries, got ${values.length} values for ${boundaries.length} boundaries.`);
  boundaries.forEach((b, i) => {
    if (!Number.isFinite(b)) fail(what, `boundaries[${i}] must be a finite number, got ${b}.`);
    if (i > 0 && !(b > boundaries[i - 1]!)) fail(what, `boundaries must increase strictly, got ${boundaries[i - 1]} then ${b}.`);
  });
  values.forEach((v, i) => positive(what, `values[${i}]`, v));
  const config = { boundaries: [...boundaries], values: [...values] };
  return schedule('PiecewiseConstantDecay', config, (step) => {
    let i = 0;
    while (i < boundaries.length && step > boundaries[i]!) i++;
    return values[i]!;
  });
}

/** cosineDecay's arguments (Keras' CosineDecay, with its optional linear warm-up). */
export interface CosineDecayArgs {
  /** The rate at step 0 (the warm-up's start when warmupTarget is given; may then be 0). */
  initialLearningRate: number;
  /** > 0: steps of the cosine decay (after the warm-up). */
  decaySteps: number;
  /** The floor, as a fraction of the decay's starting rate, in [0, 1] (default 0). */
  alpha?: number;
  /** Warm up linearly from initialLearningRate to this rate over warmupSteps, then decay from it (default: no warm-up). */
  warmupTarget?: number;
  /** Steps of the warm-up (default 0). */
  warmupSteps?: number;
}

/**
 * Keras' CosineDecay: without warm-up, lr = initial · ((1 - alpha) · ½(1 + cos(π · min(step, decaySteps) / decaySteps)) + alpha).
 * With warmupTarget: for step < warmupSteps, lr = initial + (warmupTarget - initial) · step / warmupSteps; after it
 * the same decay from warmupTarget over step - warmupSteps (step capped at warmupSteps + decaySteps).
 */
export function cosineDecay(a: CosineDecayArgs): LearningRateSchedule {
  const what = 'cosineDecay';
  const alpha = a.alpha ?? 0;
  const warmupSteps = a.warmupSteps ?? 0;
  const target = a.warmupTarget;
  positive(what, 'decaySteps', a.decaySteps);
  if (!(alpha >= 0 && alpha <= 1)) fail(what, `alpha must be in [0, 1], got ${alpha}.`);
  nonNegative(what, 'warmupSteps', warmupSteps);
  if (target === undefined) positive(what, 'initialLearningRate', a.initialLearningRate);
  else {
    nonNegative(what, 'initialLearningRate', a.initialLearningRate);
    positive(what, 'warmupTarget', target);
  }
  const config = { initial_learning_rate: a.initialLearningRate, decay_steps: a.decaySteps, alpha, warmup_target: target ?? null, warmup_steps: warmupSteps };
  const decay = (step: number, from: number) => from * ((1 - alpha) * 0.5 * (1 + Math.cos((Math.PI * step) / a.decaySteps)) + alpha);
  return schedule('CosineDecay', config, (step) => {
    if (target === undefined) return decay(Math.min(step, a.decaySteps), a.initialLearningRate);
    const s = Math.min(step, a.decaySteps + warmupSteps);
    if (s < warmupSteps) return (target - a.initialLearningRate) * (s / warmupSteps) + a.initialLearningRate;
    return decay(s - warmupSteps, target);
  });
}

/** A built-in schedule from its Keras class name and config (model.json), or undefined for an unknown class. */
export function scheduleFromConfig(className: string, c: Record<string, unknown>): LearningRateSchedule | undefined {
  const n = (k: string) => c[k] as number;
  switch (className) {
    case 'ExponentialDecay':
      return exponentialDecay({ initialLearningRate: n('initial_learning_rate'), decaySteps: n('decay_steps'), decayRate: n('decay_rate'), staircase: c.staircase === true });
    case 'InverseTimeDecay':
      return inverseTimeDecay({ initialLearningRate: n('initial_learning_rate'), decaySteps: n('decay_steps'), decayRate: n('decay_rate'), staircase: c.staircase === true });
    case 'PiecewiseConstantDecay':
      return piecewiseConstantDecay({ boundaries: c.boundaries as number[], values: c.values as number[] });
    case 'CosineDecay':
      return cosineDecay({
        initialLearningRate: n('initial_learning_rate'),
        decaySteps: n('decay_steps'),
        alpha: (c.alpha as number | undefined) ?? 0,
        warmupTarget: (c.warmup_target as number | null | undefined) ?? undefined,
        warmupSteps: (c.warmup_steps as number | undefined) ?? 0,
      });
    default:
      return undefined;
  }
}

/**
 * Checks a learning rate before training: a number must be finite and > 0; a schedule is evaluated at every
 * step the fit will run (`firstStep` to `firstStep + steps - 1`) and must give finite rates >= 0, not all 0. A
 * rate of exactly 0 at some steps is allowed because Keras' own schedules produce it (a warm-up from 0, cosine
 * decay with alpha 0 past decaySteps).
 */
export function checkLearningRate(lr: number | LearningRateSchedule, firstStep: number, steps: number): void {
  if (typeof lr === 'number') {
    if (!(Number.isFinite(lr) && lr > 0)) throw new ShaderflowError(`fit: the learning rate must be a finite number > 0, got ${lr}. Pass a positive learningRate to the optimizer.`);
    return;
  }
  const name = lr.className ?? 'the learning-rate schedule';
  let anyPositive = false;
  for (let s = firstStep; s < firstStep + steps; s++) {
    const v = lr(s);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new ShaderflowError(`fit: ${name} gives the learning rate ${v} at optimizer step ${s}; a rate must be a finite number >= 0. Fix the schedule's arguments.`);
    if (v > 0) anyPositive = true;
  }
  if (steps > 0 && !anyPositive) throw new ShaderflowError(`fit: ${name} gives a learning rate of 0 at every one of the ${steps} steps this fit runs (from step ${firstStep}); nothing would train. Fix the schedule's arguments.`);
}
