// The evaluate and predict loops: batches over the step plan's recorded evaluation / prediction steps (one
// recording per batch size). evaluate reads the statistics (evalStats) once at the end; predict reads each
// batch's probabilities.
import type { Tensor } from '../gpu/tensor.js';
import { sliceBatch } from '../layers/layer.js';
import { makeBatchSource, type BatchSource, type LabelInput, type XInput } from '../data/batches.js';
import type { Logs } from './history.js';
import { defaultSink, Progbar, type ProgressSink, type Verbosity } from './progress.js';
import { identityOrder, StepCache, type StepPlan } from './step-plan.js';
import type { Model } from './model.js';

/** The logs of one loss / accuracy pair (`prefix` 'val_' for validation); accuracy only when compiled with it. */
export function logValues(metrics: readonly string[], loss: number, accuracy: number, prefix: string): Logs {
  const logs: Logs = { [`${prefix}loss`]: loss };
  if (metrics.includes('accuracy')) logs[`${prefix}accuracy`] = accuracy;
  return logs;
}

/** [loss, accuracy] of `data` in the order `order`, batches of `batchSize` (fit's validation uses it too). */
export async function evaluateSource(plan: StepPlan, data: BatchSource, order: Tensor, batchSize: number): Promise<[number, number]> {
  if (!plan.xBuf) plan.prepare(Math.min(batchSize, Math.max(data.count, 1)));
  const bs = Math.min(batchSize, plan.maxBatch);
  const steps = new StepCache((n) => plan.recordEvalStep(data, order, n, false));
  if (data.count > 0) await plan.compileSteps(() => plan.recordEvalStep(data, order, Math.min(bs, data.count), false, true), () => plan.recordEvalStep(data, order, data.count % bs || Math.min(bs, data.count), false, true));
  plan.clearStats(plan.evalStats);
  try {
    for (let start = 0; start < data.count; start += bs) {
      const n = Math.min(bs, data.count - start);
      const r = steps.get(n);
      plan.writeStart(start);
      r.run();
    }
    const s = await plan.readStats(plan.evalStats);
    return [s.loss, s.accuracy];
  } finally {
    steps.dispose();
  }
}

/** [loss, accuracy] of `model` over (x, y), in batches (Model.evaluate). */
export async function evaluate(model: Model, x: XInput, y: LabelInput, opts: { batchSize?: number; verbose?: Verbosity; sink?: ProgressSink } = {}): Promise<[number, number]> {
  const plan = model.requirePlan('evaluate');
  const engine = plan.engine;
  await model.layersReady(engine);
  const data = makeBatchSource(engine, x, y, model.inputShape, model.numClasses, 'evaluation data');
  const order = engine.tensor([data.count], identityOrder(data));
  try {
    const bar = new Progbar(data.count, opts.verbose ?? 0, opts.sink ?? defaultSink());
    const result = await evaluateSource(plan, data, order, opts.batchSize ?? 32);
    bar.finish(logValues(model.metrics, result[0], result[1], ''));
    return result;
  } finally {
    order.dispose();
    data.dispose();
  }
}

/** Output probabilities (or values) of `model` for every example, row-major [n, outputs] (Model.predict). */
export async function predict(model: Model, x: XInput, opts: { batchSize?: number } = {}): Promise<Float32Array> {
  const plan = model.requirePlan('predict');
  const engine = plan.engine;
  await model.layersReady(engine);
  const data = makeBatchSource(engine, x, undefined, model.inputShape, model.numClasses, 'prediction input');
  const order = engine.tensor([data.count], identityOrder(data));
  const c = model.numClasses;
  const result = new Float32Array(data.count * c);
  if (!plan.xBuf) plan.prepare(Math.min(opts.batchSize ?? 32, Math.max(data.count, 1)));
  const bs = Math.min(opts.batchSize ?? 32, plan.maxBatch);
  const steps = new StepCache((n) => plan.recordEvalStep(data, order, n, true));
  try {
    if (data.count > 0) await plan.compileSteps(() => plan.recordEvalStep(data, order, Math.min(bs, data.count), true, true), () => plan.recordEvalStep(data, order, data.count % bs || Math.min(bs, data.count), true, true));
    for (let start = 0; start < data.count; start += bs) {
      const n = Math.min(bs, data.count - start);
      const r = steps.get(n);
      plan.writeStart(start);
      r.run();
      result.set(await sliceBatch(plan.outBuf!, n).data(), start * c);
    }
    return result;
  } finally {
    steps.dispose();
    order.dispose();
    data.dispose();
  }
}
