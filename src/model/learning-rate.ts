// The learning rate a compiled model trains with: one f32 in a small GPU uniform buffer that the recorded
// optimizer dispatch reads at every run. The host keeps the step count (Keras' optimizer.iterations) and, before
// each step, writes the buffer when the rate changed (a schedule's next value, or a rate a callback or the user
// set between batches): 4 bytes, never a re-recording.
import { ShaderflowError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { createLearningRateBuffer, writeLearningRate } from '../kernels/optimizer.js';
import type { LearningRateArg, OptimizerSpec } from './optimizers.js';
import type { LearningRateSchedule } from './schedules.js';

/** A compiled model's learning rate: its GPU buffer, the host's step count and the constant rate or schedule. */
export class LearningRate {
  /** The uniform buffer the optimizer dispatch binds (owned here; freed by dispose). */
  readonly buffer: GPUBuffer;
  /** The schedule, when the optimizer was given one (then the rate is not settable, as in Keras). */
  readonly schedule?: LearningRateSchedule;
  /** Optimizer steps run so far (Keras' optimizer.iterations): a schedule's argument for the next step. */
  iterations = 0;
  private rate: number;
  private written: number;

  constructor(
    private readonly engine: Engine,
    lr: LearningRateArg,
  ) {
    if (typeof lr === 'function') this.schedule = lr;
    else if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0)) throw new ShaderflowError(`compile: the learning rate must be a finite number > 0 or a schedule, got ${String(lr)}.`);
    this.rate = typeof lr === 'number' ? Math.fround(lr) : NaN;
    this.written = this.value;
    this.buffer = createLearningRateBuffer(engine, Number.isFinite(this.written) && this.written >= 0 ? this.written : 0);
  }

  /** The rate the next step uses, as the GPU holds it (f32): the constant, or the schedule at `iterations`. */
  get value(): number {
    return this.schedule ? Math.fround(this.schedule(this.iterations)) : this.rate;
  }

  /** Sets the rate for the following steps (between batches); a schedule's rate is not settable. */
  set value(v: number) {
    if (this.schedule) throw new ShaderflowError('optimizer.learningRate: this optimizer was compiled with a learning-rate schedule, whose rate is not settable (as in Keras); compile with a number to set it.');
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new ShaderflowError(`optimizer.learningRate must be set to a finite number > 0, got ${String(v)}.`);
    this.rate = Math.fround(v);
  }

  /**
   * Before a step is submitted: writes the buffer if the rate changed since the last write (queue order puts
   * the write before the step) and returns the rate the step uses.
   */
  beforeStep(): number {
    const v = this.value;
    if (!(Number.isFinite(v) && v >= 0)) throw new ShaderflowError(`fit: ${this.schedule?.className ?? 'the learning-rate schedule'} gives the learning rate ${v} at optimizer step ${this.iterations}; a rate must be a finite number >= 0.`);
    if (v !== this.written) {
      writeLearningRate(this.engine, this.buffer, v);
      this.written = v;
    }
    return v;
  }

  /** After a step is submitted: one more optimizer iteration. */
  afterStep(): void {
    this.iterations++;
  }

  /** Frees the buffer. */
  dispose(): void {
    this.engine.release(this.buffer);
  }
}

/**
 * Makes `spec.learningRate` read and set `lr` (Keras' optimizer.learning_rate): reading gives the rate the next
 * step uses; setting a number changes it from the next step on. `spec.schedule` (not enumerable) holds the
 * schedule, if any.
 */
export function bindLearningRate(spec: OptimizerSpec, lr: LearningRate): OptimizerSpec {
  Object.defineProperty(spec, 'learningRate', {
    get: () => lr.value,
    set: (v: number) => {
      lr.value = v;
    },
    enumerable: true,
    configurable: true,
  });
  Object.defineProperty(spec, 'schedule', { value: lr.schedule, enumerable: false, configurable: true });
  return spec;
}
