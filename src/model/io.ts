// Save and load in TensorFlow.js' layers format: model.json (Keras topology + weightsManifest) and weights.bin
// (little-endian float32, in manifest order). Platform-neutral: these functions take and give bytes; the Node
// file wrappers live in src/node.ts, the browser demo downloads the same artifacts.
//
// Untrusted input: every check runs before any GPU allocation, and failures are ModelFormatErrors naming the
// layer or weight at fault.
import { ModelFormatError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { Activation } from '../layers/activation.js';
import { initializerConfig, parseInitializer } from '../layers/config.js';
import { Conv2D } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import type { ActivationName, Layer } from '../layers/layer.js';
import { AveragePooling2D, MaxPooling2D } from '../layers/pooling.js';
import { optimizerConfig, optimizerFromConfig } from './optimizers.js';
import { Sequential } from './sequential.js';

export const FORMAT_VERSION = 'shaderflow 0.1.0';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

export interface ModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: {
    class_name: 'Sequential';
    config: { name: string; layers: { class_name: string; config: Record<string, unknown> }[] };
    keras_version: string;
    backend: string;
  };
  trainingConfig?: { loss: string; metrics: string[]; optimizer_config: { class_name: string; config: Record<string, unknown> } };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export interface ModelArtifacts {
  modelJson: ModelJson;
  weights: ArrayBuffer;
}

/** The model's topology and weights, ready to write as model.json + weights.bin. */
export async function toArtifacts(model: Sequential): Promise<ModelArtifacts> {
  const weights = await model.getWeights();
  const layers = model.layers.map((l, i) => {
    const config: Record<string, unknown> = { name: l.name, trainable: true, dtype: 'float32', ...l.getConfig() };
    if (i === 0) config.batch_input_shape = [null, ...l.inputShape];
    return { class_name: l.className, config };
  });
  const total = weights.reduce((s, w) => s + w.values.length, 0);
  const bin = new Float32Array(total);
  let off = 0;
  for (const w of weights) {
    bin.set(w.values, off);
    off += w.values.length;
  }
  const modelJson: ModelJson = {
    format: 'layers-model',
    generatedBy: FORMAT_VERSION,
    convertedBy: null,
    modelTopology: { class_name: 'Sequential', config: { name: model.name, layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  if (model.loss && model.optimizer)
    modelJson.trainingConfig = { loss: model.loss, metrics: model.metrics, optimizer_config: optimizerConfig(model.optimizer) };
  return { modelJson, weights: bin.buffer };
}

const MAX_DIM = 1 << 24;

function fail(msg: string): never {
  throw new ModelFormatError(`model.json: ${msg}`);
}

function dims(v: unknown, what: string, allowNullFirst = false): number[] {
  if (!Array.isArray(v)) fail(`${what} must be an array of sizes, got ${JSON.stringify(v)}.`);
  const out: number[] = [];
  v.forEach((d, i) => {
    if (d === null && allowNullFirst && i === 0) return;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_DIM) fail(`${what}[${i}] = ${JSON.stringify(d)} is not a size between 1 and ${MAX_DIM}.`);
    out.push(d);
  });
  return out;
}

function pair(v: unknown, what: string, dflt?: [number, number]): [number, number] {
  if (v === undefined || v === null) {
    if (dflt) return dflt;
    fail(`${what} is missing.`);
  }
  if (typeof v === 'number') return dims([v, v], what) as [number, number];
  const d = dims(v, what);
  if (d.length !== 2) fail(`${what} must have two entries, got ${JSON.stringify(v)}.`);
  return d as [number, number];
}

const ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'];

function activation(v: unknown, layer: string): ActivationName {
  const a = v === undefined || v === null ? 'linear' : v;
  if (typeof a !== 'string' || !ACTIVATIONS.includes(a)) fail(`layer "${layer}": unsupported activation ${JSON.stringify(v)} (supported: ${ACTIVATIONS.join(', ')}).`);
  return a as ActivationName;
}

function padding(v: unknown, layer: string): 'same' | 'valid' {
  const p = v ?? 'valid';
  if (p !== 'same' && p !== 'valid') fail(`layer "${layer}": padding ${JSON.stringify(v)} is not 'same' or 'valid'.`);
  return p;
}

/** Builds the layers a model.json describes (no GPU work). */
export function layersFromJson(json: unknown): { name: string; layers: Layer[]; trainingConfig?: ModelJson['trainingConfig'] } {
  if (typeof json !== 'object' || json === null) fail('not a JSON object.');
  const j = json as Partial<ModelJson> & { modelTopology?: { model_config?: ModelJson['modelTopology'] } & Partial<ModelJson['modelTopology']> };
  let topo = j.modelTopology as Partial<ModelJson['modelTopology']> & { model_config?: ModelJson['modelTopology'] } | undefined;
  if (topo?.model_config) topo = topo.model_config; // Keras' own model.json nests it
  if (!topo || typeof topo !== 'object') fail('modelTopology is missing.');
  if (topo.class_name !== 'Sequential') fail(`modelTopology.class_name is ${JSON.stringify(topo.class_name)}; only Sequential models are supported.`);
  const cfg = topo.config as unknown;
  const layerList = Array.isArray(cfg) ? cfg : (cfg as { layers?: unknown })?.layers;
  if (!Array.isArray(layerList) || layerList.length === 0) fail('modelTopology.config.layers is missing or empty.');
  if (layerList.length > 1000) fail(`${layerList.length} layers is more than this loader accepts (1000).`);
  const layers: Layer[] = [];
  let pendingInput: number[] | undefined;
  const seen = new Set<string>();
  layerList.forEach((entry: unknown, idx: number) => {
    const e = entry as { class_name?: unknown; config?: Record<string, unknown> };
    const cls = e?.class_name;
    const c = e?.config ?? {};
    const name = typeof c.name === 'string' && c.name ? c.name : `layer_${idx}`;
    if (seen.has(name)) fail(`two layers are named "${name}".`);
    seen.add(name);
    const inputShape =
      pendingInput ??
      (c.batch_input_shape !== undefined ? dims(c.batch_input_shape, `layer "${name}" batch_input_shape`, true) : c.batch_shape !== undefined ? dims(c.batch_shape, `layer "${name}" batch_shape`, true) : undefined);
    pendingInput = undefined;
    const base = { name, inputShape: layers.length === 0 ? inputShape : undefined };
    switch (cls) {
      case 'InputLayer':
        pendingInput = inputShape ?? fail(`InputLayer "${name}" has no batch_input_shape.`);
        seen.delete(name);
        return;
      case 'Dense': {
        const units = c.units;
        if (typeof units !== 'number' || !Number.isInteger(units) || units < 1 || units > MAX_DIM) fail(`layer "${name}": units ${JSON.stringify(units)} is not a size.`);
        layers.push(
          new Dense({ ...base, units, activation: activation(c.activation, name), useBias: c.use_bias !== false, kernelInitializer: parseInitializer(c.kernel_initializer), biasInitializer: parseInitializer(c.bias_initializer) }),
        );
        return;
      }
      case 'Conv2D': {
        const filters = c.filters;
        if (typeof filters !== 'number' || !Number.isInteger(filters) || filters < 1 || filters > 65536) fail(`layer "${name}": filters ${JSON.stringify(filters)} is not a size.`);
        if (c.data_format !== undefined && c.data_format !== 'channels_last') fail(`layer "${name}": only data_format 'channels_last' is supported.`);
        const dil = c.dilation_rate === undefined ? [1, 1] : pair(c.dilation_rate, `layer "${name}" dilation_rate`);
        if (dil[0] !== 1 || dil[1] !== 1) fail(`layer "${name}": dilation_rate ${JSON.stringify(c.dilation_rate)} is not supported.`);
        layers.push(
          new Conv2D({
            ...base,
            filters,
            kernelSize: pair(c.kernel_size, `layer "${name}" kernel_size`),
            strides: pair(c.strides, `layer "${name}" strides`, [1, 1]),
            padding: padding(c.padding, name),
            activation: activation(c.activation, name),
            useBias: c.use_bias !== false,
            kernelInitializer: parseInitializer(c.kernel_initializer),
          }),
        );
        return;
      }
      case 'MaxPooling2D':
      case 'MaxPool2D':
      case 'AveragePooling2D':
      case 'AvgPool2D': {
        const poolSize = pair(c.pool_size, `layer "${name}" pool_size`, [2, 2]);
        const opts = { ...base, poolSize, strides: c.strides === undefined || c.strides === null ? poolSize : pair(c.strides, `layer "${name}" strides`), padding: padding(c.padding, name) };
        layers.push(cls.startsWith('Max') ? new MaxPooling2D(opts) : new AveragePooling2D(opts));
        return;
      }
      case 'Flatten':
        layers.push(new Flatten(base));
        return;
      case 'Dropout': {
        const rate = c.rate;
        if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) fail(`layer "${name}": dropout rate ${JSON.stringify(rate)} is not in [0, 1).`);
        layers.push(new Dropout({ ...base, rate, seed: typeof c.seed === 'number' ? c.seed : undefined }));
        return;
      }
      case 'Activation':
        layers.push(new Activation({ ...base, activation: activation(c.activation, name) }));
        return;
      default:
        fail(`layer ${idx} "${name}" has class ${JSON.stringify(cls)}, which shaderflow does not implement (Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dropout, Activation).`);
    }
  });
  return { name: typeof (cfg as { name?: unknown })?.name === 'string' ? (cfg as { name: string }).name : 'sequential', layers, trainingConfig: j.trainingConfig };
}

/**
 * A model from model.json + weights.bin bytes: layers built and shape-checked, every weight's name, shape and
 * byte count checked and its values checked finite, all before the GPU is touched. Compiled with the saved
 * training config (or `compileArgs`), weights uploaded.
 */
export function fromArtifacts(engine: Engine, json: unknown, weights: ArrayBuffer | Uint8Array, compileArgs?: { optimizer: string; loss: string; metrics?: string[] }): Sequential {
  const { name, layers, trainingConfig } = layersFromJson(json);
  const model = new Sequential([], { name });
  for (const l of layers) model.add(l);
  try {
    model.build();
  } catch (e) {
    throw new ModelFormatError(`model.json describes layers whose shapes do not fit together: ${(e as Error).message}`, { cause: e });
  }
  const manifest = (json as ModelJson).weightsManifest;
  if (!Array.isArray(manifest)) fail('weightsManifest is missing.');
  const specs: WeightSpec[] = manifest.flatMap((g) => (Array.isArray(g?.weights) ? g.weights : fail('a weightsManifest group has no weights list.')));
  const bytes = weights instanceof Uint8Array ? weights : new Uint8Array(weights);
  const expected = new Map<string, number[]>();
  for (const l of model.layers) for (const p of l.paramSpecs()) expected.set(`${l.name}/${p.name}`, p.shape);
  const values: { name: string; shape: number[]; values: Float32Array }[] = [];
  let offset = 0;
  for (const s of specs) {
    if (typeof s?.name !== 'string') fail('a weight has no name.');
    if (s.dtype !== undefined && s.dtype !== 'float32') throw new ModelFormatError(`weights: "${s.name}" has dtype ${JSON.stringify(s.dtype)}; only float32 is supported.`);
    const shape = dims(s.shape, `weight "${s.name}" shape`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (offset + count * 4 > bytes.byteLength)
      throw new ModelFormatError(`weights.bin: "${s.name}" ${shapeStr(shape)} needs bytes ${offset}..${offset + count * 4}, but the file has ${bytes.byteLength} bytes.`);
    // TF.js may suffix names (dense_Dense1/kernel); match on the layer/param tail when the exact name is absent.
    const key = expected.has(s.name) ? s.name : [...expected.keys()].find((k) => s.name.endsWith(`/${k}`) || s.name === k);
    if (!key) throw new ModelFormatError(`weights: "${s.name}" does not belong to any layer of this model (expected ${[...expected.keys()].join(', ')}).`);
    const want = expected.get(key)!;
    if (shapeStr(want) !== shapeStr(shape)) throw new ModelFormatError(`weights: "${s.name}" has shape ${shapeStr(shape)} but layer expects ${shapeStr(want)}.`);
    const v = new Float32Array(count);
    new Uint8Array(v.buffer).set(bytes.subarray(offset, offset + count * 4));
    for (let i = 0; i < count; i++)
      if (!Number.isFinite(v[i]!)) throw new ModelFormatError(`weights.bin: "${s.name}" value ${i} (byte ${offset + i * 4}) is ${v[i]}; weights must be finite.`);
    values.push({ name: key, shape, values: v });
    expected.delete(key);
    offset += count * 4;
  }
  if (expected.size > 0) throw new ModelFormatError(`weights: no values for ${[...expected.keys()].join(', ')}.`);
  if (offset !== bytes.byteLength) throw new ModelFormatError(`weights.bin has ${bytes.byteLength} bytes but the manifest describes ${offset}.`);
  const tc = trainingConfig;
  const opt = optimizerFromConfig(tc?.optimizer_config as { class_name?: string; config?: Record<string, number | boolean> });
  model.compile(engine, {
    optimizer: compileArgs?.optimizer ?? opt ?? 'sgd',
    loss: compileArgs?.loss ?? (typeof tc?.loss === 'string' ? tc.loss : 'categorical_crossentropy'),
    metrics: compileArgs?.metrics ?? (Array.isArray(tc?.metrics) ? tc!.metrics : ['accuracy']),
  });
  model.setWeights(values);
  return model;
}

export { initializerConfig };
