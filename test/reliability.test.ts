// Reliability (issue 8): the NaN guard, device loss, flat memory and freed buffers, device-limit checks before
// allocation, validation errors that name the kernel, determinism of fit/evaluate/predict, and untrusted model
// files refused with a typed error before the GPU is touched.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEngine,
  Conv2D,
  Dense,
  DeviceError,
  Dropout,
  Engine,
  Flatten,
  fileCheckpointer,
  Layer,
  fromArtifacts,
  loadModel,
  MaxPooling2D,
  ModelFormatError,
  NumericError,
  optimizers,
  readCheckpoint,
  Recorder,
  resetLayerNames,
  runOnce,
  saveModel,
  Sequential,
  ShaderflowError,
  ShapeError,
  toArtifacts,
  type MemoryReport,
  type ModelJson,
} from '../src/node.js';
import { firstNonFinite, flagNonFinite } from '../src/kernels/finite.js';
import { parseModelJson } from '../src/model/io.js';
import { mulberry32 } from '../src/reference/random.js';

let engine: Engine;
const engines: Engine[] = []; // lost engines stay referenced to the end (their GPU instances must not be collected)
let tmp: string;
beforeAll(async () => {
  engine = await createEngine();
  tmp = await mkdtemp(join(tmpdir(), 'shaderflow-reliability-'));
});
afterAll(async () => {
  engine?.dispose();
  for (const e of engines) e.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** n rows of d features in [-1, 1] and a class for each (which third of the feature sum it falls in). */
function rows(n: number, d: number, seed: number, classes = 3): { x: Float32Array; y: Uint8Array } {
  const r = mulberry32(seed);
  const x = new Float32Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] = r() * 2 - 1;
    y[i] = Math.min(classes - 1, Math.max(0, Math.floor(((s / d + 1) / 2) * classes)));
  }
  return { x, y };
}

function mlp(d: number, opts: { dropout?: number } = {}): Sequential {
  resetLayerNames();
  const layers: Layer[] = [new Dense({ units: 12, activation: 'relu', inputDim: d })];
  if (opts.dropout) layers.push(new Dropout({ rate: opts.dropout }));
  layers.push(new Dense({ units: 3, activation: 'softmax' }));
  return new Sequential(layers);
}

function sameMemory(a: MemoryReport, b: MemoryReport): void {
  expect(b).toEqual(a);
}

/** Rejects when `p` has not settled within `ms`: proves a failure path does not hang. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (hang)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection, but it resolved');
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, but none was thrown');
}

describe('NaN guard', () => {
  it('stops with a NumericError naming the epoch and the first bad batch, and keeps the last good checkpoint', async () => {
    const d = 6;
    const { x, y } = rows(96, d, 1);
    x[43 * d + 2] = NaN; // example 43: batch 6 of 12 at batch size 8, in order (shuffle off)
    const model = mlp(d);
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 2 });
    const dir = join(tmp, 'nan-checkpoint');
    const err = await rejection(model.fit(x, y, { batchSize: 8, epochs: 2, shuffle: false, verbose: 0, checkpoint: fileCheckpointer(dir, model, { everySteps: 2 }) }));
    expect(err).toBeInstanceOf(NumericError);
    // The NaN enters the first layer's kernel gradient (x^T dz); ReLU maps the NaN activations to 0, so only
    // the gradient check sees it.
    expect(err.message).toMatch(/gradients became NaN or infinite in epoch 1\/2 at batch 6\/12/);
    expect(err.message).toMatch(/last good checkpoint is kept/);
    // The last checkpoint before the bad batch (after batch 4) is intact, finite, and loads into a model.
    const ckpt = await readCheckpoint(dir);
    expect(ckpt).toBeDefined();
    expect([ckpt!.epoch, ckpt!.batch]).toEqual([0, 4]);
    expect(ckpt!.weights.every((w) => w.values.every(Number.isFinite))).toBe(true);
    expect(ckpt!.optimizer.tensors.every((t) => t.every(Number.isFinite))).toBe(true);
    const fresh = mlp(d);
    fresh.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 2 });
    fresh.setWeights(ckpt!.weights);
    expect((await fresh.predict(x.subarray(0, 8 * d))).every(Number.isFinite)).toBe(true);
    fresh.dispose();
    model.dispose();
  });

  it('catches a diverging model (huge learning rate) at the epoch-end readback, naming epoch and batch', async () => {
    const d = 6;
    const { x } = rows(64, d, 3);
    const target = new Float32Array(64 * 3).map((_, i) => (i % 7) - 3);
    resetLayerNames();
    const model = new Sequential([new Dense({ units: 16, activation: 'relu', inputDim: d }), new Dense({ units: 3 })]);
    model.compile(engine, { optimizer: optimizers.sgd({ learningRate: 1e6 }), loss: 'mse', seed: 1 });
    // A terminal progress bar: its periodic readbacks go through the same guard as the epoch end.
    const sink = { isTTY: true, write: () => {} };
    const err = await rejection(model.fit(x, target, { batchSize: 8, epochs: 3, verbose: 1, sink }));
    expect(err).toBeInstanceOf(NumericError);
    expect(err.message).toMatch(/epoch 1\/3 at batch \d+\/8/);
    const batch = Number(/at batch (\d+)/.exec(err.message)![1]);
    expect(batch).toBeGreaterThan(1); // the first step's loss is finite: it is the update that explodes
    console.log(`divergence at lr 1e6: ${err.message.split('.')[0]}`);
    model.dispose();
  });

  it('nanGuard: false trains on through NaN', async () => {
    const d = 6;
    const { x, y } = rows(48, d, 4);
    x[5 * d] = NaN;
    const model = mlp(d);
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 2 });
    const dir = join(tmp, 'nan-unguarded');
    const h = await model.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, nanGuard: false, checkpoint: fileCheckpointer(dir, model, { everySteps: 3 }) });
    expect(h.loss.length).toBe(2);
    expect((await model.getOptimizerState()).step).toBe(12);
    // The NaN reached the gradients and so the weights (ReLU maps NaN to 0 here, so the loss itself may stay finite).
    expect((await model.getWeights()).some((w) => w.values.some(Number.isNaN))).toBe(true);
    const ckpt = await readCheckpoint(dir); // the guard is off: checkpoints are written regardless
    expect(ckpt!.epoch).toBe(2);
    expect(ckpt!.weights.some((w) => w.values.some(Number.isNaN))).toBe(true);
    model.dispose();
  });
});

describe('the gradient check kernel (finite.wgsl)', () => {
  it('stores the step count in state[1] on the first non-finite value, and only then', async () => {
    const n = 100_003; // past one workgroup row of the 2-D grid fold on small adapters too
    for (const [bad, at] of [[NaN, n - 1], [Infinity, 0], [-Infinity, 54_321], [null, -1]] as const) {
      const values = new Float32Array(n).map((_, i) => Math.sin(i) * 1e30);
      if (bad !== null) values[at] = bad;
      expect(firstNonFinite(values)).toBe(at);
      const x = engine.tensor([n], values);
      const state = engine.tensor([4], new Uint32Array([7, 0, 0, 0]));
      await runOnce(engine, 'flag test', (rec) => flagNonFinite(rec, x, state.buffer));
      expect(Array.from(await state.data<Uint32Array>()), `${bad} at ${at}`).toEqual([7, bad === null ? 0 : 7, 0, 0]);
      // A flag already raised keeps the first step.
      state.write(new Uint32Array([9, 3, 0, 0]));
      await runOnce(engine, 'flag test', (rec) => flagNonFinite(rec, x, state.buffer));
      expect((await state.data<Uint32Array>())[1]).toBe(3);
      x.dispose();
      state.dispose();
    }
  });
});

describe('checkpoint and resume by folder (in process)', () => {
  it('fit({checkpoint: DIR, checkpointEvery}) then fit({resume: DIR}) after a crash ends with the uninterrupted weights', async () => {
    const d = 6;
    const { x, y } = rows(90, d, 13);
    const train = async (o: { checkpoint?: string; resume?: string; crashAt?: [number, number] }) => {
      const model = mlp(d, { dropout: 0.3 });
      model.compile(engine, { optimizer: 'rmsprop', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 8 });
      let epoch = 0;
      const callbacks = {
        onEpochBegin: (e: number) => void (epoch = e),
        onBatchEnd: (b: number) => {
          if (o.crashAt && epoch === o.crashAt[0] && b + 1 === o.crashAt[1]) throw new Error('simulated crash');
        },
      };
      try {
        const h = await model.fit(x, y, { batchSize: 8, epochs: 3, verbose: 0, checkpoint: o.checkpoint, checkpointEvery: 4, resume: o.resume, callbacks });
        return { weights: (await model.getWeights()).map((w) => Array.from(w.values)), history: h.history };
      } finally {
        model.dispose();
      }
    };
    const full = await train({});
    const dir = join(tmp, 'folder-resume');
    await expect(train({ checkpoint: dir, crashAt: [1, 7] })).rejects.toThrow('simulated crash');
    const ckpt = await readCheckpoint(dir);
    expect([ckpt!.epoch, ckpt!.batch]).toEqual([1, 4]); // saved every 4 of 12 batches: the last before the crash (after batch 7 of epoch 2)
    const resumed = await train({ checkpoint: dir, resume: dir });
    expect(resumed.weights).toEqual(full.weights);
    expect(resumed.history).toEqual(full.history);
    await expect(train({ resume: join(tmp, 'no-checkpoint-here') })).rejects.toThrow(/no checkpoint in .*no-checkpoint-here/);
  });
});

describe('device loss', () => {
  it('fit and predict reject promptly with a DeviceError; the last checkpoint is intact and loads', async () => {
    const lost = await createEngine();
    engines.push(lost);
    const d = 6;
    const { x, y } = rows(160, d, 5);
    const model = mlp(d, { dropout: 0.2 });
    model.compile(lost, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 7 });
    const dir = join(tmp, 'device-loss');
    const t0 = performance.now();
    const fit = model.fit(x, y, {
      batchSize: 8,
      epochs: 3,
      verbose: 0,
      checkpoint: fileCheckpointer(dir, model, { everySteps: 4 }),
      callbacks: { onBatchEnd: (b) => void (b === 9 && lost.device.destroy()) },
    });
    const err = await within(rejection(fit), 10_000, 'fit after device.destroy()');
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toMatch(/device was lost/);
    expect(err.message).toMatch(/epoch 1/);
    console.log(`device loss: fit rejected ${ms.toFixed(0)} ms after it started: ${err.message}`);
    const perr = await within(rejection(model.predict(x)), 5_000, 'predict after device loss');
    expect(perr).toBeInstanceOf(DeviceError);
    const eerr = await within(rejection(model.evaluate(x, y)), 5_000, 'evaluate after device loss');
    expect(eerr).toBeInstanceOf(DeviceError);
    // The checkpoint written before the loss (after batch 8 of epoch 1) is intact and loads on a new engine.
    const ckpt = await readCheckpoint(dir);
    expect([ckpt!.epoch, ckpt!.batch, ckpt!.optimizer.step]).toEqual([0, 8, 8]);
    expect(ckpt!.weights.every((w) => w.values.every(Number.isFinite))).toBe(true);
    const again = mlp(d, { dropout: 0.2 });
    again.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 7 });
    const h = await again.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, resume: ckpt });
    expect(h.loss.length).toBe(1);
    expect((await again.getOptimizerState()).step).toBe(20);
    again.dispose();
    model.dispose();
  });
});

describe('device loss at arbitrary moments', () => {
  it('destroying the device from a timer (mid-step, mid-readback, mid-checkpoint) never hangs fit', async () => {
    const d = 6;
    const { x, y } = rows(400, d, 12);
    const outcomes: string[] = [];
    for (const delay of [5, 25, 60, 120, 200]) {
      const lost = await createEngine();
      engines.push(lost);
      const model = mlp(d, { dropout: 0.1 });
      model.compile(lost, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 1 });
      const dir = join(tmp, `timer-loss-${delay}`);
      const timer = setTimeout(() => lost.device.destroy(), delay);
      const t0 = performance.now();
      const fit = model.fit(x, y, { batchSize: 4, epochs: 20, verbose: 0, validationSplit: 0.1, checkpoint: fileCheckpointer(dir, model, { everySteps: 3 }) });
      const err = await within(rejection(fit), 15_000, `fit with the device destroyed after ${delay} ms`);
      clearTimeout(timer);
      expect(err, `destroyed after ${delay} ms: ${err.message}`).toBeInstanceOf(DeviceError);
      outcomes.push(`${delay} ms -> rejected after ${(performance.now() - t0).toFixed(0)} ms`);
      await expect(within(model.predict(x), 5_000, 'predict after device loss')).rejects.toBeInstanceOf(DeviceError);
      // Whatever checkpoint exists is whole: it reads back with every tensor complete.
      const ckpt = await readCheckpoint(dir);
      if (ckpt) expect(ckpt.weights.length).toBe(4);
      model.dispose();
    }
    console.log(`device destroyed from a timer: ${outcomes.join('; ')}`);
  });
});

describe('memory', () => {
  it('engine.memory() is flat over 500 training steps and over repeated fit/evaluate/predict', async () => {
    const d = 8;
    const { x, y } = rows(40, d, 6);
    const model = mlp(d, { dropout: 0.25 });
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 3 });
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 }); // first fit allocates the batch buffers
    const perEpoch: MemoryReport[] = [];
    await model.fit(x, y, { batchSize: 8, epochs: 100, verbose: 0, callbacks: { onEpochEnd: () => void perEpoch.push(engine.memory()) } });
    const steps = (await model.getOptimizerState()).step - 5;
    expect(steps).toBe(500);
    for (const m of perEpoch) sameMemory(perEpoch[0]!, m);
    const afterFit = engine.memory();
    const rounds: MemoryReport[] = [];
    for (let i = 0; i < 6; i++) {
      await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, validationSplit: 0.2 });
      await model.evaluate(x, y, { batchSize: 8 });
      await model.predict(x, { batchSize: 8 });
      rounds.push(engine.memory());
    }
    for (const m of rounds) sameMemory(rounds[0]!, m);
    expect(rounds[0]!.liveBuffers).toBe(afterFit.liveBuffers);
    console.log(`memory flat over ${steps} training steps (${perEpoch.length} epochs) and 6 fit/evaluate/predict rounds: ${JSON.stringify(rounds[0])}`);
    model.dispose();
  });

  it('a fit that fails its setup (bad validation data, split, resume) leaves no buffers behind', async () => {
    const d = 5;
    const { x, y } = rows(32, d, 14);
    const model = mlp(d);
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 1 });
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 });
    const before = engine.memory().liveBuffers;
    const bad: [string, Parameters<Sequential['fit']>[2]][] = [
      ['validation data of the wrong width', { validationData: [new Float32Array(7), new Uint8Array(1)] }],
      ['a validation split that leaves nothing', { validationSplit: 0.999 }],
      ['a checkpoint from another batch size', { resume: { epoch: 0, batch: 1, batchSize: 4, trainCount: 32, seed: 1, stats: [0, 0, 0, 0], weights: [], optimizer: { step: 0, tensors: [] }, history: { epoch: [], history: {} } } }],
      ['a checkpoint with weights of the wrong shape', { resume: { epoch: 0, batch: 1, batchSize: 8, trainCount: 32, seed: 1, stats: [0, 0, 0, 0], weights: [{ name: 'dense/kernel', shape: [2, 2], values: new Float32Array(4) }], optimizer: { step: 0, tensors: [] }, history: { epoch: [], history: {} } } }],
    ];
    for (const [what, o] of bad) {
      const err = await rejection(model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, ...o }));
      expect(err, what).toBeInstanceOf(ShaderflowError);
      expect(engine.memory().liveBuffers, what).toBe(before);
    }
    model.dispose();
  });

  it('dispose() frees every buffer the model holds', async () => {
    const before = engine.memory();
    resetLayerNames();
    const model = new Sequential([
      new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dropout({ rate: 0.2 }),
      new Dense({ units: 3, activation: 'softmax' }),
    ]);
    model.compile(engine, { optimizer: 'rmsprop', loss: 'sparse_categorical_crossentropy', seed: 1 });
    const r = mulberry32(9);
    const images = Uint8Array.from({ length: 30 * 36 }, () => Math.floor(r() * 256));
    const labels = Uint8Array.from({ length: 30 }, (_, i) => i % 3);
    await model.fit({ images, shape: [30, 6, 6, 1] }, labels, { batchSize: 8, epochs: 2, verbose: 0 });
    await model.evaluate({ images, shape: [30, 6, 6, 1] }, labels);
    await model.predict({ images, shape: [30, 6, 6, 1] });
    expect(engine.memory().liveBuffers).toBeGreaterThan(before.liveBuffers);
    model.dispose();
    const after = engine.memory();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
  });
});

describe('device limits are checked before allocation', () => {
  it('a Dense layer over maxStorageBufferBindingSize fails at compile with a ShapeError naming it', () => {
    const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
    const inputs = 1000;
    const units = Math.ceil(limit / 4 / inputs) + 1; // kernel alone is over the limit
    resetLayerNames();
    const model = new Sequential([new Dense({ units: inputs, inputDim: 4 }), new Dense({ units, name: 'huge' }), new Dense({ units: 2 })]);
    const before = engine.memory();
    const err = thrown(() => model.compile(engine, { optimizer: 'adam', loss: 'mse' }));
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.message).toMatch(/"huge" \(Dense/);
    expect(err.message).toContain(String(limit));
    expect(err.message).toMatch(/maxStorageBufferBindingSize/);
    sameMemory(before, engine.memory());
    console.log(`over the limit at compile: ${err.message}`);
  });

  it('a batch whose activations exceed the limit fails at fit with a ShapeError naming the layer and a batch size that fits', async () => {
    const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
    const wide = Math.floor(limit / 4 / 32); // 32 examples fill the limit exactly; 40 do not fit
    resetLayerNames();
    const model = new Sequential([new Dense({ units: wide, activation: 'relu', inputDim: 1, name: 'wide' }), new Dense({ units: 2, activation: 'softmax' })]);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const x = Float32Array.from({ length: 40 }, (_, i) => i / 40);
    const y = Uint8Array.from({ length: 40 }, (_, i) => i % 2);
    const before = engine.memory().liveBuffers;
    const err = await rejection(model.fit(x, y, { batchSize: 40, epochs: 1, verbose: 0 }));
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.message).toMatch(/Layer "wide" \(Dense\): a batch of 40 needs a \d+ byte buffer/);
    expect(err.message).toMatch(/batch size of at most 32/);
    expect(engine.memory().liveBuffers).toBe(before); // the uploaded training data is freed again
    model.dispose();
  });
});

describe('float training data over the limit', () => {
  it('is refused before upload with a ShapeError naming the data and what to do', async () => {
    const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
    const per = 1024;
    const rowsOver = Math.floor(limit / 4 / per) + 1;
    resetLayerNames();
    const model = new Sequential([new Dense({ units: 2, activation: 'softmax', inputDim: per })]);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const before = engine.memory().liveBuffers;
    const err = await rejection(model.fit(new Float32Array(rowsOver * per), new Uint8Array(rowsOver), { batchSize: 32, verbose: 0 }));
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.message).toMatch(new RegExp(`training data: ${rowsOver} float rows of ${per} values are ${rowsOver * per * 4} bytes as float32, over this adapter's limit of ${limit} bytes`));
    expect(err.message).toMatch(/uint8 images/);
    expect(engine.memory().liveBuffers).toBe(before);
    model.dispose();
  });
});

describe('WebGPU validation errors name the kernel', () => {
  it('a wrong binding (uniform where storage is declared) is a DeviceError naming the kernel', async () => {
    const a = engine.tensor([4], [1, 2, 3, 4]);
    const out = engine.empty([4]);
    const err = await rejection(
      runOnce(engine, 'wrong-binding test', (rec: Recorder) =>
        rec.dispatch({
          shader: 'elementwise',
          entry: 'axpby',
          constants: { WG: 64 },
          bindings: [rec.uniform([4, 1, 1, 0], 'uffu'), rec.uniform([1, 2, 3, 4], 'ffff'), a, out],
          workgroups: [1],
          label: 'test.wrongBinding',
        }),
      ),
    );
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toMatch(/kernel test\.wrongBinding in wrong-binding test/);
    a.dispose();
    out.dispose();
  });

  it('a pass-level error (a buffer bound read-only and writable at once) names the kernel, not just the step', async () => {
    const a = engine.tensor([4], [1, 2, 3, 4]);
    const b = engine.tensor([4], [1, 1, 1, 1]);
    const c = engine.empty([4]);
    const err = await rejection(
      runOnce(engine, 'aliasing test', (rec: Recorder) => {
        rec.dispatch({ shader: 'elementwise', entry: 'axpby', constants: { WG: 64 }, bindings: [rec.uniform([4, 1, 1, 0], 'uffu'), a, b, c], workgroups: [1], label: 'test.fine' });
        rec.dispatch({ shader: 'elementwise', entry: 'axpby', constants: { WG: 64 }, bindings: [rec.uniform([4, 1, 1, 0], 'uffu'), a, b, a], workgroups: [1], label: 'test.aliased' });
      }),
    );
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toMatch(/kernel test\.aliased in aliasing test/);
    expect(err.message).not.toMatch(/test\.fine/);
    // The engine is still usable afterwards.
    await runOnce(engine, 'after', (rec) =>
      rec.dispatch({ shader: 'elementwise', entry: 'axpby', constants: { WG: 64 }, bindings: [rec.uniform([4, 2, 1, 0], 'uffu'), a, b, c], workgroups: [1] }),
    );
    expect(Array.from(await c.data())).toEqual([3, 5, 7, 9]);
    for (const t of [a, b, c]) t.dispose();
  });
});

describe.each(['default', 'gpu'] as const)('determinism (%s adapter class)', (cls) => {
  let classEngine: Engine;
  beforeAll(async () => {
    classEngine = cls === 'default' ? engine : await createEngine({ adapterClass: 'gpu' });
  });
  afterAll(() => {
    if (cls !== 'default') classEngine?.dispose();
  });

  it('same seed: bit-identical weights, evaluate and predict after shuffled dropout training; another seed differs', async () => {
    const engine = classEngine;
    const d = 8;
    const { x, y } = rows(72, d, 8);
    const run = async (seed: number) => {
      const model = mlp(d, { dropout: 0.3 });
      model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed });
      const h = await model.fit(x, y, { batchSize: 8, epochs: 3, verbose: 0, shuffle: true });
      const weights = (await model.getWeights()).map((w) => Array.from(new Uint32Array(w.values.buffer.slice(0))));
      const evaluation = await model.evaluate(x, y, { batchSize: 16 });
      const predictions = Array.from(new Uint32Array((await model.predict(x, { batchSize: 16 })).buffer));
      model.dispose();
      return { weights, evaluation, predictions, loss: h.loss };
    };
    const a = await run(21);
    const b = await run(21);
    const c = await run(22);
    expect(b.weights).toEqual(a.weights); // compared as bit patterns
    expect(b.evaluation).toEqual(a.evaluation);
    expect(b.predictions).toEqual(a.predictions);
    expect(b.loss).toEqual(a.loss);
    expect(c.weights).not.toEqual(a.weights);
  });
});

// ------------------------------------------------------------------------------------------ untrusted files

async function validArtifacts(): Promise<{ json: ModelJson; weights: Uint8Array }> {
  resetLayerNames();
  const model = new Sequential([
    new Conv2D({ filters: 2, kernelSize: 3, activation: 'relu', inputShape: [5, 5, 1] }),
    new Flatten(),
    new Dense({ units: 4, activation: 'relu' }),
    new Dense({ units: 3, activation: 'softmax' }),
  ]);
  model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 4 });
  const art = await toArtifacts(model);
  model.dispose();
  return { json: JSON.parse(JSON.stringify(art.modelJson)), weights: new Uint8Array(art.weights) };
}

describe('untrusted model files', () => {
  // conv2d/kernel [3,3,1,2] = 18 floats at byte 0, conv2d/bias [2] at 72, dense/kernel [18,4] at 80,
  // dense/bias [4] at 368, dense_1/kernel [4,3] at 384, dense_1/bias [3] at 432; 444 bytes in all.
  const cases: { what: string; edit: (j: ModelJson, w: Uint8Array) => Uint8Array | void; message: RegExp }[] = [
    { what: 'truncated weights.bin', edit: (_j, w) => w.slice(0, 400), message: /"dense_1\/kernel" \(weight 4, at byte 384 of weights\.bin\) \[4, 3\] needs bytes 384\.\.432, but the file has 400 bytes/ },
    { what: 'extra bytes in weights.bin', edit: (_j, w) => Uint8Array.from([...w, 0, 0, 0, 0]), message: /448 bytes but the manifest describes 444: the 4 bytes from byte 444/ },
    {
      what: 'wrong weight shape in the manifest',
      edit: (j) => void (j.weightsManifest[0]!.weights[2]!.shape = [18, 5]),
      message: /"dense\/kernel" \(weight 2, at byte 80 of weights\.bin\) has shape \[18, 5\] but layer "dense" expects \[18, 4\]/,
    },
    {
      what: 'a NaN weight',
      edit: (_j, w) => void new DataView(w.buffer, w.byteOffset).setFloat32(80 + 4 * 5, NaN, true),
      message: /"dense\/kernel" value 5 \(byte 100\) is NaN/,
    },
    {
      what: 'an infinite weight',
      edit: (_j, w) => void new DataView(w.buffer, w.byteOffset).setFloat32(432 + 8, -Infinity, true),
      message: /"dense_1\/bias" value 2 \(byte 440\) is -Infinity/,
    },
    { what: 'wrong dtype', edit: (j) => void ((j.weightsManifest[0]!.weights[1] as { dtype: string }).dtype = 'int32'), message: /"conv2d\/bias" \(weight 1, at byte 72 of weights\.bin\) has dtype "int32"/ },
    { what: 'unknown layer class', edit: (j) => void (j.modelTopology.config.layers[2]!.class_name = 'LSTM'), message: /layer 2 "dense" has class "LSTM", which shaderflow does not implement/ },
    { what: 'units 1e12', edit: (j) => void (j.modelTopology.config.layers[2]!.config.units = 1e12), message: /layer "dense": units 1000000000000 is not a size/ },
    { what: 'a negative input dimension', edit: (j) => void (j.modelTopology.config.layers[0]!.config.batch_input_shape = [null, 5, -5, 1]), message: /batch_input_shape\[2\] = -5 is not a size/ },
    { what: 'a fractional kernel size', edit: (j) => void (j.modelTopology.config.layers[0]!.config.kernel_size = [3, 2.5]), message: /layer "conv2d" kernel_size\[1\] = 2\.5 is not a size/ },
    { what: 'a kernel larger than the input', edit: (j) => void (j.modelTopology.config.layers[0]!.config.kernel_size = [9, 9]), message: /shapes do not fit together: .*conv2d/ },
    {
      what: 'a layer too large for the device',
      edit: (j) => void (j.modelTopology.config.layers[2]!.config.units = 1 << 24),
      message: /layers hold \d+ bytes of parameters, over this adapter's \d+ bytes per storage buffer/,
    },
    { what: 'a string where the layer list should be', edit: (j) => void ((j.modelTopology.config as { layers: unknown }).layers = 'dense'), message: /modelTopology\.config\.layers is missing or empty/ },
    { what: 'an initializer of the wrong type', edit: (j) => void (j.modelTopology.config.layers[3]!.config.kernel_initializer = { class_name: 7 }), message: /layer "dense_1": kernel_initializer \{"class_name":7\} is neither/ },
    { what: 'an optimizer learning rate that is a string', edit: (j) => void (j.trainingConfig!.optimizer_config.config.learning_rate = 'fast'), message: /optimizer_config\.config\.learning_rate must be a finite number/ },
    { what: 'an unknown loss', edit: (j) => void (j.trainingConfig!.loss = 'hinge'), message: /trainingConfig\.loss "hinge"/ },
    { what: 'a weight that belongs to no layer', edit: (j) => void (j.weightsManifest[0]!.weights[5]!.name = 'dense_9/bias'), message: /"dense_9\/bias" \(weight 5, at byte 432 of weights\.bin\) does not belong to any layer/ },
    { what: 'a missing weight', edit: (j) => void j.weightsManifest[0]!.weights.pop(), message: /444 bytes but the manifest describes 432|no values for dense_1\/bias/ },
    { what: 'a missing manifest', edit: (j) => void delete (j as Partial<ModelJson>).weightsManifest, message: /weightsManifest is missing/ },
  ];
  for (const c of cases) {
    it(`${c.what}: ModelFormatError before any GPU allocation`, async () => {
      const { json, weights } = await validArtifacts();
      const w = c.edit(json, weights) ?? weights;
      const before = engine.memory();
      const err = thrown(() => fromArtifacts(engine, json, w));
      expect(err).toBeInstanceOf(ModelFormatError);
      expect(err.message).toMatch(c.message);
      sameMemory(before, engine.memory());
    });
  }

  it('the unmodified artifacts load (the cases above fail for their one defect)', async () => {
    const { json, weights } = await validArtifacts();
    const model = fromArtifacts(engine, json, weights);
    expect(model.countParams()).toBe(111);
    model.dispose();
  });

  it('malformed JSON and non-text bytes name the file and position', () => {
    const e1 = thrown(() => parseModelJson('{"format": "layers-model", "modelTopology": {', 'm/model.json'));
    expect(e1).toBeInstanceOf(ModelFormatError);
    expect(e1.message).toMatch(/^m\/model\.json: malformed JSON \(.*position 45|^m\/model\.json: malformed JSON \(.*end of JSON input/);
    const e2 = thrown(() => parseModelJson(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), 'x.json'));
    expect(e2).toBeInstanceOf(ModelFormatError);
    expect(e2.message).toMatch(/x\.json: not UTF-8 text/);
    expect(thrown(() => parseModelJson('[1, 2]'))).toBeInstanceOf(ModelFormatError);
  });

  it('loadModel names the folder and refuses weight paths outside it', async () => {
    resetLayerNames();
    const model = mlp(4);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 1 });
    const dir = join(tmp, 'saved');
    await saveModel(model, dir);
    model.dispose();
    const loaded = await loadModel(engine, dir);
    loaded.dispose();
    const before = engine.memory();
    const jsonText = await readFile(join(dir, 'model.json'), 'utf8');
    await writeFile(join(dir, 'model.json'), jsonText.slice(0, 200));
    let err = await rejection(loadModel(engine, dir));
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain(join(dir, 'model.json'));
    const escaping = JSON.parse(jsonText) as ModelJson;
    escaping.weightsManifest[0]!.paths = ['../../etc/passwd'];
    await writeFile(join(dir, 'model.json'), JSON.stringify(escaping));
    err = await rejection(loadModel(engine, dir));
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toMatch(/must be a file name next to model\.json/);
    await writeFile(join(dir, 'model.json'), jsonText);
    const bin = await readFile(join(dir, 'weights.bin'));
    await writeFile(join(dir, 'weights.bin'), bin.subarray(0, 10));
    err = await rejection(loadModel(engine, dir));
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain(dir);
    expect(err.message).toMatch(/"dense\/kernel" \(weight 0, at byte 0 of weights\.bin\) \[4, 12\] needs bytes 0\.\.192, but the file has 10 bytes/);
    sameMemory(before, engine.memory());
  });

  it('a save interrupted before its pointer moved leaves the previous checkpoint in force; the next save cleans up', async () => {
    const d = 4;
    const { x, y } = rows(16, d, 3);
    const model = mlp(d);
    model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 1 });
    const dir = join(tmp, 'interrupted-save');
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, checkpoint: dir });
    const first = await readCheckpoint(dir);
    // What a process killed mid-save leaves: a new generation without its pointer, and half-written temp files.
    await writeFile(join(dir, 'weights-zzzz-9-9.bin'), new Uint8Array(12));
    await writeFile(join(dir, 'model-zzzz-9-9.json'), '{"trunc');
    await writeFile(join(dir, `checkpoint.json.tmp-4242`), '{"format": "shaderflow-checkpoint-1", "generation": "zzzz-9-9"');
    const still = await readCheckpoint(dir);
    expect(still).toEqual(first);
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, checkpoint: dir });
    const meta = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as { generation: string; step: number };
    expect(meta.step).toBe(4);
    expect((await readdir(dir)).sort()).toEqual(['checkpoint.json', `model-${meta.generation}.json`, `optimizer-${meta.generation}.bin`, `weights-${meta.generation}.bin`].sort());
    model.dispose();
  });

  it('a damaged checkpoint is a ModelFormatError naming the file', async () => {
    const d = 4;
    const { x, y } = rows(16, d, 2);
    const model = mlp(d);
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', seed: 1 });
    const dir = join(tmp, 'damaged-checkpoint');
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, checkpoint: fileCheckpointer(dir, model) });
    model.dispose();
    const meta = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as { generation: string; step: number };
    expect(meta.step).toBe(2);
    expect(await readCheckpoint(dir)).toBeDefined();
    const opt = join(dir, `optimizer-${meta.generation}.bin`);
    const bytes = await readFile(opt);
    await writeFile(opt, bytes.subarray(0, bytes.byteLength - 8));
    const err = await rejection(readCheckpoint(dir));
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain(opt);
    await writeFile(join(dir, 'checkpoint.json'), '{"format": "shaderflow-checkpoint-1", "generation": "../x"}');
    expect(await rejection(readCheckpoint(dir))).toBeInstanceOf(ShaderflowError);
    expect(await readCheckpoint(join(tmp, 'no-such-dir'))).toBeUndefined();
  });
});
