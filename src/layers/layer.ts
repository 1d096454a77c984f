// The layer contract. A layer is built once for an input shape (shape inference, parameter specs), then
// `allocate`d for the largest batch it will see, then its forward and backward passes are *recorded* (not run)
// into a step Recorder for an actual batch size n <= maxBatch. Like ConvNetJS, forward keeps exactly what
// backward needs, by name, in `this.saved`; backward reads it from there.
//
// Shapes exclude the batch dimension (Keras' `input_shape`); tensors are NHWC, batch first.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import { Tensor } from '../gpu/tensor.js';
import { ShapeError, shapeStr } from '../errors.js';
import { applyLayer, type SymbolicTensor } from './symbolic.js';

/**
 * The activations a layer may fuse or apply (Keras' names). `leaky_relu` has Keras 3's slope 0.2 (the LeakyReLU
 * layer takes its own alpha, default 0.3); `gelu` is the exact erf form (Keras' approximate=False); `silu` is
 * `swish` (saved as 'swish', the name TF.js knows); `hard_sigmoid` is TF.js's clip(0.2x + 0.5, 0, 1), what a
 * TF.js model file means by it (Keras 3 uses relu6(x + 3) / 6 instead).
 */
export type ActivationName =
  | 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax'
  | 'leaky_relu' | 'elu' | 'selu' | 'gelu' | 'swish' | 'silu' | 'softplus' | 'hard_sigmoid';

/** The weight initializers (Keras' names), all run on the GPU from the model's seed. */
export type InitializerName = 'glorot_uniform' | 'glorot_normal' | 'zeros' | 'ones' | 'he_normal' | 'he_uniform';

/** One parameter tensor of a layer (a kernel or a bias): name, shape and initializer. */
export interface ParamSpec {
  /** Keras weight name within the layer: 'kernel' or 'bias'. */
  name: string;
  shape: number[];
  initializer: InitializerName;
  /** fan-in and fan-out for Glorot/He initializers (Keras' _compute_fans). */
  fanIn: number;
  fanOut: number;
  /**
   * false for state the layer updates itself in its forward pass (BatchNormalization's moving mean and variance):
   * it gets no gradient and no optimizer update, and counts as non-trainable in summary() (default true).
   */
  trainable?: boolean;
}

/** What the model hands every layer when recording a step. */
export interface StepContext {
  engine: Engine;
  /** Examples in this batch (<= maxBatch given to allocate). */
  n: number;
  training: boolean;
  /**
   * A storage buffer of u32 whose element 0 counts optimizer steps (incremented on the GPU once per training
   * step; dropout seeds its random stream from it, so a replayed step draws a fresh mask without a host write).
   */
  stepState: GPUBuffer;
  /** The model's seed (dropout streams, initializers). */
  seed: number;
}

let uid = 0;
const nameCounts = new Map<string, number>();

/** Keras-style automatic names: dense, dense_1, dense_2, ... per class. */
export function autoName(base: string): string {
  const k = nameCounts.get(base) ?? 0;
  nameCounts.set(base, k + 1);
  return k === 0 ? base : `${base}_${k}`;
}

/** Resets automatic naming (Keras' clear_session), so each model in a test or CLI run names layers from _0. */
export function resetLayerNames(): void {
  nameCounts.clear();
}

/** The base of every layer: shape inference (build), its parameters in the model's arena, and forward and backward passes recorded into a step. */
export abstract class Layer {
  /** Keras class name, as written in model.json: 'Dense', 'Conv2D', ... */
  abstract readonly className: string;
  readonly name: string;
  /** Position in the model (set at compile); seeds per-layer random streams (dropout) reproducibly. */
  id = uid++;
  /** Input shape without batch, if the user gave one (first layer). */
  readonly declaredInputShape?: number[];
  inputShape: number[] = [];
  outputShape: number[] = [];
  built = false;
  /**
   * Keras' layer.trainable: false freezes the layer's weights (no parameter-gradient dispatches, no optimizer
   * update; counted as non-trainable in summary()). Read at compile, as in Keras: change it, then compile again.
   * backward() must skip its parameter gradients when this is false (the input gradient is still needed).
   */
  trainable = true;
  /** Parameter views into the model's arenas, in `paramSpecs()` order; set by the model after build. */
  weights: Tensor[] = [];
  grads: Tensor[] = [];
  /** Whatever forward kept for backward, by name (a reference to a tensor, not a copy). */
  protected saved: Record<string, Tensor> = {};
  /** Buffers this layer owns (outputs, masks, input gradients), freed by `release`. */
  protected owned: Tensor[] = [];
  protected maxBatch = 0;

  constructor(opts: { name?: string; inputShape?: number[]; trainable?: boolean } = {}, baseName = 'layer') {
    this.name = opts.name ?? autoName(baseName);
    if (opts.trainable === false) this.trainable = false;
    if (opts.inputShape) this.declaredInputShape = [...opts.inputShape];
  }

  /**
   * A float64 CPU twin of forward, for layers the built-in references (src/reference/model.ts) do not know, i.e.
   * custom layers: x is [n, ...inputShape] flattened, `weight(name)` a parameter's values; returns
   * [n, ...outputShape] flattened. checkGradients differentiates it numerically when present.
   */
  referenceForward?(x: Float64Array, weight: (name: string) => ArrayLike<number>, n: number): ArrayLike<number>;

  /**
   * Async checks a layer must pass on an engine before its first recorded step (custom layers compile their WGSL
   * and dry-run it here); fit, evaluate, predict and checkGradients await it.
   */
  ready?(engine: Engine): Promise<void>;

  /** Output shape for `inputShape` (no batch); throws a ShapeError naming this layer when it cannot apply. */
  abstract computeOutputShape(inputShape: number[]): number[];

  /** Trainable parameters, once built. */
  paramSpecs(): ParamSpec[] {
    return [];
  }

  /** Keras layer config for model.json (name and trainable are added by the model). */
  abstract getConfig(): Record<string, unknown>;

  /** Infers the output shape from `inputShape` (one example, no batch); throws a ShapeError naming the layer when it does not fit. */
  build(inputShape: number[]): void {
    this.inputShape = [...inputShape];
    this.outputShape = this.computeOutputShape(inputShape);
    this.built = true;
  }

  /**
   * The functional API (Keras' layer(x)): builds this layer for the shape of `inputs` (the output of input() or of
   * another layer's apply; a list for merge layers) and returns its symbolic output, for model({inputs, outputs}).
   * Throws a ShapeError naming this layer, its inputs' layers and their shapes when they do not fit.
   */
  apply(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
    return applyLayer(this, inputs);
  }

  /** Number of parameters (weights and biases, and non-trainable state). */
  paramCount(): number {
    return this.paramSpecs().reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Allocates output/gradient buffers for batches of up to `maxBatch`. Called once per compile. */
  allocate(engine: Engine, maxBatch: number): void {
    this.release();
    this.maxBatch = maxBatch;
    this.allocateBuffers(engine, maxBatch);
  }

  /** Allocates the activation and gradient buffers for batches of up to `maxBatch` (once per batch size). */
  protected abstract allocateBuffers(engine: Engine, maxBatch: number): void;

  /** Records the forward pass of `ctx.n` examples of `x`; returns the output (a view of an owned buffer). */
  abstract forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor;

  /**
   * Records the backward pass: parameter gradients into `this.grads` (overwritten, not accumulated), and returns
   * the gradient with respect to the input, or null when `needInputGrad` is false (first layer).
   */
  abstract backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null;

  /** A tensor of `shape` owned by this layer (freed by `release`). */
  protected own(engine: Engine, shape: number[], dtype: 'f32' | 'u32' = 'f32'): Tensor {
    const t = engine.empty(shape, dtype);
    this.owned.push(t);
    return t;
  }

  /** The first n examples of an owned [maxBatch, ...] buffer, as a view. */
  protected batchView(t: Tensor, n: number): Tensor {
    return sliceBatch(t, n);
  }

  /** Frees the layer's buffers (the model's dispose calls it). */
  release(): void {
    for (const t of this.owned) t.dispose();
    this.owned = [];
    this.saved = {};
  }

  /** A ShapeError whose message starts with this layer's name and class. */
  protected shapeError(message: string): ShapeError {
    return new ShapeError(`Layer "${this.name}" (${this.className}): ${message}`);
  }

  /** Throws a ShapeError unless `inputShape` has `rank` dimensions (`what` says which shapes fit). */
  protected expectRank(inputShape: number[], rank: number, what: string): void {
    if (inputShape.length !== rank)
      throw this.shapeError(`expects ${what} (rank ${rank} without the batch), got input shape ${shapeStr(inputShape)}.`);
  }
}

/** The first n examples of a [batch, ...] tensor, as a view sharing its buffer. */
export function sliceBatch(t: Tensor, n: number): Tensor {
  if (n > t.shape[0]!) throw new ShapeError(`sliceBatch: ${n} examples requested from ${shapeStr(t.shape)}.`);
  return Tensor.view(t.engine, t.buffer, t.offset, [n, ...t.shape.slice(1)], t.dtype);
}

/**
 * A layer that takes several inputs (the merge layers): the model builds it with every input's shape and the step
 * plan records these instead of forward/backward.
 */
export interface MultiInputLayer {
  /** Builds the layer for its inputs' shapes (no batch); throws a ShapeError naming the layer when they do not fit. */
  buildInputs(inputShapes: number[][]): void;
  /** Records the forward pass of ctx.n examples of every input; returns the output (a view of an owned buffer). */
  forwardInputs(rec: Recorder, xs: Tensor[], ctx: StepContext): Tensor;
  /** Records the backward pass; one input gradient per input (null where `need[i]` is false). */
  backwardInputs(rec: Recorder, dy: Tensor, ctx: StepContext, need: boolean[]): (Tensor | null)[];
}
