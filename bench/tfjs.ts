// The peer side of `npm run bench -- compare`: the seed course's three models built with TF.js's layers API
// (identical to the Keras definitions), timed per training step on TF.js's WebGPU backend (in Node, on the same
// Dawn GPU instance as the shaderflow engine) and on its wasm backend.
//
// TF.js is loaded with dynamic imports only: `@tensorflow/tfjs-backend-webgpu` registers its backend at import
// time only if `navigator.gpu` exists, so `navigator` must be set first, and the rest of the bench (kernels,
// accuracy) should not pay for loading TF.js at all. Nothing is ever downloaded: the wasm binaries are read from
// node_modules.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import type { Engine } from '../src/gpu/engine.js';

export type TfjsModelName = 'mlp' | 'mnist-cnn' | 'cifar-cnn';
export type TfjsBackendName = 'webgpu' | 'wasm';

export interface TimeOptions {
  /** Timed steps (the median is reported). */
  steps: number;
  /** Untimed steps first (shader compilation, buffer allocation, wasm warm-up). */
  warmup: number;
  batchSize: number;
}

/** msPerStep: the median synchronous step; msPipelined: the mean step of `steps` submitted back to back, one wait at the end. */
export type TfjsTiming = { msPerStep: number; msPipelined: number; steps: number } | { error: string };

/** Parameter counts of the Keras originals; each built model is checked against these. */
export const EXPECTED_PARAMS: Record<TfjsModelName, number> = {
  mlp: 407_050,
  'mnist-cnn': 804_554,
  'cifar-cnn': 2_125_578,
};

interface Tfjs {
  tf: typeof TfCore;
  tfl: typeof TfLayers;
}

let loaded: Promise<Tfjs> | undefined;
const ready = new Map<TfjsBackendName, Promise<void>>();

/**
 * What had to be done to make TF.js run on this adapter (printed by `compare`). Filled in as the backends are
 * set up.
 */
export const tfjsNotes: string[] = [];

// Limits TF.js leaves at WebGPU's defaults (its `requestDevice` raises only six). At compatibility feature
// level those defaults are lower than the adapter's (e.g. 4 storage buffers per stage), so they are raised to the
// adapter's values, exactly as the shaderflow engine does for its own device.
const LIMIT_NAMES = [
  'maxBindGroups',
  'maxBindingsPerBindGroup',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxUniformBuffersPerShaderStage',
  'maxSampledTexturesPerShaderStage',
  'maxSamplersPerShaderStage',
  'maxDynamicStorageBuffersPerPipelineLayout',
  'maxDynamicUniformBuffersPerPipelineLayout',
] as const;

function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

/** `adapter` with a `requestDevice` that asks for every limit at the adapter's value (TF.js's own asks win where given). */
function withRealLimits(adapter: GPUAdapter): GPUAdapter {
  const limits = adapterLimits(adapter);
  const wrapped = {
    get features() {
      return adapter.features;
    },
    get limits() {
      return adapter.limits;
    },
    get info() {
      return adapter.info;
    },
    get isFallbackAdapter() {
      return (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
    },
    requestDevice(desc: GPUDeviceDescriptor = {}) {
      // TF.js 4.22 pushes `['bgra8unorm-storage']` (an array) into requiredFeatures; flatten it, keep only features
      // the adapter has.
      const features = ((desc.requiredFeatures ?? []) as unknown[])
        .flat()
        .filter((f): f is GPUFeatureName => typeof f === 'string' && adapter.features.has(f));
      return adapter.requestDevice({
        ...desc,
        label: desc.label ?? 'tfjs-webgpu',
        requiredFeatures: features,
        requiredLimits: { ...limits, ...(desc.requiredLimits ?? {}) },
      });
    },
  };
  return wrapped as unknown as GPUAdapter;
}

function setNavigator(gpu: GPU): void {
  const prev = (globalThis as { navigator?: object }).navigator;
  const nav = Object.create(prev ?? null) as Record<string, unknown>;
  nav.gpu = gpu;
  Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true, enumerable: true });
}

/** Makes `navigator.gpu` the engine's Dawn GPU instance, adapted so TF.js gets this engine's adapter. */
async function installNavigatorGpu(engine: Engine): Promise<void> {
  const gpu = engine.gpu;
  if (!gpu) throw new Error('the engine does not expose its Dawn GPU instance (engine.gpu)');
  const featureLevel = engine.adapter.featureLevel;
  // What TF.js itself asks for: only a powerPreference.
  const plain = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const needsLevel = !plain;
  if (needsLevel)
    tfjsNotes.push(
      `navigator.gpu.requestAdapter({powerPreference}) returns null on this adapter; wrapped it to add featureLevel: '${featureLevel}'`,
    );
  const probe = plain ?? (await gpu.requestAdapter({ featureLevel } as GPURequestAdapterOptions));
  if (probe) {
    const mine = adapterLimits(probe);
    const raised = Object.keys(mine).filter((k) => {
      // The six limits TF.js already raises itself.
      return ![
        'maxComputeWorkgroupStorageSize',
        'maxComputeWorkgroupsPerDimension',
        'maxStorageBufferBindingSize',
        'maxBufferSize',
        'maxComputeWorkgroupSizeX',
        'maxComputeInvocationsPerWorkgroup',
      ].includes(k);
    });
    tfjsNotes.push(
      `TF.js's requestDevice raises 6 limits to the adapter's; its adapter is wrapped so the device gets the other ${raised.length} too, ` +
        `as shaderflow's does (of those TF.js reads only maxStorageBuffersPerShaderStage, ${mine.maxStorageBuffersPerShaderStage} here, ` +
        `to size AddN; the three models also run at the defaults)`,
    );
  }
  const wrapped = {
    async requestAdapter(opts: GPURequestAdapterOptions = {}) {
      const a = await gpu.requestAdapter(needsLevel ? ({ ...opts, featureLevel } as GPURequestAdapterOptions) : opts);
      return a ? withRealLimits(a) : null;
    },
    getPreferredCanvasFormat: () => 'rgba8unorm' as GPUTextureFormat,
    get wgslLanguageFeatures() {
      return gpu.wgslLanguageFeatures;
    },
  };
  setNavigator(wrapped as unknown as GPU);
}

/**
 * Where TF.js's .wasm files are: `SHADERFLOW_TFJS_WASM_DIR`, else the installed package's dist folder, else
 * `tfjs-wasm/` beside this file (the device bundle, which carries no node_modules; scripts/device-pack.mjs).
 */
function wasmDir(): string {
  if (process.env.SHADERFLOW_TFJS_WASM_DIR) return join(process.env.SHADERFLOW_TFJS_WASM_DIR, '/');
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm')), '/');
  } catch {
    return join(dirname(fileURLToPath(import.meta.url)), 'tfjs-wasm', '/');
  }
}

async function loadTfjs(engine: Engine): Promise<Tfjs> {
  if (!loaded) {
    loaded = (async () => {
      await installNavigatorGpu(engine);
      const tf = await import('@tensorflow/tfjs-core');
      const tfl = await import('@tensorflow/tfjs-layers');
      // Registers 'webgpu' (navigator.gpu is set by now) and 'wasm'.
      await import('@tensorflow/tfjs-backend-webgpu');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDir());
      tf.env().set('PROD', true);
      return { tf, tfl };
    })();
  }
  return loaded;
}

async function useBackend(t: Tfjs, backend: TfjsBackendName): Promise<void> {
  if (!ready.has(backend)) {
    ready.set(
      backend,
      (async () => {
        const ok = await t.tf.setBackend(backend);
        if (!ok) throw new Error(`tf.setBackend('${backend}') failed (the backend did not initialise)`);
        await t.tf.ready();
      })(),
    );
  }
  await ready.get(backend);
  if (t.tf.getBackend() !== backend) {
    const ok = await t.tf.setBackend(backend);
    if (!ok) throw new Error(`tf.setBackend('${backend}') failed`);
  }
}

/** The Keras model, in TF.js layers. */
export function buildTfjsModel(tf: typeof TfCore, tfl: typeof TfLayers, name: TfjsModelName): TfLayers.Sequential {
  const m = tfl.sequential();
  const L = tfl.layers;
  if (name === 'mlp') {
    m.add(L.dense({ units: 512, activation: 'relu', inputShape: [784] }));
    m.add(L.dense({ units: 10, activation: 'softmax' }));
    m.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  } else if (name === 'mnist-cnn') {
    m.add(L.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }));
    m.add(L.maxPooling2d({ poolSize: 2 }));
    m.add(L.flatten());
    m.add(L.dense({ units: 128, activation: 'relu' }));
    m.add(L.dense({ units: 10, activation: 'softmax' }));
    m.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  } else {
    m.add(L.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [32, 32, 3] }));
    m.add(L.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }));
    m.add(L.maxPooling2d({ poolSize: 2 }));
    m.add(L.flatten());
    m.add(L.dense({ units: 128, activation: 'relu' }));
    m.add(L.dropout({ rate: 0.3 }));
    m.add(L.dense({ units: 64, activation: 'relu' }));
    m.add(L.dropout({ rate: 0.2 }));
    m.add(L.dense({ units: 10, activation: 'softmax' }));
    m.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
  }
  const params = m.countParams();
  if (params !== EXPECTED_PARAMS[name])
    throw new Error(`TF.js ${name} has ${params} parameters, expected ${EXPECTED_PARAMS[name]} (the Keras model's)`);
  return m;
}

const INPUT_SHAPES: Record<TfjsModelName, number[]> = {
  mlp: [784],
  'mnist-cnn': [28, 28, 1],
  'cifar-cnn': [32, 32, 3],
};

export { median } from '../src/gpu/recorder.js';
import { median } from '../src/gpu/recorder.js';

/**
 * Median ms of one `trainOnBatch` on random inputs and one-hot labels (fixed across steps), each step awaited to
 * completion (trainOnBatch reads the loss back; on WebGPU the queue is also drained so the weight updates are in);
 * then the pipelined figure: `steps` trainOnBatch calls started at once (each runs its graph and optimizer update
 * synchronously up to its loss readback, so the GPU gets the steps back to back), awaited together, one drain at
 * the end, the mean per step.
 */
export async function timeTfjs(
  engine: Engine,
  model: TfjsModelName,
  backend: TfjsBackendName,
  opts: TimeOptions,
): Promise<TfjsTiming> {
  let t: Tfjs;
  try {
    t = await loadTfjs(engine);
    await useBackend(t, backend);
  } catch (e) {
    return { error: `TF.js ${backend} unavailable: ${errorText(e)}` };
  }
  const { tf, tfl } = t;
  let m: TfLayers.Sequential | undefined;
  let x: TfCore.Tensor | undefined;
  let y: TfCore.Tensor | undefined;
  try {
    m = buildTfjsModel(tf, tfl, model);
    x = tf.randomUniform([opts.batchSize, ...INPUT_SHAPES[model]], 0, 1, 'float32');
    y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([opts.batchSize], 0, 10, 'int32') as TfCore.Tensor1D, 10), 'float32'));
    const device = backend === 'webgpu' ? (tf.backend() as unknown as { device?: GPUDevice }).device : undefined;
    if (device) watchDevice(device);
    const errorsBefore = deviceErrors.length;
    const step = async (): Promise<number> => {
      const t0 = performance.now();
      const loss = await m!.trainOnBatch(x!, y!);
      if (device) await device.queue.onSubmittedWorkDone();
      const dt = performance.now() - t0;
      const l = Array.isArray(loss) ? loss[0]! : loss;
      if (!Number.isFinite(l)) throw new Error(`loss is ${l}`);
      return dt;
    };
    for (let i = 0; i < opts.warmup; i++) await step();
    const before = tf.memory().numTensors;
    const times: number[] = [];
    for (let i = 0; i < opts.steps; i++) times.push(await step());
    const t0 = performance.now();
    const losses = await Promise.all(Array.from({ length: opts.steps }, () => m!.trainOnBatch(x!, y!)));
    if (device) await device.queue.onSubmittedWorkDone();
    const msPipelined = (performance.now() - t0) / opts.steps;
    const bad = losses.map((l) => (Array.isArray(l) ? l[0]! : l)).find((l) => !Number.isFinite(l));
    if (bad !== undefined) throw new Error(`loss is ${bad} (pipelined steps)`);
    if (deviceErrors.length > errorsBefore) return { error: `WebGPU error on TF.js's device: ${deviceErrors[errorsBefore]}` };
    const leaked = tf.memory().numTensors - before;
    if (leaked > 0) tfjsNotes.push(`TF.js ${backend} ${model}: ${leaked} tensors leaked over ${2 * opts.steps} steps`);
    return { msPerStep: median(times), msPipelined, steps: times.length };
  } catch (e) {
    return { error: errorText(e) };
  } finally {
    x?.dispose();
    y?.dispose();
    if (m) {
      try {
        m.optimizer?.dispose();
        m.dispose();
      } catch {
        /* already disposed */
      }
    }
  }
}

// TF.js pushes no error scopes, so validation errors on its device would otherwise only reach the console.
const deviceErrors: string[] = [];
const watched = new WeakSet<GPUDevice>();
function watchDevice(device: GPUDevice): void {
  if (watched.has(device)) return;
  watched.add(device);
  device.addEventListener('uncapturederror', (ev) => {
    deviceErrors.push((ev as GPUUncapturedErrorEvent).error.message.split('\n')[0]!);
  });
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : typeof e === 'object' && e && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return msg.split('\n')[0]!.slice(0, 300);
}
