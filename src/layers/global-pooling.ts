// GlobalAveragePooling2D and GlobalMaxPooling2D: [height, width, channels] -> [channels]. They are the pool kernels
// (src/kernels/pool.ts) with one window covering the whole image (pool = stride = [height, width], 'valid'):
// nested loops over rows and columns (each far below llvmpipe's 65535-iteration cap), and a disjoint-window scatter
// in backward, so no kernel family of their own.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { avgPool2dBackward, avgPool2dForward, maxPool2dBackward, maxPool2dForward, pool2dGeometry, type Pool2dGeometry } from '../kernels/pool.js';
import { Layer, type StepContext } from './layer.js';

/** Options of the global pooling layers. */
export interface GlobalPooling2DOptions {
  name?: string;
  inputShape?: number[];
  trainable?: boolean;
}

abstract class GlobalPooling2D extends Layer {
  protected y?: Tensor;
  protected dx?: Tensor;

  /** The whole-image pooling geometry for a batch of n. */
  geometry(n: number, inputShape: number[] = this.inputShape): Pool2dGeometry {
    this.expectRank(inputShape, 3, '[height, width, channels] images');
    const [h, w, c] = inputShape as [number, number, number];
    return pool2dGeometry([n, h, w, c], [h, w], [h, w], 'valid');
  }

  computeOutputShape(inputShape: number[]): number[] {
    return [this.geometry(1, inputShape).c];
  }

  getConfig(): Record<string, unknown> {
    return { data_format: 'channels_last' };
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  /** The [n, channels] output seen as the pool kernels' [n, 1, 1, channels]. */
  protected pooled(t: Tensor): Tensor {
    return t.reshape([t.shape[0]!, 1, 1, t.shape[1]!]);
  }
}

/** Mean over height and width per channel (Keras' GlobalAveragePooling2D, keepdims false). */
export class GlobalAveragePooling2D extends GlobalPooling2D {
  readonly className = 'GlobalAveragePooling2D';

  constructor(opts: GlobalPooling2DOptions = {}) {
    super(opts, 'global_average_pooling2d');
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const y = this.batchView(this.y!, ctx.n);
    avgPool2dForward(rec, x, this.pooled(y), this.geometry(ctx.n));
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    avgPool2dBackward(rec, this.pooled(dy), dx, this.geometry(ctx.n));
    return dx;
  }
}

/** Maximum over height and width per channel (Keras' GlobalMaxPooling2D); backward routes dy to the first maximum. */
export class GlobalMaxPooling2D extends GlobalPooling2D {
  readonly className = 'GlobalMaxPooling2D';
  private argmax?: Tensor;

  constructor(opts: GlobalPooling2DOptions = {}) {
    super(opts, 'global_max_pooling2d');
  }

  /** Also the argmax buffer backward reads. */
  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    this.argmax = this.own(engine, [maxBatch, ...this.outputShape], 'u32');
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const y = this.batchView(this.y!, ctx.n);
    const argmax = this.batchView(this.argmax!, ctx.n);
    maxPool2dForward(rec, x, this.pooled(y), this.pooled(argmax), this.geometry(ctx.n));
    this.saved = { argmax };
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    maxPool2dBackward(rec, this.pooled(dy), this.pooled(this.saved.argmax!), dx, this.geometry(ctx.n));
    return dx;
  }
}
