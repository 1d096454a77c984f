// Activation: y = act(x) on its own, Keras' Activation layer, and LeakyReLU (its own alpha). Softmax is over the
// last axis; backward uses the saved output (the saved input for gelu and swish, see activationBackwardFrom).
// 'linear' is the identity: both directions return their argument without a dispatch.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { activationBackward, activationBackwardFrom, activationForward } from '../kernels/activation.js';
import { checkActivation } from './config.js';
import { Layer, type ActivationName, type StepContext } from './layer.js';

/** The shared body of Activation and LeakyReLU: one activation kind over the last axis, with an optional alpha. */
abstract class ActivationLayer extends Layer {
  abstract readonly activation: ActivationName;
  /** leaky_relu's slope or elu's alpha, when the layer sets its own. */
  protected alpha?: number;
  private y?: Tensor;
  private dx?: Tensor;

  computeOutputShape(inputShape: number[]): number[] {
    return [...inputShape];
  }

  /** [rows, cols] of the batch: cols is the last axis (softmax's axis). */
  private matrix(n: number): [number, number] {
    const cols = this.inputShape.length ? this.inputShape[this.inputShape.length - 1]! : 1;
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    return [(n * per) / cols, cols];
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    if (this.activation === 'linear') return;
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    if (this.activation === 'linear') return x;
    const y = this.batchView(this.y!, ctx.n);
    const [rows, cols] = this.matrix(ctx.n);
    activationForward(rec, this.activation, x, y, rows, cols, { alpha: this.alpha });
    this.saved = { output: activationBackwardFrom(this.activation) === 'input' ? x : y };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    if (this.activation === 'linear') return dy;
    const dx = this.batchView(this.dx!, ctx.n);
    const [rows, cols] = this.matrix(ctx.n);
    activationBackward(rec, this.activation, this.saved.output!, dy, dx, rows, cols, { alpha: this.alpha });
    return dx;
  }
}

/** An activation on its own (Keras' Activation layer): any ActivationName ('silu' is kept as 'swish'). */
export class Activation extends ActivationLayer {
  readonly className = 'Activation';
  readonly activation: ActivationName;

  constructor(opts: { activation: ActivationName; name?: string; inputShape?: number[]; trainable?: boolean }) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'activation');
    this.activation = checkActivation(opts.activation, (m) => this.shapeError(m));
  }

  getConfig(): Record<string, unknown> {
    return { activation: this.activation };
  }
}

/** Options of LeakyReLU (Keras' names). */
export interface LeakyReLUOptions {
  /** Slope for x < 0; default 0.3 (Keras' and TF.js's LeakyReLU layer; the 'leaky_relu' string uses 0.2). */
  alpha?: number;
  name?: string;
  inputShape?: number[];
  trainable?: boolean;
}

/** y = x for x >= 0, alpha·x below (Keras' LeakyReLU layer; saved with its alpha, loadable by TF.js). */
export class LeakyReLU extends ActivationLayer {
  readonly className = 'LeakyReLU';
  readonly activation: ActivationName = 'leaky_relu';

  constructor(opts: LeakyReLUOptions = {}) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'leaky_re_lu');
    const alpha = opts.alpha ?? 0.3;
    // backward tells x > 0 from y > 0, so the slope must be positive (alpha = 0 is a ReLU: use 'relu').
    if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) throw this.shapeError(`alpha must be a number > 0, got ${JSON.stringify(opts.alpha)}.`);
    this.alpha = alpha;
  }

  /** The negative slope. */
  get negativeSlope(): number {
    return this.alpha!;
  }

  getConfig(): Record<string, unknown> {
    return { alpha: this.alpha };
  }
}
