// Flatten: [n, ...] -> [n, prod(...)]. Both directions are views of the same bytes (NHWC is already row-major).
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { Layer, type StepContext } from './layer.js';

/** Flattens each example to one dimension (a view: no copy, no dispatch). */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  constructor(opts: { name?: string; inputShape?: number[]; trainable?: boolean } = {}) {
    super(opts, 'flatten');
  }
  computeOutputShape(inputShape: number[]): number[] {
    return [inputShape.reduce((a, b) => a * b, 1)];
  }
  getConfig(): Record<string, unknown> {
    return { data_format: 'channels_last' };
  }
  protected allocateBuffers(_engine: Engine, _maxBatch: number): void {}
  forward(_rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    return x.reshape([ctx.n, ...this.outputShape]);
  }
  backward(_rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    return needInputGrad ? dy.reshape([ctx.n, ...this.inputShape]) : null;
  }
}
