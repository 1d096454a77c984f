// Batch normalization kernels (src/kernels/batchnorm.ts) and the BatchNormalization layer, on both kernel variant
// sets (the software class's serial column sums, the GPU class's workgroup trees): forward in training mode (batch
// statistics, moving update) and inference mode against the float64 reference, backward against central
// differences of that reference, long reductions past the chunk sizes, and the layer's Keras contract.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchNormalization, checkGradients, Conv2D, createEngine, Dense, Engine, GlobalAveragePooling2D, resetLayerNames, Sequential, type AdapterClass } from '../src/index.js';
import { centralDifferences } from '../src/check/gradients.js';
import { Recorder, runOnce } from '../src/gpu/recorder.js';
import { batchNormBackward, batchNormForward, type BatchNormTensors } from '../src/kernels/batchnorm.js';
import { batchMomentsRef, batchNormForwardRef } from '../src/reference/batchnorm.js';
import { conv2dForwardRef } from '../src/reference/conv2d.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
});
const measured: string[] = [];
afterAll(() => {
  console.log(`batchnorm (max relative error):\n  ${measured.join('\n  ')}`);
  for (const e of Object.values(engines)) e?.dispose();
});

interface Weights { gamma?: Float32Array; beta?: Float32Array; movingMean: Float32Array; movingVariance: Float32Array }

function weights(cols: number, seed: number, affine = { scale: true, center: true }): Weights {
  return {
    gamma: affine.scale ? randomUniform(cols, seed, 0.5, 2) : undefined,
    beta: affine.center ? randomUniform(cols, seed + 1) : undefined,
    movingMean: randomUniform(cols, seed + 2),
    movingVariance: randomUniform(cols, seed + 3, 0.5, 2),
  };
}

function upload(engine: Engine, w: Weights, cols: number): BatchNormTensors {
  return {
    gamma: w.gamma && engine.tensor([cols], w.gamma),
    beta: w.beta && engine.tensor([cols], w.beta),
    movingMean: engine.tensor([cols], w.movingMean),
    movingVariance: engine.tensor([cols], w.movingVariance),
    stats: engine.tensor([2, cols], nanArray(2 * cols)),
    sumA: engine.tensor([cols], nanArray(cols)),
    sumB: engine.tensor([cols], nanArray(cols)),
  };
}

const dispose = (t: BatchNormTensors): void => Object.values(t).forEach((v) => v?.dispose());

describe.each(['software', 'gpu'] as const)('%s class', (cls) => {
  // odd sizes, one channel, a single row (variance 0), and rows past the serial chunk (32768) and the tree chunk (1024)
  // channels a multiple of 4 run the vec4 entries, others (and vec4 false) the scalar ones
  const SHAPES: [number, number, boolean][] = [[1, 1, true], [3, 7, true], [33, 10, true], [127, 3, true], [257, 33, true], [1000, 4, true], [1000, 4, false], [65, 16, true], [70001, 3, true], [40000, 8, true]];
  it.each(SHAPES)('training forward (batch statistics, moving update) and inference forward for [%i, %i], vec4 %s', async (rows, cols, vec4) => {
    const engine = engines[cls]!;
    const x = randomUniform(rows * cols, rows + cols, -3, 5);
    const w = weights(cols, cols * 3);
    const t = upload(engine, w, cols);
    const tx = engine.tensor([rows, cols], x), ty = engine.tensor([rows, cols], nanArray(rows * cols)), ti = engine.tensor([rows, cols], nanArray(rows * cols));
    const s = { rows, cols, epsilon: 1e-3, momentum: 0.99 };
    await runOnce(engine, 'bn', (rec) => batchNormForward(rec, tx, ty, s, t, true, true, { vec4 }));
    const ref = batchNormForwardRef(x, rows, cols, w, true);
    // y is O(1); its error is float32 rounding of the sums (fixed-order, ~log(rows) ulp) carried through 1/sigma
    const e = expectClose(await ty.data(), ref.y, 2e-5, 1, 'y');
    expectClose(await t.movingMean.data(), ref.movingMean, 2e-6, 1, 'moving_mean');
    expectClose(await t.movingVariance.data(), ref.movingVariance, 2e-6, 1, 'moving_variance');
    const stats = await t.stats.data();
    // a sum's rounding scales with Σ|x|, not |Σx|: relative to the mean |x| (about 2 here)
    const meanAbs = x.reduce((a, v) => a + Math.abs(v), 0) / x.length;
    expectClose(stats.slice(0, cols), ref.mean, 2e-6, meanAbs, 'mean');
    expectClose(stats.slice(cols), ref.variance.map((v) => 1 / Math.sqrt(v + 1e-3)), 2e-5, 1, 'invStd');
    measured.push(`${cls} training [${rows}, ${cols}] y: ${e.toExponential(2)}`);
    // inference with the moved statistics: no update, the moving values themselves
    const moved = { ...w, movingMean: Float32Array.from(await t.movingMean.data()), movingVariance: Float32Array.from(await t.movingVariance.data()) };
    await runOnce(engine, 'bn inference', (rec) => batchNormForward(rec, tx, ti, s, t, false, false, { vec4 }));
    expectClose(await ti.data(), batchNormForwardRef(x, rows, cols, moved, false).y, 2e-6, 1, 'inference y');
    expect(Array.from(await t.movingMean.data())).toEqual(Array.from(moved.movingMean));
    dispose(t);
    for (const v of [tx, ty, ti]) v.dispose();
  });

  it.each([
    [5, 3, true, { scale: true, center: true }],
    [7, 4, true, { scale: false, center: true }],
    [33, 2, true, { scale: true, center: false }],
    [6, 5, false, { scale: true, center: true }],
    [1100, 3, true, { scale: true, center: true }],
    [66, 8, true, { scale: true, center: true }],
    [9, 12, false, { scale: true, center: false }],
    [40, 4, true, { scale: false, center: false }],
  ] as const)('backward [%i, %i] training=%s %j matches central differences of the float64 forward', async (rows, cols, training, affine) => {
    const engine = engines[cls]!;
    const x = randomUniform(rows * cols, rows * 5 + cols, -2, 2);
    const r = randomUniform(rows * cols, rows + 9);
    const w = weights(cols, 11, affine);
    const t = upload(engine, w, cols);
    const tx = engine.tensor([rows, cols], x), ty = engine.tensor([rows, cols], nanArray(rows * cols)), tdy = engine.tensor([rows, cols], r);
    const tdx = engine.tensor([rows, cols], nanArray(rows * cols));
    const dgamma = affine.scale ? engine.tensor([cols], nanArray(cols)) : undefined;
    const dbeta = affine.center ? engine.tensor([cols], nanArray(cols)) : undefined;
    const s = { rows, cols, epsilon: 1e-3, momentum: 0.9 };
    await runOnce(engine, 'bn', (rec) => {
      batchNormForward(rec, tx, ty, s, t, training);
      batchNormBackward(rec, tx, tdy, tdx, s, t, training, { dgamma, dbeta });
    });
    const x64 = Float64Array.from(x), g64 = Float64Array.from(w.gamma ?? []), b64 = Float64Array.from(w.beta ?? []);
    const loss = (): number => {
      const y = batchNormForwardRef(x64, rows, cols, { ...w, gamma: w.gamma && g64, beta: w.beta && b64 }, training).y;
      let sum = 0;
      for (let i = 0; i < y.length; i++) sum += r[i]! * y[i]!;
      return sum;
    };
    // dx in training mode cancels sums of order |r| (mean and variance paths): float32 leaves ~1e-6 of their
    // scale, so the floor is that scale (1), not a looser tolerance
    const e = expectClose(await tdx.data(), centralDifferences(x64, loss), 2e-5, 1, 'dx');
    if (dgamma) expectClose(await dgamma.data(), centralDifferences(g64, loss), 2e-5, 1, 'dgamma');
    if (dbeta) expectClose(await dbeta.data(), centralDifferences(b64, loss), 2e-5, 1, 'dbeta');
    measured.push(`${cls} backward [${rows}, ${cols}] training=${training} dx: ${e.toExponential(2)}`);
    dispose(t);
    for (const v of [tx, ty, tdy, tdx, dgamma, dbeta]) v?.dispose();
  });

  it('the layer: checkGradients through the batch statistics (training) and with the moving ones (inference)', async () => {
    const engine = engines[cls]!;
    for (const training of [true, false]) {
      const layer = new BatchNormalization({ name: 'bn' });
      const r = await checkGradients(layer, { engine, inputShape: [3, 4, 5], batch: 3, training });
      expect(r.tensors.map((v) => v.tensor)).toEqual(['input', 'bn/gamma', 'bn/beta']);
      for (const v of r.tensors) expect(v.pass, JSON.stringify(v)).toBe(true);
    }
  });
});

describe('BatchNormalization layer', () => {
  it('has Keras weights, defaults and config; non-trainable moving statistics', () => {
    const bn = new BatchNormalization({ name: 'bn' });
    bn.build([5, 5, 7]);
    expect(bn.paramSpecs().map((p) => [p.name, p.shape, p.initializer, p.trainable])).toEqual([
      ['gamma', [7], 'ones', true], ['beta', [7], 'zeros', true], ['moving_mean', [7], 'zeros', false], ['moving_variance', [7], 'ones', false],
    ]);
    expect(bn.paramCount()).toBe(28);
    expect(bn.getConfig()).toMatchObject({ axis: -1, momentum: 0.99, epsilon: 1e-3, center: true, scale: true, gamma_initializer: { class_name: 'Ones' } });
    const plain = new BatchNormalization({ center: false, scale: false });
    plain.build([3]);
    expect(plain.paramSpecs().map((p) => p.name)).toEqual(['moving_mean', 'moving_variance']);
    expect(() => new BatchNormalization({ axis: 1 }).build([4, 4, 3])).toThrow(/only the last axis/);
    new BatchNormalization({ axis: 3 }).build([4, 4, 3]); // Keras 2 files' positive last axis
    expect(() => new BatchNormalization({ epsilon: 0 })).toThrow(/epsilon/);
  });

  it('frozen (trainable false) runs in inference mode in a training step: moving statistics used and left alone, no parameter gradients', async () => {
    const engine = engines.software!;
    const bn = new BatchNormalization({ name: 'bn', trainable: false });
    bn.build([4]);
    const w = weights(4, 3);
    const t = [w.gamma!, w.beta!, w.movingMean, w.movingVariance].map((v) => engine.tensor([4], v));
    const g = t.map(() => engine.tensor([4], nanArray(4)));
    bn.weights = t;
    bn.grads = g;
    bn.allocate(engine, 5);
    const x = randomUniform(20, 1), dy = randomUniform(20, 2);
    const tx = engine.tensor([5, 4], x), tdy = engine.tensor([5, 4], dy), step = engine.zeros([4], 'u32');
    const ctx = { engine, n: 5, training: true, stepState: step.buffer, seed: 0 };
    const rec = new Recorder(engine, 'frozen');
    const y = bn.forward(rec, tx, ctx);
    const dx = bn.backward(rec, tdy, ctx, true)!;
    rec.run();
    expectClose(await y.data(), batchNormForwardRef(x, 5, 4, w, false).y, 2e-6);
    expect(Array.from(await t[2]!.data())).toEqual(Array.from(w.movingMean));
    const k = w.gamma!.map((gm, c) => gm / Math.sqrt(w.movingVariance[c]! + 1e-3));
    expectClose(await dx.data(), Float64Array.from(dy, (v, i) => v * k[i % 4]!), 2e-6);
    expect((await g[0]!.data()).every(Number.isNaN)).toBe(true); // no gradient written
    rec.dispose();
    bn.release();
    for (const v of [...t, ...g, tx, tdy, step]) v.dispose();
  });
});

describe('BatchNormalization in a model', () => {
  it('summary() counts the moving statistics as non-trainable; fit moves them and evaluate uses them', async () => {
    resetLayerNames();
    const m = new Sequential([new Conv2D({ filters: 4, kernelSize: 3, useBias: false, inputShape: [6, 6, 1] }), new BatchNormalization(), new GlobalAveragePooling2D(), new Dense({ units: 2, activation: 'softmax' })]);
    const text = m.summary(false);
    expect(text).toMatch(/Total params: 62\b/);
    expect(text).toMatch(/Trainable params: 54\b/);
    expect(text).toMatch(/Non-trainable params: 8\b/);
    m.compile(engines.software!, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 1 });
    const x = randomUniform(8 * 36, 4, 0, 3);
    const y = new Uint8Array([0, 1, 0, 1, 1, 0, 1, 0]);
    const before = new Map((await m.getWeights()).map((w) => [w.name, w.values]));
    await m.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
    const after = new Map((await m.getWeights()).map((w) => [w.name, w.values]));
    // one step from moving_mean 0 with momentum 0.99: 0.01 of the batch mean of the convolution's output
    const mm = after.get('batch_normalization/moving_mean')!;
    expect(Array.from(before.get('batch_normalization/moving_mean')!)).toEqual([0, 0, 0, 0]);
    const conv = m.layers[0] as Conv2D;
    const z = conv2dForwardRef(x, before.get('conv2d/kernel')!, null, conv.geometry(8));
    const { mean, variance } = batchMomentsRef(z, z.length / 4, 4);
    expectClose(mm, mean.map((v) => 0.01 * v), 1e-5, 1e-2, 'moving_mean after one step');
    expectClose(after.get('batch_normalization/moving_variance')!, variance.map((v) => 0.99 + 0.01 * v), 1e-6, 1, 'moving_variance after one step');
    // evaluate in inference mode: the moving statistics (with variance ~1, the outputs are the convolution's, shifted)
    const [loss] = await m.evaluate(x, y);
    expect(Number.isFinite(loss)).toBe(true);
    m.dispose();
  });
});
