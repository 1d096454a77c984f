// Activation: y = act(x) on its own, Keras' Activation layer. Softmax is over the last axis; backward uses the
// saved output. 'linear' is the identity: both directions return their argument without a dispatch.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { activationBackward, activationForward } from '../kernels/activation.js';
import { Layer, type ActivationName, type StepContext } from './layer.js';

const KINDS: readonly ActivationName[] = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'];

/** An activation on its own (Keras' Activation layer): relu, sigmoid, tanh, softmax or linear. */
export class Activation extends Layer {
  readonly className = 'Activation';
  readonly activation: ActivationName;
  private y?: Tensor;
  private dx?: Tensor;

  constructor(opts: { activation: ActivationName; name?: string; inputShape?: number[]; trainable?: boolean }) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'activation');
    if (!KINDS.includes(opts.activation))
      throw this.shapeError(`unknown activation ${JSON.stringify(opts.activation)} (use ${KINDS.join(', ')}).`);
    this.activation = opts.activation;
  }

  computeOutputShape(inputShape: number[]): number[] {
    return [...inputShape];
  }

  getConfig(): Record<string, unknown> {
    return { activation: this.activation };
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
    activationForward(rec, this.activation, x, y, rows, cols);
    this.saved = { output: y };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    if (this.activation === 'linear') return dy;
    const dx = this.batchView(this.dx!, ctx.n);
    const [rows, cols] = this.matrix(ctx.n);
    activationBackward(rec, this.activation, this.saved.output!, dy, dx, rows, cols);
    return dx;
  }
}
