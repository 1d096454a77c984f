// float64 forwards of the image-classifier layers (BatchNormalization, depthwise and separable convolutions, zero
// padding, global pooling, LeakyReLU) for the whole-model twin (src/reference/model.ts), kept beside it so the
// twin's own dispatch stays one line for all of them.
import { LeakyReLU } from '../layers/activation.js';
import { DepthwiseConv2D, SeparableConv2D } from '../layers/depthwise.js';
import { GlobalAveragePooling2D, GlobalMaxPooling2D } from '../layers/global-pooling.js';
import type { Layer } from '../layers/layer.js';
import { BatchNormalization } from '../layers/normalization.js';
import { ZeroPadding2D } from '../layers/padding.js';
import { activationForwardRef } from './activation.js';
import { batchNormForwardRef } from './batchnorm.js';
import { depthwiseForwardRef } from './depthwise.js';
import { matmulRef } from './matmul.js';
import { pad2dForwardRef } from './padding.js';
import { avgPool2dForwardRef, maxPool2dForwardRef } from './pool.js';

/** The layer classes imageLayerForwardRef knows. */
export const IMAGE_LAYER_CLASSES = [BatchNormalization, DepthwiseConv2D, ZeroPadding2D, GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU];

/**
 * `layer`'s float64 forward of a (n examples, flattened NHWC), with `w(name)` its weights; BatchNormalization uses
 * the batch statistics when `training` (and the layer is trainable, as Keras runs a frozen one in inference mode).
 * undefined when `layer` is none of IMAGE_LAYER_CLASSES.
 */
export function imageLayerForwardRef(layer: Layer, a: Float64Array, w: (name: string) => ArrayLike<number>, n: number, training: boolean): Float64Array | undefined {
  if (layer instanceof LeakyReLU) {
    const cols = layer.outputShape[layer.outputShape.length - 1]!;
    return activationForwardRef('leaky_relu', a, a.length / cols, cols, layer.negativeSlope);
  }
  if (layer instanceof BatchNormalization) {
    const cols = layer.channels;
    const weights = { gamma: layer.scale ? w('gamma') : undefined, beta: layer.center ? w('beta') : undefined, movingMean: w('moving_mean'), movingVariance: w('moving_variance') };
    return batchNormForwardRef(a, a.length / cols, cols, weights, training && layer.trainable, layer.epsilon, layer.momentum).y;
  }
  if (layer instanceof SeparableConv2D) {
    const g = layer.geometry(n);
    const d = depthwiseForwardRef(a, w('depthwise_kernel'), null, g);
    const rows = n * g.outH * g.outW;
    const z = matmulRef(d, w('pointwise_kernel'), rows, layer.filters, g.outC, { bias: layer.useBias ? w('bias') : undefined });
    return activationForwardRef(layer.activation, z, rows, layer.filters);
  }
  if (layer instanceof DepthwiseConv2D) {
    const g = layer.geometry(n);
    const z = depthwiseForwardRef(a, w('depthwise_kernel'), layer.useBias ? w('bias') : null, g);
    return activationForwardRef(layer.activation, z, z.length / g.outC, g.outC);
  }
  if (layer instanceof ZeroPadding2D) return pad2dForwardRef(a, layer.geometry(n));
  if (layer instanceof GlobalAveragePooling2D) return avgPool2dForwardRef(a, layer.geometry(n));
  if (layer instanceof GlobalMaxPooling2D) return maxPool2dForwardRef(a, layer.geometry(n)).y;
  return undefined;
}
