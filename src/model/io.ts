// Save and load in TensorFlow.js' layers format: model.json (Keras topology + weightsManifest) and weights.bin
// (little-endian float32, in manifest order). Platform-neutral: these functions take and give bytes; the Node
// file wrappers live in src/node.ts, the browser demo downloads the same artifacts.
//
// Untrusted input: every check runs before any GPU allocation, and failures are ModelFormatErrors naming the
// layer or weight at fault.
import type { MetricArg } from './metrics.js';
import { DeviceError, ModelFormatError, ShaderflowError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { ACTIVATION_NAMES } from '../kernels/activation.js';
import { Activation, LeakyReLU } from '../layers/activation.js';
import { initializerConfig, parseInitializer } from '../layers/config.js';
import { Conv2D } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { augmentationFromConfig } from '../layers/augment.js';
import { Flatten } from '../layers/flatten.js';
import type { ActivationName, Layer } from '../layers/layer.js';
import { AveragePooling2D, MaxPooling2D } from '../layers/pooling.js';
import { BatchNormalization } from '../layers/normalization.js';
import { DepthwiseConv2D, SeparableConv2D } from '../layers/depthwise.js';
import { ZeroPadding2D, type ZeroPadding } from '../layers/padding.js';
import { GlobalAveragePooling2D, GlobalMaxPooling2D } from '../layers/global-pooling.js';
import { BUILT_IN_LAYER_CLASSES, registeredLayer, registeredLayerNames } from '../layers/registry.js';
import { InputLayer } from '../layers/input.js';
import { Add, Concatenate, Multiply } from '../layers/merge.js';
import { symbolicOutput, type SymbolicTensor } from '../layers/symbolic.js';
import { learningRateFromConfig, optimizerConfig, optimizerFromConfig } from './optimizers.js';
import { Model } from './model.js';
import type { LearningRateSchedule } from './schedules.js';
import { Sequential } from './sequential.js';

export const FORMAT_VERSION = 'shaderflow 0.1.0';

/** One weight in model.json's weights manifest: name, shape, dtype. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/** model.json in TensorFlow.js layers format: topology, weights manifest and training config. */
export interface ModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: {
    /** 'Sequential', or 'Model' for a functional graph (TF.js' name; Keras writes 'Functional', which loads too). */
    class_name: 'Sequential' | 'Model';
    config: {
      name: string;
      /** Each layer; in a functional model also the layers it reads: inbound_nodes [[[name, 0, 0, {}], ...]]. */
      layers: { class_name: string; config: Record<string, unknown>; name?: string; inbound_nodes?: unknown[] }[];
      /** Functional models: the input and output layers, [[name, 0, 0]]. */
      input_layers?: [string, number, number][];
      output_layers?: [string, number, number][];
    };
    keras_version: string;
    backend: string;
  };
  trainingConfig?: { loss: string; metrics: MetricArg[]; optimizer_config: { class_name: string; config: Record<string, unknown> } };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

/** A model as toArtifacts gives it: model.json's content and the weights.bin bytes. */
export interface ModelArtifacts {
  modelJson: ModelJson;
  weights: ArrayBuffer;
}

/** The schedule a compiled model's optimizer follows (saved as its config rather than the current rate), if any. */
function scheduleOf(spec: object): LearningRateSchedule | undefined {
  return (spec as { schedule?: LearningRateSchedule }).schedule;
}

/** The model's topology and weights, ready to write as model.json + weights.bin. */
export async function toArtifacts(model: Model): Promise<ModelArtifacts> {
  const weights = await model.getWeights();
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
    modelTopology: topologyOf(model),
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  if (model.loss && model.optimizer)
    modelJson.trainingConfig = { loss: model.loss, metrics: model.metricArgs, optimizer_config: optimizerConfig(model.optimizer, scheduleOf(model.optimizer) ?? model.optimizer.learningRate) };
  return { modelJson, weights: bin.buffer };
}

/**
 * model.json's modelTopology for `model` (no GPU work): each layer's class name and Keras config; for a functional
 * model (class_name 'Model', as TF.js writes it) also each layer's inbound_nodes and the input and output layers.
 */
export function topologyOf(model: Model): ModelJson['modelTopology'] {
  model.build();
  const version = { keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' };
  if (model instanceof Sequential) {
    const layers = model.layers.map((l, i) => {
      const config: Record<string, unknown> = { name: l.name, trainable: l.trainable, dtype: 'float32', ...l.getConfig() };
      if (i === 0) config.batch_input_shape = [null, ...l.inputShape];
      return { class_name: l.className, config };
    });
    return { class_name: 'Sequential', config: { name: model.name, layers }, ...version };
  }
  const rows = model.connections();
  const layers = rows.map(({ layer, inbound }) => ({
    name: layer.name,
    class_name: layer.className,
    config: layer instanceof InputLayer ? { ...layer.getConfig(), name: layer.name } : { name: layer.name, trainable: layer.trainable, dtype: 'float32', ...layer.getConfig() },
    inbound_nodes: inbound.length === 0 ? [] : [inbound.map((l) => [l.name, 0, 0, {}])],
  }));
  const ref = (l: Layer): [string, number, number] => [l.name, 0, 0];
  const config = { name: model.name, layers, input_layers: [ref(rows[0]!.layer)], output_layers: [ref(rows[rows.length - 1]!.layer)] };
  return { class_name: 'Model', config, ...version };
}

const MAX_DIM = 1 << 24;
/** model.json files larger than this are refused before parsing (a real one is a few kB). */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

function fail(msg: string): never {
  throw new ModelFormatError(`model.json: ${msg}`);
}

/**
 * Parses model.json text or bytes (UTF-8) into the object fromArtifacts takes; a ModelFormatError names the file
 * and the byte (or character) position where the JSON stops making sense.
 */
export function parseModelJson(text: string | Uint8Array, file = 'model.json'): unknown {
  const size = typeof text === 'string' ? text.length : text.byteLength;
  if (size > MAX_MODEL_JSON_BYTES) throw new ModelFormatError(`${file}: ${size} bytes is too large for a model.json (at most ${MAX_MODEL_JSON_BYTES}); is it the weights file?`);
  let str: string;
  if (typeof text === 'string') str = text;
  else {
    try {
      str = new TextDecoder('utf-8', { fatal: true }).decode(text);
    } catch (e) {
      throw new ModelFormatError(`${file}: not UTF-8 text (${(e as Error).message}); a model.json is JSON.`, { cause: e });
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(str);
  } catch (e) {
    throw new ModelFormatError(`${file}: malformed JSON (${(e as Error).message}). Re-export the model or restore the file.`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFormatError(`${file}: the top level must be a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}.`);
  return json;
}

/** A value as JSON for an error message, cut to 80 characters. */
function show(v: unknown): string {
  let t: string;
  try {
    t = JSON.stringify(v) ?? String(v);
  } catch {
    t = String(v);
  }
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An initializer given as a name or {class_name}; anything else is a ModelFormatError naming the layer. */
function initializer(v: unknown, layer: string, key: string): ReturnType<typeof parseInitializer> {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || (isRecord(v) && typeof v.class_name === 'string')) return parseInitializer(v);
  fail(`layer "${layer}": ${key} ${show(v)} is neither an initializer name nor {class_name: ...}.`);
}

function dims(v: unknown, what: string, allowNullFirst = false): number[] {
  if (!Array.isArray(v)) fail(`${what} must be an array of sizes, got ${show(v)}.`);
  if (v.length > 8) fail(`${what} has ${v.length} dimensions; at most 8 are supported.`);
  const out: number[] = [];
  v.forEach((d, i) => {
    if (d === null && allowNullFirst && i === 0) return;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_DIM) fail(`${what}[${i}] = ${show(d)} is not a size between 1 and ${MAX_DIM}.`);
    out.push(d);
  });
  if (out.length === 0) fail(`${what} ${show(v)} has no sizes.`);
  return out;
}

function pair(v: unknown, what: string, dflt?: [number, number]): [number, number] {
  if (v === undefined || v === null) {
    if (dflt) return dflt;
    fail(`${what} is missing.`);
  }
  if (typeof v === 'number') return dims([v, v], what) as [number, number];
  const d = dims(v, what);
  if (d.length !== 2) fail(`${what} must have two entries, got ${show(v)}.`);
  return d as [number, number];
}

/** An activation name from model.json: Keras' snake_case or TF.js's camelCase ('hardSigmoid'); 'silu' is 'swish'. */
function activation(v: unknown, layer: string): ActivationName {
  const a = v === undefined || v === null ? 'linear' : v;
  const snake = typeof a === 'string' ? a.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase() : a;
  if (typeof snake !== 'string' || !(ACTIVATION_NAMES as readonly string[]).includes(snake)) fail(`layer "${layer}": unsupported activation ${show(v)} (supported: ${ACTIVATION_NAMES.join(', ')}).`);
  return snake === 'silu' ? 'swish' : (snake as ActivationName);
}

/** A finite number config field (a ModelFormatError naming the layer and key otherwise). */
function num(v: unknown, layer: string, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`layer "${layer}": ${key} ${show(v)} is not a finite number.`);
  return v;
}

function padding(v: unknown, layer: string): 'same' | 'valid' {
  const p = v ?? 'valid';
  if (p !== 'same' && p !== 'valid') fail(`layer "${layer}": padding ${show(v)} is not 'same' or 'valid'.`);
  return p;
}

/** How a functional model.json wires its layers: the layers each one reads (by name), and the input and output layer. */
export interface JsonGraph {
  inbound: Map<string, string[]>;
  input: string;
  output: string;
}

/**
 * Builds the layers a model.json describes (no GPU work): a Sequential's in order, or a functional model's (its
 * InputLayer included) with `graph`, how they are wired; modelFromJson applies them.
 */
export function layersFromJson(json: unknown): { name: string; layers: Layer[]; trainingConfig?: ModelJson['trainingConfig']; graph?: JsonGraph } {
  if (!isRecord(json)) fail('not a JSON object.');
  const j = json as Partial<ModelJson> & { modelTopology?: { model_config?: ModelJson['modelTopology'] } & Partial<ModelJson['modelTopology']> };
  let topo = j.modelTopology as Partial<ModelJson['modelTopology']> & { model_config?: ModelJson['modelTopology'] } | undefined;
  if (topo?.model_config) topo = topo.model_config; // Keras' own model.json nests it
  if (!isRecord(topo)) fail('modelTopology is missing.');
  const functional = (topo.class_name as string) === 'Model' || (topo.class_name as string) === 'Functional';
  if (!functional && topo.class_name !== 'Sequential')
    fail(`modelTopology.class_name is ${show(topo.class_name)}; shaderflow loads Sequential and functional ('Model' / 'Functional') models.`);
  const cfg = topo.config as unknown;
  const layerList = Array.isArray(cfg) ? cfg : (cfg as { layers?: unknown })?.layers;
  if (!Array.isArray(layerList) || layerList.length === 0) fail('modelTopology.config.layers is missing or empty.');
  if (layerList.length > 1000) fail(`${layerList.length} layers is more than this loader accepts (1000).`);
  const layers: Layer[] = [];
  let pendingInput: number[] | undefined;
  const seen = new Set<string>();
  const inbound = new Map<string, string[]>();
  layerList.forEach((entry: unknown, idx: number) => {
    if (!isRecord(entry)) fail(`layer ${idx} is ${show(entry)}, not a {class_name, config} object.`);
    const cls = entry.class_name;
    if (entry.config !== undefined && entry.config !== null && !isRecord(entry.config)) fail(`layer ${idx} (${show(cls)}): config must be an object.`);
    const c: Record<string, unknown> = isRecord(entry.config) ? entry.config : {};
    const name = typeof c.name === 'string' && c.name ? c.name : `layer_${idx}`;
    if (seen.has(name)) fail(`two layers are named "${name}".`);
    seen.add(name);
    const inputShape =
      pendingInput ??
      (c.batch_input_shape !== undefined ? dims(c.batch_input_shape, `layer "${name}" batch_input_shape`, true) : c.batch_shape !== undefined ? dims(c.batch_shape, `layer "${name}" batch_shape`, true) : undefined);
    pendingInput = undefined;
    const base = { name, inputShape: layers.length === 0 && !functional ? inputShape : undefined };
    try {
      const count = layers.length;
      if (functional) inbound.set(name, inboundLayers(entry.inbound_nodes, name));
      if (functional && cls === 'InputLayer') layers.push(new InputLayer({ name, shape: inputShape ?? fail(`InputLayer "${name}" has no batch_input_shape.`) }));
      else buildLayer(cls, c, name, idx, base);
      if (layers.length > count && c.trainable === false) layers[layers.length - 1]!.trainable = false;
    } catch (e) {
      // A layer constructor's own checks (ShapeError etc.) become format errors naming the layer; bugs stay bugs.
      if (e instanceof ShaderflowError && !(e instanceof ModelFormatError)) fail(`layer ${idx} "${name}": ${e.message}`);
      throw e;
    }
  });
  const tc = trainingConfig(j.trainingConfig);
  const modelName = isRecord(cfg) && typeof cfg.name === 'string' ? cfg.name : functional ? 'model' : 'sequential';
  if (!functional) return { name: modelName, layers, trainingConfig: tc };
  const c = cfg as Record<string, unknown>;
  const graph = { inbound, input: endpoint(c.input_layers, 'input_layers'), output: endpoint(c.output_layers, 'output_layers') };
  return { name: modelName, layers, trainingConfig: tc, graph };

  function buildLayer(cls: unknown, c: Record<string, unknown>, name: string, idx: number, base: { name: string; inputShape?: number[] }): void {
    switch (cls) {
      case 'InputLayer':
        if (layers.length > 0) fail(`InputLayer "${name}" (layer ${idx}) must come first.`);
        pendingInput = base.inputShape ?? fail(`InputLayer "${name}" has no batch_input_shape.`);
        seen.delete(name);
        return;
      case 'Dense': {
        const units = c.units;
        if (typeof units !== 'number' || !Number.isInteger(units) || units < 1 || units > MAX_DIM) fail(`layer "${name}": units ${show(units)} is not a size.`);
        layers.push(
          new Dense({ ...base, units, activation: activation(c.activation, name), useBias: c.use_bias !== false, kernelInitializer: initializer(c.kernel_initializer, name, 'kernel_initializer'), biasInitializer: initializer(c.bias_initializer, name, 'bias_initializer') }),
        );
        return;
      }
      case 'Conv2D': {
        const filters = c.filters;
        if (typeof filters !== 'number' || !Number.isInteger(filters) || filters < 1 || filters > 65536) fail(`layer "${name}": filters ${show(filters)} is not a size.`);
        if (c.data_format !== undefined && c.data_format !== 'channels_last') fail(`layer "${name}": only data_format 'channels_last' is supported.`);
        const dil = c.dilation_rate === undefined ? [1, 1] : pair(c.dilation_rate, `layer "${name}" dilation_rate`);
        if (dil[0] !== 1 || dil[1] !== 1) fail(`layer "${name}": dilation_rate ${show(c.dilation_rate)} is not supported.`);
        layers.push(
          new Conv2D({
            ...base,
            filters,
            kernelSize: pair(c.kernel_size, `layer "${name}" kernel_size`),
            strides: pair(c.strides, `layer "${name}" strides`, [1, 1]),
            padding: padding(c.padding, name),
            activation: activation(c.activation, name),
            useBias: c.use_bias !== false,
            kernelInitializer: initializer(c.kernel_initializer, name, 'kernel_initializer'),
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
        if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) fail(`layer "${name}": dropout rate ${show(rate)} is not in [0, 1).`);
        if (c.seed !== undefined && c.seed !== null && !(typeof c.seed === 'number' && Number.isInteger(c.seed) && c.seed >= 0 && c.seed <= 0xffffffff))
          fail(`layer "${name}": dropout seed ${show(c.seed)} is not a whole number in [0, 2^32).`);
        layers.push(new Dropout({ ...base, rate, seed: typeof c.seed === 'number' ? c.seed : undefined }));
        return;
      }
      case 'Activation':
        layers.push(new Activation({ ...base, activation: activation(c.activation, name) }));
        return;
      case 'RandomFlip':
      case 'RandomTranslation':
      case 'RandomRotation':
      case 'RandomZoom':
      case 'RandomCrop':
      case 'RandomContrast':
      case 'RandomBrightness':
        layers.push(augmentationFromConfig(cls, c, base));
        return;
      case 'BatchNormalization': {
        const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
        const bool = (v: unknown, key: string): boolean => (v === undefined ? true : typeof v === 'boolean' ? v : fail(`layer "${name}": ${key} ${show(v)} is not true or false.`));
        layers.push(
          new BatchNormalization({
            ...base,
            axis: num(axis, name, 'axis'),
            momentum: num(c.momentum ?? 0.99, name, 'momentum'),
            epsilon: num(c.epsilon ?? 1e-3, name, 'epsilon'),
            center: bool(c.center, 'center'),
            scale: bool(c.scale, 'scale'),
            betaInitializer: initializer(c.beta_initializer, name, 'beta_initializer'),
            gammaInitializer: initializer(c.gamma_initializer, name, 'gamma_initializer'),
            movingMeanInitializer: initializer(c.moving_mean_initializer, name, 'moving_mean_initializer'),
            movingVarianceInitializer: initializer(c.moving_variance_initializer, name, 'moving_variance_initializer'),
          }),
        );
        return;
      }
      case 'ZeroPadding2D':
        if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') fail(`layer "${name}": only data_format 'channels_last' is supported.`);
        layers.push(new ZeroPadding2D({ ...base, padding: (c.padding ?? 1) as ZeroPadding }));
        return;
      case 'GlobalAveragePooling2D':
      case 'GlobalAvgPool2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalMaxPool2D':
        if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') fail(`layer "${name}": only data_format 'channels_last' is supported.`);
        if (c.keepdims === true) fail(`layer "${name}": keepdims true is not supported.`);
        layers.push(cls.startsWith('GlobalMax') ? new GlobalMaxPooling2D(base) : new GlobalAveragePooling2D(base));
        return;
      case 'DepthwiseConv2D':
      case 'SeparableConv2D': {
        if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') fail(`layer "${name}": only data_format 'channels_last' is supported.`);
        const dil = c.dilation_rate === undefined ? [1, 1] : pair(c.dilation_rate, `layer "${name}" dilation_rate`);
        if (dil[0] !== 1 || dil[1] !== 1) fail(`layer "${name}": dilation_rate ${show(c.dilation_rate)} is not supported.`);
        const mult = c.depth_multiplier ?? 1;
        if (typeof mult !== 'number' || !Number.isInteger(mult) || mult < 1 || mult > 4096) fail(`layer "${name}": depth_multiplier ${show(mult)} is not a size.`);
        const opts = {
          ...base,
          kernelSize: pair(c.kernel_size, `layer "${name}" kernel_size`),
          strides: pair(c.strides, `layer "${name}" strides`, [1, 1]),
          padding: padding(c.padding, name),
          depthMultiplier: mult,
          activation: activation(c.activation, name),
          useBias: c.use_bias !== false,
          depthwiseInitializer: initializer(c.depthwise_initializer, name, 'depthwise_initializer'),
          biasInitializer: initializer(c.bias_initializer, name, 'bias_initializer'),
        };
        if (cls === 'DepthwiseConv2D') layers.push(new DepthwiseConv2D(opts));
        else {
          const filters = c.filters;
          if (typeof filters !== 'number' || !Number.isInteger(filters) || filters < 1 || filters > 65536) fail(`layer "${name}": filters ${show(filters)} is not a size.`);
          layers.push(new SeparableConv2D({ ...opts, filters, pointwiseInitializer: initializer(c.pointwise_initializer, name, 'pointwise_initializer') }));
        }
        return;
      }
      case 'LeakyReLU':
        layers.push(new LeakyReLU({ ...base, alpha: num(c.alpha ?? c.negative_slope ?? 0.3, name, 'alpha') }));
        return;
      case 'Add':
        layers.push(new Add({ name }));
        return;
      case 'Multiply':
        layers.push(new Multiply({ name }));
        return;
      case 'Concatenate':
        if (c.axis !== undefined && c.axis !== -1) fail(`layer "${name}": Concatenate axis ${show(c.axis)} is not supported; only -1 (the channel axis).`);
        layers.push(new Concatenate({ name }));
        return;
      default: {
        // A custom layer registered by class name (registerLayer), like TF.js's serialization.registerClass.
        const custom = typeof cls === 'string' ? registeredLayer(cls) : undefined;
        if (!custom) {
          const extra = registeredLayerNames();
          fail(`layer ${idx} "${name}" has class ${show(cls)}, which shaderflow does not implement (${BUILT_IN_LAYER_CLASSES.join(', ')}${extra.length ? `; registered: ${extra.join(', ')}` : ''}). A custom layer must be registered with registerLayer() before loading.`);
        }
        const { name: _n, trainable: _t, dtype: _d, batch_input_shape: _b, batch_shape: _s, ...config } = c;
        layers.push(custom.fromConfig(config, base));
        return;
      }
    }
  }
}

/** The layers one functional layer reads: its single inbound node [[name, 0, 0, {}], ...] (TF.js / Keras 2 form). */
function inboundLayers(v: unknown, layer: string): string[] {
  if (v === undefined || v === null) fail(`layer "${layer}" has no inbound_nodes (a functional model lists, for each layer, the layers it reads).`);
  if (!Array.isArray(v)) fail(`layer "${layer}": inbound_nodes must be a list, got ${show(v)}.`);
  if (v.length === 0) return [];
  if (v.length > 1) fail(`layer "${layer}" is applied ${v.length} times (shared); shaderflow applies each layer once: give each application its own layer.`);
  const node = v[0];
  if (!Array.isArray(node) || node.length === 0)
    fail(`layer "${layer}": inbound node ${show(node)} is not a list of [layer, 0, 0, {}] (Keras 3's {args, kwargs} form is not supported; save with TF.js or Keras 2).`);
  return node.map((ref: unknown) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') fail(`layer "${layer}": inbound entry ${show(ref)} is not [layer name, node index, tensor index, kwargs].`);
    if ((ref[1] ?? 0) !== 0 || (ref[2] ?? 0) !== 0) fail(`layer "${layer}" reads ${show(ref)}: only node 0, tensor 0 of a layer is supported (no shared layers, one output each).`);
    return ref[0];
  });
}

/** The one layer of input_layers / output_layers ([[name, 0, 0]]). */
function endpoint(v: unknown, key: string): string {
  if (!Array.isArray(v) || v.length === 0) fail(`modelTopology.config.${key} is missing (a functional model names its input and output layers).`);
  if (v.length > 1) fail(`modelTopology.config.${key} lists ${v.length} layers; shaderflow models have one input and one output.`);
  const ref = v[0];
  if (!Array.isArray(ref) || typeof ref[0] !== 'string') fail(`modelTopology.config.${key}[0] ${show(ref)} is not [layer name, 0, 0].`);
  return ref[0];
}

/**
 * The model a model.json describes, built (no GPU work): a Sequential, or a functional Model whose layers are
 * applied along inbound_nodes (depth-first from the output; a cycle or an unknown layer is a ModelFormatError).
 * Shape mismatches are ShapeErrors naming the layers (fromArtifacts turns them into ModelFormatErrors).
 */
export function modelFromJson(json: unknown): { model: Model; trainingConfig?: ModelJson['trainingConfig'] } {
  const { name, layers, trainingConfig: tc, graph } = layersFromJson(json);
  if (!graph) {
    const model = new Sequential([], { name });
    for (const l of layers) model.add(l);
    model.build();
    return { model, trainingConfig: tc };
  }
  const byName = new Map(layers.map((l) => [l.name, l]));
  const outputs = new Map<string, SymbolicTensor>();
  const onPath = new Set<string>();
  const resolve = (layerName: string, reader: string): SymbolicTensor => {
    const known = outputs.get(layerName);
    if (known) return known;
    const layer = byName.get(layerName) ?? fail(`${reader} names layer "${layerName}", which config.layers does not have.`);
    if (onPath.has(layerName)) fail(`the layers form a cycle: "${layerName}" is computed from itself (read by "${reader}").`);
    onPath.add(layerName);
    let out: SymbolicTensor;
    if (layer instanceof InputLayer) out = symbolicOutput(layer)!;
    else {
      const ins = graph.inbound.get(layerName)!;
      if (ins.length === 0) fail(`layer "${layerName}" (${layer.className}) reads nothing (empty inbound_nodes) but is not an InputLayer.`);
      const xs = ins.map((i) => resolve(i, `layer "${layerName}"`));
      out = layer.apply(xs.length === 1 ? xs[0]! : xs);
    }
    onPath.delete(layerName);
    outputs.set(layerName, out);
    return out;
  };
  const input = resolve(graph.input, 'input_layers');
  if (!(input.layer instanceof InputLayer)) fail(`input_layers names "${graph.input}" (${input.layer.className}), which is not an InputLayer.`);
  const output = resolve(graph.output, 'output_layers');
  return { model: new Model({ inputs: input, outputs: output, name }), trainingConfig: tc };
}

// The loss names compile accepts, in the form it compares them (lower case, only letters and underscores).
const LOSSES = ['categorical_crossentropy', 'categoricalcrossentropy', 'sparse_categorical_crossentropy', 'sparsecategoricalcrossentropy', 'mean_squared_error', 'meansquarederror', 'mse', 'binary_crossentropy', 'binarycrossentropy'];

/** The trainingConfig, type-checked (absent stays absent): loss, metrics and optimizer_config as compile takes them. */
function trainingConfig(v: unknown): ModelJson['trainingConfig'] {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) fail(`trainingConfig must be an object, got ${show(v)}.`);
  const loss = v.loss;
  if (typeof loss !== 'string' || !LOSSES.includes(loss.toLowerCase().replace(/[^a-z_]/g, '')))
    fail(`trainingConfig.loss ${show(loss)} is not categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy or mean_squared_error.`);
  const metrics = v.metrics ?? [];
  // names and options are checked by compile (resolveMetrics) when the model is loaded
  if (!Array.isArray(metrics) || !metrics.every((m) => typeof m === 'string' || (isRecord(m) && typeof m.name === 'string')))
    fail(`trainingConfig.metrics ${show(v.metrics)} must be a list of metric names or {name, ...} objects.`);
  const oc = v.optimizer_config;
  if (oc !== undefined && oc !== null) {
    if (!isRecord(oc) || typeof oc.class_name !== 'string') fail(`trainingConfig.optimizer_config must be {class_name, config}, got ${show(oc)}.`);
    if (oc.config !== undefined && oc.config !== null) {
      if (!isRecord(oc.config)) fail(`trainingConfig.optimizer_config.config must be an object.`);
      // The fields optimizerFromConfig reads (null: Keras' "not set", the default is used); others are ignored.
      for (const [k, x] of Object.entries(oc.config)) {
        if (x === null) continue;
        if (k === 'nesterov') {
          if (typeof x !== 'boolean') fail(`trainingConfig.optimizer_config.config.${k} must be true or false, got ${show(x)}.`);
        } else if ((k === 'learning_rate' || k === 'lr') && isRecord(x)) {
          // a serialized schedule: a built-in one, its arguments checked as its constructor checks them
          try {
            if (!learningRateFromConfig(x)) fail(`trainingConfig.optimizer_config.config.${k} ${show(x.class_name)} is not a schedule shaderflow knows (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay).`);
          } catch (e) {
            if (e instanceof ModelFormatError) throw e;
            fail(`trainingConfig.optimizer_config.config.${k}: ${(e as Error).message}`);
          }
        } else if (['learning_rate', 'lr', 'momentum', 'epsilon'].includes(k)) {
          if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) fail(`trainingConfig.optimizer_config.config.${k} must be a finite number >= 0, got ${show(x)}.`);
        } else if (['beta_1', 'beta_2', 'rho'].includes(k)) {
          if (typeof x !== 'number' || !(x >= 0 && x < 1)) fail(`trainingConfig.optimizer_config.config.${k} must be a number in [0, 1), got ${show(x)}.`);
        }
      }
    }
  }
  return {
    loss,
    metrics: metrics as MetricArg[],
    optimizer_config: (oc ?? undefined) as NonNullable<ModelJson['trainingConfig']>['optimizer_config'],
  };
}

/**
 * A model from model.json + weights.bin bytes: layers built and shape-checked, every weight's name, shape and
 * byte count checked and its values checked finite, all before the GPU is touched. Compiled with the saved
 * training config (or `compileArgs`), weights uploaded.
 */
export function fromArtifacts(engine: Engine, json: unknown, weights: ArrayBuffer | Uint8Array, compileArgs?: { optimizer: string; loss: string; metrics?: MetricArg[] }): Model {
  let model: Model;
  let tc: ModelJson['trainingConfig'];
  try {
    ({ model, trainingConfig: tc } = modelFromJson(json));
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    if (!(e instanceof ShaderflowError)) throw e;
    throw new ModelFormatError(`model.json describes layers whose shapes do not fit together: ${e.message}`, { cause: e });
  }
  if (model.outputShape.length !== 1)
    fail(`the last layer "${model.layers[model.layers.length - 1]!.name}" outputs ${shapeStr(model.outputShape)}; a model must end in a flat [classes] output (Flatten/Dense).`);
  // Sizes against this device, before anything is allocated: the parameter arena and one example's activations.
  const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
  const paramBytes = model.countParams() * 4;
  if (paramBytes > limit) fail(`the layers hold ${paramBytes} bytes of parameters, over this adapter's ${limit} bytes per storage buffer.`);
  for (const l of model.layers)
    for (const shape of [l.inputShape, l.outputShape]) {
      const bytes = shape.reduce((a, b) => a * b, 1) * 4;
      if (bytes > limit) fail(`layer "${l.name}" (${l.className}) works on ${shapeStr(shape)} per example: ${bytes} bytes, over this adapter's ${limit} bytes per storage buffer.`);
    }

  const manifest = (json as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest)) fail('weightsManifest is missing (it must be a list of {paths, weights}).');
  const specs: unknown[] = manifest.flatMap((g: unknown, gi: number) =>
    isRecord(g) && Array.isArray(g.weights) ? (g.weights as unknown[]) : fail(`weightsManifest[${gi}] has no weights list.`),
  );
  const bytes = weights instanceof Uint8Array ? weights : new Uint8Array(weights);
  const expected = new Map<string, number[]>();
  for (const l of model.layers) for (const p of l.paramSpecs()) expected.set(`${l.name}/${p.name}`, p.shape);
  const values: { name: string; shape: number[]; values: Float32Array }[] = [];
  let offset = 0;
  for (const [i, spec] of specs.entries()) {
    if (!isRecord(spec) || typeof spec.name !== 'string') fail(`weightsManifest weight ${i} has no name.`);
    const wname = spec.name;
    const at = `"${wname}" (weight ${i}, at byte ${offset} of weights.bin)`;
    if (spec.dtype !== undefined && spec.dtype !== 'float32') throw new ModelFormatError(`weights: ${at} has dtype ${show(spec.dtype)}; only float32 is supported.`);
    const shape = dims(spec.shape, `weight "${wname}" shape`);
    // TF.js may suffix names (dense_Dense1/kernel); match on the layer/param tail when the exact name is absent.
    const key = expected.has(wname) ? wname : [...expected.keys()].find((k) => wname.endsWith(`/${k}`));
    if (!key)
      throw new ModelFormatError(
        `weights: ${at} does not belong to any layer of this model, or appears twice (still expected: ${[...expected.keys()].join(', ') || 'nothing'}).`,
      );
    const want = expected.get(key)!;
    if (shapeStr(want) !== shapeStr(shape)) throw new ModelFormatError(`weights: ${at} has shape ${shapeStr(shape)} but layer "${key.split('/')[0]}" expects ${shapeStr(want)}.`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (offset + count * 4 > bytes.byteLength)
      throw new ModelFormatError(
        `weights.bin: ${at} ${shapeStr(shape)} needs bytes ${offset}..${offset + count * 4}, but the file has ${bytes.byteLength} bytes (truncated, or the manifest does not match it).`,
      );
    const v = new Float32Array(count);
    new Uint8Array(v.buffer).set(bytes.subarray(offset, offset + count * 4));
    for (let k = 0; k < count; k++)
      if (!Number.isFinite(v[k]!)) throw new ModelFormatError(`weights.bin: "${wname}" value ${k} (byte ${offset + k * 4}) is ${v[k]}; weights must be finite.`);
    values.push({ name: key, shape, values: v });
    expected.delete(key);
    offset += count * 4;
  }
  if (expected.size > 0) throw new ModelFormatError(`weights: the manifest has no values for ${[...expected.keys()].join(', ')}.`);
  if (offset !== bytes.byteLength)
    throw new ModelFormatError(`weights.bin has ${bytes.byteLength} bytes but the manifest describes ${offset}: the ${bytes.byteLength - offset} bytes from byte ${offset} belong to no weight.`);
  const opt = optimizerFromConfig(tc?.optimizer_config as { class_name?: string; config?: Record<string, number | boolean> });
  const args = {
    optimizer: compileArgs?.optimizer ?? opt ?? 'sgd',
    loss: compileArgs?.loss ?? tc?.loss ?? 'categorical_crossentropy',
    metrics: compileArgs?.metrics ?? tc?.metrics ?? ['accuracy'],
  };
  // Everything is checked: the GPU is touched from here on. Nothing may leak if compile or the upload fails.
  try {
    model.compile(engine, args);
    model.setWeights(values);
  } catch (e) {
    model.dispose();
    if (e instanceof ShaderflowError && !(e instanceof DeviceError) && !(e instanceof ModelFormatError))
      throw new ModelFormatError(`model.json: the model cannot be compiled: ${e.message}`, { cause: e });
    throw e;
  }
  return model;
}

export { initializerConfig };
