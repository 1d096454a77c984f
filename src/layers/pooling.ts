// MaxPooling2D and AveragePooling2D over [height, width, channels] inputs (NHWC). Max pooling keeps the flat
// input index of each window's maximum (`argmax`) for backward, which routes dy there; average pooling's
// backward needs nothing but the geometry.
import { ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import {
  avgPool2dBackward, avgPool2dForward, maxPool2dBackward, maxPool2dForward, pool2dGeometry, type Pool2dGeometry,
} from '../kernels/pool.js';
import { Layer, type StepContext } from './layer.js';

/** Keras' padding: `valid` (none) or `same` (output size = ceil(input / stride)). */
export type Padding = 'valid' | 'same';

/** A number or an [h, w] pair as a pair of positive whole numbers; throws `err` otherwise. */
export function toPair(v: number | readonly number[], what: string, err: (m: string) => Error): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d > 0))
    throw err(`${what} must be a positive whole number or a pair of them, got ${JSON.stringify(v)}.`);
  return [p[0]!, p[1]!];
}

export function checkPadding(p: string, err: (m: string) => Error): Padding {
  if (p !== 'valid' && p !== 'same') throw err(`padding must be 'valid' or 'same', got ${JSON.stringify(p)}.`);
  return p;
}

/** Options of MaxPooling2D and AveragePooling2D (Keras' names). */
export interface Pooling2DOptions {
  /** Default 2. */
  poolSize?: number | [number, number];
  /** Default: poolSize. */
  strides?: number | [number, number] | null;
  /** Default 'valid'. */
  padding?: Padding;
  name?: string;
  /** false freezes the layer's weights (Keras' trainable; read at compile). */
  trainable?: boolean;
  inputShape?: number[];
}

abstract class Pooling2D extends Layer {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  protected y?: Tensor;
  protected dx?: Tensor;

  constructor(opts: Pooling2DOptions, baseName: string) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, baseName);
    const err = (m: string) => this.shapeError(m);
    this.poolSize = toPair(opts.poolSize ?? 2, 'poolSize', err);
    this.strides = toPair(opts.strides ?? this.poolSize, 'strides', err);
    this.padding = checkPadding(opts.padding ?? 'valid', err);
  }

  /** The geometry for a batch of n (the layer must be built, or `inputShape` given). */
  geometry(n: number, inputShape: number[] = this.inputShape): Pool2dGeometry {
    this.expectRank(inputShape, 3, '[height, width, channels] images');
    const [h, w, c] = inputShape as [number, number, number];
    try {
      return pool2dGeometry([n, h, w, c], this.poolSize, this.strides, this.padding);
    } catch (e) {
      if (e instanceof ShapeError)
        throw this.shapeError(
          `a ${this.poolSize.join('x')} pool with strides ${shapeStr(this.strides)} and '${this.padding}' padding does not apply to input shape ${shapeStr(inputShape)}: ${e.message}`,
        );
      throw e;
    }
  }

  computeOutputShape(inputShape: number[]): number[] {
    const g = this.geometry(1, inputShape);
    return [g.outH, g.outW, g.c];
  }

  getConfig(): Record<string, unknown> {
    return { pool_size: [...this.poolSize], strides: [...this.strides], padding: this.padding, data_format: 'channels_last' };
  }

  /** Allocates the output and input-gradient buffers for batches of up to `maxBatch`. */
  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }
}

/** 2-D max pooling, NHWC (Keras' MaxPooling2D). */
export class MaxPooling2D extends Pooling2D {
  readonly className = 'MaxPooling2D';
  private argmax?: Tensor;

  constructor(opts: Pooling2DOptions = {}) {
    super(opts, 'max_pooling2d');
  }

  /** Also allocates the argmax buffer the backward pass reads. */
  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    this.argmax = this.own(engine, [maxBatch, ...this.outputShape], 'u32');
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const g = this.geometry(ctx.n);
    const y = this.batchView(this.y!, ctx.n);
    const argmax = this.batchView(this.argmax!, ctx.n);
    maxPool2dForward(rec, x, y, argmax, g);
    this.saved = { output: y, argmax };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    maxPool2dBackward(rec, dy, this.saved.argmax!, dx, this.geometry(ctx.n));
    return dx;
  }
}

/** Keras' alias. */
export const MaxPool2D = MaxPooling2D;

/** 2-D average pooling, NHWC (Keras' AveragePooling2D). */
export class AveragePooling2D extends Pooling2D {
  readonly className = 'AveragePooling2D';

  constructor(opts: Pooling2DOptions = {}) {
    super(opts, 'average_pooling2d');
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const g = this.geometry(ctx.n);
    const y = this.batchView(this.y!, ctx.n);
    avgPool2dForward(rec, x, y, g);
    this.saved = { output: y };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    avgPool2dBackward(rec, dy, dx, this.geometry(ctx.n));
    return dx;
  }
}
