// Training control inside a real fit: the learning rate changed between batches (by hand, by a schedule, by
// ReduceLROnPlateau) reaches the GPU exactly and without re-recording; early stopping on a made plateau stops at
// Keras' epoch and restores the best weights bit for bit; saveBestOnly saves exactly the improving epochs;
// classWeight and sampleWeight against a hand-weighted loss in float64; terminateOnNaN; csvLogger; the errors fit
// gives before training.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callbacks, createEngine, Dense, Engine, fromArtifacts, NumericError, optimizers, Recorder, resetLayerNames, schedules, Sequential, toArtifacts, type Callbacks } from '../src/node.js';
import { sequentialForwardRef } from '../src/reference/model.js';
import { mulberry32 } from '../src/reference/random.js';

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await createEngine();
  dir = await mkdtemp(join(tmpdir(), 'sf-fit-control-'));
});
afterAll(async () => {
  engine?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const FEATURES = 7;
const CLASSES = 3;

/** A learnable toy problem: the class is the argmax of three noisy feature sums. */
function toy(n: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const r = mulberry32(seed);
  const x = new Float32Array(n * FEATURES), y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * CLASSES);
    y[i] = c;
    for (let j = 0; j < FEATURES; j++) x[i * FEATURES + j] = r() * 2 - 1 + (j % CLASSES === c ? 0.8 : 0);
  }
  return { x, y };
}

/** Dense(5, relu) → Dense(3, softmax), compiled with `optimizer` (seeded). */
function model(optimizer: optimizers.OptimizerSpec | string = optimizers.sgd({ learningRate: 0.1 }), seed = 3): Sequential {
  resetLayerNames();
  const m = new Sequential([new Dense({ units: 5, activation: 'relu', inputShape: [FEATURES] }), new Dense({ units: CLASSES, activation: 'softmax' })]);
  return m.compile(engine, { optimizer, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed });
}

type W = { name: string; shape: number[]; values: Float32Array }[];
const flat = (w: W) => w.flatMap((t) => Array.from(t.values));

describe('the learning rate between batches', () => {
  it('model.optimizer.learningRate set in onBatchEnd applies from the next step exactly, with nothing re-recorded', async () => {
    const m = model(optimizers.sgd({ learningRate: 0.1 }));
    const { x, y } = toy(33, 1);
    const lrs = [0.1, 0.02, 0.5, 0.003, 0.25, 0.07]; // batch k runs with lrs[k] (epochs of 3 batches of 11)
    const before: W[] = [];
    let dispatches = -1;
    const spy = vi.spyOn(Recorder.prototype, 'dispatch');
    try {
      let step = 0;
      const cb: Callbacks = {
        onEpochBegin: async () => void (step === 0 && before.push(await m.getWeights())),
        onBatchEnd: async () => {
          step++;
          if (step === 1) dispatches = spy.mock.calls.length; // every batch size recorded by now
          // the update of the step just run: w_after = w_before - lr·g (SGD), in float64 on the GPU's own gradients
          const [after, grads] = [await m.getWeights(), await m.getGradients()];
          const lr = Math.fround(lrs[step - 1]!);
          const w0 = flat(before[before.length - 1]!), g = flat(grads), w1 = flat(after);
          for (let i = 0; i < w0.length; i++) expect(Math.abs(w1[i]! - (w0[i]! - lr * g[i]!)), `step ${step}, weight ${i}`).toBeLessThanOrEqual(2 ** -22 * Math.max(1, Math.abs(w0[i]!)));
          before.push(after);
          expect(m.optimizer!.learningRate).toBe(lr);
          if (step < lrs.length) m.optimizer!.learningRate = lrs[step]!;
        },
      };
      const h = await m.fit(x, y, { batchSize: 11, epochs: 2, shuffle: false, verbose: 0, callbacks: cb });
      expect(spy.mock.calls.length).toBe(dispatches); // the rate changes recorded nothing
      // History.lr: the rate each epoch's last step used
      expect(h.lr).toEqual([Math.fround(lrs[2]!), Math.fround(lrs[5]!)]);
    } finally {
      spy.mockRestore();
      m.dispose();
    }
  });

  it('a schedule as learningRate: step k runs with schedule(k); History.lr is each epoch end\'s rate', async () => {
    const schedule = schedules.exponentialDecay({ initialLearningRate: 0.2, decaySteps: 2, decayRate: 0.5 });
    const m = model(optimizers.sgd({ learningRate: schedule }));
    const { x, y } = toy(21, 2);
    let prev = flat(await m.getWeights());
    let k = 0;
    const cb: Callbacks = {
      onBatchEnd: async () => {
        const w = flat(await m.getWeights()), g = flat(await m.getGradients());
        const lr = Math.fround(schedule(k++));
        for (let i = 0; i < w.length; i++) expect(Math.abs(w[i]! - (prev[i]! - lr * g[i]!))).toBeLessThanOrEqual(2 ** -22 * Math.max(1, Math.abs(prev[i]!)));
        prev = w;
      },
    };
    const h = await m.fit(x, y, { batchSize: 7, epochs: 3, shuffle: false, verbose: 0, callbacks: cb });
    expect(k).toBe(9);
    expect(h.lr).toEqual([2, 5, 8].map((s) => Math.fround(schedule(s))));
    expect(() => (m.optimizer!.learningRate = 0.1)).toThrow(/not settable/);
    m.dispose();
  });

  it('a schedule is saved in model.json as its Keras config and read back; a set rate is saved as the current one', async () => {
    const schedule = schedules.cosineDecay({ initialLearningRate: 0.01, decaySteps: 100, warmupTarget: 0.05, warmupSteps: 10 });
    const m = model(optimizers.adam({ learningRate: schedule }));
    const a = await toArtifacts(m);
    expect(a.modelJson.trainingConfig!.optimizer_config.config.learning_rate).toEqual({ class_name: 'CosineDecay', config: schedule.getConfig!() });
    const back = fromArtifacts(engine, JSON.parse(JSON.stringify(a.modelJson)), a.weights);
    expect((back.optimizer as { schedule?: unknown }).schedule).toBeDefined();
    expect(back.optimizer!.learningRate).toBe(Math.fround(schedule(0)));
    back.dispose();
    m.dispose();
    const c = model(optimizers.sgd({ learningRate: 0.1 }));
    c.optimizer!.learningRate = 0.025;
    expect((await toArtifacts(c)).modelJson.trainingConfig!.optimizer_config.config.learning_rate).toBe(Math.fround(0.025));
    c.dispose();
  });

  it('a schedule that yields a negative rate, a non-positive rate set by hand: errors before any step', async () => {
    const m = model(optimizers.sgd({ learningRate: Object.assign((s: number) => (s === 4 ? -1 : 0.1), { className: 'Bad' }) }));
    const w0 = flat(await m.getWeights());
    const { x, y } = toy(10, 3);
    await expect(m.fit(x, y, { batchSize: 5, epochs: 3, verbose: 0 })).rejects.toThrow(/Bad gives the learning rate -1 at optimizer step 4/);
    expect(flat(await m.getWeights())).toEqual(w0);
    m.dispose();
    const m2 = model();
    expect(() => (m2.optimizer!.learningRate = 0)).toThrow(/finite number > 0/);
    m2.dispose();
  });
});

describe('earlyStopping in fit', () => {
  it('on a made plateau: stops at the epoch Keras stops and restores the best epoch bit for bit', async () => {
    const m = model(optimizers.sgd({ learningRate: 0.3 }));
    const train = toy(64, 4), val = toy(31, 5);
    const snapshots: W[] = [];
    // the plateau: epoch 3 overshoots (rate 50: worse weights), then a rate so small the f32 weights cannot
    // change, so val_loss repeats exactly from epoch 3 on and the best epoch's weights differ from the last ones
    const freeze = callbacks.learningRateScheduler((epoch, lr) => (epoch === 3 ? 50 : epoch > 3 ? 1e-30 : lr));
    const snap: Callbacks = { onEpochEnd: async () => void snapshots.push(await m.getWeights()) };
    const es = callbacks.earlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    const h = await m.fit(train.x, train.y, { batchSize: 16, epochs: 20, validationData: [val.x, val.y], verbose: 0, callbacks: [freeze, snap, es] });
    const vl = h.val_loss;
    // Keras' rule in float64 on the logged values: stop when `patience` epochs pass without beating the best
    let best = Infinity, wait = 0, bestEpoch = 0, stopped = -1;
    for (let e = 0; e < vl.length && stopped < 0; e++) {
      wait++;
      if (vl[e]! < best) [best, bestEpoch, wait] = [vl[e]!, e, 0];
      else if (wait >= 2 && e > 0) stopped = e;
    }
    expect(vl.slice(3).every((v) => v === vl[3])).toBe(true); // the plateau is exact
    expect(stopped).toBeGreaterThan(0);
    expect(h.epoch.length).toBe(stopped + 1);
    expect(es.stoppedEpoch).toBe(stopped);
    expect(es.bestEpoch).toBe(bestEpoch);
    const restored = await m.getWeights();
    expect(restored.map((w) => Array.from(w.values))).toEqual(snapshots[bestEpoch]!.map((w) => Array.from(w.values)));
    expect(bestEpoch).toBeLessThan(3);
    expect(flat(restored)).not.toEqual(flat(snapshots[stopped]!));
    m.dispose();
  });

  it('a monitor fit never logs: an error before training, the weights untouched', async () => {
    const m = model();
    const w0 = flat(await m.getWeights());
    const { x, y } = toy(10, 6);
    await expect(m.fit(x, y, { epochs: 2, verbose: 0, callbacks: [callbacks.earlyStopping()] })).rejects.toThrow(/monitor "val_loss" is never logged by this fit; it logs loss, accuracy, lr/);
    await expect(m.fit(x, y, { epochs: 2, verbose: 0, callbacks: callbacks.reduceLROnPlateau({ monitor: 'val_accuracy' }), validationSplit: 0.5 })).resolves.toBeDefined();
    const w1 = flat(await m.getWeights());
    expect(w1).not.toEqual(w0); // the second fit trained
    await expect(m.fit(x, y, { epochs: 1, verbose: 0, callbacks: [callbacks.modelCheckpoint({ filepath: join(dir, 'x'), saveBestOnly: true, monitor: 'accuracy_', mode: 'max' })] })).rejects.toThrow(/never logged/);
    expect(flat(await m.getWeights())).toEqual(w1);
    m.dispose();
  });
});

describe('modelCheckpoint in fit', () => {
  it('saveBestOnly writes exactly the epochs whose val_loss improved, each a loadable model folder', async () => {
    const m = model(optimizers.sgd({ learningRate: 0.5 }));
    const train = toy(40, 7), val = toy(17, 8);
    const ck = callbacks.modelCheckpoint({ filepath: join(dir, 'best', 'e{epoch:02d}'), saveBestOnly: true });
    // a rate that jumps up and down makes val_loss go both ways
    const wobble = callbacks.learningRateScheduler((e) => [0.5, 3, 0.05, 4, 0.01, 2, 0.2][e]!);
    const h = await m.fit(train.x, train.y, { batchSize: 8, epochs: 7, validationData: [val.x, val.y], verbose: 0, callbacks: [wobble, ck] });
    let best = Infinity;
    const want: string[] = [];
    h.val_loss.forEach((v, e) => v < best && ((best = v), want.push(`e${String(e + 1).padStart(2, '0')}`)));
    expect(want.length).toBeGreaterThan(0);
    expect(want.length).toBeLessThan(7); // some epochs did not improve
    expect((await readdir(join(dir, 'best'))).sort()).toEqual(want);
    expect((await readdir(join(dir, 'best', want[0]!))).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'weights.bin']);
    m.dispose();
  });
});

describe('reduceLROnPlateau in fit', () => {
  it("History.lr equals Keras' rate sequence computed in float64 from the logged val_loss", async () => {
    const m = model(optimizers.adam({ learningRate: 0.05 }));
    const train = toy(48, 9), val = toy(23, 10);
    const h = await m.fit(train.x, train.y, { batchSize: 16, epochs: 12, validationData: [val.x, val.y], verbose: 0, callbacks: [callbacks.reduceLROnPlateau({ patience: 1, factor: 0.5, minDelta: 0.01 })] });
    let lr = Math.fround(0.05), best = Infinity, wait = 0;
    const want: number[] = [];
    for (const v of h.val_loss) {
      want.push(lr);
      if (v < best - 0.01) [best, wait] = [v, 0];
      else if (++wait >= 1) [lr, wait] = [Math.fround(lr * 0.5), 0];
    }
    expect(h.lr).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(1);
    m.dispose();
  });
});

/** Per-example cross-entropy of the model's current weights, in float64. */
async function exampleLosses(m: Sequential, x: Float32Array, y: Uint8Array): Promise<Float64Array> {
  const weights = new Map((await m.getWeights()).map((w) => [w.name, w.values]));
  const p = sequentialForwardRef(m.layers, weights, x, y.length);
  return Float64Array.from(y, (c, i) => -Math.log(Math.min(Math.max(p[i * CLASSES + c]!, 1e-7), 1 - 1e-7)));
}

describe('classWeight and sampleWeight', () => {
  it('the logged loss is Σ wᵢ·lossᵢ / N (the batch size, not Σ w), as Keras reduces it', async () => {
    const { x, y } = toy(37, 11);
    const classWeight = { 0: 0.25, 2: 4 }; // class 1 not named: weight 1
    const m = model(optimizers.sgd({ learningRate: 1e-30 })); // a rate too small to move the f32 weights: the loss is at the start weights
    const l = await exampleLosses(m, x, y);
    const w = Array.from(y, (c) => (c === 0 ? 0.25 : c === 2 ? 4 : 1));
    const want = l.reduce((s, li, i) => s + w[i]! * li, 0) / y.length;
    const h = await m.fit(x, y, { batchSize: 37, epochs: 1, verbose: 0, classWeight });
    expect(Math.abs(h.loss[0]! - want) / want).toBeLessThan(2e-6);
    const unweighted = l.reduce((s, v) => s + v, 0) / y.length;
    expect(Math.abs(want - unweighted) / unweighted).toBeGreaterThan(0.05); // the weights matter here
    m.dispose();
  });

  it('the update is the gradient of the weighted loss: classWeight equals the same sampleWeight bit for bit, and a weight 0 removes an example', async () => {
    const { x, y } = toy(29, 12);
    const classWeight = { 0: 2, 1: 0.5, 2: 0 };
    const sampleWeight = Float32Array.from(y, (c) => classWeight[c as 0 | 1 | 2]);
    const run = async (o: object) => {
      const m = model(optimizers.sgd({ learningRate: 0.2 }));
      const h = await m.fit(x, y, { batchSize: 10, epochs: 2, verbose: 0, seed: 5, ...o });
      const w = flat(await m.getWeights());
      m.dispose();
      return { h, w };
    };
    const a = await run({ classWeight }), b = await run({ sampleWeight });
    expect(b.w).toEqual(a.w);
    expect(b.h.loss).toEqual(a.h.loss);
    // weight 0 for every example: a zero gradient, the weights stay where they started
    const m = model(optimizers.sgd({ learningRate: 0.2 }));
    const w0 = flat(await m.getWeights());
    await m.fit(x, y, { batchSize: 10, epochs: 1, verbose: 0, sampleWeight: new Float32Array(y.length) });
    expect(flat(await m.getWeights())).toEqual(w0);
    m.dispose();
    const plain = await run({});
    expect(plain.w).not.toEqual(a.w);
  });

  it('errors before training: both options, a wrong length, a class the model lacks, a negative weight', async () => {
    const m = model();
    const { x, y } = toy(10, 13);
    await expect(m.fit(x, y, { verbose: 0, classWeight: { 0: 1 }, sampleWeight: new Float32Array(10) })).rejects.toThrow(/cannot be given together/);
    await expect(m.fit(x, y, { verbose: 0, sampleWeight: new Float32Array(9) })).rejects.toThrow(/9 values for 10 training examples/);
    await expect(m.fit(x, y, { verbose: 0, classWeight: { 3: 1 } })).rejects.toThrow(/classes 0..2/);
    await expect(m.fit(x, y, { verbose: 0, classWeight: { 1: -2 } })).rejects.toThrow(/finite numbers >= 0/);
    m.dispose();
  });
});

describe('terminateOnNaN and csvLogger in fit', () => {
  it('terminateOnNaN stops gracefully (fit returns, onTrainEnd runs); raiseError throws the NumericError', async () => {
    const { x, y } = toy(20, 14);
    x[5 * FEATURES + 2] = NaN;
    const m = model();
    let ended = false;
    const h = await m.fit(x, y, { batchSize: 5, epochs: 4, shuffle: false, verbose: 0, callbacks: [callbacks.terminateOnNaN(), { onTrainEnd: () => void (ended = true) }] });
    expect(ended).toBe(true);
    expect(h.epoch).toEqual([0]);
    expect(h.loss).toHaveLength(1); // the epoch in which it stopped is logged, as Keras logs it
    expect(flat(await m.getWeights()).some((v) => !Number.isFinite(v))).toBe(true); // it stopped for the NaN
    await expect(m.fit(x, y, { batchSize: 5, epochs: 4, verbose: 0, callbacks: [callbacks.terminateOnNaN({ raiseError: true })] })).rejects.toThrow(NumericError);
    m.dispose();
  });

  it('csvLogger writes one row per epoch with the rate', async () => {
    const { x, y } = toy(20, 15);
    const m = model();
    const f = join(dir, 'log.csv');
    await m.fit(x, y, { batchSize: 5, epochs: 3, verbose: 0, validationSplit: 0.25, callbacks: [callbacks.csvLogger(f)] });
    const lines = (await readFile(f, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('epoch,accuracy,loss,lr,val_accuracy,val_loss');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['0', '1', '2']);
    expect(lines[1]!.split(',')[3]).toBe(String(Math.fround(0.1)));
    m.dispose();
  });
});
