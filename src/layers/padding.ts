// ZeroPadding2D: rows and columns of zeros around [height, width, channels] images (NHWC). Backward crops.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { pad2dBackward, pad2dForward, pad2dGeometry, type Pad2dGeometry } from '../kernels/padding.js';
import { Layer, type StepContext } from './layer.js';

/** Keras' padding argument: one number for all four sides, [rows, columns] symmetric, or [[top, bottom], [left, right]]. */
export type ZeroPadding = number | [number, number] | [[number, number], [number, number]];

/** Options of ZeroPadding2D (Keras' names; default padding 1). */
export interface ZeroPadding2DOptions {
  padding?: ZeroPadding;
  name?: string;
  inputShape?: number[];
  trainable?: boolean;
}

/** Zero padding of images (Keras' ZeroPadding2D, channels last). */
export class ZeroPadding2D extends Layer {
  readonly className = 'ZeroPadding2D';
  /** [[top, bottom], [left, right]]. */
  readonly padding: [[number, number], [number, number]];
  private y?: Tensor;
  private dx?: Tensor;

  constructor(opts: ZeroPadding2DOptions = {}) {
    super({ name: opts.name, inputShape: opts.inputShape, trainable: opts.trainable }, 'zero_padding2d');
    const p = opts.padding ?? 1;
    const bad = (): never => {
      throw this.shapeError(`padding must be a whole number >= 0, a pair of them, or [[top, bottom], [left, right]], got ${JSON.stringify(p)}.`);
    };
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    const side = (v: unknown): [number, number] => (ok(v) ? [v, v] : Array.isArray(v) && v.length === 2 && v.every(ok) ? [v[0], v[1]] : bad());
    if (ok(p)) this.padding = [[p, p], [p, p]];
    else if (Array.isArray(p) && p.length === 2 && p.every(ok)) this.padding = [[p[0] as number, p[0] as number], [p[1] as number, p[1] as number]];
    else if (Array.isArray(p) && p.length === 2) this.padding = [side(p[0]), side(p[1])];
    else this.padding = bad();
  }

  /** The geometry for a batch of n. */
  geometry(n: number, inputShape: number[] = this.inputShape): Pad2dGeometry {
    this.expectRank(inputShape, 3, '[height, width, channels] images');
    return pad2dGeometry([n, inputShape[0]!, inputShape[1]!, inputShape[2]!], this.padding);
  }

  computeOutputShape(inputShape: number[]): number[] {
    const g = this.geometry(1, inputShape);
    return [g.outH, g.outW, g.c];
  }

  getConfig(): Record<string, unknown> {
    return { padding: this.padding.map((s) => [...s]), data_format: 'channels_last' };
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    const y = this.batchView(this.y!, ctx.n);
    pad2dForward(rec, x, y, this.geometry(ctx.n));
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    pad2dBackward(rec, dy, dx, this.geometry(ctx.n));
    return dx;
  }
}
