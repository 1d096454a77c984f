// Freezing (Layer.trainable, read at compile): frozen weights get no gradient and no optimizer update, stay
// bit-identical through fit, count as non-trainable in summary(), and the arena puts trainable weights first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conv2D, createEngine, Dense, Engine, Flatten, optimizers, resetLayerNames, Sequential } from '../src/index.js';
import { mulberry32 } from '../src/reference/random.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

function data(n: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const r = mulberry32(seed);
  const x = new Float32Array(n * 5 * 5 * 2).map(() => r() * 2 - 1);
  const y = new Uint8Array(n).map(() => Math.floor(r() * 3));
  return { x, y };
}

function build(frozen: boolean[]): Sequential {
  resetLayerNames();
  return new Sequential([
    new Conv2D({ filters: 3, kernelSize: 3, activation: 'relu', inputShape: [5, 5, 2], trainable: !frozen[0] }),
    new Flatten(),
    new Dense({ units: 7, activation: 'tanh', trainable: !frozen[2] }),
    new Dense({ units: 3, activation: 'softmax', trainable: !frozen[3] }),
  ]);
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe('freezing', () => {
  it.each([
    ['first conv and the hidden dense', [true, false, true, false]],
    ['everything', [true, false, true, true]],
  ])('frozen layers (%s) stay bit-identical through fit; the others train', async (_what, frozen) => {
    const model = build(frozen);
    model.compile(engine, { optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'sparse_categorical_crossentropy', seed: 3 });
    const before = await model.getWeights();
    const { x, y } = data(37, 1);
    await model.fit({ data: x, shape: [37, 5, 5, 2] }, y, { epochs: 2, batchSize: 8, verbose: 0 });
    const after = await model.getWeights();
    const grads = await model.getGradients();
    before.forEach((w, i) => {
      const layer = w.name.split('/')[0]!;
      const isFrozen = model.layers.find((l) => l.name === layer)!.trainable === false;
      if (isFrozen) {
        expect(same(w.values, after[i]!.values), `${w.name} changed`).toBe(true);
        expect(grads[i]!.values.every((g) => g === 0), `${w.name} got a gradient`).toBe(true);
      } else expect(same(w.values, after[i]!.values), `${w.name} did not train`).toBe(false);
    });
    model.dispose();
  });

  it('model.trainable sets every layer; frozen whole, nothing trains and summary counts all as non-trainable', async () => {
    const model = build([false, false, false, false]);
    expect(model.trainable).toBe(true);
    model.trainable = false;
    expect(model.layers.every((l) => !l.trainable)).toBe(true);
    expect(model.trainable).toBe(false);
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy' });
    expect(model.summary(false)).toContain('Trainable params: 0');
    const before = await model.getWeights();
    const { x, y } = data(5, 4);
    const h = await model.fit({ data: x, shape: [5, 5, 5, 2] }, y, { epochs: 1, batchSize: 5, verbose: 0 });
    expect(Number.isFinite(h.history.loss![0])).toBe(true);
    (await model.getWeights()).forEach((w, i) => expect(same(w.values, before[i]!.values), w.name).toBe(true));
    model.trainable = true;
    expect(model.trainable).toBe(true);
    model.dispose();
  });

  it('summary counts frozen weights as non-trainable; model order of getWeights is kept', () => {
    const model = build([true, false, false, false]);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const text = model.summary(false);
    const conv = 3 * 3 * 2 * 3 + 3;
    const total = model.countParams();
    expect(text).toContain(`Total params: ${total}`);
    expect(text).toContain(`Trainable params: ${total - conv}`);
    expect(text).toContain(`Non-trainable params: ${conv}`);
    expect(model.countTrainableParams()).toBe(total - conv);
    model.dispose();
  });

  it('recompiling after changing trainable re-lays the arena and keeps the weights; changing it without compiling is an error', async () => {
    const model = build([false, false, false, false]);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 5 });
    const before = await model.getWeights();
    const { x, y } = data(9, 2);
    model.layers[0]!.trainable = false;
    await expect(model.fit({ data: x, shape: [9, 5, 5, 2] }, y, { epochs: 1, batchSize: 4, verbose: 0 })).rejects.toThrow(/changed trainable to false after compile; call compile\(\) again/);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const relaid = await model.getWeights();
    relaid.forEach((w, i) => expect(same(w.values, before[i]!.values), w.name).toBe(true));
    await model.fit({ data: x, shape: [9, 5, 5, 2] }, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const after = await model.getWeights();
    expect(same(after[0]!.values, before[0]!.values)).toBe(true);
    expect(same(after[2]!.values, before[2]!.values)).toBe(false);
    model.dispose();
  });
});
