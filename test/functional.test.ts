// The functional API: input(), layer.apply(), model({inputs, outputs}); merge layers (Add, Concatenate, Multiply)
// with fan-out, trained as fit records it and checked against the float64 twin of the graph; the graph checks
// at model(); summary() in Keras' functional layout; freezing in a graph.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Activation, Add, checkGradients, Concatenate, Conv2D, createEngine, Dense, Engine, Flatten, input, MaxPooling2D, model, Multiply, optimizers, resetLayerNames,
  Sequential, ShapeError, type Model,
} from '../src/index.js';
import type { AdapterClass } from '../src/gpu/engine.js';
import { expectGradientsMatch } from './helpers/model-gradients.js';
import { graphForwardRef, modelLossRef } from '../src/reference/model.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';

const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
});
const measured: string[] = [];
afterAll(() => {
  console.log(`functional whole-model gradient checks (max |gpu - numeric| / max |numeric| per tensor):\n  ${measured.join('\n  ')}`);
  for (const e of Object.values(engines)) e?.dispose();
});

/**
 * conv -> (conv-relu, conv) + skip -> Add -> relu -> pool -> flatten -> softmax: the residual block, in small. The
 * stem is tanh, not relu: with relu stem and block both 0 at a position, the sum sits exactly on the relu's kink and
 * central differences of the zero-initialized bias straddle it.
 */
function residual(): Model {
  resetLayerNames();
  const x = input({ shape: [6, 5, 2] });
  const stem = new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(x);
  const a = new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(stem);
  const b = new Conv2D({ filters: 3, kernelSize: 1 }).apply(a);
  const sum = new Add().apply([b, stem]); // stem fans out: to the block and to the skip
  const act = new Activation({ activation: 'relu' }).apply(sum);
  const pooled = new MaxPooling2D({ poolSize: 2 }).apply(act);
  const out = new Dense({ units: 4, activation: 'softmax' }).apply(new Flatten().apply(pooled));
  return model({ inputs: x, outputs: out, name: 'tiny_resnet' });
}

/** Dense branches joined by Concatenate and gated by Multiply; the input and `h` each feed three layers. */
function branches(): Model {
  resetLayerNames();
  const x = input({ shape: [5] });
  const h = new Dense({ units: 4, activation: 'tanh' }).apply(x);
  const gate = new Dense({ units: 4, activation: 'sigmoid' }).apply(x);
  const gated = new Multiply().apply([h, gate]);
  const side = new Dense({ units: 3, activation: 'tanh' }).apply(x);
  const joined = new Concatenate().apply([gated, side, h]);
  const mixed = new Add().apply([new Dense({ units: 3 }).apply(joined), new Dense({ units: 3, useBias: false }).apply(h)]);
  return model({ inputs: x, outputs: new Activation({ activation: 'softmax' }).apply(mixed) });
}

const CASES = [
  { name: 'residual conv block (Add, fan-out) + sparse CE', make: residual, inputSize: 6 * 5 * 2, classes: 4, n: 3 },
  { name: 'Concatenate, Multiply, Add over dense branches + sparse CE', make: branches, inputSize: 5, classes: 3, n: 5 },
];

describe.each(['software', 'gpu'] as AdapterClass[])('functional whole-model gradients, %s class', (cls) => {
  it.each(CASES)('$name', async (c) => {
    const engine = engines[cls]!;
    const m = c.make();
    m.compile(engine, { optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'sparse_categorical_crossentropy', seed: 3 });
    const x = randomUniform(c.n * c.inputSize, 5 + c.inputSize);
    const r = mulberry32(c.n);
    const y = Uint8Array.from({ length: c.n }, () => Math.floor(r() * c.classes));
    const before = await m.getWeights();
    await m.fit(x, y, { batchSize: c.n, epochs: 1, shuffle: false, verbose: 0 });
    const grads = await m.getGradients();
    const w = new Map(before.map((b) => [b.name, Float64Array.from(b.values)]));
    const nodes = m.graphNodes();
    const loss = () => modelLossRef('sparse_categorical_crossentropy', graphForwardRef(nodes, w, x, c.n), y, c.n, c.classes);
    expectGradientsMatch(grads, w, loss, `${cls}: ${c.name}`, measured);
    // The same graph's predict equals the float64 forward.
    const probs = await m.predict(x);
    const ref = graphForwardRef(nodes, new Map((await m.getWeights()).map((v) => [v.name, v.values])), x, c.n);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(probs[i]! - ref[i]!)).toBeLessThan(1e-5);
    m.dispose();
  });

  it('checkGradients on a graph: merge layers, fan-out, and the input gradient summed over its three readers', async () => {
    const m = branches();
    const report = await checkGradients(m, { engine: engines[cls]!, batch: 3, maxElements: 1000 });
    for (const t of report.tensors) measured.push(`${cls}: checkGradients(branches) ${t.tensor}: ${t.maxRelError.toExponential(2)}`);
    expect(report.tensors[0]!.tensor).toBe('input');
    expect(report.pass, JSON.stringify(report.tensors.filter((t) => !t.pass))).toBe(true);
  });
});

describe('model() checks the graph', () => {
  it('shape inference at apply names both layers and shapes', () => {
    resetLayerNames();
    const x = input({ shape: [4, 4, 2] });
    const d = new Dense({ units: 3 }).apply(new Flatten().apply(x));
    const c = new Conv2D({ filters: 2, kernelSize: 3, padding: 'same' }).apply(x);
    expect(() => new Add().apply([d, c])).toThrow(ShapeError);
    expect(() => new Add({ name: 'sum' }).apply([d, c])).toThrow(/Layer "sum" \(Add\): its inputs must all have the same shape, got \[3\], \[4, 4, 2\].*"dense" \(Dense\) \[3\], "conv2d" \(Conv2D\) \[4, 4, 2\]/);
    expect(() => new Concatenate({ name: 'cat' }).apply([d, c])).toThrow(/"cat" \(Concatenate\).*every other dimension must agree/);
    expect(() => new Conv2D({ filters: 2, kernelSize: 1, name: 'conv_on_flat' }).apply(d)).toThrow(/conv_on_flat.*\[3\].*applied to "dense" \(Dense\) \[3\]/);
    expect(() => new Dense({ units: 2 }).apply([d, d])).toThrow(/takes one input but was applied to 2/);
    expect(() => new Add().apply(d)).toThrow(/merges two or more inputs/);
  });

  it('a layer applied twice (shared weights) is refused, naming it', () => {
    resetLayerNames();
    const x = input({ shape: [3] });
    const dense = new Dense({ units: 3 });
    const y = dense.apply(x);
    expect(() => dense.apply(y)).toThrow(/Layer "dense" \(Dense\) is already applied .*create another layer/);
  });

  it('disconnected outputs, several inputs or outputs, and an output that is the input fail at model()', () => {
    resetLayerNames();
    const a = input({ shape: [3], name: 'a' });
    const b = input({ shape: [3], name: 'b' });
    const sum = new Add().apply([new Dense({ units: 2 }).apply(a), new Dense({ units: 2 }).apply(b)]);
    expect(() => model({ inputs: a, outputs: sum })).toThrow(/is not connected to the input "a" \(InputLayer\) \[3\] alone.*"b" \(InputLayer\) \[3\]/);
    expect(() => model({ inputs: [a, b], outputs: sum })).toThrow(/one input and one output/);
    expect(() => model({ inputs: a, outputs: a })).toThrow(/is the input .* itself/);
    expect(() => model({ inputs: sum, outputs: sum })).toThrow(/inputs must be what input\(\{ shape \}\) returns/);
  });

  it('summary() has Keras functional layout with "Connected to"; Sequential keeps its own', () => {
    const m = residual();
    const text = m.summary(false);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Model: "tiny_resnet"');
    expect(lines.every((l) => l.length <= 98)).toBe(true);
    expect(lines[2]!.trimEnd()).toBe('Layer (type)                    Output Shape         Param #     Connected to');
    expect(lines.map((l) => l.trimEnd())).toContain('input (InputLayer)              [(None, 6, 5, 2)]    0');
    const add = lines.findIndex((l) => l.startsWith('add (Add)'));
    expect(lines[add]!.trimEnd()).toBe('add (Add)                       (None, 6, 5, 3)      0           conv2d_2[0][0]');
    expect(lines[add + 1]!.trimEnd()).toBe(`${' '.repeat(65)}conv2d[0][0]`);
    expect(lines[add + 2]).toBe('_'.repeat(98));
    expect(text).toContain(`Total params: ${m.countParams()}`);
    expect(m.countParams()).toBe(57 + 84 + 12 + (3 * 2 * 3 * 4 + 4));
    expect(new Sequential([new Dense({ units: 2, inputDim: 3 })]).summary(false).split('\n')[2]!.trim()).toBe('Layer (type)                 Output Shape              Param #');
  });

  it('a frozen branch of a graph stays bit-identical through fit', async () => {
    const engine = engines.software!;
    const m = residual();
    m.layers[1]!.trainable = false; // the stem conv
    m.compile(engine, { optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'sparse_categorical_crossentropy', seed: 1 });
    expect(m.countTrainableParams()).toBe(m.countParams() - 57);
    const before = await m.getWeights();
    await m.fit(randomUniform(9 * 60, 2), new Uint8Array(9).map((_, i) => i % 4), { batchSize: 4, epochs: 1, verbose: 0 });
    const after = await m.getWeights();
    before.forEach((w, i) => {
      const same = w.values.every((v, k) => Object.is(v, after[i]!.values[k]));
      expect(same, w.name).toBe(w.name.startsWith('conv2d/'));
    });
    m.dispose();
  });
});
