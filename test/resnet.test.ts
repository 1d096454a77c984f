// The residual presets (src/model/presets.ts residualNetwork): their summaries, a whole-model gradient check of a
// small residual BatchNormalization network (batch statistics in training), its predict in inference mode against
// the float64 twin, and fashion-resnet saved here, loaded by TF.js, predicting the same with the same countParams.
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
  it.each([
    ['fashion-resnet', [28, 28, 1], '73,690', '73,082', '608'],
    ['cifar-resnet', [32, 32, 3], '291,306', '290,090', '1,216'],
  ] as const)('%s: conv-BN-ReLU stem, two stride-2 residual blocks with 1x1 projections, GAP, Dense softmax', (name, shape, total, trainable, fixed) => {
    const { model, compileArgs, recipe } = buildPreset(name);
    const text = model.summary(false);
    expect(text).toContain(`Total params: ${total}`);
    expect(text).toContain(`Trainable params: ${trainable}`);
    expect(text).toContain(`Non-trainable params: ${fixed}`);
    expect(text).toContain(`input (InputLayer)              [(None, ${shape.join(', ')})]`);
    expect(RESNET_DESIGNS[name]).toMatchObject({ identityBlocks: [0, 0], randomFlip: false });
    // each stride-2 block adds its main branch to its projection's BN
    expect(text).toMatch(/add \(Add\) +\(None, \d+, \d+, \d+\) +0 +batch_normalization_2\[0\]\[0\] +\n +batch_normalization_3\[0\]\[0\]/);
    expect(text).toMatch(/add_1 \(Add\) +\(None, \d+, \d+, \d+\) +0 +batch_normalization_5\[0\]\[0\] +\n +batch_normalization_6\[0\]\[0\]/);
    const classes = model.layers.map((l) => l.className);
    expect(classes.filter((c) => c === 'BatchNormalization')).toHaveLength(7);
    expect(classes.filter((c) => c === 'Add')).toHaveLength(2);
    expect(classes.slice(-2)).toEqual(['GlobalAveragePooling2D', 'Dense']);
    // Adam under Keras' CosineDecay from 0.001 to 0 over the recipe's updates: 10 epochs of the 80% split, batch 128
    const steps = { 'fashion-resnet': 10 * Math.ceil(48000 / 128), 'cifar-resnet': 10 * Math.ceil(40000 / 128) }[name];
    expect(steps).toBe(name === 'fashion-resnet' ? 3750 : 3130);
    const opt = compileArgs.optimizer as Exclude<typeof compileArgs.optimizer, string>;
    expect(opt).toMatchObject({ kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    const lr = opt.learningRate as LearningRateSchedule;
    expect(lr.className).toBe('CosineDecay');
    expect(lr.getConfig!()).toMatchObject({ initial_learning_rate: 0.001, decay_steps: steps, alpha: 0 });
    expect(lr(0)).toBe(0.001);
    expect(lr(steps / 2)).toBeCloseTo(0.0005, 12);
    expect(lr(steps)).toBe(0);
    expect(lr(steps + 100)).toBe(0);
    expect(recipe).toMatchObject({ batchSize: 128, epochs: 10 });
    expect(RESNET_DESIGNS[name].widths).toHaveLength(3);
  });

  it('residualNetwork with an identity block per stage and RandomFlip: its layers, wiring and parameter counts', () => {
    resetLayerNames();
    const m = residualNetwork([28, 28, 1], 10, [16, 32, 64], 'deeper', { identityBlocks: [1, 1], randomFlip: true });
    const text = m.summary(false);
    // trainable: 16 + 32*3 + 32*2 + 64*3 + 64*2 = 496 BN channels (gamma, beta), moving mean and variance non-trainable
    expect(text).toContain('Total params: 166,618');
    expect(text).toContain('Trainable params: 165,626');
    expect(text).toContain('Non-trainable params: 992');
    expect(text).toMatch(/random_flip \(RandomFlip\) +\(None, 28, 28, 1\) +0 +input\[0\]\[0\]/);
    expect(text).toMatch(/conv2d \(Conv2D\) +\(None, 28, 28, 16\) +144 +random_flip\[0\]\[0\]/);
    // the identity block of each stage adds to the stride-2 block's output (after its ReLU)
    expect(text).toMatch(/add_1 \(Add\) +\(None, 14, 14, 32\) +0 +batch_normalization_5\[0\]\[0\] +\n +activation_2\[0\]\[0\]/);
    expect(text).toMatch(/add_3 \(Add\) +\(None, 7, 7, 64\) +0 +batch_normalization_10\[0\]\[0\] +\n +activation_6\[0\]\[0\]/);
    const classes = m.layers.map((l) => l.className);
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
  it('trained two steps here, loads with tf.loadLayersModel, predicts the same (< 1e-5), same countParams', async () => {
    const { model: m, compileArgs } = buildPreset('fashion-resnet', { seed: 4 });
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
    expect(loaded.countParams()).toBe(73_690);
    m.dispose();
  });
});
