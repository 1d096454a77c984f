// A float64 twin of a whole model (a Sequential chain or a functional graph): forward through each layer's own CPU
// reference, node by node, then the loss as Keras defines it (the mean over the batch). Tests differentiate it numerically to check the GPU's gradients of
// a complete training step, which proves the layers' wiring (saved tensors, shapes, fused softmax) as a whole.
import type { Layer } from '../layers/layer.js';
import { Dense } from '../layers/dense.js';
import { Conv2D } from '../layers/conv2d.js';
import { AveragePooling2D, MaxPooling2D } from '../layers/pooling.js';
import { Activation } from '../layers/activation.js';
import { Flatten } from '../layers/flatten.js';
import { Dropout } from '../layers/dropout.js';
import { ImageAugmentation } from '../layers/augment.js';
import { Add, Concatenate, Multiply } from '../layers/merge.js';
import { activationForwardRef } from './activation.js';
import { conv2dForwardRef } from './conv2d.js';
import { matmulRef } from './matmul.js';
import { avgPool2dForwardRef, maxPool2dForwardRef } from './pool.js';
import { dropoutMaskRef } from './dropout.js';
import { IMAGE_LAYER_CLASSES, imageLayerForwardRef } from './image-layers.js';
import { addRef, concatenateRef, multiplyRef } from './merge.js';

export type WeightsRef = Map<string, ArrayLike<number>>;

/** The dropout masks a training forward pass reproduces: the model's seed and the optimizer step. */
export type TrainingRef = { seed: number; step: number };

/** One node of a graph for graphForwardRef: the layer and the ids of the nodes it reads (-1: the model input). */
export interface GraphNodeRef {
  layer: Layer;
  inputs: number[];
}

/**
 * Forward pass of built `layers` on n examples of x (NHWC, flattened), in float64: inference, or with `training`
 * the dropout masks and augmentation parameters of optimizer step `step` (what the GPU draws for the model's seed and each layer's id).
 */
export function sequentialForwardRef(layers: readonly Layer[], weights: WeightsRef, x: ArrayLike<number>, n: number, training?: TrainingRef): Float64Array {
  return graphForwardRef(layers.map((layer, i) => ({ layer, inputs: [i - 1] })), weights, x, n, training);
}

/** Forward pass of a graph's nodes (topological order, the output last) on n examples of x, in float64. */
export function graphForwardRef(nodes: readonly GraphNodeRef[], weights: WeightsRef, x: ArrayLike<number>, n: number, training?: TrainingRef): Float64Array {
  const input = Float64Array.from(x);
  const outs: Float64Array[] = [];
  nodes.forEach((node, id) => {
    outs[id] = layerForwardRef(node.layer, node.inputs.map((j) => (j < 0 ? input : outs[j]!)), weights, n, training);
  });
  return outs[nodes.length - 1]!;
}

/** One layer's float64 forward on its inputs (one, or several for the merge layers). */
export function layerForwardRef(layer: Layer, inputs: readonly Float64Array[], weights: WeightsRef, n: number, training?: TrainingRef): Float64Array {
  let a: Float64Array<ArrayBufferLike> = inputs[0]!;
  const w = (name: string) => {
    const v = weights.get(`${layer.name}/${name}`);
    if (!v) throw new Error(`layerForwardRef: no weights for ${layer.name}/${name}`);
    return v;
  };
  if (layer instanceof Add) {
    a = addRef(inputs);
  } else if (layer instanceof Multiply) {
    a = multiplyRef(inputs);
  } else if (layer instanceof Concatenate) {
    const rank = layer.outputShape.length;
    a = concatenateRef(inputs, (n * layer.outputShape.slice(0, -1).reduce((p, d) => p * d, 1)), layer.inputShapes.map((s) => s[rank - 1]!));
  } else if (layer instanceof Dense) {
    const cols = layer.outputShape[layer.outputShape.length - 1]!;
    const k = layer.inputShape[layer.inputShape.length - 1]!;
    const rows = (n * layer.inputShape.reduce((p, d) => p * d, 1)) / k;
    const z = matmulRef(a, w('kernel'), rows, cols, k, { bias: layer.useBias ? w('bias') : undefined });
    a = activationForwardRef(layer.activation, z, rows, cols);
  } else if (layer instanceof Conv2D) {
    const g = layer.geometry(n);
    const z = conv2dForwardRef(a, w('kernel'), layer.useBias ? w('bias') : null, g);
    a = activationForwardRef(layer.activation, z, z.length / g.outC, g.outC);
  } else if (layer instanceof MaxPooling2D) {
    a = maxPool2dForwardRef(a, layer.geometry(n)).y;
  } else if (layer instanceof AveragePooling2D) {
    a = avgPool2dForwardRef(a, layer.geometry(n));
  } else if (layer instanceof Activation) {
    const cols = layer.outputShape[layer.outputShape.length - 1]!;
    a = activationForwardRef(layer.activation, a, a.length / cols, cols);
  } else if (layer instanceof Dropout) {
    if (training && layer.rate > 0) {
      const mask = dropoutMaskRef(a.length, layer.rate, layer.seed ?? training.seed, layer.id, training.step);
      a = a.map((v, i) => v * mask[i]!);
    } // else the identity (inference)
  } else if (layer instanceof ImageAugmentation) {
    a = layer.forwardRef(a, n, training);
  } else if (IMAGE_LAYER_CLASSES.some((c) => layer instanceof c)) {
    a = imageLayerForwardRef(layer, a, w, n, !!training)!;
  } else if (layer instanceof Flatten) {
    // a reshape of NHWC rows
  } else if (layer.referenceForward) {
    a = Float64Array.from(layer.referenceForward(a, w, n));
  } else {
    throw new Error(`layerForwardRef: no reference for ${layer.className}`);
  }
  return a;
}

const BUILT_IN = [Dense, Conv2D, MaxPooling2D, AveragePooling2D, Activation, Dropout, Flatten, Add, Multiply, Concatenate, ...IMAGE_LAYER_CLASSES, ImageAugmentation];

/** Whether layerForwardRef can run `layer`: a built-in layer, or one with its own referenceForward. */
export function hasForwardRef(layer: Layer): boolean {
  return BUILT_IN.some((c) => layer instanceof c) || typeof layer.referenceForward === 'function';
}

export type ModelLossRef = 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'mean_squared_error' | 'binary_crossentropy';

/** Keras' loss of outputs `out` [n, c]: the mean over the batch (cross-entropies clip probabilities at 1e-7). */
export function modelLossRef(loss: ModelLossRef, out: ArrayLike<number>, y: ArrayLike<number>, n: number, c: number): number {
  let sum = 0;
  for (let r = 0; r < n; r++)
    for (let j = 0; j < c; j++) {
      const t = loss === 'sparse_categorical_crossentropy' ? (y[r] === j ? 1 : 0) : y[r * c + j]!;
      const p = out[r * c + j]!;
      if (loss === 'mean_squared_error') sum += ((p - t) * (p - t)) / c;
      else if (loss === 'binary_crossentropy') {
        // Keras: the mean over the row; a sigmoid output's loss is computed from its logit (the fused path), which
        // equals the clipped formula wherever p is inside [1e-7, 1 - 1e-7]
        const q = Math.min(Math.max(p, 1e-7), 1 - 1e-7);
        sum -= (t * Math.log(q) + (1 - t) * Math.log(1 - q)) / c;
      }
      else if (t !== 0) sum -= t * Math.log(Math.min(Math.max(p, 1e-7), 1 - 1e-7));
    }
  return sum / n;
}
