// Benchmark and inspection hooks on a compiled model's training step: time it (timeTrainSteps), profile each
// operation (profile), count its dispatches, and model its cost on a reference GPU (plan). Each records the step
// exactly as fit records it (src/model/step-plan.ts), on seeded random data.
import { ShapeError } from '../errors.js';
import { median, type Recorder } from '../gpu/recorder.js';
import { prepareTuning } from '../kernels/autotune.js';
import { mulberry32 } from '../reference/random.js';
import { makeBatchSource } from '../data/batches.js';
import { buildPlan, H200, type GpuSpec, type Plan } from './plan.js';
import { stepProfile, type StepProfile } from './profile.js';
import { identityOrder } from './step-plan.js';
import type { Model } from './model.js';

/** An [n, h, w, c] image-set shape holding `n` examples of `inputShape` (leading 1s for flat inputs, e.g. [784]). */
function imageShape(n: number, inputShape: readonly number[]): [number, number, number, number] {
  const s = [1, 1, 1, ...inputShape].slice(-3);
  if (inputShape.length > 3) s[0] = inputShape.slice(0, inputShape.length - 2).reduce((a, b) => a * b, 1);
  return [n, s[0]!, s[1]!, s[2]!];
}

/** Records one training step of batch `n` on seeded random data (as fit records it), runs `fn` on it, frees it. */
async function withBenchmarkStep<T>(model: Model, n: number, fn: (rec: Recorder) => Promise<T>): Promise<T> {
  const plan = model.stepPlan!;
  const engine = plan.engine;
  await model.layersReady(engine);
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  const r = mulberry32(12345);
  const images = new Uint8Array(n * per);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(r() * 256);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(r() * model.numClasses);
  const data = makeBatchSource(engine, { images, shape: imageShape(n, model.inputShape) }, labels, model.inputShape, model.numClasses, 'benchmark data');
  const order = engine.tensor([n], identityOrder(data));
  let rec: Recorder | undefined;
  try {
    plan.prepare(n);
    await prepareTuning(engine, () => plan.recordTrainStep(data, order, n, true, true));
    await plan.compileSteps(() => plan.recordTrainStep(data, order, n, true, true));
    rec = plan.recordTrainStep(data, order, n);
    plan.writeStart(0);
    return await fn(rec);
  } finally {
    rec?.dispose();
    order.dispose();
    data.dispose();
  }
}

/** Model.timeTrainSteps: ms per training step ('sync': one time per step; 'pipelined': the mean, once). */
export async function timeTrainSteps(model: Model, o: { batchSize: number; steps: number; warmup?: number; mode?: 'sync' | 'pipelined' }): Promise<number[]> {
  const engine = model.requirePlan('timeTrainSteps').engine;
  return withBenchmarkStep(model, o.batchSize, async (rec) => {
    const warmup = o.warmup ?? 2;
    for (let i = 0; i < warmup; i++) {
      rec.run();
      await engine.sync('benchmark step');
    }
    if (o.mode === 'pipelined') {
      const t0 = performance.now();
      for (let i = 0; i < o.steps; i++) rec.run();
      await engine.sync('benchmark steps');
      return [(performance.now() - t0) / o.steps];
    }
    const times: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t0 = performance.now();
      rec.run();
      await engine.sync('benchmark step');
      times.push(performance.now() - t0);
    }
    return times;
  });
}

/** Model.profile: each operation of one training step timed, the model's state saved and restored around it. */
export async function profileStep(model: Model, batchSize: number, opts: { steps?: number; runs?: number }): Promise<StepProfile> {
  const plan = model.requirePlan('profile');
  const engine = plan.engine;
  return withBenchmarkStep(model, batchSize, async (rec) => {
    const restore = plan.saveTrainingState();
    try {
      const steps = opts.steps ?? 5;
      rec.run(); // warm-up
      await engine.sync('profile warm-up');
      const times: number[] = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        rec.run();
        await engine.sync('profile step');
        times.push(performance.now() - t0);
      }
      const { method, us } = await rec.profile({ runs: opts.runs });
      return stepProfile({ model: model.name, batchSize, adapter: engine.describe(), adapterClass: engine.adapter.adapterClass, method, stepMs: median(times), plan: rec.plan(), us });
    } finally {
      await restore();
    }
  });
}

/** Model.dispatchesPerStep: dispatches recorded in one training step of batch `n`. */
export function dispatchesPerStep(model: Model, n: number): number {
  const plan = model.requirePlan('dispatchesPerStep');
  const engine = plan.engine;
  plan.prepare(n);
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  const data = makeBatchSource(engine, { images: new Uint8Array(n * per), shape: imageShape(n, model.inputShape) }, new Uint8Array(n), model.inputShape, model.numClasses, 'count');
  const order = engine.tensor([n], identityOrder(data));
  const rec = plan.recordTrainStep(data, order, n);
  const count = rec.dispatchCount;
  rec.dispose();
  order.dispose();
  data.dispose();
  return count;
}

/** Model.plan: every operation of one dry-recorded training step and its modeled time on `gpu`. */
export function planStep(model: Model, batchSize = 32, gpu: GpuSpec = H200): Plan {
  const plan = model.requirePlan('plan');
  const engine = plan.engine;
  const n = batchSize;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${model.name}.plan: the batch size must be a whole number >= 1, got ${n}.`);
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  const data = makeBatchSource(engine, { images: new Uint8Array(n * per), shape: imageShape(n, model.inputShape) }, new Uint8Array(n), model.inputShape, model.numClasses, 'plan');
  const order = engine.tensor([n], identityOrder(data));
  // The batch buffers and scratch of the plan are placeholders (no GPU memory), so a plan can be made for a batch
  // this adapter could not hold; the real ones are allocated again by the next fit, evaluate or predict.
  plan.releaseBatchBuffers();
  try {
    return engine.withVirtualBuffers(() => {
      plan.prepare(n, true);
      const rec = plan.recordTrainStep(data, order, n, true, true);
      try {
        return buildPlan(rec.plan(), gpu);
      } finally {
        rec.dispose();
      }
    });
  } finally {
    plan.releaseBatchBuffers();
    order.dispose();
    data.dispose();
  }
}
