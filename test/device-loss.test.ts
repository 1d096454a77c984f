// Recovery from a lost device (fit's recoverFromDeviceLoss): `engine.device.destroy()` from a callback mid-fit;
// fit opens a new engine, compiles the model on it, reloads the last checkpoint and finishes. The final weights
// must equal, bit for bit, those of an uninterrupted run with the same seed and checkpoint schedule (max
// difference 0), with dropout and shuffling on and Adam's state restored.
import { describe, expect, it } from 'vitest';
import {
  Conv2D, createEngine, Dense, DeviceError, Dropout, Flatten, MaxPooling2D, optimizers, resetLayerNames, Sequential,
  type Checkpoint, type DeviceLossInfo, type Engine, type NamedValues,
} from '../src/index.js';
import { mulberry32 } from '../src/reference/random.js';

const N = 101; // 7 batches of 16 (the last one 5)
const r = mulberry32(5);
const images = new Uint8Array(N * 9 * 9).map(() => Math.floor(r() * 256));
const labels = new Uint8Array(N).map(() => Math.floor(r() * 3));
const x = { images, shape: [N, 9, 9, 1] };

function build(): Sequential {
  resetLayerNames();
  return new Sequential([
    new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [9, 9, 1] }),
    new MaxPooling2D({ poolSize: 2 }),
    new Flatten(),
    new Dropout({ rate: 0.3 }),
    new Dense({ units: 3, activation: 'softmax' }),
  ]);
}

const quiet = { isTTY: false, write: () => {} };

async function train(opts: {
  loseAt?: { epoch: number; batch: number }[];
  recover?: number;
  checkpointEvery?: number;
  withCheckpointer?: boolean;
  notes?: string[];
  infos?: DeviceLossInfo[];
}): Promise<{ weights: NamedValues[]; saved: Checkpoint[]; history: Record<string, number[]>; engine: Engine; first: Engine; trainBegins: number; epochBegins: number[] }> {
  const first = await createEngine();
  const model = build();
  model.compile(first, { optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 11 });
  const saved: Checkpoint[] = [];
  const loseAt = [...(opts.loseAt ?? [])];
  let epochNow = 0;
  let trainBegins = 0;
  const epochBegins: number[] = [];
  const h = await model.fit(x, labels, {
    batchSize: 16,
    epochs: 3,
    validationSplit: 0.1,
    sink: opts.notes ? { isTTY: false, write: (s) => opts.notes!.push(s) } : quiet,
    checkpoint: opts.withCheckpointer === false ? undefined : { everySteps: opts.checkpointEvery, save: async (c) => void saved.push(c) },
    checkpointEvery: opts.checkpointEvery,
    recoverFromDeviceLoss: opts.recover,
    onDeviceLost: (info) => void opts.infos?.push(info),
    callbacks: {
      onTrainBegin: () => void trainBegins++,
      onEpochBegin: (e) => void epochBegins.push((epochNow = e)),
      onBatchEnd: (b) => {
        if (loseAt.length && loseAt[0]!.epoch === epochNow && loseAt[0]!.batch === b) {
          loseAt.shift();
          model.engine!.device.destroy();
        }
      },
    },
  });
  const weights = await model.getWeights();
  const engine = model.engine!;
  model.dispose();
  engine.dispose();
  first.dispose();
  return { weights, saved, history: h.history, engine, first, trainBegins, epochBegins };
}

function maxDiff(a: NamedValues[], b: NamedValues[]): number {
  expect(a.map((w) => w.name)).toEqual(b.map((w) => w.name));
  let d = 0;
  a.forEach((w, i) => w.values.forEach((v, j) => (d = Math.max(d, Object.is(v, b[i]!.values[j]) ? 0 : Math.abs(v - b[i]!.values[j]!) || Infinity))));
  return d;
}

describe('recoverFromDeviceLoss', () => {
  let reference: Awaited<ReturnType<typeof train>>;

  it('a lost device mid-epoch: a new engine, the last checkpoint, the same final weights (max difference 0)', async () => {
    reference = await train({ checkpointEvery: 2 });
    const notes: string[] = [];
    const infos: DeviceLossInfo[] = [];
    const run = await train({ checkpointEvery: 2, recover: 2, loseAt: [{ epoch: 1, batch: 4 }], notes, infos });
    expect(infos).toHaveLength(1);
    expect(infos[0]!.attempt).toBe(1);
    expect(infos[0]!.attempts).toBe(2);
    expect(infos[0]!.reason).toMatch(/destroyed/);
    // batch index 4 ended (5 done): the last checkpoint was saved after 4 batches of epoch 2
    expect(infos[0]!.resumeAt).toEqual({ epoch: 1, batch: 4 });
    expect(run.engine).not.toBe(run.first);
    expect(notes.join('')).toMatch(/Device lost \(destroyed[^)]*\); recovered on a new engine \(1\/2\), continuing from epoch 2, batch 4/);
    // the callbacks continue: no second onTrainBegin, no second onEpochBegin for the epoch resumed mid-way
    expect(run.trainBegins).toBe(1);
    expect(run.epochBegins).toEqual([0, 1, 2]);
    expect(maxDiff(run.weights, reference.weights)).toBe(0);
    expect(run.history).toEqual(reference.history);
    // the resumed fit saved the same checkpoints again from where it resumed
    const key = (c: Checkpoint) => `${c.epoch}:${c.batch}`;
    expect([...new Set(run.saved.map(key))]).toEqual(reference.saved.map(key));
  });

  it('without a checkpointer: in-memory epoch-end checkpoints, or the fit start before the first; two losses', async () => {
    const infos: DeviceLossInfo[] = [];
    const run = await train({ withCheckpointer: false, recover: 2, loseAt: [{ epoch: 0, batch: 2 }, { epoch: 2, batch: 1 }], infos });
    expect(infos.map((i) => i.resumeAt)).toEqual([null, { epoch: 2, batch: 0 }]);
    expect(maxDiff(run.weights, reference.weights)).toBe(0);
    expect(run.history).toEqual(reference.history);
  });

  it('more losses than allowed reject with a DeviceError', async () => {
    await expect(train({ recover: 1, loseAt: [{ epoch: 0, batch: 1 }, { epoch: 0, batch: 3 }] })).rejects.toThrow(DeviceError);
    await expect(train({ recover: 1, loseAt: [{ epoch: 0, batch: 1 }, { epoch: 0, batch: 3 }] })).rejects.toThrow(/lost \(destroyed.*2 times; recoverFromDeviceLoss allows 1/);
  });
});
