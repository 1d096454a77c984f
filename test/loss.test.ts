import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { crossEntropyFromProbs, meanSquaredError, softmaxCrossEntropy, accuracy, type LossOptions, type StatsVariant } from '../src/kernels/loss.js';
import { activationForwardRef } from '../src/reference/activation.js';
import { lossNumericGradRef, lossRef, type LossKindRef } from '../src/reference/loss.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray, oneHot, randomLabels as labels } from './helpers/check.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
const measured: string[] = [];
afterAll(() => {
  console.log(`loss gradient checks (max |gpu - numeric| / max(|numeric|, gradScale)):\n  ${measured.join('\n  ')}`);
  engine?.dispose();
});

const KINDS: LossKindRef[] = ['softmaxCrossEntropy', 'crossEntropyFromProbs', 'meanSquaredError'];
const SHAPES: [number, number][] = [[1, 10], [3, 10], [33, 10], [127, 10], [7, 3], [5, 1]];


/** The kind's natural input: logits in [-3, 3], softmax probabilities of those, or predictions in [-1, 2]. */
function inputFor(kind: LossKindRef, n: number, c: number, seed: number): Float32Array {
  if (kind === 'meanSquaredError') return randomUniform(n * c, seed, -1, 2);
  // one class: softmax would give exactly 1, on the clip boundary where the one-sided gradient is undefined
  if (kind === 'crossEntropyFromProbs' && c === 1) return randomUniform(n, seed, 0.1, 0.9);
  const z = randomUniform(n * c, seed, -3, 3);
  return kind === 'softmaxCrossEntropy' ? z : Float32Array.from(activationForwardRef('softmax', z, n, c));
}

function record(kind: LossKindRef, x: Tensor, t: Tensor, probs: Tensor, grad: Tensor | null, stats: Tensor | null, n: number, c: number, o: LossOptions, on = engine) {
  return runOnce(on, kind, (rec) => {
    if (kind === 'softmaxCrossEntropy') softmaxCrossEntropy(rec, x, t, probs, grad, stats, n, c, o);
    else if (kind === 'crossEntropyFromProbs') crossEntropyFromProbs(rec, x, t, grad, stats, n, c, o);
    else meanSquaredError(rec, x, t, grad, stats, n, c, o);
  });
}

describe.each(KINDS)('%s', (kind) => {
  describe.each([false, true])('sparse=%s', (sparse) => {
    it.each(SHAPES)('matches float64, the numeric gradient and the stats for n=%i, c=%i', async (n, c) => {
      const x = inputFor(kind, n, c, n * 17 + c);
      const lab = labels(n, c, n + c * 3);
      const target = sparse ? lab : oneHot(lab, c);
      const gradScale = 1 / n;
      const tx = engine.tensor([n, c], x), tt = engine.tensor(sparse ? [n] : [n, c], target);
      const probs = engine.tensor([n, c], nanArray(n * c)), grad = engine.tensor([n, c], nanArray(n * c));
      const stats = engine.zeros([4]);
      await record(kind, tx, tt, probs, grad, stats, n, c, { gradScale, sparse });
      const ref = lossRef(kind, x, target, n, c, gradScale, sparse);
      if (kind === 'softmaxCrossEntropy') expectClose(await probs.data(), ref.probs!, 2e-6, 1, 'probs');
      const g = await grad.data();
      // the closed form in float64 on the same inputs: f32 rounding only (relative to the gradient's scale, 1/n)
      expectClose(g, ref.grad, 1e-5, gradScale, 'grad vs closed form');
      // Central differences of gradScale·Σ loss on the float64 forward, step 1e-5·max(|x|, 0.01): truncation
      // ~h²|f'''| < 1e-9 relative, rounding ~1e-16·|loss|/h < 1e-8. The GPU's f32 exp/log/division carry ~1e-7;
      // a bound of 1e-5 of the gradient's scale (gradScale, or |grad| where larger, e.g. -t/p at small p) leaves a
      // wide margin and still fails any wrong formula (a sign, a missing 1/c or 2, p instead of p - t).
      const num = lossNumericGradRef(kind, x, target, n, c, gradScale, sparse);
      const e = expectClose(g, num, 1e-5, gradScale, 'grad vs numeric');
      if (c === 10 && (n === 33 || n === 127)) measured.push(`${kind}${sparse ? ' sparse' : ''} ${n}x${c}: ${e.toExponential(2)}`);
      const [lossSum, correct, count, nonFinite] = await stats.data();
      expect(Math.abs(lossSum! - ref.lossSum) / Math.max(ref.lossSum, 1)).toBeLessThan(1e-5);
      expect(correct).toBe(ref.correct);
      expect(count).toBe(n);
      expect(nonFinite).toBe(0);
      for (const t of [tx, tt, probs, grad, stats]) t.dispose();
    });
  });

  it('accumulates stats over two calls, and leaves gradients alone when null', async () => {
    const c = 10, n1 = 33, n2 = 7;
    const stats = engine.zeros([4]);
    let want = 0, correct = 0;
    for (const [n, seed] of [[n1, 1], [n2, 2]] as const) {
      const x = inputFor(kind, n, c, seed), lab = labels(n, c, seed + 10);
      const tx = engine.tensor([n, c], x), tt = engine.tensor([n], lab), probs = engine.empty([n, c]);
      await record(kind, tx, tt, probs, null, stats, n, c, { gradScale: 1 / n, sparse: true });
      const ref = lossRef(kind, x, lab, n, c, 1 / n, true);
      want += ref.lossSum;
      correct += ref.correct;
      for (const t of [tx, tt, probs]) t.dispose();
    }
    const [lossSum, k, count, bad] = await stats.data();
    expect(Math.abs(lossSum! - want) / want).toBeLessThan(1e-5);
    expect([k, count, bad]).toEqual([correct, n1 + n2, 0]);
    stats.dispose();
  });

  it('is deterministic: the same inputs give bit-identical stats', async () => {
    const n = 127, c = 10;
    const x = inputFor(kind, n, c, 5), lab = labels(n, c, 6);
    const tx = engine.tensor([n, c], x), tt = engine.tensor([n], lab), probs = engine.empty([n, c]);
    const runs: number[][] = [];
    for (let i = 0; i < 2; i++) {
      const stats = engine.zeros([4]);
      await record(kind, tx, tt, probs, null, stats, n, c, { gradScale: 1 / n, sparse: true });
      runs.push(Array.from(await stats.data()));
      stats.dispose();
    }
    expect(runs[0]).toEqual(runs[1]);
    for (const t of [tx, tt, probs]) t.dispose();
  });

  it('sets nonFinite when an input is NaN or infinite', async () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const n = 3, c = 10;
      const x = inputFor(kind, n, c, 7);
      x[1 * c + 4] = bad; // row 1, not the target column
      const lab = Uint32Array.from([0, 0, 0]);
      const tx = engine.tensor([n, c], x), tt = engine.tensor([n], lab), probs = engine.empty([n, c]), stats = engine.zeros([4]);
      await record(kind, tx, tt, probs, null, stats, n, c, { gradScale: 1, sparse: true });
      const s = await stats.data();
      expect(s[3], `${kind} with ${bad}`).toBe(1);
      expect(s[2]).toBe(n);
      for (const t of [tx, tt, probs, stats]) t.dispose();
    }
  });
});

// Sample weights (Keras' sample_weight): each row's loss and gradient times its weight, the batch mean still over
// n (sum_over_batch_size); the correct count unweighted. Weights include 0 and values far from 1.
describe.each(['serial', 'tree'] as StatsVariant[])('sample weights (stats %s)', (statsVariant) => {
  describe.each(KINDS)('%s', (kind) => {
    it.each([[1, false], [7, true], [33, false], [257, true]] as [number, boolean][])('n=%i sparse=%s: weighted rows against float64', async (n, sparse) => {
      const c = 10;
      const x = inputFor(kind, n, c, n * 5 + 3), lab = labels(n, c, n + 4);
      const target = sparse ? lab : oneHot(lab, c);
      const w = Float32Array.from(randomUniform(n, n + 9, 0, 3), (v, i) => (i % 5 === 2 ? 0 : v));
      const tx = engine.tensor([n, c], x), tt = engine.tensor(sparse ? [n] : [n, c], target), tw = engine.tensor([n], w);
      const probs = engine.tensor([n, c], nanArray(n * c)), grad = engine.tensor([n, c], nanArray(n * c)), stats = engine.zeros([4]);
      await record(kind, tx, tt, probs, grad, stats, n, c, { gradScale: 1 / n, sparse, weights: tw, statsVariant });
      const ref = lossRef(kind, x, target, n, c, 1 / n, sparse, w);
      const plain = lossRef(kind, x, target, n, c, 1 / n, sparse);
      expectClose(await grad.data(), ref.grad, 1e-5, 1 / n, 'weighted grad');
      const [lossSum, correct, count, bad] = await stats.data();
      expect(Math.abs(lossSum! - ref.lossSum) / Math.max(ref.lossSum, 1)).toBeLessThan(1e-5);
      expect([correct, count, bad]).toEqual([plain.correct, n, 0]);
      // the weighting is really applied (not the unweighted sum by chance)
      if (n > 1) expect(Math.abs(ref.lossSum - plain.lossSum)).toBeGreaterThan(1e-3 * plain.lossSum);
      for (const t of [tx, tt, tw, probs, grad, stats]) t.dispose();
    });
  });

  it('rejects weights of the wrong size or dtype', async () => {
    const n = 3, c = 10;
    const tx = engine.zeros([n, c]), tt = engine.zeros([n], 'u32'), probs = engine.zeros([n, c]), short = engine.zeros([2]), ints = engine.zeros([n], 'u32');
    await expect(record('softmaxCrossEntropy', tx, tt, probs, null, null, n, c, { gradScale: 1, sparse: true, weights: short })).rejects.toThrow(/sample weights should hold 3 values/);
    await expect(record('softmaxCrossEntropy', tx, tt, probs, null, null, n, c, { gradScale: 1, sparse: true, weights: ints })).rejects.toThrow(/sample weights are f32/);
    for (const t of [tx, tt, probs, short, ints]) t.dispose();
  });
});

describe('softmax cross-entropy at extreme logits', () => {
  it('stays finite at ±80 and matches float64', async () => {
    const n = 7, c = 10;
    const x = randomUniform(n * c, 3, -1, 1).map((v) => (v > 0 ? 80 : -80) * (0.5 + Math.abs(v) / 2));
    x[0] = 80;
    x[1] = -80; // row 0's target (label 1) far below its max: a loss near 160
    const lab = labels(n, c, 4);
    lab[0] = 1;
    const tx = engine.tensor([n, c], x), tt = engine.tensor([n, c], oneHot(lab, c));
    const probs = engine.tensor([n, c], nanArray(n * c)), grad = engine.tensor([n, c], nanArray(n * c)), stats = engine.zeros([4]);
    await record('softmaxCrossEntropy', tx, tt, probs, grad, stats, n, c, { gradScale: 1 / n });
    const ref = lossRef('softmaxCrossEntropy', x, oneHot(lab, c), n, c, 1 / n);
    const p = await probs.data(), g = await grad.data(), s = await stats.data();
    expect([...p, ...g, ...s].every(Number.isFinite)).toBe(true);
    expectClose(p, ref.probs!, 1e-6);
    expectClose(g, ref.grad, 1e-6, 1 / n);
    expect(ref.lossSum).toBeGreaterThan(150);
    expect(Math.abs(s[0]! - ref.lossSum) / ref.lossSum).toBeLessThan(1e-5);
    expect(s[3]).toBe(0);
    for (const t of [tx, tt, probs, grad, stats]) t.dispose();
  });
});

describe('accuracy', () => {
  it('counts argmax matches with a zero loss', async () => {
    const n = 33, c = 10;
    const x = randomUniform(n * c, 8), lab = labels(n, c, 9);
    const tx = engine.tensor([n, c], x), tt = engine.tensor([n], lab), stats = engine.zeros([4]);
    await runOnce(engine, 'acc', (rec) => accuracy(rec, tx, tt, stats, n, c, { sparse: true }));
    expect(Array.from(await stats.data())).toEqual([0, lossRef('meanSquaredError', x, lab, n, c, 1, true).correct, n, 0]);
    for (const t of [tx, tt, stats]) t.dispose();
  });
});

// The GPU class's statistics ('tree': one row per invocation, fixed-order trees over workgroups and partials) and
// the software class's ('serial'), each forced on its own under the GPU class's workgroup size.
describe('statistics under the GPU class', () => {
  let gpu: Engine;
  beforeAll(async () => {
    gpu = await createEngine({ adapterClass: 'gpu' });
  });
  afterAll(() => gpu?.dispose());

  async function statsOf(kind: LossKindRef, x: Float32Array, target: Float32Array | Uint32Array, n: number, c: number, sparse: boolean, statsVariant: StatsVariant, withGrad = false) {
    const tx = gpu.tensor([n, c], x), tt = gpu.tensor(sparse ? [n] : [n, c], target);
    const probs = gpu.tensor([n, c], nanArray(n * c)), grad = withGrad ? gpu.tensor([n, c], nanArray(n * c)) : null, stats = gpu.zeros([4]);
    await record(kind, tx, tt, probs, grad, stats, n, c, { gradScale: 1 / n, sparse, statsVariant }, gpu);
    const out = { stats: await stats.data(), probs: await probs.data(), grad: grad ? await grad.data() : null };
    for (const t of [tx, tt, probs, grad, stats]) t?.dispose();
    return out;
  }

  describe.each(['tree', 'serial'] as StatsVariant[])('variant %s', (variant) => {
    describe.each(KINDS)('%s', (kind) => {
      it.each([1, 3, 7, 33, 127, 257, 784, 1000, 70001].flatMap((n) => [[n, false], [n, true]] as [number, boolean][]))(
        'matches float64 for n=%i (sparse=%s)', async (n, sparse) => {
          const c = 10;
          const x = inputFor(kind, n, c, n * 3 + 1);
          const lab = labels(n, c, n + 2);
          const target = sparse ? lab : oneHot(lab, c);
          const withGrad = n <= 1000;
          const { stats, probs, grad } = await statsOf(kind, x, target, n, c, sparse, variant, withGrad);
          const ref = lossRef(kind, x, target, n, c, 1 / n, sparse);
          if (withGrad) {
            expectClose(grad!, ref.grad, 1e-5, 1 / n, 'grad');
            if (kind === 'softmaxCrossEntropy') expectClose(probs, ref.probs!, 2e-6, 1, 'probs');
          }
          // f32 sums of n row losses carry ~sqrt(n) ulps; 1e-5 relative fails any lost or doubled row (>= 1/n).
          expect(Math.abs(stats[0]! - ref.lossSum) / Math.max(ref.lossSum, 1)).toBeLessThan(1e-5);
          expect([stats[1], stats[2], stats[3]]).toEqual([ref.correct, n, 0]);
        },
      );
    });

    it('flags a non-finite row anywhere in a long batch, and is bit-identical run to run', async () => {
      const n = 70001, c = 10;
      const x = inputFor('softmaxCrossEntropy', n, c, 11), lab = labels(n, c, 12);
      const a = await statsOf('softmaxCrossEntropy', x, lab, n, c, true, variant);
      const b = await statsOf('softmaxCrossEntropy', x, lab, n, c, true, variant);
      expect(Array.from(b.stats)).toEqual(Array.from(a.stats));
      expect(Buffer.from(b.stats.buffer).equals(Buffer.from(a.stats.buffer))).toBe(true);
      x[69_999 * c + 3] = NaN;
      const bad = await statsOf('softmaxCrossEntropy', x, lab, n, c, true, variant);
      expect([bad.stats[2], bad.stats[3]]).toEqual([n, 1]);
    });

    it('accuracy counts argmax matches with a zero loss over several levels', async () => {
      const n = 70001, c = 10;
      const x = randomUniform(n * c, 8), lab = labels(n, c, 9);
      const tx = gpu.tensor([n, c], x), tt = gpu.tensor([n], lab), stats = gpu.zeros([4]);
      await runOnce(gpu, 'acc', (rec) => accuracy(rec, tx, tt, stats, n, c, { sparse: true, statsVariant: variant }));
      expect(Array.from(await stats.data())).toEqual([0, lossRef('meanSquaredError', x, lab, n, c, 1, true).correct, n, 0]);
      for (const t of [tx, tt, stats]) t.dispose();
    });
  });

  it.each([128, 1024, 1 << 20])('plan rules at batch %i: tree stats, no serial loop over 4096', (n) => {
    const c = 10;
    const x = gpu.zeros([n, c]), t = gpu.zeros([n], 'u32'), probs = gpu.zeros([n, c]), grad = gpu.zeros([n, c]), stats = gpu.zeros([4]);
    const plan = planOf(gpu, (rec) => {
      softmaxCrossEntropy(rec, x, t, probs, grad, stats, n, c, { gradScale: 1 / n, sparse: true });
      crossEntropyFromProbs(rec, probs, t, grad, stats, n, c, { gradScale: 1 / n, sparse: true });
      meanSquaredError(rec, probs, t, grad, stats, n, c, { gradScale: 1 / n, sparse: true });
      accuracy(rec, probs, t, stats, n, c, { sparse: true });
    });
    const stages = expectPlanRules(plan, `loss at batch ${n}`).filter((d) => d.label.includes('stats') || d.label.includes('accuracy'));
    expect(stages.every((d) => d.cost!.variant === 'tree')).toBe(true);
    for (const u of [x, t, probs, grad, stats]) u.dispose();
  });
});
