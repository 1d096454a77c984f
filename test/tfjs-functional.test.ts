// Functional (graph) models in TensorFlow.js' layers format, checked against TF.js itself (CPU backend): a residual
// model saved here loads with tf.loadLayersModel, counts the same parameters and predicts the same; a functional
// model TF.js builds and saves (Add, Concatenate, Multiply, fan-out) loads here and predicts the same; bad graphs
// in model.json are ModelFormatErrors naming the layers.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Activation, Add, Concatenate, Conv2D, createEngine, Dense, Engine, Flatten, fromArtifacts, input, MaxPooling2D, Model, model, ModelFormatError, resetLayerNames, Sequential,
  toArtifacts, type ModelJson,
} from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { randomUniform } from '../src/reference/random.js';

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await createEngine();
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'shaderflow-functional-'));
});
afterAll(() => {
  engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const N = 4;
const SHAPE = [8, 6, 3] as const;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A stride-1 residual block and a projected one, then pool, flatten and softmax. */
function residualModel(): Model {
  resetLayerNames();
  const x = input({ shape: [...SHAPE] });
  const stem = new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x);
  const block = new Conv2D({ filters: 4, kernelSize: 3, padding: 'same' }).apply(new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(stem));
  const r1 = new Activation({ activation: 'relu' }).apply(new Add().apply([block, stem]));
  const down = new Conv2D({ filters: 6, kernelSize: 3, strides: 2, padding: 'same' }).apply(r1);
  const proj = new Conv2D({ filters: 6, kernelSize: 1, strides: 2 }).apply(r1);
  const r2 = new Activation({ activation: 'relu' }).apply(new Add().apply([down, proj]));
  const joined = new Concatenate().apply([new MaxPooling2D({ poolSize: 2 }).apply(r2), new MaxPooling2D({ poolSize: 2 }).apply(r2)]);
  return model({ inputs: x, outputs: new Dense({ units: 3, activation: 'softmax' }).apply(new Flatten().apply(joined)), name: 'residual' });
}

function viaTfjs(art: { modelJson: ModelJson; weights: ArrayBuffer }): Promise<tfl.LayersModel> {
  const json = JSON.parse(JSON.stringify(art.modelJson));
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: art.weights }));
}

describe('functional models in TensorFlow.js layers format', () => {
  it('a residual model saved here loads in TF.js, counts the same parameters and predicts the same', async () => {
    const m = residualModel();
    m.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 2 });
    const x = randomUniform(N * SHAPE[0] * SHAPE[1] * SHAPE[2], 4);
    await m.fit(x, new Uint8Array([0, 1, 2, 1]), { batchSize: N, epochs: 1, verbose: 0 }); // weights not just initial
    const ours = await m.predict(x);
    const art = await toArtifacts(m);
    expect(art.modelJson.modelTopology.class_name).toBe('Model');
    const loaded = await viaTfjs(art);
    expect(loaded.countParams()).toBe(m.countParams());
    const theirs = (loaded.predict(tf.tensor4d(x, [N, ...SHAPE])) as tf.Tensor).dataSync();
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(m.layers.map((l) => l.className));
    m.dispose();
  });

  it('a functional model TF.js builds and saves (fan-out, Add, Concatenate, Multiply) loads here and predicts the same', async () => {
    const x = tfl.input({ shape: [...SHAPE] });
    const c = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
    const c2 = tfl.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'sigmoid' }).apply(c) as tfl.SymbolicTensor;
    const gated = tfl.layers.multiply().apply([c, c2]) as tfl.SymbolicTensor;
    const sum = tfl.layers.add().apply([gated, c]) as tfl.SymbolicTensor;
    const cat = tfl.layers.concatenate().apply([sum, x]) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 5, activation: 'softmax' }).apply(tfl.layers.flatten().apply(cat)) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: x, outputs: out });
    let saved: tf.io.ModelArtifacts | undefined;
    await m.save(tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const modelJson = { format: 'layers-model', generatedBy: saved!.generatedBy, convertedBy: null, modelTopology: saved!.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: saved!.weightSpecs }] };
    const ours = fromArtifacts(engine, JSON.parse(JSON.stringify(modelJson)), new Uint8Array(saved!.weightData as ArrayBuffer), { optimizer: 'sgd', loss: 'categorical_crossentropy' });
    expect(ours).toBeInstanceOf(Model);
    expect(ours.layers.map((l) => l.className)).toEqual(['InputLayer', 'Conv2D', 'Conv2D', 'Multiply', 'Add', 'Concatenate', 'Flatten', 'Dense']);
    expect(ours.countParams()).toBe(m.countParams());
    const xs = randomUniform(N * SHAPE[0] * SHAPE[1] * SHAPE[2], 9);
    const theirs = (m.predict(tf.tensor4d(xs, [N, ...SHAPE])) as tf.Tensor).dataSync();
    expect(maxAbsDiff(await ours.predict(xs), theirs)).toBeLessThan(1e-5);
    ours.dispose();
  });

  it('saveModel / loadModel keep the graph, the weights and trainable flags', async () => {
    const m = residualModel();
    m.layers[1]!.trainable = false;
    m.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 3 });
    const x = randomUniform(N * SHAPE[0] * SHAPE[1] * SHAPE[2], 5);
    await saveModel(m, join(dir, 'residual'));
    const back = await loadModel(engine, join(dir, 'residual'));
    expect(back).toBeInstanceOf(Model);
    expect(back).not.toBeInstanceOf(Sequential);
    expect(back.summary(false)).toBe(m.summary(false));
    expect(back.layers[1]!.trainable).toBe(false);
    expect(maxAbsDiff(await back.predict(x), await m.predict(x))).toBe(0);
    m.dispose();
    back.dispose();
  });

  it('bad graphs in model.json are ModelFormatErrors naming the layers', async () => {
    const m = residualModel();
    m.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const art = await toArtifacts(m);
    m.dispose();
    const load = (edit: (j: ModelJson) => void) => {
      const j = JSON.parse(JSON.stringify(art.modelJson)) as ModelJson;
      edit(j);
      return () => fromArtifacts(engine, j, art.weights);
    };
    const layers = (j: ModelJson) => j.modelTopology.config.layers;
    expect(load((j) => (layers(j)[1]!.class_name = 'GroupNormalization'))).toThrow(ModelFormatError);
    expect(load((j) => (layers(j)[1]!.class_name = 'GroupNormalization'))).toThrow(/class "GroupNormalization", which shaderflow does not implement \(InputLayer, Dense, Conv2D.*Add/);
    // conv2d reads conv2d_2, which is computed from conv2d: a cycle
    expect(load((j) => (layers(j)[1]!.inbound_nodes = [[['conv2d_2', 0, 0, {}]]]))).toThrow(/the layers form a cycle: "conv2d(_2)?" is computed from itself/);
    expect(load((j) => (layers(j)[1]!.inbound_nodes = [[['nowhere', 0, 0, {}]]]))).toThrow(/names layer "nowhere", which config.layers does not have/);
    expect(load((j) => (layers(j)[1]!.inbound_nodes = [[['input', 0, 0, {}]], [['input', 0, 0, {}]]]))).toThrow(/applied 2 times \(shared\)/);
    expect(load((j) => (j.modelTopology.config.output_layers = [['dense', 0, 0], ['conv2d', 0, 0]]))).toThrow(/one input and one output/);
    const add = layers(art.modelJson).findIndex((l) => l.class_name === 'Add');
    expect(load((j) => (layers(j)[add]!.inbound_nodes = [[['conv2d', 0, 0, {}], ['input', 0, 0, {}]]]))).toThrow(/shapes do not fit.*"add" \(Add\).*\[8, 6, 4\], \[8, 6, 3\]/);
  });

  it("Keras' class_name 'Functional' and InputLayer batch_shape load too", async () => {
    const m = residualModel();
    m.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 1 });
    const art = await toArtifacts(m);
    const j = JSON.parse(JSON.stringify(art.modelJson));
    j.modelTopology.class_name = 'Functional';
    const inputConfig = j.modelTopology.config.layers[0].config;
    inputConfig.batch_shape = inputConfig.batch_input_shape;
    delete inputConfig.batch_input_shape;
    const back = fromArtifacts(engine, j, art.weights);
    const x = randomUniform(N * SHAPE[0] * SHAPE[1] * SHAPE[2], 6);
    expect(maxAbsDiff(await back.predict(x), await m.predict(x))).toBe(0);
    m.dispose();
    back.dispose();
  });

  it('Sequential models still save as Sequential', async () => {
    resetLayerNames();
    const s = new Sequential([new Dense({ units: 2, inputDim: 3, trainable: false })]);
    s.compile(engine, { optimizer: 'sgd', loss: 'mse' });
    const art = await toArtifacts(s);
    expect(art.modelJson.modelTopology.class_name).toBe('Sequential');
    expect(art.modelJson.modelTopology.config.layers[0]!.config.trainable).toBe(false);
    s.dispose();
  });
});
