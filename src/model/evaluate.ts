// The evaluate and predict loops: batches over the step plan's recorded evaluation / prediction steps (one
// recording per batch size). evaluate reads the statistics (evalStats) once at the end; predict reads each
// batch's probabilities.
import type { Tensor } from '../gpu/tensor.js';
import { sliceBatch } from '../layers/layer.js';
import { makeBatchSource, type BatchSource, type LabelInput, type XInput } from '../data/batches.js';
import type { Logs } from './history.js';
import { defaultSink, Progbar, type ProgressSink, type Verbosity } from './progress.js';
import { metricLogs, type MetricSet } from './metrics.js';
import { identityOrder, StepCache, type StatsSummary, type StepPlan } from './step-plan.js';
import type { Model } from './model.js';

/** The logs of one evaluation or epoch (`prefix` 'val_' for validation): the loss, then the compiled metrics. */
export function logValues(set: MetricSet, s: StatsSummary, prefix: string): Logs {
  return { [`${prefix}loss`]: s.loss, ...metricLogs(set, s, s.counts ?? null, prefix) };
}

/**
 * The statistics (and metric counts) of `data` in the order `order`, batches of `batchSize` (fit's validation uses
 * it too); with `confusion`, the plan's confusion counts hold this evaluation's matrix afterwards.
 */
export async function evaluateSource(plan: StepPlan, data: BatchSource, order: Tensor, batchSize: number, confusion = false): Promise<StatsSummary> {
  if (!plan.xBuf) plan.prepare(Math.min(batchSize, Math.max(data.count, 1)));
  const bs = Math.min(batchSize, plan.maxBatch);
  if (confusion) plan.confusionCounts();
  const steps = new StepCache((n) => plan.recordEvalStep(data, order, n, false, false, confusion));
  if (data.count > 0) await plan.compileSteps(() => plan.recordEvalStep(data, order, Math.min(bs, data.count), false, true, confusion), () => plan.recordEvalStep(data, order, data.count % bs || Math.min(bs, data.count), false, true, confusion));
  plan.clearStats(plan.evalStats);
  try {
    for (let start = 0; start < data.count; start += bs) {
      const n = Math.min(bs, data.count - start);
      const r = steps.get(n);
      plan.writeStart(start);
      r.run();
    }
    return await plan.readStats(plan.evalStats);
  } finally {
    steps.dispose();
  }
}

/** Options of Model.evaluate. */
export interface EvaluateOptions {
  batchSize?: number;
  verbose?: Verbosity;
  sink?: ProgressSink;
  /** Resolve to the logs ({ loss, accuracy, precision, ... }) instead of [loss, accuracy] (Keras' return_dict). */
  returnDict?: boolean;
  /** Also count the confusion matrix on the GPU and resolve to an EvaluationReport. */
  confusionMatrix?: boolean;
}

/** What evaluate resolves to with `confusionMatrix: true`. */
export interface EvaluationReport {
  loss: number;
  /** Argmax accuracy (the trace of the matrix over its total, for labels inside [0, classes)). */
  accuracy: number;
  /** The loss and every compiled metric, keyed as in fit's logs. */
  logs: Logs;
  /**
   * counts[true][predicted]: rows are true classes, columns predicted ones (tf.math.confusion_matrix, sklearn);
   * for a single output, 2x2 of target > 0.5 against output > 0.5.
   */
  confusionMatrix: number[][];
}

/** The rows of a u32 [c, c] count buffer. */
function matrixRows(flat: Uint32Array, c: number): number[][] {
  return Array.from({ length: c }, (_, t) => Array.from(flat.subarray(t * c, (t + 1) * c)));
}

/**
 * `model` over (x, y), in batches (Model.evaluate): [loss, accuracy], the logs with `returnDict`, or with
 * `confusionMatrix` an EvaluationReport.
 */
export async function evaluate(model: Model, x: XInput, y: LabelInput, opts: EvaluateOptions = {}): Promise<[number, number] | Logs | EvaluationReport> {
  const plan = model.requirePlan('evaluate');
  const engine = plan.engine;
  await model.layersReady(engine);
  const data = makeBatchSource(engine, x, y, model.inputShape, model.numClasses, 'evaluation data');
  const order = engine.tensor([data.count], identityOrder(data));
  try {
    const bar = new Progbar(data.count, opts.verbose ?? 0, opts.sink ?? defaultSink());
    const s = await evaluateSource(plan, data, order, opts.batchSize ?? 32, opts.confusionMatrix);
    const logs = logValues(model.metricSet, s, '');
    bar.finish(logs);
    if (opts.confusionMatrix) {
      const counts = plan.confusionCounts();
      return { loss: s.loss, accuracy: s.accuracy, logs, confusionMatrix: matrixRows(await counts.data<Uint32Array>(), counts.shape[0]!) };
    }
    return opts.returnDict ? logs : [s.loss, s.accuracy];
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
