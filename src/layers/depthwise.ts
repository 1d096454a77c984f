// DepthwiseConv2D and SeparableConv2D, NHWC (Keras' layers). Depthwise: each input channel convolved with its own
// `depthMultiplier` filters, kernel [kH, kW, inC, multiplier], output channel c·multiplier + m. Separable: that
// depthwise stage without bias, then a 1×1 pointwise convolution (a matmul over positions) with bias and the
// activation. Forward keeps its input and the stages' outputs for backward (ConvNetJS style).
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { activationBackward, activationBackwardFrom, activationForward } from '../kernels/activation.js';
import { depthwiseBackwardFilter, depthwiseBackwardInput, depthwiseForward, depthwiseGeometry, type DepthwiseGeometry } from '../kernels/depthwise.js';
import { columnSum } from '../kernels/elementwise.js';
import { matmul } from '../kernels/matmul.js';
import { checkActivation, initializerConfig } from './config.js';
import { Layer, sliceBatch, type ActivationName, type InitializerName, type ParamSpec, type StepContext } from './layer.js';
import { checkPadding, toPair, type Padding } from './pooling.js';
import { convGeometry, type ConvLayerOptions } from './conv2d.js';

/** Options of DepthwiseConv2D (Keras' names). */
export interface DepthwiseConv2DOptions extends ConvLayerOptions {
  /** Filters per input channel (default 1). */
  depthMultiplier?: number;
  depthwiseInitializer?: InitializerName;
}

/** Options of SeparableConv2D (Keras' names): the depthwise options plus the pointwise stage's filters. */
export interface SeparableConv2DOptions extends DepthwiseConv2DOptions {
  filters: number;
  pointwiseInitializer?: InitializerName;
}

/**
 * The activation after a layer's linear part: its buffers (the pre-activation z only where backward reads the
 * input: gelu, swish) and its forward and backward recording.
 */
class ActivationStage {
  private z?: Tensor;
  private dz?: Tensor;
  constructor(readonly activation: ActivationName, private readonly fusedRelu: boolean) {}

  allocate(own: (shape: number[]) => Tensor, shape: number[]): void {
    if (this.activation !== 'linear') this.dz = own(shape);
    if (!(this.fusedRelu && this.activation === 'relu') && activationBackwardFrom(this.activation) === 'input') this.z = own(shape);
  }

  /** Where the linear part writes: the kept pre-activation, or y itself (the activation then runs in place). */
  target(y: Tensor, n: number): Tensor {
    return this.z ? sliceBatch(this.z, n) : y;
  }

  /** Whether the linear part should fuse relu itself (matmul's epilogue). */
  get linearRelu(): boolean {
    return this.fusedRelu && this.activation === 'relu';
  }

  forward(rec: Recorder, z: Tensor, y: Tensor, rows: number, cols: number): void {
    if (this.activation !== 'linear' && !this.linearRelu) activationForward(rec, this.activation, z, y, rows, cols);
  }

  /** dL/dz from dL/dy (dy itself for linear). */
  backward(rec: Recorder, dy: Tensor, y: Tensor, z: Tensor, n: number, rows: number, cols: number): Tensor {
    if (this.activation === 'linear') return dy;
    const dz = sliceBatch(this.dz!, n);
    activationBackward(rec, this.activation, activationBackwardFrom(this.activation) === 'input' ? z : y, dy, dz, rows, cols);
    return dz;
  }
}

/** Depthwise 2-D convolution with bias and an optional activation (Keras' DepthwiseConv2D). */
export class DepthwiseConv2D extends Layer {
  readonly className: string = 'DepthwiseConv2D';
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly depthMultiplier: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly depthwiseInitializer: InitializerName;
  readonly biasInitializer: InitializerName;
  /** @internal The activation stage (fused relu in the pointwise matmul for SeparableConv2D). */
  protected act: ActivationStage;
  protected y?: Tensor;
  protected dx?: Tensor;

  constructor(opts: DepthwiseConv2DOptions, baseName = 'depthwise_conv2d') {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, baseName);
    const err = (m: string) => this.shapeError(m);
    this.kernelSize = toPair(opts.kernelSize, 'kernelSize', err);
    this.strides = toPair(opts.strides ?? 1, 'strides', err);
    this.padding = checkPadding(opts.padding ?? 'valid', err);
    this.depthMultiplier = opts.depthMultiplier ?? 1;
    if (!Number.isInteger(this.depthMultiplier) || this.depthMultiplier < 1) throw err(`depthMultiplier must be a positive whole number, got ${JSON.stringify(opts.depthMultiplier)}.`);
    this.activation = checkActivation(opts.activation ?? 'linear', err);
    this.useBias = opts.useBias ?? true;
    this.depthwiseInitializer = opts.depthwiseInitializer ?? 'glorot_uniform';
    this.biasInitializer = opts.biasInitializer ?? 'zeros';
    this.act = new ActivationStage(this.activation, false);
  }

  /** The depthwise stage's geometry for a batch of n. */
  geometry(n: number, inputShape: number[] = this.inputShape): DepthwiseGeometry {
    this.expectRank(inputShape, 3, '[height, width, channels] images');
    const [h, w, c] = inputShape as [number, number, number];
    return convGeometry(this, inputShape, (m) => this.shapeError(m), () => depthwiseGeometry([n, h, w, c], this.depthMultiplier, this.kernelSize, this.strides, this.padding));
  }

  computeOutputShape(inputShape: number[]): number[] {
    const g = this.geometry(1, inputShape);
    return [g.outH, g.outW, g.outC];
  }

  /** The depthwise kernel's spec: fans as Keras computes them for [kH, kW, inC, multiplier]. */
  protected depthwiseSpec(): ParamSpec {
    const [kh, kw] = this.kernelSize;
    const c = this.inputShape[2]!;
    return { name: 'depthwise_kernel', shape: [kh, kw, c, this.depthMultiplier], initializer: this.depthwiseInitializer, fanIn: kh * kw * c, fanOut: kh * kw * this.depthMultiplier };
  }

  override paramSpecs(): ParamSpec[] {
    const k = this.depthwiseSpec();
    return this.useBias ? [k, { name: 'bias', shape: [this.outputShape[2]!], initializer: this.biasInitializer, fanIn: k.fanIn, fanOut: k.fanOut }] : [k];
  }

  /** The config keys DepthwiseConv2D and SeparableConv2D share. */
  protected convConfig(): Record<string, unknown> {
    return {
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      depth_multiplier: this.depthMultiplier,
      activation: this.activation,
      use_bias: this.useBias,
      depthwise_initializer: initializerConfig(this.depthwiseInitializer),
      bias_initializer: initializerConfig(this.biasInitializer),
      depthwise_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      depthwise_constraint: null,
      bias_constraint: null,
    };
  }

  getConfig(): Record<string, unknown> {
    return this.convConfig();
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    const own = (shape: number[]) => this.own(engine, shape);
    this.y = own([maxBatch, ...this.outputShape]);
    this.act.allocate(own, [maxBatch, ...this.outputShape]);
    this.dx = own([maxBatch, ...this.inputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const g = this.geometry(ctx.n);
    const y = this.batchView(this.y!, ctx.n);
    const z = this.act.target(y, ctx.n);
    depthwiseForward(rec, x, this.weights[0]!, this.useBias ? this.weights[1]! : null, z, g);
    this.act.forward(rec, z, y, ctx.n * g.outH * g.outW, g.outC);
    this.saved = { input: x, output: y, preActivation: z };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    const g = this.geometry(ctx.n);
    const rows = ctx.n * g.outH * g.outW;
    const { input, output, preActivation } = this.saved;
    const dz = this.act.backward(rec, dy, output!, preActivation!, ctx.n, rows, g.outC);
    if (this.trainable) {
      depthwiseBackwardFilter(rec, input!, dz, this.grads[0]!, g);
      if (this.useBias) columnSum(rec, dz, rows, g.outC, this.grads[1]!);
    }
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    depthwiseBackwardInput(rec, dz, this.weights[0]!, dx, g);
    return dx;
  }
}

/** Depthwise then 1×1 pointwise convolution, bias and activation after the pointwise stage (Keras' SeparableConv2D). */
export class SeparableConv2D extends DepthwiseConv2D {
  override readonly className = 'SeparableConv2D';
  readonly filters: number;
  readonly pointwiseInitializer: InitializerName;
  /** The depthwise stage's output and its gradient. */
  private d?: Tensor;
  private dd?: Tensor;

  constructor(opts: SeparableConv2DOptions) {
    super({ ...opts, useBias: opts.useBias }, 'separable_conv2d');
    if (!Number.isInteger(opts.filters) || opts.filters <= 0) throw this.shapeError(`filters must be a positive whole number, got ${opts.filters}.`);
    this.filters = opts.filters;
    this.pointwiseInitializer = opts.pointwiseInitializer ?? 'glorot_uniform';
    this.act = new ActivationStage(this.activation, true);
  }

  override computeOutputShape(inputShape: number[]): number[] {
    const g = this.geometry(1, inputShape);
    return [g.outH, g.outW, this.filters];
  }

  /** Channels between the stages: inC × depthMultiplier. */
  private get midC(): number {
    return this.inputShape[2]! * this.depthMultiplier;
  }

  override paramSpecs(): ParamSpec[] {
    const mid = this.midC;
    const specs: ParamSpec[] = [
      this.depthwiseSpec(),
      { name: 'pointwise_kernel', shape: [1, 1, mid, this.filters], initializer: this.pointwiseInitializer, fanIn: mid, fanOut: this.filters },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.filters], initializer: this.biasInitializer, fanIn: mid, fanOut: this.filters });
    return specs;
  }

  override getConfig(): Record<string, unknown> {
    const { depthwise_regularizer: _r, depthwise_constraint: _c, ...rest } = this.convConfig();
    return {
      filters: this.filters,
      ...rest,
      pointwise_initializer: initializerConfig(this.pointwiseInitializer),
      depthwise_regularizer: null,
      pointwise_regularizer: null,
      depthwise_constraint: null,
      pointwise_constraint: null,
    };
  }

  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    const g = this.geometry(1);
    this.d = this.own(engine, [maxBatch, g.outH, g.outW, this.midC]);
    this.dd = this.own(engine, [maxBatch, g.outH, g.outW, this.midC]);
  }

  override forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const g = this.geometry(ctx.n);
    const rows = ctx.n * g.outH * g.outW;
    const d = this.batchView(this.d!, ctx.n);
    const y = this.batchView(this.y!, ctx.n);
    const z = this.act.target(y, ctx.n);
    depthwiseForward(rec, x, this.weights[0]!, null, d, g);
    matmul(rec, d, this.weights[1]!, z, rows, this.filters, this.midC, { bias: this.useBias ? this.weights[2] : undefined, activation: this.act.linearRelu ? 'relu' : 'linear' });
    this.act.forward(rec, z, y, rows, this.filters);
    this.saved = { input: x, depthwise: d, output: y, preActivation: z };
    return y;
  }

  override backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    const g = this.geometry(ctx.n);
    const rows = ctx.n * g.outH * g.outW;
    const { input, depthwise, output, preActivation } = this.saved;
    const dz = this.act.backward(rec, dy, output!, preActivation!, ctx.n, rows, this.filters);
    if (this.trainable) {
      matmul(rec, depthwise!, dz, this.grads[1]!, this.midC, this.filters, rows, { transA: true });
      if (this.useBias) columnSum(rec, dz, rows, this.filters, this.grads[2]!);
    }
    if (!this.trainable && !needInputGrad) return null;
    const dd = this.batchView(this.dd!, ctx.n);
    matmul(rec, dz, this.weights[1]!, dd, rows, this.midC, this.filters, { transB: true });
    if (this.trainable) depthwiseBackwardFilter(rec, input!, dd, this.grads[0]!, g);
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    depthwiseBackwardInput(rec, dd, this.weights[0]!, dx, g);
    return dx;
  }
}
