import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildPreset,
  Conv2D,
  createEngine,
  Dense,
  Dropout,
  Engine,
  Flatten,
  formatEpochLine,
  fromArtifacts,
  MaxPooling2D,
  optimizers,
  resetLayerNames,
  Sequential,
  ShapeError,
  toArtifacts,
} from '../src/index.js';
import { mulberry32 } from '../src/reference/random.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

/** A learnable toy problem: 3 classes decided by which of three pixel blocks is brightest. */
function toyImages(n: number, seed: number): { images: Uint8Array; shape: number[]; labels: Uint8Array } {
  const r = mulberry32(seed);
  const h = 6, w = 6;
  const images = new Uint8Array(n * h * w);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const cls = Math.floor(r() * 3);
    labels[i] = cls;
    for (let p = 0; p < h * w; p++) {
      const block = Math.floor((p % w) / 2);
      images[i * h * w + p] = Math.floor(r() * 80) + (block === cls ? 150 : 0);
    }
  }
  return { images, shape: [n, h, w, 1], labels };
}

describe('summary', () => {
  it.each([
    ['mnist-mlp', '407,050'],
    ['mnist-cnn', '804,554'],
    ['fashion-cnn', '804,554'],
    ['cifar-cnn', '2,125,578'],
  ] as const)('%s prints Total params %s in the Keras layout', (preset, total) => {
    const { model } = buildPreset(preset);
    const text = model.summary(false);
    expect(text).toContain(`Total params: ${total}`);
    expect(text).toContain(`Trainable params: ${total}`);
    expect(text).toContain('Non-trainable params: 0');
    expect(text.split('\n')[2]).toBe('Layer (type)                 Output Shape              Param #   ');
  });

  it('matches the seed course row layout for the MNIST CNN', () => {
    const { model } = buildPreset('mnist-cnn');
    const lines = model.summary(false).split('\n');
    expect(lines).toContain('conv2d (Conv2D)              (None, 28, 28, 32)        320       ');
    expect(lines).toContain('max_pooling2d (MaxPooling2D) (None, 14, 14, 32)        0         ');
    expect(lines).toContain('flatten (Flatten)            (None, 6272)              0         ');
    expect(lines).toContain('dense (Dense)                (None, 128)               802944    ');
    expect(lines).toContain('dense_1 (Dense)              (None, 10)                1290      ');
  });
});

describe('shape inference', () => {
  it('names the layer and both shapes when a layer cannot follow the previous one', () => {
    resetLayerNames();
    const m = new Sequential();
    m.add(new Dense({ units: 8, inputShape: [10] }));
    expect(() => m.add(new Conv2D({ filters: 4, kernelSize: 3 }))).toThrow(ShapeError);
    try {
      m.add(new Conv2D({ filters: 4, kernelSize: 3, name: 'my_conv' }));
    } catch (e) {
      expect((e as Error).message).toMatch(/my_conv/);
      expect((e as Error).message).toMatch(/\[8\]/);
    }
  });

  it('asks for an input shape on the first layer', () => {
    const m = new Sequential([new Dense({ units: 3 })]);
    expect(() => m.summary(false)).toThrow(/input shape/);
  });
});

describe('progress line', () => {
  it('has the Keras 2 form of the seed course', () => {
    const line = formatEpochLine(48000, 12.3, { loss: 0.1782, accuracy: 0.9475, val_loss: 0.1957, val_accuracy: 0.9433 });
    expect(line).toBe('48000/48000 [==============================] - 12s 256us/step - loss: 0.1782 - accuracy: 0.9475 - val_loss: 0.1957 - val_accuracy: 0.9433');
  });
});

describe('training', () => {
  it('learns a toy CNN problem, trains the partial last batch, and keeps memory flat', async () => {
    resetLayerNames();
    const data = toyImages(203, 1); // 203 = 6 batches of 32 + a partial batch of 11
    const model = new Sequential([
      new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 16, activation: 'relu' }),
      new Dropout({ rate: 0.1 }),
      new Dense({ units: 3, activation: 'softmax' }),
    ]);
    model.compile(engine, { optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'], seed: 3 });
    const lines: string[] = [];
    const sink = { isTTY: false, write: (s: string) => lines.push(s) };
    const h = await model.fit(data, data.labels, { batchSize: 32, epochs: 8, validationSplit: 0.2, sink });
    expect(h.loss.length).toBe(8);
    expect(h.loss[7]!).toBeLessThan(h.loss[0]!);
    expect(h.val_accuracy[7]!).toBeGreaterThan(0.8);
    // Keras splits at floor(203 * 0.8) = 162: 162 training examples at batch 32 are 5 full + 1 partial step.
    expect((await model.getOptimizerState()).step).toBe(8 * 6);
    expect(lines.join('')).toMatch(/162\/162 \[=+\] - \d+s \d+(us|ms)\/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}/);
    const mem = engine.memory();
    await model.fit(data, data.labels, { batchSize: 32, epochs: 1, verbose: 0 });
    await model.evaluate(data, data.labels);
    await model.predict(data);
    expect(engine.memory().liveBuffers).toBe(mem.liveBuffers);
    const before = engine.memory().liveBuffers;
    model.dispose();
    expect(engine.memory().liveBuffers).toBeLessThan(before);
  });

  it('accepts float inputs with one-hot labels (the seed MLP data path) and sparse labels', async () => {
    resetLayerNames();
    const r = mulberry32(5);
    const n = 96, d = 5;
    const x = new Float32Array(n * d);
    const oneHot = new Float32Array(n * 2);
    const sparse = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] = r() * 2 - 1);
      const c = s > 0 ? 1 : 0;
      oneHot[i * 2 + c] = 1;
      sparse[i] = c;
    }
    const losses: number[][] = [];
    for (const [loss, y] of [['categorical_crossentropy', oneHot], ['sparse_categorical_crossentropy', sparse]] as const) {
      resetLayerNames();
      const model = new Sequential([new Dense({ units: 8, activation: 'tanh', inputDim: d }), new Dense({ units: 2, activation: 'softmax' })]);
      // Adam at lr 0.01: Keras' default SGD (lr 0.01) needs far more than these 180 steps here (a float64 twin reaches 0.78).
      model.compile(engine, { optimizer: optimizers.adam({ learningRate: 0.01 }), loss, metrics: ['accuracy'], seed: 1 });
      const h = await model.fit(x, y, { batchSize: 16, epochs: 30, verbose: 0 });
      expect(h.loss[29]!).toBeLessThan(h.loss[0]! * 0.5);
      const [, acc] = await model.evaluate(x, y);
      expect(acc).toBeGreaterThan(0.9);
      losses.push(h.loss);
      model.dispose();
    }
    // Sparse labels and their one-hot encoding are the same loss: the same seed trains the same curve.
    for (let e = 0; e < 30; e++) expect(losses[1]![e]!).toBeCloseTo(losses[0]![e]!, 5);
  });

  it('same seed, same weights: bit-identical after training', async () => {
    const run = async () => {
      resetLayerNames();
      const data = toyImages(64, 2);
      const model = new Sequential([new Flatten({ inputShape: [6, 6, 1] }), new Dense({ units: 8, activation: 'relu' }), new Dropout({ rate: 0.3 }), new Dense({ units: 3, activation: 'softmax' })]);
      model.compile(engine, { optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'], seed: 11 });
      await model.fit(data, data.labels, { batchSize: 16, epochs: 2, verbose: 0 });
      const w = await model.getWeights();
      model.dispose();
      return w;
    };
    const a = await run();
    const b = await run();
    expect(a.map((w) => Array.from(w.values))).toEqual(b.map((w) => Array.from(w.values)));
  });
});

describe('save and load (TensorFlow.js layers format)', () => {
  it('round-trips to identical predictions', async () => {
    resetLayerNames();
    const data = toyImages(40, 4);
    const model = new Sequential([
      new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 3, activation: 'softmax' }),
    ]);
    model.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy', metrics: ['accuracy'], seed: 9 });
    await model.fit(data, data.labels, { batchSize: 8, epochs: 1, verbose: 0 });
    const art = await toArtifacts(model);
    expect(art.modelJson.format).toBe('layers-model');
    expect(art.modelJson.weightsManifest[0]!.weights.map((w) => w.name)).toEqual(['conv2d/kernel', 'conv2d/bias', 'dense/kernel', 'dense/bias']);
    const loaded = fromArtifacts(engine, JSON.parse(JSON.stringify(art.modelJson)), art.weights);
    const p1 = await model.predict(data);
    const p2 = await loaded.predict(data);
    expect(Array.from(p2)).toEqual(Array.from(p1));
    model.dispose();
    loaded.dispose();
  });
});
