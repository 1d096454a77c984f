// Binary cross-entropy kernels (src/kernels/loss.ts: sigmoidCrossEntropy on logits, binaryCrossEntropyFromProbs)
// against the float64 reference and central differences, on both statistics variants (the software class's one
// workgroup, the GPU class's trees), with 0/1 and soft targets, several outputs per row, and extremes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import { binaryCrossEntropyFromProbs, sigmoidCrossEntropy, type StatsVariant } from '../src/kernels/loss.js';
import { Activation, Dense, optimizers, resetLayerNames, Sequential } from '../src/index.js';
import { lossNumericGradRef, lossRef } from '../src/reference/loss.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

const KINDS = ['sigmoidCrossEntropy', 'binaryCrossEntropyFromProbs'] as const;

function targets(n: number, c: number, seed: number, soft: boolean): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n * c }, () => (soft ? r() : r() < 0.5 ? 0 : 1));
}

describe.each(KINDS)('%s', (kind) => {
  describe.each(['serial', 'tree'] as StatsVariant[])('stats %s', (statsVariant) => {
    it.each([[1, 1, false], [7, 1, false], [33, 3, false], [300, 1, false], [127, 5, true]] as const)('n=%i, c=%i, soft targets %s: loss, gradient, binary_accuracy', async (n, c, soft) => {
      const x = kind === 'sigmoidCrossEntropy' ? randomUniform(n * c, n + c, -4, 4) : randomUniform(n * c, n + c, 0.02, 0.98);
      const t = targets(n, c, n * 3 + c, soft);
      const gradScale = 1 / n;
      const tx = engine.tensor([n, c], x), tt = engine.tensor([n, c], t);
      const probs = engine.tensor([n, c], nanArray(n * c)), grad = engine.tensor([n, c], nanArray(n * c)), stats = engine.zeros([4]);
      await runOnce(engine, kind, (rec) => {
        if (kind === 'sigmoidCrossEntropy') sigmoidCrossEntropy(rec, tx, tt, probs, grad, stats, n, c, { gradScale, statsVariant });
        else binaryCrossEntropyFromProbs(rec, tx, tt, grad, stats, n, c, { gradScale, statsVariant });
      });
      const ref = lossRef(kind, x, t, n, c, gradScale);
      if (ref.probs) expectClose(await probs.data(), ref.probs, 2e-6, 1, 'probs');
      const g = await grad.data();
      expectClose(g, ref.grad, 1e-5, gradScale / c, 'grad vs closed form');
      // central differences of the float64 forward (see test/loss.test.ts for the step and error analysis)
      expectClose(g, lossNumericGradRef(kind, x, t, n, c, gradScale), 1e-5, gradScale / c, 'grad vs numeric');
      const [lossSum, correct, count, nonFinite] = await stats.data();
      expect(Math.abs(lossSum! - ref.lossSum) / Math.max(ref.lossSum, 1)).toBeLessThan(1e-5);
      expect(Math.abs(correct! - ref.correct)).toBeLessThan(1e-4 * n);
      expect(count).toBe(n);
      expect(nonFinite).toBe(0);
      for (const v of [tx, tt, probs, grad, stats]) v.dispose();
    });
  });
});

// Sample weights (fit's classWeight/sampleWeight): each row's loss and gradient times its weight, mean still over n.
describe.each(KINDS)('%s with sample weights', (kind) => {
  it.each(['serial', 'tree'] as StatsVariant[])('stats %s: weighted rows against float64', async (statsVariant) => {
    const n = 33, c = 3;
    const x = kind === 'sigmoidCrossEntropy' ? randomUniform(n * c, 5, -4, 4) : randomUniform(n * c, 5, 0.02, 0.98);
    const t = targets(n, c, 6, false);
    const w = Float32Array.from(randomUniform(n, 7, 0, 3), (v, i) => (i % 4 === 1 ? 0 : v));
    const tx = engine.tensor([n, c], x), tt = engine.tensor([n, c], t), tw = engine.tensor([n], w);
    const probs = engine.tensor([n, c], nanArray(n * c)), grad = engine.tensor([n, c], nanArray(n * c)), stats = engine.zeros([4]);
    const o = { gradScale: 1 / n, statsVariant, weights: tw };
    await runOnce(engine, kind, (rec) => {
      if (kind === 'sigmoidCrossEntropy') sigmoidCrossEntropy(rec, tx, tt, probs, grad, stats, n, c, o);
      else binaryCrossEntropyFromProbs(rec, tx, tt, grad, stats, n, c, o);
    });
    const ref = lossRef(kind, x, t, n, c, 1 / n, false, w);
    expectClose(await grad.data(), ref.grad, 1e-5, 1 / n / c, 'weighted grad');
    const [lossSum] = await stats.data();
    expect(Math.abs(lossSum! - ref.lossSum) / Math.max(ref.lossSum, 1)).toBeLessThan(1e-5);
    expect(Math.abs(ref.lossSum - lossRef(kind, x, t, n, c, 1 / n).lossSum)).toBeGreaterThan(1e-3); // the weights matter
    for (const v of [tx, tt, tw, probs, grad, stats]) v.dispose();
  });
});

describe('extremes', () => {
  it('large logits stay finite and exact (no log(0)); clipped probabilities give Keras\' clipped loss and a zero gradient', async () => {
    const z = Float32Array.from([-100, -30, 0, 30, 100, 1e-6]);
    const t = Float32Array.from([1, 0, 1, 1, 0, 0]);
    const n = z.length;
    const tz = engine.tensor([n, 1], z), tt = engine.tensor([n, 1], t), probs = engine.tensor([n, 1], nanArray(n)), grad = engine.tensor([n, 1], nanArray(n)), stats = engine.zeros([4]);
    await runOnce(engine, 'bce extremes', (rec) => sigmoidCrossEntropy(rec, tz, tt, probs, grad, stats, n, 1, { gradScale: 1 }));
    const ref = lossRef('sigmoidCrossEntropy', z, t, n, 1, 1);
    const [lossSum, correct] = await stats.data();
    expect(Math.abs(lossSum! - ref.lossSum) / ref.lossSum).toBeLessThan(1e-6); // 100 + 0 + log 2 + ~0 + 100 + log 2
    expect(correct).toBe(ref.correct);
    expectClose(await grad.data(), ref.grad, 1e-6, 1);
    const p = Float32Array.from([0, 1, 1e-9, 0.5]), tp = Float32Array.from([1, 0, 0, 1]);
    const tx2 = engine.tensor([4, 1], p), tt2 = engine.tensor([4, 1], tp), g2 = engine.tensor([4, 1], nanArray(4)), s2 = engine.zeros([4]);
    await runOnce(engine, 'bce clip', (rec) => binaryCrossEntropyFromProbs(rec, tx2, tt2, g2, s2, 4, 1, { gradScale: 1 }));
    const ref2 = lossRef('binaryCrossEntropyFromProbs', p, tp, 4, 1, 1);
    expect(Math.abs((await s2.data())[0]! - ref2.lossSum) / ref2.lossSum).toBeLessThan(1e-5); // 2·(-log 1e-7) + ~0 + log 2
    expect(Array.from(await g2.data())).toEqual([0, 0, 0, -2]);
    for (const v of [tz, tt, probs, grad, stats, tx2, tt2, g2, s2]) v.dispose();
  });

  it('refuses sparse targets', async () => {
    const a = engine.tensor([2, 1], new Float32Array(2)), b = engine.tensor([2], new Uint32Array(2));
    await expect(runOnce(engine, 'bad', (rec) => sigmoidCrossEntropy(rec, a, b, a, null, null, 2, 1, { gradScale: 1, sparse: true }))).rejects.toThrow(/not sparse/);
    a.dispose();
    b.dispose();
  });
});

describe('binary_crossentropy in a model: [n, 1] float 0/1 labels', () => {
  it('fused (Dense sigmoid) and unfused (Activation sigmoid) agree, evaluate matches Keras\' formulas on predict, and it learns', async () => {
    const n = 64;
    const x = randomUniform(n * 3, 11);
    const y = Float32Array.from({ length: n }, (_, i) => (x[i * 3]! + 0.5 * x[i * 3 + 1]! > 0 ? 1 : 0));
    const results: number[][] = [];
    for (const fused of [true, false]) {
      resetLayerNames();
      const m = new Sequential(
        fused
          ? [new Dense({ units: 8, activation: 'relu', inputShape: [3] }), new Dense({ units: 1, activation: 'sigmoid' })]
          : [new Dense({ units: 8, activation: 'relu', inputShape: [3] }), new Dense({ units: 1 }), new Activation({ activation: 'sigmoid' })],
      );
      m.compile(engine, { optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'binary_crossentropy', metrics: ['binary_accuracy'], seed: 5 });
      expect(m.stepPlan!.fusedSigmoid).toBe(fused);
      const before = await m.evaluate(x, y);
      const p = await m.predict(x);
      let loss = 0, hits = 0;
      p.forEach((q, i) => {
        const c = Math.min(Math.max(q, 1e-7), 1 - 1e-7);
        loss -= y[i]! * Math.log(c) + (1 - y[i]!) * Math.log(1 - c);
        hits += (q > 0.5 ? 1 : 0) === y[i] ? 1 : 0;
      });
      expect(Math.abs(before[0]! - loss / n)).toBeLessThan(1e-5);
      expect(before[1]).toBeCloseTo(hits / n, 6);
      const h = await m.fit(x, y, { batchSize: 16, epochs: 60, verbose: 0 });
      results.push([...before, h.history.loss!.at(-1)!, h.history.binary_accuracy!.at(-1)!]); // logged under the metric's own name
      m.dispose();
    }
    // same seed, same weights: the two paths give the same losses (to float32 rounding) and both learn the split
    expect(Math.abs(results[0]![0]! - results[1]![0]!)).toBeLessThan(1e-5);
    for (const r of results) expect(r[3], JSON.stringify(results)).toBeGreaterThan(0.9);
  });
});
