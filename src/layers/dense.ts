// Dense: y = act(x · kernel + bias) over the last axis. Forward keeps its input and output (ConvNetJS style)
// because backward needs x for the kernel gradient and y for the activation's derivative.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { matmul } from '../kernels/matmul.js';
import { activationBackward, activationBackwardFrom, activationForward } from '../kernels/activation.js';
import { columnSum } from '../kernels/elementwise.js';
import { Layer, type ActivationName, type InitializerName, type ParamSpec, type StepContext } from './layer.js';
import { checkActivation, weightedLayerConfig } from './config.js';

/** Options of a Dense layer (Keras' names). */
export interface DenseOptions {
  units: number;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: InitializerName;
  biasInitializer?: InitializerName;
  /** Keras' input_dim: shorthand for inputShape [inputDim]. */
  inputDim?: number;
  inputShape?: number[];
  name?: string;
  /** false freezes the layer's weights (Keras' trainable; read at compile). */
  trainable?: boolean;
}

/** A fully connected layer: y = activation(x W + b) (Keras' Dense). */
export class Dense extends Layer {
  readonly className = 'Dense';
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly biasInitializer: InitializerName;
  /**
   * Set by the model when this is the last layer, its activation is softmax and the loss is categorical
   * cross-entropy: forward then emits logits, and the fused softmax + cross-entropy kernel does the rest.
   */
  emitLogits = false;
  private y?: Tensor;
  /** The pre-activation, kept only for activations whose backward reads the input (gelu, swish). */
  private z?: Tensor;
  private dz?: Tensor;
  private dx?: Tensor;

  constructor(opts: DenseOptions) {
    super({ name: opts.name, inputShape: opts.inputShape ?? (opts.inputDim ? [opts.inputDim] : undefined), trainable: opts.trainable }, 'dense');
    if (!Number.isInteger(opts.units) || opts.units <= 0) throw this.shapeError(`units must be a positive whole number, got ${opts.units}.`);
    this.units = opts.units;
    this.activation = checkActivation(opts.activation ?? 'linear', (m) => this.shapeError(m));
    this.useBias = opts.useBias ?? true;
    this.kernelInitializer = opts.kernelInitializer ?? 'glorot_uniform';
    this.biasInitializer = opts.biasInitializer ?? 'zeros';
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length < 1) throw this.shapeError('needs an input shape of rank >= 1.');
    return [...inputShape.slice(0, -1), this.units];
  }

  private get inFeatures(): number {
    return this.inputShape[this.inputShape.length - 1]!;
  }

  /** Rows of the matmul per example: Dense applies to the last axis, like Keras. */
  private get rowsPerExample(): number {
    return this.inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
  }

  override paramSpecs(): ParamSpec[] {
    const specs: ParamSpec[] = [
      { name: 'kernel', shape: [this.inFeatures, this.units], initializer: this.kernelInitializer, fanIn: this.inFeatures, fanOut: this.units },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.units], initializer: this.biasInitializer, fanIn: this.inFeatures, fanOut: this.units });
    return specs;
  }

  getConfig(): Record<string, unknown> {
    return {
      units: this.units,
      ...weightedLayerConfig(this),
    };
  }

  /** The activation forward applies: none when the model fused softmax into the loss. */
  get appliedActivation(): ActivationName {
    return this.emitLogits ? 'linear' : this.activation;
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    const act = this.appliedActivation;
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    if (act !== 'linear') this.dz = this.own(engine, [maxBatch, ...this.outputShape]);
    if (act !== 'relu' && activationBackwardFrom(act) === 'input') this.z = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const rows = ctx.n * this.rowsPerExample;
    const y = this.batchView(this.y!, ctx.n);
    const act = this.appliedActivation;
    const z = this.z ? this.batchView(this.z, ctx.n) : y;
    matmul(rec, x, this.weights[0]!, z, rows, this.units, this.inFeatures, {
      bias: this.useBias ? this.weights[1] : undefined,
      activation: act === 'relu' ? 'relu' : 'linear',
    });
    if (act !== 'linear' && act !== 'relu') activationForward(rec, act, z, y, rows, this.units);
    this.saved = { input: x, output: y, preActivation: z };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    const rows = ctx.n * this.rowsPerExample;
    const { input, output, preActivation } = this.saved;
    const act = this.appliedActivation;
    let dz = dy;
    if (act !== 'linear') {
      dz = this.batchView(this.dz!, ctx.n);
      activationBackward(rec, act, activationBackwardFrom(act) === 'input' ? preActivation! : output!, dy, dz, rows, this.units);
    }
    // dKernel[in, units] = xᵀ · dz ; dBias = column sums of dz ; dx = dz · kernelᵀ
    if (this.trainable) {
      matmul(rec, input!, dz, this.grads[0]!, this.inFeatures, this.units, rows, { transA: true });
      if (this.useBias) columnSum(rec, dz, rows, this.units, this.grads[1]!);
    }
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    matmul(rec, dz, this.weights[0]!, dx, rows, this.inFeatures, this.units, { transB: true });
    return dx;
  }
}
