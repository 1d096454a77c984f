// fit's classWeight and sampleWeight (Keras semantics): one weight per training example, uploaded once and
// gathered per batch through the same shuffled order as the inputs; the loss kernel multiplies each example's
// loss and gradient by it and the batch mean still divides by the batch size (Keras' 'sum_over_batch_size', not
// the sum of the weights), so the epoch loss is Σ wᵢ·lossᵢ / N.
import { ShaderflowError } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from '../kernels/tuning.js';

/** fit's weighting options. */
export interface ExampleWeightOptions {
  /** Weight by class index ({class: weight}); a class not named weighs 1 (Keras' class_weight). */
  classWeight?: Record<number, number>;
  /** One weight per training example (before validationSplit takes its share). */
  sampleWeight?: Float32Array | readonly number[];
}

/**
 * The per-example weights fit trains with, or null when neither option is given. `classOf[i]` is example i's
 * class (the label, or the argmax of a one-hot or target row, as Keras' class_weight_to_sample_weights takes it).
 * Both options together, weights that are not finite numbers >= 0, or class keys outside the model's classes
 * are errors (before training).
 */
export function exampleWeights(o: ExampleWeightOptions, classOf: ArrayLike<number>, count: number, classes: number): Float32Array | null {
  if (o.classWeight !== undefined && o.sampleWeight !== undefined) throw new ShaderflowError('fit: classWeight and sampleWeight cannot be given together (as in Keras); fold the class weights into sampleWeight.');
  if (o.sampleWeight !== undefined) {
    const w = o.sampleWeight;
    if (w.length !== count) throw new ShaderflowError(`fit: sampleWeight has ${w.length} values for ${count} training examples; give one weight per example.`);
    for (let i = 0; i < w.length; i++) if (!(Number.isFinite(w[i]) && w[i]! >= 0)) throw new ShaderflowError(`fit: sampleWeight[${i}] is ${w[i]}; weights must be finite numbers >= 0.`);
    return Float32Array.from(w);
  }
  if (o.classWeight === undefined) return null;
  const table = new Float32Array(classes).fill(1);
  for (const [k, v] of Object.entries(o.classWeight)) {
    const c = Number(k);
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new ShaderflowError(`fit: classWeight names class ${JSON.stringify(k)}, but the model has classes 0..${classes - 1}.`);
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new ShaderflowError(`fit: classWeight[${k}] is ${v}; weights must be finite numbers >= 0.`);
    table[c] = v;
  }
  const w = new Float32Array(count);
  for (let i = 0; i < count; i++) w[i] = table[classOf[i]!]!;
  return w;
}

/**
 * Records out[i] = weights[order[start + i]] for the batch's n examples (shaders/gather.wgsl's targetRows with
 * one value per row): the weights follow the same shuffled order as the inputs.
 */
export function recordWeightGather(rec: Recorder, order: Tensor, start: GPUBuffer, n: number, weights: Tensor, out: Tensor): void {
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'gather',
    entry: 'targetRows',
    constants: { WG: wg },
    bindings: [rec.uniform([n, 0, 1, 0]), { buffer: start, offset: 0, size: 16 }, order, weights, null, null, out],
    workgroups: grid1d(rec.engine, n, wg),
    label: 'gather sample weights',
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: 0, bytes: 12 * n },
  });
}
