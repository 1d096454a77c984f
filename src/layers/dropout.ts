// Dropout: inverted dropout while training (kept values scaled by 1/(1-rate)), the identity at inference (no
// dispatch). The mask comes from a counter-based hash of (seed, stream = layer id, step t, element), so each
// training step draws a fresh mask with no host work, and backward reuses the mask forward wrote.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { dropoutBackward, dropoutForward } from '../kernels/dropout.js';
import { Layer, type StepContext } from './layer.js';

/** Inverted dropout while training (Keras' Dropout); the identity in evaluate and predict. */
export class Dropout extends Layer {
  readonly className = 'Dropout';
  readonly rate: number;
  readonly seed?: number;
  private y?: Tensor;
  private mask?: Tensor;
  private dx?: Tensor;
  /** Whether the last recorded forward applied a mask (backward is then the mask product, else identity). */
  private masked = false;

  constructor(opts: { rate: number; seed?: number; name?: string; inputShape?: number[]; trainable?: boolean }) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'dropout');
    if (typeof opts.rate !== 'number' || !(opts.rate >= 0 && opts.rate < 1))
      throw this.shapeError(`rate must be a number in [0, 1), got ${JSON.stringify(opts.rate)}.`);
    if (opts.seed !== undefined && !(Number.isInteger(opts.seed) && opts.seed >= 0))
      throw this.shapeError(`seed must be a whole number >= 0, got ${JSON.stringify(opts.seed)}.`);
    this.rate = opts.rate;
    this.seed = opts.seed;
  }

  computeOutputShape(inputShape: number[]): number[] {
    return [...inputShape];
  }

  getConfig(): Record<string, unknown> {
    return { rate: this.rate, noise_shape: null, seed: this.seed ?? null };
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    if (this.rate === 0) return;
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.mask = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    this.masked = ctx.training && this.rate > 0;
    if (!this.masked) return x;
    const y = this.batchView(this.y!, ctx.n);
    const mask = this.batchView(this.mask!, ctx.n);
    dropoutForward(rec, x, y, mask, this.rate, this.seed ?? ctx.seed, this.id, ctx.stepState);
    this.saved = { mask };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    if (!this.masked) return dy;
    const dx = this.batchView(this.dx!, ctx.n);
    dropoutBackward(rec, dy, this.saved.mask!, dx);
    return dx;
  }
}
