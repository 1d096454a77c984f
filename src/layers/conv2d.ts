// Conv2D: y = act(conv(x, kernel) + bias), NHWC, Keras kernel layout [kh, kw, inC, filters].
// relu and linear are fused into the convolution's epilogue; sigmoid/tanh/softmax run after it (over the
// channels). Forward keeps its input and output (ConvNetJS style): backward needs x for the kernel gradient
// and y for the activation's derivative.
import { ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { activationBackward, activationBackwardFrom, activationForward } from '../kernels/activation.js';
import {
  conv2dBackwardBias, conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dGeometry, type Conv2dGeometry,
} from '../kernels/conv2d.js';
import { checkActivation, weightedLayerConfig } from './config.js';
import { Layer, type ActivationName, type InitializerName, type ParamSpec, type StepContext } from './layer.js';
import { checkPadding, toPair, type Padding } from './pooling.js';

/** The options every convolution layer shares (Keras' names): Conv2D, DepthwiseConv2D, SeparableConv2D. */
export interface ConvLayerOptions {
  kernelSize: number | [number, number];
  /** Default 1. */
  strides?: number | [number, number];
  /** Default 'valid', like Keras. */
  padding?: Padding;
  activation?: ActivationName;
  useBias?: boolean;
  biasInitializer?: InitializerName;
  name?: string;
  /** false freezes the layer's weights (Keras' trainable; read at compile). */
  trainable?: boolean;
  /** [height, width, channels] (no batch). */
  inputShape?: number[];
}

/** Options of a Conv2D layer (Keras' names). */
export interface Conv2DOptions extends ConvLayerOptions {
  filters: number;
  kernelInitializer?: InitializerName;
}

/**
 * A convolution layer's geometry from `make`, its ShapeError (a kernel that does not fit) restated by `err` as
 * the layer's own, naming kernel, strides, padding and input shape.
 */
export function convGeometry<G>(l: { kernelSize: [number, number]; strides: [number, number]; padding: Padding }, inputShape: number[], err: (m: string) => Error, make: () => G): G {
  try {
    return make();
  } catch (e) {
    if (e instanceof ShapeError)
      throw err(`a ${l.kernelSize.join('x')} kernel with strides ${shapeStr(l.strides)} and '${l.padding}' padding does not apply to input shape ${shapeStr(inputShape)}: ${e.message}`);
    throw e;
  }
}

/** 2-D convolution, NHWC, with bias and an optional fused activation (Keras' Conv2D). */
export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly biasInitializer: InitializerName;
  private y?: Tensor;
  /** The pre-activation, kept only for activations whose backward reads the input (gelu, swish). */
  private z?: Tensor;
  private dz?: Tensor;
  private dx?: Tensor;

  constructor(opts: Conv2DOptions) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'conv2d');
    const err = (m: string) => this.shapeError(m);
    if (!Number.isInteger(opts.filters) || opts.filters <= 0) throw err(`filters must be a positive whole number, got ${opts.filters}.`);
    this.filters = opts.filters;
    this.kernelSize = toPair(opts.kernelSize, 'kernelSize', err);
    this.strides = toPair(opts.strides ?? 1, 'strides', err);
    this.padding = checkPadding(opts.padding ?? 'valid', err);
    this.activation = checkActivation(opts.activation ?? 'linear', err);
    this.useBias = opts.useBias ?? true;
    this.kernelInitializer = opts.kernelInitializer ?? 'glorot_uniform';
    this.biasInitializer = opts.biasInitializer ?? 'zeros';
  }

  /** The geometry for a batch of n (the layer must be built, or `inputShape` given). */
  geometry(n: number, inputShape: number[] = this.inputShape): Conv2dGeometry {
    this.expectRank(inputShape, 3, '[height, width, channels] images');
    const [h, w, c] = inputShape as [number, number, number];
    return convGeometry(this, inputShape, (m) => this.shapeError(m), () => conv2dGeometry([n, h, w, c], this.filters, this.kernelSize, this.strides, this.padding));
  }

  computeOutputShape(inputShape: number[]): number[] {
    const g = this.geometry(1, inputShape);
    return [g.outH, g.outW, g.outC];
  }

  private get inC(): number {
    return this.inputShape[2]!;
  }

  override paramSpecs(): ParamSpec[] {
    const [kh, kw] = this.kernelSize;
    const fanIn = kh * kw * this.inC, fanOut = kh * kw * this.filters;
    const specs: ParamSpec[] = [{ name: 'kernel', shape: [kh, kw, this.inC, this.filters], initializer: this.kernelInitializer, fanIn, fanOut }];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.filters], initializer: this.biasInitializer, fanIn, fanOut });
    return specs;
  }

  getConfig(): Record<string, unknown> {
    return {
      filters: this.filters,
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      groups: 1,
      ...weightedLayerConfig(this),
    };
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    if (this.activation !== 'linear') this.dz = this.own(engine, [maxBatch, ...this.outputShape]);
    if (this.activation !== 'relu' && activationBackwardFrom(this.activation) === 'input') this.z = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const g = this.geometry(ctx.n);
    const y = this.batchView(this.y!, ctx.n);
    const act = this.activation;
    const z = this.z ? this.batchView(this.z, ctx.n) : y;
    conv2dForward(rec, x, this.weights[0]!, this.useBias ? this.weights[1]! : null, z, g, act === 'relu' ? 'relu' : 'linear');
    if (act !== 'linear' && act !== 'relu') activationForward(rec, act, z, y, ctx.n * g.outH * g.outW, g.outC);
    this.saved = { input: x, output: y, preActivation: z };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    const g = this.geometry(ctx.n);
    const rows = ctx.n * g.outH * g.outW;
    const { input, output, preActivation } = this.saved;
    let dz = dy;
    if (this.activation !== 'linear') {
      dz = this.batchView(this.dz!, ctx.n);
      activationBackward(rec, this.activation, activationBackwardFrom(this.activation) === 'input' ? preActivation! : output!, dy, dz, rows, g.outC);
    }
    if (this.trainable) {
      conv2dBackwardFilter(rec, input!, dz, this.grads[0]!, g);
      // Not columnSum: its single loop stops at 65535 rows on llvmpipe (B*outH*outW is 131072 for CIFAR).
      if (this.useBias) conv2dBackwardBias(rec, dz, this.grads[1]!, g);
    }
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    conv2dBackwardInput(rec, dz, this.weights[0]!, dx, g);
    return dx;
  }
}
