// BatchNormalization over the last axis (Keras' axis -1, channels-last). Training (ctx.training and the layer
// trainable, as Keras runs a frozen BatchNormalization in inference mode): the batch's mean and biased variance per
// channel over every other axis, and the moving statistics moved toward them on the GPU in forward; inference: the
// moving statistics. Forward keeps its input (x̂ is recomputed from x and the saved statistics in backward).
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { batchNormBackward, batchNormForward, type BatchNormSpec, type BatchNormTensors } from '../kernels/batchnorm.js';
import { initializerConfig } from './config.js';
import { Layer, type InitializerName, type ParamSpec, type StepContext } from './layer.js';

/** Options of BatchNormalization (Keras' names and defaults). */
export interface BatchNormalizationOptions {
  /** Only the last axis (-1, or its index counted with the batch) is supported. */
  axis?: number;
  /** Default 0.99. */
  momentum?: number;
  /** Default 1e-3. */
  epsilon?: number;
  /** Learn beta (default true). */
  center?: boolean;
  /** Learn gamma (default true). */
  scale?: boolean;
  betaInitializer?: InitializerName;
  gammaInitializer?: InitializerName;
  movingMeanInitializer?: InitializerName;
  movingVarianceInitializer?: InitializerName;
  name?: string;
  inputShape?: number[];
  trainable?: boolean;
}

/** Keras' BatchNormalization: weights gamma, beta (trainable), moving_mean, moving_variance (non-trainable), in that order. */
export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly betaInitializer: InitializerName;
  readonly gammaInitializer: InitializerName;
  readonly movingMeanInitializer: InitializerName;
  readonly movingVarianceInitializer: InitializerName;
  private y?: Tensor;
  private dx?: Tensor;
  private stats?: Tensor;
  private sumA?: Tensor;
  private sumB?: Tensor;
  /** Whether the last recorded forward used batch statistics (backward goes through them then). */
  private usedBatchStats = false;

  constructor(opts: BatchNormalizationOptions = {}) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'batch_normalization');
    this.axis = opts.axis ?? -1;
    if (!Number.isInteger(this.axis)) throw this.shapeError(`axis must be a whole number, got ${JSON.stringify(opts.axis)}.`);
    this.momentum = opts.momentum ?? 0.99;
    this.epsilon = opts.epsilon ?? 1e-3;
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw this.shapeError(`momentum must be in [0, 1], got ${JSON.stringify(opts.momentum)}.`);
    if (!(this.epsilon > 0 && Number.isFinite(this.epsilon))) throw this.shapeError(`epsilon must be a number > 0, got ${JSON.stringify(opts.epsilon)}.`);
    this.center = opts.center ?? true;
    this.scale = opts.scale ?? true;
    this.betaInitializer = opts.betaInitializer ?? 'zeros';
    this.gammaInitializer = opts.gammaInitializer ?? 'ones';
    this.movingMeanInitializer = opts.movingMeanInitializer ?? 'zeros';
    this.movingVarianceInitializer = opts.movingVarianceInitializer ?? 'ones';
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length < 1) throw this.shapeError('needs an input of rank >= 1 (without the batch).');
    // -1, or the last axis counted with the batch (Keras 2 files write [3] for NHWC images)
    if (this.axis !== -1 && this.axis !== inputShape.length)
      throw this.shapeError(`only the last axis is normalised (axis -1 or ${inputShape.length} for input shape [${inputShape.join(', ')}]), got axis ${this.axis}.`);
    return [...inputShape];
  }

  /** Channels: the size of the normalised axis. */
  get channels(): number {
    return this.inputShape[this.inputShape.length - 1]!;
  }

  override paramSpecs(): ParamSpec[] {
    const c = this.channels;
    const spec = (name: string, initializer: InitializerName, trainable = true): ParamSpec => ({ name, shape: [c], initializer, fanIn: c, fanOut: c, trainable });
    return [
      ...(this.scale ? [spec('gamma', this.gammaInitializer)] : []),
      ...(this.center ? [spec('beta', this.betaInitializer)] : []),
      spec('moving_mean', this.movingMeanInitializer, false),
      spec('moving_variance', this.movingVarianceInitializer, false),
    ];
  }

  getConfig(): Record<string, unknown> {
    return {
      axis: this.axis,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      beta_initializer: initializerConfig(this.betaInitializer),
      gamma_initializer: initializerConfig(this.gammaInitializer),
      moving_mean_initializer: initializerConfig(this.movingMeanInitializer),
      moving_variance_initializer: initializerConfig(this.movingVarianceInitializer),
      beta_regularizer: null,
      gamma_regularizer: null,
      beta_constraint: null,
      gamma_constraint: null,
    };
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
    this.stats = this.own(engine, [2, this.channels]);
    this.sumA = this.own(engine, [this.channels]);
    this.sumB = this.own(engine, [this.channels]);
  }

  private spec(n: number): BatchNormSpec {
    const rows = n * this.inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
    return { rows, cols: this.channels, epsilon: this.epsilon, momentum: this.momentum };
  }

  private tensors(): BatchNormTensors {
    let k = 0;
    const gamma = this.scale ? this.weights[k++] : undefined;
    const beta = this.center ? this.weights[k++] : undefined;
    return { gamma, beta, movingMean: this.weights[k]!, movingVariance: this.weights[k + 1]!, stats: this.stats!, sumA: this.sumA!, sumB: this.sumB! };
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const y = this.batchView(this.y!, ctx.n);
    this.usedBatchStats = ctx.training && this.trainable;
    batchNormForward(rec, x, y, this.spec(ctx.n), this.tensors(), this.usedBatchStats);
    this.saved = { input: x };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    const dx = needInputGrad ? this.batchView(this.dx!, ctx.n) : null;
    // no parameter gradients for a frozen layer (its gamma and beta get no optimizer update)
    const grads = this.trainable ? { dgamma: this.scale ? this.grads[0] : undefined, dbeta: this.center ? this.grads[this.scale ? 1 : 0] : undefined } : {};
    if (!dx && !grads.dgamma && !grads.dbeta) return null;
    batchNormBackward(rec, this.saved.input!, dy, dx, this.spec(ctx.n), this.tensors(), this.usedBatchStats, grads);
    return dx;
  }
}
