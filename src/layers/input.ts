// The functional API's model input: input({shape}) makes an InputLayer and returns its symbolic output. The
// InputLayer is listed in model.layers and model.json (as Keras and TF.js do) but records nothing: the step plan
// feeds the gathered batch to the layers that read the input.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { ShapeError } from '../errors.js';
import { Layer, type StepContext } from './layer.js';
import { setSymbolicOutput, symbolicOutput, SymbolicTensor } from './symbolic.js';

/** A model input of one example shape (Keras' InputLayer); made by input(). */
export class InputLayer extends Layer {
  readonly className = 'InputLayer';
  constructor(opts: { shape: number[]; name?: string }) {
    super({ name: opts.name, inputShape: opts.shape }, 'input');
    if (!Array.isArray(opts.shape) || opts.shape.length === 0 || !opts.shape.every((d) => Number.isInteger(d) && d >= 1))
      throw new ShapeError(`input(): shape must list whole numbers >= 1 (one example, no batch), e.g. [28, 28, 1]; got ${JSON.stringify(opts.shape)}.`);
    this.build(opts.shape);
    setSymbolicOutput(this, new SymbolicTensor([...opts.shape], this, []));
  }
  computeOutputShape(inputShape: number[]): number[] {
    return [...inputShape];
  }
  getConfig(): Record<string, unknown> {
    return { batch_input_shape: [null, ...this.inputShape], dtype: 'float32', sparse: false };
  }
  protected allocateBuffers(_engine: Engine, _maxBatch: number): void {}
  forward(_rec: Recorder, x: Tensor, _ctx: StepContext): Tensor {
    return x;
  }
  backward(_rec: Recorder, dy: Tensor, _ctx: StepContext, needInputGrad: boolean): Tensor | null {
    return needInputGrad ? dy : null;
  }
}

/** A symbolic model input of `shape` (one example, no batch), Keras' keras.Input / TF.js tf.input. */
export function input(opts: { shape: number[]; name?: string }): SymbolicTensor {
  return symbolicOutput(new InputLayer(opts))!;
}
