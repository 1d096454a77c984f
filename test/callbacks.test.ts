// The callbacks' decisions (Keras 3 semantics) on made-up logs and a stand-in model: early stopping's epoch and
// restored weights, ReduceLROnPlateau's rate sequence against a float64 re-implementation of Keras' code,
// learningRateScheduler, csvLogger, modelCheckpoint's saveBestOnly and file names, and the errors each gives
// before training. test/fit-control.test.ts runs them inside a real fit.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/node.js'; // fills in the folder and file hooks (modelFolders, csvFiles)
import { callbackList, csvLogger, earlyStopping, formatFilepath, learningRateScheduler, modelCheckpoint, modelFolders, monitorDirection, reduceLROnPlateau, terminateOnNaN } from '../src/model/callbacks.js';
import type { CallbackModel, Callbacks, Logs, NamedWeights, TrainingParams } from '../src/model/history.js';
import { mulberry32 } from '../src/reference/random.js';

/** A stand-in for the model: weights that change every epoch, and a learning rate held as f32 as the GPU holds it. */
class FakeModel implements CallbackModel {
  stopTraining = false;
  epoch = 0;
  private lr: number;
  readonly optimizer: { learningRate: number };
  weights: NamedWeights = [{ name: 'w', shape: [3], values: new Float32Array([0, 0, 0]) }];
  constructor(lr = 0.01) {
    this.lr = Math.fround(lr);
    const self = this;
    this.optimizer = {
      get learningRate() {
        return self.lr;
      },
      set learningRate(v: number) {
        self.lr = Math.fround(v);
      },
    };
  }
  async getWeights(): Promise<NamedWeights> {
    return this.weights.map((w) => ({ ...w, values: w.values.slice() }));
  }
  setWeights(w: NamedWeights): void {
    this.weights = w.map((x) => ({ ...x, values: x.values.slice() }));
  }
}

const PARAMS: TrainingParams = { epochs: 100, steps: 10, batchSize: 32, metrics: ['loss', 'accuracy', 'lr', 'val_loss', 'val_accuracy'] };

/** fit's lifecycle over the given per-epoch logs: returns the epochs run; weights get a distinct value per epoch. */
async function run(model: FakeModel, cbs: Callbacks[], epochLogs: Logs[], params = PARAMS): Promise<number> {
  for (const c of cbs) c.setModel?.(model);
  for (const c of cbs) c.setParams?.(params);
  model.stopTraining = false;
  for (const c of cbs) await c.onTrainBegin?.();
  let epoch = 0;
  for (; epoch < epochLogs.length && !model.stopTraining; epoch++) {
    for (const c of cbs) await c.onEpochBegin?.(epoch);
    for (let b = 0; b < params.steps; b++) for (const c of cbs) await c.onBatchEnd?.(b);
    model.weights = [{ name: 'w', shape: [3], values: new Float32Array([epoch, epoch * 0.1, -epoch]) }];
    const logs = { ...epochLogs[epoch]!, lr: model.optimizer.learningRate };
    for (const c of cbs) await c.onEpochEnd?.(epoch, logs);
  }
  for (const c of cbs) await c.onTrainEnd?.();
  return epoch;
}

const losses = (...v: number[]): Logs[] => v.map((val_loss) => ({ loss: val_loss, val_loss }));

describe('earlyStopping', () => {
  it('stops after `patience` epochs without improvement and restores the best epoch bit for bit', async () => {
    const m = new FakeModel();
    const es = earlyStopping({ patience: 2, restoreBestWeights: true });
    // best at epoch 1; epochs 2 and 3 do not improve: stop at epoch 3 (4 epochs run)
    expect(await run(m, [es], losses(1, 0.5, 0.6, 0.7, 0.4, 0.3))).toBe(4);
    expect(es.stoppedEpoch).toBe(3);
    expect(es.bestEpoch).toBe(1);
    expect(m.weights[0]!.values).toEqual(new Float32Array([1, Math.fround(0.1), -1]));
  });

  it('restores at the end of training even without an early stop (Keras 3)', async () => {
    const m = new FakeModel();
    const es = earlyStopping({ patience: 5, restoreBestWeights: true });
    expect(await run(m, [es], losses(1, 0.2, 0.6, 0.7))).toBe(4);
    expect(es.stoppedEpoch).toBe(0);
    expect(m.weights[0]!.values[0]).toBe(1);
  });

  it('without restoreBestWeights keeps the last weights', async () => {
    const m = new FakeModel();
    await run(m, [earlyStopping({ patience: 1 })], losses(1, 0.5, 0.6));
    expect(m.weights[0]!.values[0]).toBe(2);
  });

  it('minDelta: a smaller change is no improvement (its sign does not matter)', async () => {
    for (const minDelta of [0.1, -0.1]) {
      const es = earlyStopping({ patience: 1, minDelta });
      expect(await run(new FakeModel(), [es], losses(1, 0.95, 0.5))).toBe(2);
      expect(es.stoppedEpoch).toBe(1);
    }
  });

  it("mode 'auto' maximizes accuracies; 'max' and 'min' as given", async () => {
    const acc = [0.5, 0.7, 0.69, 0.68, 0.9].map((val_accuracy) => ({ val_accuracy }));
    const es = earlyStopping({ monitor: 'val_accuracy', patience: 2 });
    expect(await run(new FakeModel(), [es], acc)).toBe(4);
    expect(es.best).toBe(0.7);
    expect(monitorDirection('x', 'val_sparse_categorical_accuracy', 'auto')).toBe('max');
    expect(monitorDirection('x', 'precision', 'auto')).toBe('max');
    expect(monitorDirection('x', 'val_loss', 'auto')).toBe('min');
    expect(monitorDirection('x', 'accuracy', 'min')).toBe('min');
  });

  it('baseline: improving on the best but not on the baseline does not restart the wait', async () => {
    const es = earlyStopping({ patience: 2, baseline: 0.5 });
    // epoch 0 improves on inf (wait stays 1), epoch 1 does not improve: wait 2 >= patience
    expect(await run(new FakeModel(), [es], losses(0.9, 0.95, 0.96, 0.1))).toBe(2);
    const below = earlyStopping({ patience: 1, baseline: 0.5 });
    expect(await run(new FakeModel(), [below], losses(0.4, 0.3, 0.2, 0.1))).toBe(4);
  });

  it('startFromEpoch: epochs before it are not monitored', async () => {
    const es = earlyStopping({ patience: 1, startFromEpoch: 3 });
    expect(await run(new FakeModel(), [es], losses(1, 2, 3, 4, 5, 6))).toBe(5);
    expect(es.stoppedEpoch).toBe(4);
  });

  it('an instance serves a second fit from a clean state', async () => {
    const m = new FakeModel();
    const es = earlyStopping({ patience: 1, restoreBestWeights: true });
    await run(m, [es], losses(0.1, 0.2));
    expect(await run(m, [es], losses(5, 4, 3, 4))).toBe(4);
    expect(es.best).toBe(3);
  });

  it('a monitor fit never logs, an unknown direction or a bad argument: errors before training', () => {
    const es = earlyStopping({ monitor: 'val_los' });
    expect(() => es.setParams(PARAMS)).toThrow(/monitor "val_los" is never logged by this fit; it logs loss, accuracy, lr, val_loss, val_accuracy/);
    expect(() => earlyStopping().setParams({ ...PARAMS, metrics: ['loss', 'accuracy'] })).toThrow(/Pass validationData or validationSplit/);
    expect(() => earlyStopping({ monitor: 'my_score' }).setParams({ ...PARAMS, metrics: ['loss', 'my_score'] })).toThrow(/pass mode: 'min' or mode: 'max'/);
    expect(() => earlyStopping({ mode: 'up' as 'max' })).toThrow(/mode must be/);
    expect(() => earlyStopping({ patience: -1 })).toThrow(/patience must be a whole number/);
  });
});

/**
 * Keras 3's ReduceLROnPlateau.on_epoch_end in float64, written from its source line by line; the learning rate is
 * an f32 variable there (read back as float, compared with float32(min_lr)).
 */
function reduceLrReference(values: number[], o: { lr: number; factor: number; patience: number; minDelta: number; cooldown: number; minLr: number; mode: 'min' | 'max' }): number[] {
  let lr = Math.fround(o.lr);
  let best = o.mode === 'min' ? Infinity : -Infinity;
  let wait = 0;
  let cooldownCounter = 0;
  const out: number[] = [];
  for (const current of values) {
    out.push(lr); // the rate the epoch ran with
    if (cooldownCounter > 0) {
      cooldownCounter -= 1;
      wait = 0;
    }
    if (o.mode === 'min' ? current < best - o.minDelta : current > best + o.minDelta) {
      best = current;
      wait = 0;
    } else if (!(cooldownCounter > 0)) {
      wait += 1;
      if (wait >= o.patience) {
        const oldLr = lr;
        if (oldLr > Math.fround(o.minLr)) {
          lr = Math.fround(Math.max(oldLr * o.factor, o.minLr));
          cooldownCounter = o.cooldown;
          wait = 0;
        }
      }
    }
  }
  return out;
}

describe('reduceLROnPlateau', () => {
  // a noisy descent with plateaus, 127 epochs
  const rand = mulberry32(7);
  const series = Array.from({ length: 127 }, (_, i) => 1 / (1 + Math.floor(i / 9)) + 0.02 * rand());
  it.each([
    { factor: 0.5, patience: 1, minDelta: 1e-4, cooldown: 0, minLr: 0 },
    { factor: 0.1, patience: 3, minDelta: 0.01, cooldown: 2, minLr: 1e-5 },
    { factor: 0.2, patience: 0, minDelta: 0, cooldown: 1, minLr: 0.0004 },
    { factor: 0.7, patience: 2, minDelta: -0.005, cooldown: 0, minLr: 0 },
  ])('the rate sequence equals Keras in float64: %o', async (o) => {
    const m = new FakeModel(0.01);
    const seen: number[] = [];
    const spy: Callbacks = { onEpochEnd: (_e, logs) => void seen.push(logs.lr!) };
    const cb = reduceLROnPlateau(o);
    await run(m, [spy, cb], series.map((val_loss) => ({ val_loss })));
    const want = reduceLrReference(series, { lr: 0.01, mode: 'min', ...o });
    expect(seen).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(2); // the test exercises several reductions
  });

  it("mode 'auto' maximizes a name holding 'acc' (Keras' rule for this callback)", async () => {
    const acc = [0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7];
    const m = new FakeModel(0.1);
    const seen: number[] = [];
    await run(m, [{ onEpochEnd: (_e, l) => void seen.push(l.lr!) }, reduceLROnPlateau({ monitor: 'val_accuracy', patience: 2, factor: 0.5 })], acc.map((val_accuracy) => ({ val_accuracy })));
    expect(seen).toEqual(reduceLrReference(acc, { lr: 0.1, factor: 0.5, patience: 2, minDelta: 1e-4, cooldown: 0, minLr: 0, mode: 'max' }));
  });

  it('errors: factor >= 1, a monitor never logged, a schedule as the rate', async () => {
    expect(() => reduceLROnPlateau({ factor: 1 })).toThrow(/factor must be in \(0, 1\)/);
    expect(() => reduceLROnPlateau({ monitor: 'val_acc' }).setParams(PARAMS)).toThrow(/never logged/);
    const m = new FakeModel();
    (m as { optimizer: unknown }).optimizer = { learningRate: () => 0.1 };
    const cb = reduceLROnPlateau();
    cb.setModel(m);
    expect(() => cb.onTrainBegin()).toThrow(/schedule, whose rate is not settable/);
  });
});

describe('learningRateScheduler', () => {
  it('sets each epoch rate from fn(epoch, lr) before the epoch runs', async () => {
    const m = new FakeModel(0.1);
    const seen: number[] = [];
    await run(m, [learningRateScheduler((e, lr) => (e < 2 ? lr : lr * Math.exp(-0.1))), { onEpochEnd: (_e, l) => void seen.push(l.lr!) }], losses(1, 1, 1, 1, 1));
    let lr = Math.fround(0.1);
    const want = [0, 1, 2, 3, 4].map((e) => (lr = e < 2 ? lr : Math.fround(lr * Math.exp(-0.1))));
    expect(seen).toEqual(want);
  });

  it('a non-positive or non-number rate stops fit naming the epoch', async () => {
    await expect(run(new FakeModel(), [learningRateScheduler((e) => (e === 2 ? 0 : 0.1))], losses(1, 1, 1, 1))).rejects.toThrow(/returned 0 for epoch 2/);
    await expect(run(new FakeModel(), [learningRateScheduler(() => NaN)], losses(1))).rejects.toThrow(/returned NaN for epoch 0/);
  });
});

describe('csvLogger', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sf-csv-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a sink: header "epoch" + sorted log names (val_ names expected from the start), NA for a missing value', async () => {
    let text = '';
    const logs: Logs[] = [{ loss: 0.5, accuracy: 0.8 }, { loss: 0.25, accuracy: 0.9, val_loss: 0.3 }];
    await run(new FakeModel(), [csvLogger({ write: (t) => void (text += t) })], logs, { ...PARAMS, metrics: ['loss', 'accuracy', 'lr', 'val_loss'] });
    const lr = String(Math.fround(0.01));
    expect(text).toBe(`epoch,accuracy,loss,lr,val_loss\n0,0.8,0.5,${lr},NA\n1,0.9,0.25,${lr},0.3\n`);
  });

  it('a file: overwritten by default; with append, rows added and the header written only to an empty file', async () => {
    const f = join(dir, 'sub', 'log.csv');
    await run(new FakeModel(), [csvLogger(f)], losses(1, 0.5));
    await run(new FakeModel(), [csvLogger(f, { append: true })], losses(0.25));
    const lines = (await readFile(f, 'utf8')).trim().split('\n');
    expect(lines.map((l) => l.split(',')[0])).toEqual(['epoch', '0', '1', '0']);
    await run(new FakeModel(), [csvLogger(f, { separator: ';' })], losses(0.125));
    expect((await readFile(f, 'utf8')).split('\n')[0]).toBe('epoch;loss;lr;val_loss;val_accuracy'); // PARAMS logs val_accuracy too: Keras adds it to the header
    const empty = join(dir, 'empty.csv');
    await writeFile(empty, '');
    await run(new FakeModel(), [csvLogger(empty, { append: true })], losses(1));
    expect((await readFile(empty, 'utf8')).startsWith('epoch,')).toBe(true);
  });
});

describe('modelCheckpoint', () => {
  /** Swaps the folder hook for a recorder of what would be written. */
  async function withSaves(fn: (saves: { dir: string; weightsOnly: boolean; w: number }[]) => Promise<void>): Promise<void> {
    const real = modelFolders.save;
    const saves: { dir: string; weightsOnly: boolean; w: number }[] = [];
    modelFolders.save = async (model, dir, o) => void saves.push({ dir, weightsOnly: o.weightsOnly, w: (await (model as unknown as FakeModel).getWeights())[0]!.values[0]! });
    try {
      await fn(saves);
    } finally {
      modelFolders.save = real;
    }
  }

  it('saveBestOnly writes only on an improvement of the monitor, with the epoch (1-based) and logs in the name', () =>
    withSaves(async (saves) => {
      const cb = modelCheckpoint({ filepath: 'ckpt/e{epoch:02d}-{val_loss:.2f}', saveBestOnly: true });
      await run(new FakeModel(), [cb], losses(0.9, 0.7, 0.8, 0.7, 0.6, 0.61));
      expect(saves.map((s) => s.dir)).toEqual(['ckpt/e01-0.90', 'ckpt/e02-0.70', 'ckpt/e05-0.60']);
      expect(saves.map((s) => s.w)).toEqual([0, 1, 4]); // the weights of the epoch that improved
      expect(cb.best).toBe(0.6);
    }));

  it('without saveBestOnly every epoch; saveFreq in batches; saveWeightsOnly passed on; initialValueThreshold', () =>
    withSaves(async (saves) => {
      await run(new FakeModel(), [modelCheckpoint({ filepath: 'all', saveWeightsOnly: true })], losses(1, 2, 3));
      expect(saves.map((s) => [s.dir, s.weightsOnly])).toEqual([['all', true], ['all', true], ['all', true]]);
      saves.length = 0;
      await run(new FakeModel(), [modelCheckpoint({ filepath: 'b{epoch}-{batch}', saveFreq: 4 })], losses(1, 2), { ...PARAMS, steps: 10 });
      // 20 batches over two epochs, a save after every 4th: counted across the epoch boundary as Keras does
      expect(saves.map((s) => s.dir)).toEqual(['b1-4', 'b1-8', 'b2-2', 'b2-6', 'b2-10']);
      saves.length = 0;
      await run(new FakeModel(), [modelCheckpoint({ filepath: 'x', saveBestOnly: true, initialValueThreshold: 0.5 })], losses(0.9, 0.6, 0.4));
      expect(saves.map((s) => s.w)).toEqual([2]);
    }));

  it('errors before training: a monitor never logged, saveBestOnly per batch, a folder without the Node entry', async () => {
    expect(() => modelCheckpoint({ filepath: 'x', saveBestOnly: true, monitor: 'val_acc' }).setParams(PARAMS)).toThrow(/never logged/);
    expect(() => modelCheckpoint({ filepath: 'x', saveBestOnly: true, saveFreq: 5 }).setParams(PARAMS)).toThrow(/use saveFreq: 'epoch'/);
    expect(() => modelCheckpoint({ filepath: 'x', saveFreq: 0 })).toThrow(/saveFreq must be/);
    const real = modelFolders.save;
    modelFolders.save = undefined;
    try {
      expect(() => modelCheckpoint({ filepath: 'x' }).setParams(PARAMS)).toThrow(/needs the Node entry point; in a browser pass an object with save/);
    } finally {
      modelFolders.save = real;
    }
  });

  it('formatFilepath: Python format specs', () => {
    expect(formatFilepath('m-{epoch:03d}-{val_loss:.4f}-{acc}-{lr:.2e}', { epoch: 7, val_loss: 0.123456, acc: 0.5, lr: 0.00123 })).toBe('m-007-0.1235-0.5-1.23e-3');
    expect(() => formatFilepath('{nope}', { epoch: 1 })).toThrow(/names \{nope\}, which is not logged/);
  });
});

describe('terminateOnNaN and the callback list', () => {
  it('marks the NaN guard mode; a single callback or an array', () => {
    expect(terminateOnNaN().nanGuard).toBe('stop');
    expect(terminateOnNaN({ raiseError: true }).nanGuard).toBe('raise');
    const one = { onEpochEnd() {} };
    expect(callbackList(one)).toEqual([one]);
    expect(callbackList([one, one])).toHaveLength(2);
    expect(callbackList(undefined)).toEqual([]);
  });
});
