// The functional API's symbolic tensors: `input({shape})` makes one, `layer.apply(x | [x, y])` builds the layer
// for its inputs' shapes (shape inference at apply) and returns its output. A symbolic tensor remembers the layer
// that produced it and that layer's inputs, so `model({inputs, outputs})` (src/model/model.ts) can walk the graph
// back from the output. Holds no GPU memory.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Layer, MultiInputLayer } from './layer.js';

/** The output of a layer in a functional graph (Keras' KerasTensor): its shape (no batch), the layer and its inputs. */
export class SymbolicTensor {
  constructor(
    /** Shape of one example (no batch dimension). */
    readonly shape: number[],
    /** The layer whose output this is (an InputLayer for a model input). */
    readonly layer: Layer,
    /** The tensors `layer` was applied to (none for an input). */
    readonly inputs: readonly SymbolicTensor[],
  ) {}

  /** "layer (Class) [shape]", for error messages. */
  describe(): string {
    return `"${this.layer.name}" (${this.layer.className}) ${shapeStr(this.shape)}`;
  }
}

const outputs = new WeakMap<Layer, SymbolicTensor>();

/** The symbolic output of `layer` if it has been applied (or is an input), else undefined. */
export function symbolicOutput(layer: Layer): SymbolicTensor | undefined {
  return outputs.get(layer);
}

/** Records that `t` is `layer`'s output (InputLayer and applyLayer). */
export function setSymbolicOutput(layer: Layer, t: SymbolicTensor): void {
  outputs.set(layer, t);
}

/** Whether `layer` takes several inputs (merge layers). */
export function takesSeveralInputs(layer: Layer): layer is Layer & MultiInputLayer {
  return typeof (layer as Partial<MultiInputLayer>).forwardInputs === 'function';
}

/**
 * Layer.apply: builds `layer` for the shapes of `inputs` and returns its symbolic output. ShapeErrors name this
 * layer, the layers whose outputs it was given and their shapes. A layer is applied once: shaderflow does not
 * share a layer (and its weights) between two places in a graph.
 */
export function applyLayer(layer: Layer, inputs: SymbolicTensor | readonly SymbolicTensor[]): SymbolicTensor {
  const xs = Array.isArray(inputs) ? (inputs as readonly SymbolicTensor[]) : [inputs as SymbolicTensor];
  const me = `Layer "${layer.name}" (${layer.className})`;
  if (xs.length === 0 || !xs.every((x) => x instanceof SymbolicTensor))
    throw new ShaderflowError(`${me}.apply takes the output of input() or of another layer's apply() (or a list of them).`);
  const given = xs.map((x) => x.describe()).join(', ');
  const previous = outputs.get(layer);
  if (previous)
    throw new ShapeError(
      `${me} is already applied (to ${previous.inputs.map((x) => x.describe()).join(', ') || 'nothing: it is an input'}); applying it again to ${given} would share its weights, which shaderflow does not support: create another layer.`,
    );
  const several = takesSeveralInputs(layer);
  if (several && xs.length < 2) throw new ShapeError(`${me} merges two or more inputs; it was applied to ${given} alone: pass a list, e.g. layer.apply([a, b]).`);
  if (!several && xs.length > 1) throw new ShapeError(`${me} takes one input but was applied to ${xs.length}: ${given}. Merge them first (Add, Concatenate, Multiply).`);
  if (!several && layer.declaredInputShape && shapeStr(layer.declaredInputShape) !== shapeStr(xs[0]!.shape))
    throw new ShapeError(`${me} declares input shape ${shapeStr(layer.declaredInputShape)} but is applied to ${given}.`);
  try {
    if (several) layer.buildInputs(xs.map((x) => x.shape));
    else layer.build(xs[0]!.shape);
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`${e.message} (applied to ${given})`, { cause: e });
    throw e;
  }
  const out = new SymbolicTensor([...layer.outputShape], layer, xs);
  outputs.set(layer, out);
  return out;
}
