// The layers of issue 13 in TensorFlow.js's layers format, checked against TF.js itself (CPU backend): a Sequential
// model with each new layer (trained one step, so BatchNormalization's moving statistics have moved) saves here,
// loads with tf.loadLayersModel, predicts the same (< 1e-5) and counts the same parameters; and models TF.js builds
// with those layers load here and predict the same.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Activation, BatchNormalization, Conv2D, createEngine, Dense, DepthwiseConv2D, Engine, Flatten, fromArtifacts, GlobalAveragePooling2D,
  GlobalMaxPooling2D, LeakyReLU, resetLayerNames, SeparableConv2D, Sequential, toArtifacts, ZeroPadding2D, type Layer,
} from '../src/index.js';
import { randomUniform } from '../src/reference/random.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
  await tf.setBackend('cpu');
});
afterAll(() => engine?.dispose());

const N = 5;
const SHAPE: [number, number, number] = [9, 7, 3];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

type Case = [name: string, layers: () => Layer[], loss: string, classes: number];

const CASES: Case[] = [
  ['Conv2D / BatchNormalization / relu / GlobalAveragePooling2D / softmax', () => [
    new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, inputShape: SHAPE }),
    new BatchNormalization({ momentum: 0.5 }),
    new Activation({ activation: 'relu' }),
    new GlobalAveragePooling2D(),
    new Dense({ units: 3, activation: 'softmax' }),
  ], 'categorical_crossentropy', 3],
  ['ZeroPadding2D / DepthwiseConv2D / SeparableConv2D / LeakyReLU / GlobalMaxPooling2D / sigmoid (BCE)', () => [
    new ZeroPadding2D({ padding: [[1, 2], [0, 1]], inputShape: SHAPE }),
    new DepthwiseConv2D({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'elu' }),
    new SeparableConv2D({ filters: 5, kernelSize: [2, 3], padding: 'valid', activation: 'selu' }),
    new BatchNormalization({ center: false }),
    new LeakyReLU({ alpha: 0.1 }),
    new GlobalMaxPooling2D(),
    new Dense({ units: 2, activation: 'sigmoid' }),
  ], 'binary_crossentropy', 2],
  ['every new activation string (gelu, swish, softplus, hard_sigmoid, elu, selu)', () => [
    new Flatten({ inputShape: SHAPE }),
    new Dense({ units: 7, activation: 'gelu' }),
    new Dense({ units: 6, activation: 'swish' }),
    new Dense({ units: 6, activation: 'softplus' }),
    new Dense({ units: 5, activation: 'hard_sigmoid' }),
    new Activation({ activation: 'elu' }),
    new Dense({ units: 4, activation: 'selu' }),
    new Activation({ activation: 'silu' }),
    new Dense({ units: 3, activation: 'softmax' }),
  ], 'categorical_crossentropy', 3],
];

describe('issue 13 layers in the TensorFlow.js layers format', () => {
  it.each(CASES)('%s: saves here, loads in TF.js, predicts the same, same countParams', async (_name, layers, loss, classes) => {
    resetLayerNames();
    const model = new Sequential(layers());
    model.compile(engine, { optimizer: 'adam', loss, metrics: ['accuracy'], seed: 3 });
    const x = randomUniform(N * SHAPE[0] * SHAPE[1] * SHAPE[2], 5);
    const y = new Float32Array(N * classes);
    for (let i = 0; i < N; i++) y[i * classes + (i % classes)] = 1;
    if (loss === 'binary_crossentropy') y[1] = 1; // not one-hot: real-valued 0/1 rows
    await model.fit(x, y, { batchSize: N, epochs: 2, verbose: 0 });
    const ours = await model.predict(x);
    const art = await toArtifacts(model);
    const json = JSON.parse(JSON.stringify(art.modelJson));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: art.weights }));
    const theirs = (loaded.predict(tf.tensor4d(x, [N, ...SHAPE])) as tf.Tensor).dataSync();
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
    expect(loaded.countParams()).toBe(model.layers.reduce((s, l) => s + l.paramCount(), 0));
    // and back: the same artifacts load here and predict the same
    const again = fromArtifacts(engine, json, new Uint8Array(art.weights));
    expect(maxAbsDiff(await again.predict(x), ours)).toBeLessThan(1e-6);
    again.dispose();
    model.dispose();
  });

  it('a model TF.js builds with these layers (and trains, moving its BN statistics) loads here and predicts the same', async () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.zeroPadding2d({ padding: 1, inputShape: SHAPE }),
        // TF.js's SeparableConv2D leaves depth_multiplier out of its config (so its own files only reload with 1)
        tfl.layers.separableConv2d({ filters: 6, kernelSize: 3, strides: 2, activation: 'relu' }),
        tfl.layers.batchNormalization({ momentum: 0.8 }),
        tfl.layers.depthwiseConv2d({ kernelSize: 2, padding: 'same', depthMultiplier: 2, activation: 'tanh' }),
        tfl.layers.leakyReLU(),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = randomUniform(N * SHAPE[0] * SHAPE[1] * SHAPE[2], 9);
    const xt = tf.tensor4d(x, [N, ...SHAPE]);
    await m.fit(xt, tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0], 'int32'), 4), { epochs: 2, batchSize: N, verbose: 0 });
    let saved: tf.io.ModelArtifacts | undefined;
    await m.save(tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const modelJson = {
      format: 'layers-model', generatedBy: saved!.generatedBy, convertedBy: saved!.convertedBy ?? null,
      modelTopology: saved!.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: saved!.weightSpecs }],
    };
    const ours = fromArtifacts(engine, JSON.parse(JSON.stringify(modelJson)), new Uint8Array(saved!.weightData as ArrayBuffer));
    expect(ours.layers.map((l) => l.className)).toEqual(['ZeroPadding2D', 'SeparableConv2D', 'BatchNormalization', 'DepthwiseConv2D', 'LeakyReLU', 'GlobalAveragePooling2D', 'Dense']);
    const theirs = (m.predict(xt) as tf.Tensor).dataSync();
    expect(maxAbsDiff(await ours.predict(x), theirs)).toBeLessThan(1e-5);
    expect(ours.layers.reduce((s, l) => s + l.paramCount(), 0)).toBe(m.countParams());
    ours.dispose();
  });
});
