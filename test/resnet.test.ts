// The residual presets (src/model/presets.ts residualNetwork): their summaries, a whole-model gradient check of a
// small residual BatchNormalization network (batch statistics in training), its predict in inference mode against
// the float64 twin, and fashion-resnet's network saved here, loaded by TF.js, predicting the same with the same countParams.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPreset, createEngine, Engine, optimizers, resetLayerNames, toArtifacts, type AdapterClass } from '../src/index.js';
import { residualNetwork, RESNET_DESIGNS } from '../src/model/presets.js';
import type { LearningRateSchedule } from '../src/model/schedules.js';
import { graphForwardRef, modelLossRef } from '../src/reference/model.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';
import { expectGradientsMatch } from './helpers/model-gradients.js';

const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
  await tf.setBackend('cpu');
});
const measured: string[] = [];
afterAll(() => {
  console.log(`residual BN network gradients (max |gpu - numeric| / max |numeric|):\n  ${measured.join('\n  ')}`);
  for (const e of Object.values(engines)) e?.dispose();
});

describe('summaries', () => {
  // [preset, input, total, trainable, non-trainable, design, BatchNormalization and Add layers, wiring in summary()]
  it.each([
    ['fashion-resnet', [28, 28, 1], '166,618', '165,626', '992', { widths: [16, 32, 64], identityBlocks: [1, 1], randomFlip: true, learningRate: 0.002 }, 11, 4, [
      /random_flip \(RandomFlip\) +\(None, 28, 28, 1\) +0 +input\[0\]\[0\]/,
      /conv2d \(Conv2D\) +\(None, 28, 28, 16\) +144 +random_flip\[0\]\[0\]/,
      // each stage: its stride-2 block adds its main branch to its projection's BN, then its identity block adds to
      // the stride-2 block's output (after its ReLU)
      /add \(Add\) +\(None, 14, 14, 32\) +0 +batch_normalization_2\[0\]\[0\] +\n +batch_normalization_3\[0\]\[0\]/,
      /add_1 \(Add\) +\(None, 14, 14, 32\) +0 +batch_normalization_5\[0\]\[0\] +\n +activation_2\[0\]\[0\]/,
      /add_2 \(Add\) +\(None, 7, 7, 64\) +0 +batch_normalization_7\[0\]\[0\] +\n +batch_normalization_8\[0\]\[0\]/,
      /add_3 \(Add\) +\(None, 7, 7, 64\) +0 +batch_normalization_10\[0\]\[0\] +\n +activation_6\[0\]\[0\]/,
      /global_average_pooling2d \(Global\(None, 64\) +0 +activation_8\[0\]\[0\]/,
    ]],
    ['cifar-resnet', [32, 32, 3], '291,306', '290,090', '1,216', { widths: [32, 64, 128], identityBlocks: [0, 0], randomFlip: false, learningRate: 0.001 }, 7, 2, [
      /conv2d \(Conv2D\) +\(None, 32, 32, 32\) +864 +input\[0\]\[0\]/,
      // each stride-2 block adds its main branch to its projection's BN
      /add \(Add\) +\(None, 16, 16, 64\) +0 +batch_normalization_2\[0\]\[0\] +\n +batch_normalization_3\[0\]\[0\]/,
      /add_1 \(Add\) +\(None, 8, 8, 128\) +0 +batch_normalization_5\[0\]\[0\] +\n +batch_normalization_6\[0\]\[0\]/,
      /global_average_pooling2d \(Global\(None, 128\) +0 +activation_4\[0\]\[0\]/,
    ]],
  ] as const)('%s: conv-BN-ReLU stem, stride-2 residual blocks with 1x1 projections, GAP, Dense softmax', (name, shape, total, trainable, fixed, design, bnLayers, addLayers, wiring) => {
    const { model, compileArgs, recipe } = buildPreset(name);
    const text = model.summary(false);
    expect(text).toContain(`Total params: ${total}`);
    expect(text).toContain(`Trainable params: ${trainable}`);
    expect(text).toContain(`Non-trainable params: ${fixed}`);
    expect(text).toContain(`input (InputLayer)              [(None, ${shape.join(', ')})]`);
    expect(RESNET_DESIGNS[name]).toEqual(design);
    for (const w of wiring) expect(text).toMatch(w);
    const classes = model.layers.map((l) => l.className);
    expect(classes.filter((c) => c === 'BatchNormalization')).toHaveLength(bnLayers);
    expect(classes.filter((c) => c === 'Add')).toHaveLength(addLayers);
    expect(classes.filter((c) => c === 'RandomFlip')).toHaveLength(design.randomFlip ? 1 : 0);
    expect(classes.slice(-2)).toEqual(['GlobalAveragePooling2D', 'Dense']);
    // Adam under Keras' CosineDecay from the design's rate to 0 over the recipe's updates: 10 epochs of the 80% split, batch 128
    const steps = { 'fashion-resnet': 10 * Math.ceil(48000 / 128), 'cifar-resnet': 10 * Math.ceil(40000 / 128) }[name];
    expect(steps).toBe(name === 'fashion-resnet' ? 3750 : 3130);
    const opt = compileArgs.optimizer as Exclude<typeof compileArgs.optimizer, string>;
    expect(opt).toMatchObject({ kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    const lr = opt.learningRate as LearningRateSchedule;
    expect(lr.className).toBe('CosineDecay');
    expect(lr.getConfig!()).toMatchObject({ initial_learning_rate: design.learningRate, decay_steps: steps, alpha: 0 });
    expect(lr(0)).toBe(design.learningRate);
    expect(lr(steps / 2)).toBeCloseTo(design.learningRate / 2, 12);
    expect(lr(steps)).toBe(0);
    expect(lr(steps + 100)).toBe(0);
    expect(recipe).toMatchObject({ batchSize: 128, epochs: 10 });
  });

  it('residualNetwork with two identity blocks in the first stage, none in the second and no flip: its layers, wiring and parameter counts', () => {
    resetLayerNames();
    const m = residualNetwork([28, 28, 1], 10, [16, 32, 64], 'uneven', { identityBlocks: [2, 0] });
    const text = m.summary(false);
    // 16-32-64 without identity blocks has 73,690 (608 non-trainable); each identity block at 32 channels adds two
    // 3x3 convolutions (9,216 each) and two BNs (64 trainable + 64 moving each)
    expect(text).toContain('Total params: 111,066');
    expect(text).toContain('Trainable params: 110,202');
    expect(text).toContain('Non-trainable params: 864');
    expect(text).toMatch(/conv2d \(Conv2D\) +\(None, 28, 28, 16\) +144 +input\[0\]\[0\]/);
    expect(text).toMatch(/add_1 \(Add\) +\(None, 14, 14, 32\) +0 +batch_normalization_5\[0\]\[0\] +\n +activation_2\[0\]\[0\]/);
    expect(text).toMatch(/add_2 \(Add\) +\(None, 14, 14, 32\) +0 +batch_normalization_7\[0\]\[0\] +\n +activation_4\[0\]\[0\]/);
    expect(text).toMatch(/add_3 \(Add\) +\(None, 7, 7, 64\) +0 +batch_normalization_9\[0\]\[0\] +\n +batch_normalization_10\[0\]\[0\]/);
    const classes = m.layers.map((l) => l.className);
    expect(classes).not.toContain('RandomFlip');
    expect(classes.filter((c) => c === 'BatchNormalization')).toHaveLength(11);
    expect(classes.filter((c) => c === 'Add')).toHaveLength(4);
  });
});

describe.each(['software', 'gpu'] as AdapterClass[])('a small residual BN network, %s class', (cls) => {
  it('one training step: every trainable gradient matches central differences of the float64 twin (batch statistics); predict matches it in inference mode', async () => {
    const engine = engines[cls]!;
    resetLayerNames();
    const m = residualNetwork([6, 5, 2], 3, [3, 4, 5], 'tiny_resnet', { identityBlocks: [1, 1], randomFlip: true });
    m.compile(engine, { optimizer: optimizers.sgd({ learningRate: 0.05 }), loss: 'sparse_categorical_crossentropy', seed: 2 });
    const n = 5;
    const x = randomUniform(n * 6 * 5 * 2, 21);
    const r = mulberry32(n);
    const y = Uint8Array.from({ length: n }, () => Math.floor(r() * 3));
    const before = await m.getWeights();
    await m.fit(x, y, { batchSize: n, epochs: 1, shuffle: false, verbose: 0 });
    const grads = await m.getGradients();
    const w = new Map(before.map((b) => [b.name, Float64Array.from(b.values)]));
    const nodes = m.graphNodes();
    const loss = () => modelLossRef('sparse_categorical_crossentropy', graphForwardRef(nodes, w, x, n, { seed: 2, step: 1 }), y, n, 3);
    const trainable = new Set(m.layers.flatMap((l) => l.paramSpecs().filter((s) => s.trainable !== false).map((s) => `${l.name}/${s.name}`)));
    expectGradientsMatch(grads.filter((g) => trainable.has(g.name)), w, loss, `${cls}:`, measured);
    // inference: the moving statistics the step left
    const probs = await m.predict(x);
    const ref = graphForwardRef(nodes, new Map((await m.getWeights()).map((v) => [v.name, v.values])), x, n);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(probs[i]! - ref[i]!)).toBeLessThan(1e-5);
    m.dispose();
  });
});

describe('fashion-resnet in the TF.js layers format', () => {
  // TF.js 4.22 has no RandomFlip layer class, so the network behind the preset's flip is the one TF.js loads
  it('(without its RandomFlip) trained two steps here, loads with tf.loadLayersModel, predicts the same (< 1e-5), same countParams', async () => {
    const { compileArgs } = buildPreset('fashion-resnet', { seed: 4 });
    const design = RESNET_DESIGNS['fashion-resnet'];
    resetLayerNames();
    const m = residualNetwork([28, 28, 1], 10, design.widths, 'fashion_resnet', { identityBlocks: design.identityBlocks });
    m.compile(engines.software!, compileArgs);
    const n = 6;
    const images = Uint8Array.from({ length: n * 784 }, (_, i) => (i * 37 + (i >> 5)) % 256);
    const set = { images, shape: [n, 28, 28, 1] as [number, number, number, number], labels: Uint8Array.from([0, 1, 2, 3, 4, 5]) };
    await m.fit(set, set.labels, { batchSize: 3, epochs: 1, verbose: 0 });
    const ours = await m.predict(set);
    const art = await toArtifacts(m);
    const json = JSON.parse(JSON.stringify(art.modelJson));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: art.weights }));
    const x = tf.tensor4d(Float32Array.from(images, (v) => v / 255), [n, 28, 28, 1]);
    const theirs = (loaded.predict(x) as tf.Tensor).dataSync();
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!));
    expect(worst).toBeLessThan(1e-5);
    expect(loaded.countParams()).toBe(166_618);
    m.dispose();
  });
});
