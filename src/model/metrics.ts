// compile({ metrics }) names (Keras' strings, or an object with options) resolved into what a step records: the
// argmax accuracies come free with the loss statistics (shaders/loss.wgsl counts argmax matches); top-k, binary
// accuracy, precision and recall are counted by one metricCounts dispatch (shaders/metrics.wgsl) after the loss.
import { ShaderflowError } from '../errors.js';
import { MAX_METRICS_PER_DISPATCH, type MetricCountSpec } from '../kernels/metrics.js';

/** Metric names compile accepts (Keras' strings; 'acc' is 'accuracy'). */
export type MetricName =
  | 'accuracy'
  | 'acc'
  | 'categorical_accuracy'
  | 'sparse_categorical_accuracy'
  | 'binary_accuracy'
  | 'top_k_categorical_accuracy'
  | 'sparse_top_k_categorical_accuracy'
  | 'precision'
  | 'recall';

/**
 * A metric with options (Keras' metric classes): `k` for the top-k accuracies (default 5), `threshold` for
 * binary_accuracy, precision and recall (default 0.5), `classId` for precision and recall of one class, and
 * `logAs`, the key in the logs and History (default the name).
 */
export interface MetricConfig {
  name: MetricName;
  k?: number;
  threshold?: number;
  classId?: number;
  logAs?: string;
}

/** What compile's `metrics` array holds: a name or a configured metric. */
export type MetricArg = MetricName | MetricConfig;

/** One resolved metric: its log key and where its value comes from. */
export interface ResolvedMetric {
  key: string;
  /** 'loss': the loss statistics' argmax-correct count over the examples; a number: that counted spec's num / den. */
  source: 'loss' | number;
}

/** The metrics of a compiled model: what the logs hold and what the step counts. */
export interface MetricSet {
  metrics: ResolvedMetric[];
  /** Specs for the one metricCounts dispatch per step (empty: none is recorded). */
  counted: MetricCountSpec[];
}

const NAMES: readonly MetricName[] = [
  'accuracy',
  'acc',
  'categorical_accuracy',
  'sparse_categorical_accuracy',
  'binary_accuracy',
  'top_k_categorical_accuracy',
  'sparse_top_k_categorical_accuracy',
  'precision',
  'recall',
];

/**
 * Resolves compile's metrics for a model with `classes` outputs trained on `loss`. 'accuracy' is Keras' choice by
 * loss and shape: binary accuracy for binary_crossentropy or a single output, else the argmax match (categorical
 * or sparse, as the labels are). Argmax matches, and binary accuracy at 0.5 under binary_crossentropy, come from
 * the loss statistics. Unknown names, bad options and repeated log keys throw.
 */
export function resolveMetrics(args: readonly MetricArg[], ctx: { loss: string; classes: number }): MetricSet {
  const metrics: ResolvedMetric[] = [];
  const counted: MetricCountSpec[] = [];
  const count = (spec: MetricCountSpec): number => {
    const same = counted.findIndex((s) => s.kind === spec.kind && s.k === spec.k && s.threshold === spec.threshold && s.classId === spec.classId);
    if (same >= 0) return same;
    counted.push(spec);
    return counted.length - 1;
  };
  for (const arg of args) {
    const cfg: MetricConfig = typeof arg === 'string' ? { name: arg } : arg;
    const what = JSON.stringify(typeof arg === 'string' ? arg : cfg);
    if (!cfg || !NAMES.includes(cfg.name)) throw new ShaderflowError(`Unknown metric ${what}: use one of ${NAMES.join(', ')}.`);
    const name: MetricName = cfg.name === 'acc' ? 'accuracy' : cfg.name;
    const topK = name === 'top_k_categorical_accuracy' || name === 'sparse_top_k_categorical_accuracy';
    const thresholded = name === 'binary_accuracy' || name === 'precision' || name === 'recall' || (name === 'accuracy' && binaryAccuracy(ctx));
    if (cfg.k !== undefined && (!topK || !Number.isInteger(cfg.k) || cfg.k < 1)) throw new ShaderflowError(`Metric ${what}: k is a whole number >= 1 of the top-k accuracies.`);
    if (cfg.threshold !== undefined && (!thresholded || !Number.isFinite(cfg.threshold))) throw new ShaderflowError(`Metric ${what}: threshold is a finite number of binary_accuracy, precision and recall.`);
    if (cfg.classId !== undefined && (!(name === 'precision' || name === 'recall') || !Number.isInteger(cfg.classId) || cfg.classId < 0 || cfg.classId >= ctx.classes))
      throw new ShaderflowError(`Metric ${what}: classId is a class index in 0..${ctx.classes - 1} of precision and recall.`);
    const bce = ctx.loss === 'binary_crossentropy';
    if (bce && (name === 'categorical_accuracy' || name === 'sparse_categorical_accuracy'))
      throw new ShaderflowError(`Metric ${what}: with binary_crossentropy the loss statistics count binary matches; use 'accuracy' or 'binary_accuracy'.`);
    const key = cfg.logAs ?? name;
    if (metrics.some((m) => m.key === key)) throw new ShaderflowError(`Metric ${what}: the logs already hold "${key}"; give this one another logAs.`);
    if (key === 'loss' || key.startsWith('val_') || key === 'lr') throw new ShaderflowError(`Metric ${what}: "${key}" is a reserved log key; give it another logAs.`);
    let source: ResolvedMetric['source'];
    // binary cross-entropy's statistics already count binary_accuracy at 0.5 (shaders/loss.wgsl): reuse them
    if (bce && (name === 'accuracy' || name === 'binary_accuracy') && (cfg.threshold ?? 0.5) === 0.5) source = 'loss';
    else if (topK) source = count({ kind: 'topK', k: cfg.k ?? 5 });
    else if (thresholded) source = count({ kind: name === 'precision' || name === 'recall' ? name : 'binary', threshold: cfg.threshold ?? 0.5, ...(cfg.classId !== undefined ? { classId: cfg.classId } : {}) });
    else source = 'loss';
    metrics.push({ key, source });
  }
  if (counted.length > MAX_METRICS_PER_DISPATCH) throw new ShaderflowError(`compile: at most ${MAX_METRICS_PER_DISPATCH} distinct counted metrics (top-k, binary accuracy, precision, recall), got ${counted.length}.`);
  return { metrics, counted };
}

function binaryAccuracy(ctx: { loss: string; classes: number }): boolean {
  return ctx.loss === 'binary_crossentropy' || ctx.classes === 1;
}

/**
 * The metric values for the logs (`prefix` 'val_' for validation): accuracies from the loss statistics
 * (correct / count), the rest from the counts metricCounts accumulated (num / den, 0 when den is 0).
 */
export function metricLogs(set: MetricSet, loss: { correct: number; count: number }, counts: ArrayLike<number> | null, prefix = ''): Record<string, number> {
  const logs: Record<string, number> = {};
  for (const m of set.metrics) {
    if (m.source === 'loss') logs[prefix + m.key] = loss.correct / Math.max(loss.count, 1);
    else {
      const num = counts?.[2 * m.source] ?? 0, den = counts?.[2 * m.source + 1] ?? 0;
      logs[prefix + m.key] = den === 0 ? 0 : num / den;
    }
  }
  return logs;
}
