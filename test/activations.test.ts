// model.activations: every layer's output for the inputs, against the float64 layer-by-layer reference
// (src/reference/model.ts run on the model's prefix up to each layer, with the model's own weights), in batches
// with a remainder; a subset by name; bad names; a trained model's activations agree with predict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Activation, Add, AveragePooling2D, Conv2D, createEngine, Dense, Dropout, Engine, Flatten, input, MaxPooling2D, model as functional, resetLayerNames, Sequential, ShaderflowError } from '../src/index.js';
import { graphForwardRef, sequentialForwardRef } from '../src/reference/model.js';
import { mulberry32 } from '../src/reference/random.js';
import { expectClose } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

const N = 33;
const r = mulberry32(9);
const x = new Float32Array(N * 7 * 7 * 2).map(() => r() * 2 - 1);

function build(): Sequential {
  resetLayerNames();
  return new Sequential([
    new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [7, 7, 2] }),
    new MaxPooling2D({ poolSize: 2 }),
    new Conv2D({ filters: 5, kernelSize: 2, activation: 'tanh' }),
    new AveragePooling2D({ poolSize: 1 }),
    new Flatten(),
    new Dropout({ rate: 0.5 }),
    new Dense({ units: 4, activation: 'softmax' }),
  ]);
}

describe('model.activations', () => {
  it('every layer, in batches of 16 (33 examples), equals the float64 reference layer by layer', async () => {
    const model = build();
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 4 });
    const weights = new Map((await model.getWeights()).map((w) => [w.name, w.values]));
    const acts = await model.activations({ data: x, shape: [N, 7, 7, 2] }, undefined, { batchSize: 16 });
    expect(acts.map((a) => a.name)).toEqual(model.layers.map((l) => l.name));
    acts.forEach((a, i) => {
      expect(a.shape).toEqual([N, ...model.layers[i]!.outputShape]);
      const ref = sequentialForwardRef(model.layers.slice(0, i + 1), weights, x, N);
      expectClose(a.values, ref, 1e-5, 1, a.name);
    });
    // the feature maps are not trivially zero (relu) or constant
    expect(new Set(acts[0]!.values).size).toBeGreaterThan(10);
    // the last layer is the probabilities predict gives (the softmax is fused into the loss in training)
    expect(Array.from(acts[6]!.values)).toEqual(Array.from(await model.predict({ data: x, shape: [N, 7, 7, 2] }, { batchSize: 16 })));
    model.dispose();
  });

  it('a subset by name, in the order asked; an unknown name lists the layers', async () => {
    const model = build();
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 4 });
    const all = await model.activations(x);
    const names = [model.layers[2]!.name, model.layers[0]!.name];
    const some = await model.activations(x.subarray(0, 5 * 98), names);
    expect(some.map((a) => a.name)).toEqual(names);
    expect(Array.from(some[0]!.values)).toEqual(Array.from(all[2]!.values.subarray(0, some[0]!.values.length)));
    expect(Array.from(some[1]!.values)).toEqual(Array.from(all[0]!.values.subarray(0, some[1]!.values.length)));
    await expect(model.activations(x, ['nope'])).rejects.toThrow(ShaderflowError);
    await expect(model.activations(x, ['nope'])).rejects.toThrow(/no layer "nope"; its layers are conv2d.*dense/);
    // after training steps the taps follow the new weights
    const y = new Uint8Array(N).map((_, i) => i % 4);
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 });
    const weights = new Map((await model.getWeights()).map((w) => [w.name, w.values]));
    const [conv] = await model.activations(x, [model.layers[0]!.name]);
    expectClose(conv!.values, sequentialForwardRef(model.layers.slice(0, 1), weights, x, N), 1e-5, 1, 'after fit');
    model.dispose();
  });

  it('a functional model (a residual block): every node against the float64 graph reference', async () => {
    resetLayerNames();
    const inp = input({ shape: [7, 7, 2] });
    const stem = new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(inp);
    const y = new Conv2D({ filters: 3, kernelSize: 3, padding: 'same' }).apply(stem);
    const res = new Activation({ activation: 'relu' }).apply(new Add().apply([y, stem]));
    const out = new Dense({ units: 4, activation: 'softmax' }).apply(new Flatten().apply(res));
    const net = functional({ inputs: inp, outputs: out });
    net.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 5 });
    const weights = new Map((await net.getWeights()).map((w) => [w.name, w.values]));
    const nodes = net.stepPlan!.nodes;
    const acts = await net.activations({ data: x, shape: [N, 7, 7, 2] }, undefined, { batchSize: 16 });
    expect(acts.map((a) => a.name)).toEqual(nodes.map((n) => n.layer.name));
    expect(acts.map((a) => a.name)).toContain(net.layers.find((l) => l.className === 'Add')!.name);
    acts.forEach((a, i) => {
      expect(a.shape).toEqual([N, ...nodes[i]!.layer.outputShape]);
      expectClose(a.values, graphForwardRef(nodes.slice(0, i + 1), weights, x, N), 1e-5, 1, a.name);
    });
    net.dispose();
  });
});
