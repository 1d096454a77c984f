// Metrics through compile / fit / evaluate: each value against the CPU reference computed from predict(), the
// confusion matrix against the reference from the same predictions, logs and History keys per epoch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Dense, Engine, resetLayerNames, sequential, type Checkpoint, type MetricArg } from '../src/index.js';
import { toArtifacts, fromArtifacts } from '../src/model/io.js';
import type { MetricCountSpec } from '../src/kernels/metrics.js';
import { confusionMatrixRef, metricCountsRef } from '../src/reference/metrics.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

/** n examples of `features` floats; the class is a noisy function of the features so a short fit learns a little. */
function data(n: number, features: number, classes: number, seed: number) {
  const x = randomUniform(n * features, seed, -1, 1);
  const r = mulberry32(seed + 1);
  const labels = Uint8Array.from({ length: n }, (_, i) => (Math.abs(Math.floor((x[i * features]! + 1) * classes * 0.5 + r() * 2)) % classes));
  return { x: { data: x, shape: [n, features] }, labels };
}

function model(features: number, classes: number, activation: 'softmax' | 'sigmoid' | 'linear' = 'softmax') {
  resetLayerNames();
  return sequential([new Dense({ units: 16, activation: 'relu', inputShape: [features] }), new Dense({ units: classes, activation })]);
}

const value = (counts: number[], i: number) => (counts[2 * i + 1] === 0 ? 0 : counts[2 * i]! / counts[2 * i + 1]!);

function argmaxAccuracy(probs: Float32Array, labels: ArrayLike<number>, c: number): number {
  const m = confusionMatrixRef(probs, labels, labels.length, c, true);
  let trace = 0;
  for (let k = 0; k < c; k++) trace += m[k * c + k]!;
  return trace / labels.length;
}

describe.each([
  ['categorical_crossentropy', 13],
  ['sparse_categorical_crossentropy', 10],
  ['mean_squared_error', 3],
] as const)('%s with %i classes', (loss, c) => {
  const metrics: MetricArg[] = [
    'accuracy',
    { name: 'top_k_categorical_accuracy', k: 3, logAs: 'top3' },
    'sparse_top_k_categorical_accuracy',
    'binary_accuracy',
    'precision',
    'recall',
    { name: 'precision', classId: 1, threshold: 0.2, logAs: 'precision_1' },
    { name: 'recall', classId: 1, threshold: 0.2, logAs: 'recall_1' },
  ];
  const specs: MetricCountSpec[] = [
    { kind: 'topK', k: 3 },
    { kind: 'topK', k: 5 },
    { kind: 'binary' },
    { kind: 'precision' },
    { kind: 'recall' },
    { kind: 'precision', classId: 1, threshold: 0.2 },
    { kind: 'recall', classId: 1, threshold: 0.2 },
  ];
  const keys = ['top3', 'sparse_top_k_categorical_accuracy', 'binary_accuracy', 'precision', 'recall', 'precision_1', 'recall_1'];

  it('fit logs every metric and its val_ twin per epoch; evaluate equals the references on predict(); the confusion matrix too', async () => {
    const features = 7;
    const train = data(300, features, c, 1);
    const test = data(257, features, c, 2);
    const m = model(features, c, loss === 'mean_squared_error' ? 'linear' : 'softmax');
    m.compile(engine, { optimizer: 'adam', loss, metrics, seed: 3 });
    expect(m.metrics).toEqual(['accuracy', ...keys]);
    const history = await m.fit(train.x, train.labels, { epochs: 2, batchSize: 32, validationSplit: 0.2 });
    const want = ['loss', 'accuracy', ...keys];
    expect(Object.keys(history.history).sort()).toEqual([...want, ...want.map((k) => `val_${k}`), 'lr'].sort()); // lr: each epoch's learning rate
    for (const k of Object.keys(history.history)) expect(history.history[k], k).toHaveLength(2);

    const probs = await m.predict(test.x, { batchSize: 64 });
    const n = test.labels.length;
    const oneHot = new Float32Array(n * c);
    test.labels.forEach((k, r) => (oneHot[r * c + k] = 1));
    const ref = metricCountsRef(probs, oneHot, n, c, specs, false);
    const logs = await m.evaluate(test.x, test.labels, { batchSize: 32, returnDict: true });
    expect(Object.keys(logs)).toEqual(want);
    keys.forEach((k, i) => expect(logs[k], k).toBe(value(ref, i)));
    expect(logs.accuracy).toBeCloseTo(argmaxAccuracy(probs, test.labels, c), 12);
    // the references are not trivially 0 or 1 (the checks can fail)
    expect(keys.filter((_, i) => value(ref, i) > 0 && value(ref, i) < 1).length).toBeGreaterThanOrEqual(3);

    const report = await m.evaluate(test.x, test.labels, { batchSize: 50, confusionMatrix: true });
    const cm = report.confusionMatrix;
    expect(cm.flat()).toEqual(confusionMatrixRef(probs, test.labels, n, c, true));
    expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(n);
    expect(report.logs).toEqual(logs);
    expect((await m.confusionMatrix(test.x, test.labels, { batchSize: 1000 })).flat()).toEqual(cm.flat());
    // [loss, accuracy] stays the default
    const [l, a] = await m.evaluate(test.x, test.labels, { batchSize: 32 });
    expect([l, a]).toEqual([logs.loss, logs.accuracy]);
    m.dispose();
  });
});

describe('metrics on one output and through save/load', () => {
  it("'accuracy' on a single sigmoid output is binary accuracy at 0.5", async () => {
    const n = 129, features = 5;
    const { x } = data(n, features, 2, 7);
    const targets = Float32Array.from({ length: n }, (_, i) => (x.data[i * features]! > 0 ? 1 : 0));
    const m = model(features, 1, 'sigmoid');
    m.compile(engine, { optimizer: 'adam', loss: 'mse', metrics: ['accuracy', 'precision', 'recall'], seed: 1 });
    await m.fit(x, targets, { epochs: 3, batchSize: 16 });
    const probs = await m.predict(x);
    const ref = metricCountsRef(probs, targets, n, 1, [{ kind: 'binary' }, { kind: 'precision' }, { kind: 'recall' }], false);
    const logs = await m.evaluate(x, targets, { returnDict: true });
    expect([logs.accuracy, logs.precision, logs.recall]).toEqual([0, 1, 2].map((i) => value(ref, i)));
    // the binary confusion matrix: target > 0.5 against output > 0.5
    const cm = await m.confusionMatrix(x, targets, { batchSize: 50 });
    expect(cm.flat()).toEqual(confusionMatrixRef(probs, targets, n, 1, false));
    expect(cm[0]![0]! + cm[1]![1]!).toBe(Math.round(logs.accuracy! * n));
    m.dispose();
  });

  it('model.json keeps the metric configs; the loaded model logs the same keys and values', async () => {
    const { x, labels } = data(64, 4, 5, 9);
    const m = model(4, 5);
    const metrics: MetricArg[] = ['acc', { name: 'top_k_categorical_accuracy', k: 2, logAs: 'top2' }, 'recall'];
    m.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', metrics });
    const before = await m.evaluate(x, labels, { returnDict: true });
    const art = await toArtifacts(m);
    expect(art.modelJson.trainingConfig!.metrics).toEqual(metrics);
    const loaded = fromArtifacts(engine, JSON.parse(JSON.stringify(art.modelJson)), art.weights);
    expect(loaded.metrics).toEqual(['accuracy', 'top2', 'recall']);
    expect(await loaded.evaluate(x, labels, { returnDict: true })).toEqual(before);
    m.dispose();
    loaded.dispose();
  });
});

describe('metric counts through a checkpoint', () => {
  it('a fit resumed mid-epoch logs the same metric values as the uninterrupted one', async () => {
    const { x, labels } = data(96, 6, 4, 21);
    const metrics: MetricArg[] = ['accuracy', 'precision', 'recall', { name: 'top_k_categorical_accuracy', k: 2 }];
    const run = async (o: { stopAt?: number; resume?: Checkpoint }) => {
      const m = model(6, 4);
      m.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics, seed: 5 });
      const saved: Checkpoint[] = [];
      let batches = 0;
      const history = await m.fit(x, labels, {
        batchSize: 8, epochs: 2, verbose: 0, seed: 5, resume: o.resume,
        checkpoint: { everySteps: 3, save: async (c) => void saved.push(structuredClone(c)) },
        callbacks: { onBatchEnd: () => void (++batches === o.stopAt && (m.stopTraining = true)) },
      });
      m.dispose();
      return { history: history.history, saved };
    };
    const full = await run({});
    const stopped = await run({ stopAt: 17 }); // epoch 2 (12 batches each), batch 5: the checkpoint after batch 3 of epoch 2
    const mid = stopped.saved.filter((c) => c.epoch === 1 && c.batch > 0).pop()!;
    expect(mid.stats).toHaveLength(4 + 2 * 3); // the loss statistics, then (precision, recall, top-2) counts
    const resumed = await run({ resume: mid });
    expect(resumed.history).toEqual(full.history);
    expect(Object.keys(full.history).sort()).toEqual(['accuracy', 'loss', 'lr', 'precision', 'recall', 'top_k_categorical_accuracy']);
  });
});
