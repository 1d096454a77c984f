import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { StatsVariant } from '../src/kernels/loss.js';
import { confusionMatrix, metricCounts, type MetricCountSpec } from '../src/kernels/metrics.js';
import { activationForwardRef } from '../src/reference/activation.js';
import { confusionMatrixRef, metricCountsRef } from '../src/reference/metrics.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';
import { oneHot, randomLabels as labels } from './helpers/check.js';
import { metricLogs, resolveMetrics } from '../src/model/metrics.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

/** Softmax probabilities of random logits, with a few exact ties (copied entries) so first-max and in_top_k ties are exercised. */
function probabilities(n: number, c: number, seed: number): Float32Array {
  const p = Float32Array.from(activationForwardRef('softmax', randomUniform(n * c, seed, -3, 3), n, c));
  const r = mulberry32(seed + 1);
  for (let i = 0; i < n; i += 5) if (c > 1) p[i * c + 1] = p[i * c + Math.floor(r() * c)]!;
  return p;
}

const METRICS: MetricCountSpec[] = [
  { kind: 'topK', k: 1 },
  { kind: 'topK', k: 3 },
  { kind: 'binary' },
  { kind: 'binary', threshold: 0.2 },
  { kind: 'precision' },
  { kind: 'recall' },
  { kind: 'precision', threshold: 0.1, classId: 2 },
  { kind: 'recall', threshold: 0.1, classId: 2 },
];

async function counts(on: Engine, pred: Float32Array, target: Uint32Array | Float32Array, n: number, c: number, metrics: MetricCountSpec[], sparse: boolean, variant?: StatsVariant, initial?: Uint32Array) {
  const tp = on.tensor([n, c], pred), tt = on.tensor(sparse ? [n] : [n, c], target);
  const stats = initial ? on.tensor([2 * metrics.length], initial) : on.zeros([2 * metrics.length], 'u32');
  await runOnce(on, 'metrics', (rec) => metricCounts(rec, tp, tt, stats, n, c, metrics, { sparse, variant }));
  const out = Array.from(await stats.data<Uint32Array>());
  for (const t of [tp, tt, stats]) t.dispose();
  return out;
}

async function confusion(on: Engine, pred: Float32Array, target: Uint32Array | Float32Array, n: number, c: number, sparse: boolean, chunk?: number, initial?: Uint32Array) {
  const tp = on.tensor([n, c], pred), tt = on.tensor(sparse ? [n] : [n, c], target);
  const k = c === 1 ? 2 : c;
  const matrix = initial ? on.tensor([k, k], initial) : on.zeros([k, k], 'u32');
  await runOnce(on, 'confusion', (rec) => confusionMatrix(rec, tp, tt, matrix, n, c, { sparse, chunk }));
  const out = Array.from(await matrix.data<Uint32Array>());
  for (const t of [tp, tt, matrix]) t.dispose();
  return out;
}

const CASES: [number, number][] = [[1, 3], [7, 10], [257, 13], [1000, 10], [33, 3]];

// Both adapter classes' variants, each forced under its own class's workgroup size.
describe.each([
  ['software', 'serial'],
  ['gpu', 'tree'],
  ['gpu', 'serial'],
] as const)('adapter class %s, counts %s', (adapterClass, variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ adapterClass });
  });
  afterAll(() => engine?.dispose());

  describe.each([false, true])('sparse=%s', (sparse) => {
    it.each(CASES)('metric counts equal the reference for n=%i, c=%i', async (n, c) => {
      const pred = probabilities(n, c, n * 7 + c);
      const lab = labels(n, c, n + 3 * c);
      const target = sparse ? lab : oneHot(lab, c);
      const metrics = METRICS.filter((m) => (m.classId ?? 0) < c);
      expect(await counts(engine, pred, target, n, c, metrics, sparse, variant)).toEqual(metricCountsRef(pred, target, n, c, metrics, sparse));
    });

    it.each(CASES)('the confusion matrix equals the reference for n=%i, c=%i', async (n, c) => {
      const pred = probabilities(n, c, n * 5 + c);
      const lab = labels(n, c, n + 7 * c);
      const target = sparse ? lab : oneHot(lab, c);
      const m = await confusion(engine, pred, target, n, c, sparse);
      expect(m).toEqual(confusionMatrixRef(pred, target, n, c, sparse));
      expect(m.reduce((a, b) => a + b, 0)).toBe(n);
    });
  });

  it('accumulates into what the buffers hold, over chunks and levels (n = 70001)', async () => {
    const n = 70001, c = 10;
    const pred = probabilities(n, c, 3), lab = labels(n, c, 4);
    const initial = Uint32Array.from({ length: 2 * METRICS.length }, (_, i) => 1000 + i);
    const want = metricCountsRef(pred, lab, n, c, METRICS, true).map((v, i) => v + initial[i]!);
    expect(await counts(engine, pred, lab, n, c, METRICS, true, variant, initial)).toEqual(want);
    const m0 = Uint32Array.from({ length: c * c }, (_, i) => i);
    const wantM = confusionMatrixRef(pred, lab, n, c, true).map((v, i) => v + i);
    expect(await confusion(engine, pred, lab, n, c, true, undefined, m0)).toEqual(wantM);
    expect(await confusion(engine, pred, lab, n, c, true, 777, m0)).toEqual(wantM);
  });

  it('NaN and infinite predictions: in_top_k misses the row, thresholds see NaN as negative, argmax skips NaN', async () => {
    const n = 7, c = 10;
    const pred = probabilities(n, c, 11);
    const lab = labels(n, c, 12);
    pred[0 * c + 4] = NaN;
    pred[1 * c + lab[1]!] = NaN; // the target's own prediction
    pred[2 * c + 0] = NaN; // index 0: argmax stays 0
    pred[3 * c + 5] = Infinity;
    pred[4 * c + 6] = -Infinity;
    const ref = metricCountsRef(pred, lab, n, c, METRICS, true);
    expect(await counts(engine, pred, lab, n, c, METRICS, true, variant)).toEqual(ref);
    // rows 0-4 cannot be in the top k: at most 2 of 7 hits for any k
    expect(ref[2]).toBeLessThanOrEqual(2);
    expect(await confusion(engine, pred, lab, n, c, true)).toEqual(confusionMatrixRef(pred, lab, n, c, true));
  });

  it('labels outside [0, c) count in no cell and in no top-k hit', async () => {
    const n = 5, c = 3;
    const pred = probabilities(n, c, 21);
    const lab = Uint32Array.from([0, 3, 2, 99, 1]);
    const m = await confusion(engine, pred, lab, n, c, true);
    expect(m.reduce((a, b) => a + b, 0)).toBe(3);
    expect(m).toEqual(confusionMatrixRef(pred, lab, n, c, true));
    const spec: MetricCountSpec[] = [{ kind: 'topK', k: 3 }, { kind: 'recall' }];
    expect(await counts(engine, pred, lab, n, c, spec, true, variant)).toEqual([3, 5, ...metricCountsRef(pred, lab, n, c, [spec[1]!], true)]);
  });

  it('binary accuracy on sigmoid outputs with 0/1 targets (c = 1), precision 0/0 stays 0/0', async () => {
    const n = 257, c = 1;
    const pred = randomUniform(n, 31, 0, 1);
    const target = Float32Array.from(labels(n, 2, 32));
    const spec: MetricCountSpec[] = [{ kind: 'binary' }, { kind: 'precision', threshold: 2 }, { kind: 'recall' }];
    const got = await counts(engine, pred, target, n, c, spec, false, variant);
    expect(got).toEqual(metricCountsRef(pred, target, n, c, spec, false));
    expect(got[3]).toBe(0); // nothing is above 2
    // one output: a 2x2 matrix of target > 0.5 against prediction > 0.5 (NaN: negative)
    pred[3] = NaN;
    const m = await confusion(engine, pred, target, n, c, false, 100);
    expect(m).toEqual(confusionMatrixRef(pred, target, n, c, false));
    expect(m.reduce((a, b) => a + b, 0)).toBe(n);
    const sparse01 = Uint32Array.from(target);
    sparse01[0] = 2; // no class of a binary classifier: not counted
    expect(await confusion(engine, pred, sparse01, n, c, true)).toEqual(confusionMatrixRef(pred, sparse01, n, c, true));
  });
});

describe('kernel arguments and plans', () => {
  let gpu: Engine;
  beforeAll(async () => {
    gpu = await createEngine({ adapterClass: 'gpu' });
  });
  afterAll(() => gpu?.dispose());

  it('rejects bad specs and shapes before recording', async () => {
    const p = gpu.zeros([4, 3]), t = gpu.zeros([4], 'u32'), s = gpu.zeros([2], 'u32'), f = gpu.zeros([2]);
    await runOnce(gpu, 'bad', (rec) => {
      expect(() => metricCounts(rec, p, t, s, 4, 3, [{ kind: 'topK', k: 0 }], { sparse: true })).toThrow(/k >= 1/);
      expect(() => metricCounts(rec, p, t, s, 4, 3, [{ kind: 'recall', classId: 3 }], { sparse: true })).toThrow(/classId 3/);
      expect(() => metricCounts(rec, p, t, f, 4, 3, [{ kind: 'recall' }], { sparse: true })).toThrow(/u32 tensor of 2 counts/);
      expect(() => metricCounts(rec, p, t, s, 4, 3, [], { sparse: true })).toThrow(/1 to 8 metrics/);
      expect(() => confusionMatrix(rec, p, t, s, 4, 3, { sparse: true })).toThrow(/9 counts/);
      expect(() => confusionMatrix(rec, p, p, gpu.zeros([3, 3], 'u32'), 4, 3, { sparse: true })).toThrow(/class indices/);
    });
    for (const u of [p, t, s, f]) u.dispose();
  });

  it.each([128, 1024, 1 << 20])('plan rules at batch %i under the GPU class: no serial loop over 4096', (n) => {
    const c = 10;
    const x = gpu.zeros([n, c]), t = gpu.zeros([n], 'u32'), s = gpu.zeros([2 * METRICS.length], 'u32'), m = gpu.zeros([c, c], 'u32');
    const plan = planOf(gpu, (rec) => {
      metricCounts(rec, x, t, s, n, c, METRICS, { sparse: true });
      confusionMatrix(rec, x, t, m, n, c, { sparse: true });
    });
    const d = expectPlanRules(plan, `metrics at batch ${n}`);
    expect(d.filter((e) => e.label.startsWith('metrics.counts')).every((e) => e.cost!.variant === 'tree')).toBe(true);
    for (const u of [x, t, s, m]) u.dispose();
  });
});

describe('resolveMetrics (compile names)', () => {
  it("maps Keras' names and options to loss-stat accuracies and one set of counted specs", () => {
    const set = resolveMetrics(['acc', 'categorical_accuracy', { name: 'top_k_categorical_accuracy', k: 3, logAs: 'top3' }, 'top_k_categorical_accuracy', 'precision', 'recall', { name: 'precision', classId: 2, logAs: 'precision_2' }], { loss: 'categorical_crossentropy', classes: 10 });
    expect(set.metrics.map((m) => m.key)).toEqual(['accuracy', 'categorical_accuracy', 'top3', 'top_k_categorical_accuracy', 'precision', 'recall', 'precision_2']);
    expect(set.metrics.map((m) => m.source)).toEqual(['loss', 'loss', 0, 1, 2, 3, 4]);
    expect(set.counted).toEqual([{ kind: 'topK', k: 3 }, { kind: 'topK', k: 5 }, { kind: 'precision', threshold: 0.5 }, { kind: 'recall', threshold: 0.5 }, { kind: 'precision', threshold: 0.5, classId: 2 }]);
    expect(metricLogs(set, { correct: 3, count: 4 }, [1, 2, 2, 2, 0, 0, 3, 4, 5, 10], 'val_')).toEqual({
      val_accuracy: 0.75, val_categorical_accuracy: 0.75, val_top3: 0.5, val_top_k_categorical_accuracy: 1, val_precision: 0, val_recall: 0.75, val_precision_2: 0.5,
    });
  });

  it("'accuracy' is binary accuracy for one output or binary cross-entropy; duplicates share one count", () => {
    expect(resolveMetrics(['accuracy', 'binary_accuracy'], { loss: 'mean_squared_error', classes: 1 }).counted).toEqual([{ kind: 'binary', threshold: 0.5 }]);
    // binary cross-entropy's loss statistics count binary accuracy at 0.5 (shaders/loss.wgsl): reused
    const bce = resolveMetrics(['accuracy', 'binary_accuracy', { name: 'binary_accuracy', threshold: 0.3, logAs: 'ba3' }], { loss: 'binary_crossentropy', classes: 4 });
    expect(bce.metrics.map((m) => m.source)).toEqual(['loss', 'loss', 0]);
    expect(() => resolveMetrics(['categorical_accuracy'], { loss: 'binary_crossentropy', classes: 4 })).toThrow(/binary matches/);
  });

  it('rejects unknown names, misplaced options, repeated or reserved keys', () => {
    const ctx = { loss: 'categorical_crossentropy', classes: 10 };
    expect(() => resolveMetrics(['f1' as never], ctx)).toThrow(/Unknown metric "f1"/);
    expect(() => resolveMetrics([{ name: 'precision', k: 3 }], ctx)).toThrow(/k is a whole number/);
    expect(() => resolveMetrics([{ name: 'accuracy', threshold: 0.3 }], ctx)).toThrow(/threshold/);
    expect(() => resolveMetrics([{ name: 'recall', classId: 10 }], ctx)).toThrow(/classId is a class index in 0..9/);
    expect(() => resolveMetrics(['precision', 'precision'], ctx)).toThrow(/already hold "precision"/);
    expect(() => resolveMetrics([{ name: 'recall', logAs: 'val_x' }], ctx)).toThrow(/reserved/);
  });
});
