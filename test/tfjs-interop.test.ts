// Interop with TensorFlow.js's layers format, checked against TF.js itself (a dev dependency, CPU backend):
// a shaderflow model.json + weights.bin loads with tf.loadLayersModel and predicts the same; a model TF.js saves
// loads here and predicts the same.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AveragePooling2D, Conv2D, createEngine, Dense, Dropout, Engine, Flatten, fromArtifacts, MaxPooling2D, resetLayerNames, Sequential, toArtifacts,
} from '../src/index.js';
import { randomUniform } from '../src/reference/random.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
  await tf.setBackend('cpu');
});
afterAll(() => engine?.dispose());

const N = 5;
const SHAPE = [9, 7, 2];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('TensorFlow.js layers format', () => {
  it('a shaderflow model loads in TF.js (tf.loadLayersModel) and predicts the same', async () => {
    resetLayerNames();
    const model = new Sequential([
      new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: SHAPE }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 3, kernelSize: 2, strides: 2, padding: 'same', activation: 'tanh' }),
      new AveragePooling2D({ poolSize: 2, padding: 'same' }),
      new Flatten(),
      new Dense({ units: 8, activation: 'sigmoid' }),
      new Dropout({ rate: 0.3 }),
      new Dense({ units: 3, activation: 'softmax' }),
    ]);
    model.compile(engine, { optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'], seed: 4 });
    const x = randomUniform(N * 9 * 7 * 2, 3);
    // One training step so the weights are not just the initializer's.
    await model.fit(x, new Uint8Array([0, 1, 2, 1, 0]), { batchSize: N, epochs: 1, verbose: 0 });
    const ours = await model.predict(x);
    const art = await toArtifacts(model);
    // Through JSON text, as the files would be read.
    const json = JSON.parse(JSON.stringify(art.modelJson));
    const loaded = await tfl.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: art.weights }),
    );
    const theirs = (loaded.predict(tf.tensor4d(x, [N, ...SHAPE] as [number, number, number, number])) as tf.Tensor).dataSync();
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'MaxPooling2D', 'Conv2D', 'AveragePooling2D', 'Flatten', 'Dense', 'Dropout', 'Dense']);
    model.dispose();
  });

  it('a model TF.js saves loads here and predicts the same', async () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: SHAPE }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 6, activation: 'relu' }),
        tfl.layers.dropout({ rate: 0.2 }),
        tfl.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    let saved: tf.io.ModelArtifacts | undefined;
    await m.save(tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const modelJson = {
      format: 'layers-model',
      generatedBy: saved!.generatedBy,
      convertedBy: saved!.convertedBy ?? null,
      modelTopology: saved!.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: saved!.weightSpecs }],
      trainingConfig: saved!.trainingConfig,
    };
    const weightData = saved!.weightData as ArrayBuffer;
    const ours = fromArtifacts(engine, JSON.parse(JSON.stringify(modelJson)), new Uint8Array(weightData));
    expect(ours.layers.map((l) => l.className)).toEqual(['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dropout', 'Dense']);
    const x = randomUniform(N * 9 * 7 * 2, 8);
    const theirs = (m.predict(tf.tensor4d(x, [N, ...SHAPE] as [number, number, number, number])) as tf.Tensor).dataSync();
    expect(maxAbsDiff(await ours.predict(x), theirs)).toBeLessThan(1e-5);
    ours.dispose();
  });
});
