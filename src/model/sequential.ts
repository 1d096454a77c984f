// The Keras-style Sequential model, the simplest container (src/model/model.ts): a chain of layers with shape
// inference at add() and the classic summary table. Its graph for the step plan is the chain itself.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Layer } from '../layers/layer.js';
import { Model, printSummary, summaryRow } from './model.js';
import { MODEL_INPUT, type GraphNode } from './step-plan.js';

export type { CompileArgs } from './model.js';
export type { LossName } from './step-plan.js';
export type { FitOptions, Checkpoint, Checkpointer } from './fit.js';

let modelCount = 0;

/** A stack of layers trained as one (Keras' Sequential): summary, compile, fit, evaluate, predict, weights and optimizer state. */
export class Sequential extends Model {
  constructor(layers: Layer[] = [], opts: { name?: string } = {}) {
    super({ name: opts.name ?? (modelCount++ === 0 ? 'sequential' : `sequential_${modelCount - 1}`) });
    for (const l of layers) this.add(l);
  }

  /** Appends a layer; with a known input shape the layer is built now, so shape errors name it at once. */
  add(layer: Layer): this {
    if (this.engine) throw new ShaderflowError(`Model "${this.name}": add layers before compile().`);
    if (this.layers.length === 0) {
      if (layer.declaredInputShape) layer.build(layer.declaredInputShape);
    } else {
      if (layer.declaredInputShape && this.layers.length > 0) {
        // Keras ignores input_shape on later layers; we only check it agrees.
        const prev = this.layers[this.layers.length - 1]!;
        if (prev.built && shapeStr(prev.outputShape) !== shapeStr(layer.declaredInputShape))
          throw new ShapeError(
            `Layer "${layer.name}" (${layer.className}) declares input shape ${shapeStr(layer.declaredInputShape)} but the previous layer "${prev.name}" outputs ${shapeStr(prev.outputShape)}.`,
          );
      }
      const prev = this.layers[this.layers.length - 1]!;
      if (prev.built) this.buildLayer(layer, prev);
    }
    this.layers.push(layer);
    return this;
  }

  private buildLayer(layer: Layer, prev: Layer): void {
    try {
      layer.build(prev.outputShape);
    } catch (e) {
      if (e instanceof ShapeError)
        throw new ShapeError(`${e.message} (it follows "${prev.name}" (${prev.className}), whose output shape is ${shapeStr(prev.outputShape)})`);
      throw e;
    }
  }

  /** Builds every layer from the first layer's input shape. */
  override build(): void {
    if (this.layers.length === 0) throw new ShaderflowError(`Model "${this.name}" has no layers: add() some first.`);
    const first = this.layers[0]!;
    if (!first.built) {
      if (!first.declaredInputShape)
        throw new ShapeError(
          `Layer "${first.name}" (${first.className}) is the first layer but has no input shape: give it inputShape (e.g. inputShape: [28, 28, 1]) or inputDim.`,
        );
      first.build(first.declaredInputShape);
    }
    for (let i = 1; i < this.layers.length; i++) if (!this.layers[i]!.built) this.buildLayer(this.layers[i]!, this.layers[i - 1]!);
  }

  /** The chain: each layer takes the previous one's output, the first the model input. */
  override graphNodes(): GraphNode[] {
    return this.layers.map((layer, i) => ({ layer, inputs: [i === 0 ? MODEL_INPUT : i - 1] }));
  }

  override get inputShape(): number[] {
    this.build();
    return this.layers[0]!.inputShape;
  }

  override get outputShape(): number[] {
    this.build();
    return this.layers[this.layers.length - 1]!.outputShape;
  }

  /** Keras' summary table (the classic 65-column layout of the seed course). Returns it and prints it unless print is false. */
  override summary(print: boolean | ((line: string) => void) = true): string {
    this.build();
    const row = summaryRow([29, 55, 65]);
    const lines = [`Model: "${this.name}"`, '_'.repeat(65), row(['Layer (type)', 'Output Shape', 'Param #']), '='.repeat(65)];
    this.layers.forEach((l, i) => {
      lines.push(row([`${l.name} (${l.className})`, `(None, ${l.outputShape.join(', ')})`, String(l.paramCount())]));
      lines.push(i === this.layers.length - 1 ? '='.repeat(65) : '_'.repeat(65));
    });
    lines.push(...this.paramLines(), '_'.repeat(65));
    return printSummary(lines, print);
  }
}

/** A Sequential model of `layers` (Keras' keras.Sequential([...])). */
export function sequential(layers: Layer[] = [], opts: { name?: string } = {}): Sequential {
  return new Sequential(layers, opts);
}
