// Metric kernels (shaders/metrics.wgsl): classification counts (top-k, binary accuracy, precision, recall) and the
// confusion matrix, as u32 counts accumulated on the GPU inside a recorded step and read back with the stats.
// CPU references: src/reference/metrics.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { REDUCE_CHUNK, TREE_CHUNK, treeFits } from './elementwise.js';
import type { StatsVariant } from './loss.js';
import { tuningOf } from './tuning.js';

/** Most metrics one `metricCounts` dispatch counts (MAX_METRICS in shaders/metrics.wgsl). */
export const MAX_METRICS_PER_DISPATCH = 8;

/**
 * One counted metric: 'topK' (tf.math.in_top_k: the target's class has fewer than k strictly larger predictions;
 * a row with a non-finite prediction misses), 'binary' ((pred > threshold) == target, per entry), 'precision' and
 * 'recall' (pred > threshold against target != 0, micro over every entry, or over column `classId`).
 */
export interface MetricCountSpec {
  kind: 'topK' | 'binary' | 'precision' | 'recall';
  /** topK: how many of the largest predictions count as a hit (default 5, as Keras). */
  k?: number;
  /** binary, precision, recall: a prediction above it is positive (default 0.5, as Keras). */
  threshold?: number;
  /** precision, recall: count only this class's column (Keras' class_id); default every entry. */
  classId?: number;
}

const KIND_CODE = { topK: 1, binary: 2, precision: 3, recall: 4 } as const;

// Software class: loop trips per invocation. llvmpipe cuts long nested loops short (measured: 8 metrics x 10
// classes over 1094 rows per invocation lost most rows), so each invocation takes a short chunk of rows.
const SERIAL_TRIPS = 8192;
const ALL_CLASSES = 0xffffffff;

/** Options of metricCounts and confusionMatrix. */
export interface MetricKernelOptions {
  /** The target is u32 class indices [n] instead of one-hot f32 [n, c]. */
  sparse?: boolean;
  /** metricCounts: override the adapter class's summation ('serial' software class, 'tree' GPU class). */
  variant?: StatsVariant;
  /** confusionMatrix: rows one invocation counts (default: 32768 on the software class, 1024 on the GPU class). */
  chunk?: number;
}

function checkTarget(what: string, pred: Tensor, target: Tensor, n: number, c: number, sparse: boolean): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(c) || c < 1) throw new ShapeError(`${what}: n=${n}, c=${c} must be whole numbers (c >= 1).`);
  if (pred.size !== n * c) throw new ShapeError(`${what}: the prediction should hold ${n}x${c} = ${n * c} values, got tensor ${shapeStr(pred.shape)}.`);
  if (pred.dtype !== 'f32') throw new ShaderflowError(`${what}: predictions are f32, got ${pred.dtype}.`);
  if (sparse) {
    if (target.size !== n) throw new ShapeError(`${what}: the sparse target should hold ${n} class indices, got tensor ${shapeStr(target.shape)}.`);
    if (target.dtype === 'f32') throw new ShaderflowError(`${what}: sparse targets are u32 class indices, got an f32 tensor.`);
  } else if (target.size !== n * c) throw new ShapeError(`${what}: the one-hot target should hold ${n * c} values, got tensor ${shapeStr(target.shape)}.`);
}

function checkOut(what: string, out: Tensor, size: number, name: string): void {
  if (out.size !== size || out.dtype !== 'u32') throw new ShapeError(`${what}: ${name} should be a u32 tensor of ${size} counts, got ${out.dtype} ${shapeStr(out.shape)}.`);
}

/** The uniform of shaders/metrics.wgsl: [n, c, metrics, items, chunk, classes, 0, 0] then MAX_METRICS (kind, k, threshold, classId). */
function metricsUniform(rec: Recorder, n: number, c: number, metrics: readonly MetricCountSpec[], items: number, chunk: number, classes = 0): GPUBuffer {
  const values = [n, c, metrics.length, items, chunk, classes, 0, 0];
  for (let i = 0; i < MAX_METRICS_PER_DISPATCH; i++) {
    const m = metrics[i];
    values.push(m ? KIND_CODE[m.kind] : 0, m?.k ?? 5, m?.threshold ?? 0.5, m?.classId ?? ALL_CLASSES);
  }
  return rec.uniform(values, 'uuuuuuuu' + 'uufu'.repeat(MAX_METRICS_PER_DISPATCH));
}

function checkSpecs(what: string, metrics: readonly MetricCountSpec[], c: number): void {
  if (metrics.length < 1 || metrics.length > MAX_METRICS_PER_DISPATCH) throw new ShaderflowError(`${what}: counts 1 to ${MAX_METRICS_PER_DISPATCH} metrics per dispatch, got ${metrics.length}.`);
  for (const m of metrics) {
    if (!(m.kind in KIND_CODE)) throw new ShaderflowError(`${what}: unknown metric kind ${JSON.stringify(m.kind)}.`);
    if (m.k !== undefined && (!Number.isInteger(m.k) || m.k < 1)) throw new ShaderflowError(`${what}: top-k needs a whole k >= 1, got ${m.k}.`);
    if (m.threshold !== undefined && !Number.isFinite(m.threshold)) throw new ShaderflowError(`${what}: threshold must be finite, got ${m.threshold}.`);
    if (m.classId !== undefined && (!Number.isInteger(m.classId) || m.classId < 0 || m.classId >= c))
      throw new ShaderflowError(`${what}: classId ${m.classId} is not a class of ${c} (0..${c - 1}).`);
  }
}

/**
 * Adds this batch's counts of each metric to `stats` (u32 [2 * metrics.length]): stats[2m] += numerator,
 * stats[2m + 1] += denominator (hits and rows for topK, matching entries and n*c for binary, TP and TP+FP for
 * precision, TP and TP+FN for recall). The value of metric m is stats[2m] / stats[2m + 1] (0 when 0/0).
 */
export function metricCounts(rec: Recorder, pred: Tensor, target: Tensor, stats: Tensor, n: number, c: number, metrics: readonly MetricCountSpec[], opts: MetricKernelOptions = {}): void {
  const what = 'metricCounts';
  checkTarget(what, pred, target, n, c, !!opts.sparse);
  checkSpecs(what, metrics, c);
  checkOut(what, stats, 2 * metrics.length, 'stats');
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const consts = { WG: wg, SPARSE: opts.sparse ? 1 : 0 };
  const m = metrics.length;
  const readBytes = 4 * (n * c + (opts.sparse ? n : n * c));
  const rowFlops = 2 * n * c * m;
  const label = `metrics.counts (${metrics.map((s) => s.kind).join(', ')})`;
  const variant = opts.variant ?? (treeFits(rec, wg, 'metric counts') ? 'tree' : 'serial');
  if (variant === 'serial') {
    // Rows per chunk: an invocation's loop trips (rows x metrics x classes) stay near SERIAL_TRIPS.
    const chunk = Math.max(1, Math.floor(SERIAL_TRIPS / (m * (c + 1))));
    const chunks = Math.ceil(n / chunk);
    const partials = rec.scratch(chunks * m * 8, `${label} (chunk counts)`);
    const u = metricsUniform(rec, n, c, metrics, chunks, chunk);
    rec.dispatch({
      shader: 'metrics',
      entry: 'countsChunks',
      constants: consts,
      bindings: [u, pred, target, null, partials, null],
      workgroups: grid1d(rec.engine, chunks, wg),
      label: `${label} (chunks)`,
      cost: { variant: 'serial', threads: wg, serial: Math.min(chunk, n) * m * c, flops: rowFlops, bytes: readBytes + 8 * m * chunks },
    });
    rec.dispatch({
      shader: 'metrics',
      entry: 'countsChunkSum',
      constants: consts,
      bindings: [u, null, null, partials, null, stats],
      workgroups: [1],
      label,
      cost: { variant: 'serial', threads: wg, serial: chunks, flops: 2 * m * chunks, bytes: 8 * m * (chunks + 2) },
    });
    return;
  }
  // 'tree': level 1 reduces rows per workgroup, each further level wg partials per workgroup, until one workgroup
  // is left, which adds into stats. Partials: vec2<u32> [groups, metrics].
  let items = n;
  let input: GPUBufferBinding | null = null;
  for (let level = 1; ; level++) {
    const groups = Math.ceil(items / wg);
    const rows = level === 1;
    const final = groups === 1;
    const out = final ? null : rec.scratch(groups * m * 8, `${label} (level ${level} partials)`);
    rec.dispatch({
      shader: 'metrics',
      entry: `${rows ? 'countsRows' : 'countsPartials'}${final ? 'Final' : ''}`,
      constants: consts,
      bindings: [metricsUniform(rec, n, c, metrics, items, 0), rows ? pred : null, rows ? target : null, input, out, final ? stats : null],
      workgroups: grid1d(rec.engine, groups, 1),
      label: final && rows ? label : `${label} (level ${level}${final ? ', final' : ''})`,
      cost: {
        variant: 'tree',
        threads: wg,
        serial: ((rows ? c : 1) + Math.log2(wg)) * m,
        flops: rows ? rowFlops : 2 * items * m,
        bytes: (rows ? readBytes : 8 * items * m) + 8 * m * (final ? 2 : groups),
      },
    });
    if (final) return;
    input = out!;
    items = groups;
  }
}

/** Rows one confusionMatrix invocation counts: the option, or the adapter class's (long loops on software adapters, <= 1024 on GPUs). */
function chunkOf(rec: Recorder, opts: MetricKernelOptions): number {
  if (opts.chunk !== undefined) {
    if (!Number.isInteger(opts.chunk) || opts.chunk < 1 || opts.chunk > REDUCE_CHUNK) throw new ShaderflowError(`confusionMatrix: chunk must be a whole number in [1, ${REDUCE_CHUNK}], got ${opts.chunk}.`);
    return opts.chunk;
  }
  return rec.engine.adapter.adapterClass === 'gpu' ? TREE_CHUNK : REDUCE_CHUNK;
}

/** Rows and columns of the confusion matrix of c outputs: c, or 2 for a single output (a binary classifier). */
export function confusionClasses(c: number): number {
  return c === 1 ? 2 : c;
}

/**
 * Adds this batch's confusion counts to `matrix` (u32 [k, k], row = true class, column = predicted class, the
 * first maximum of the prediction, NaNs skipped; k = c). A single output (c = 1) gives k = 2: target > 0.5 (or the
 * sparse label) against prediction > 0.5. Rows whose label lies outside [0, k) are not counted. One code per row,
 * then one invocation per cell and chunk of rows (no atomics); chunk counts are added in chunk order.
 */
export function confusionMatrix(rec: Recorder, pred: Tensor, target: Tensor, matrix: Tensor, n: number, c: number, opts: MetricKernelOptions = {}): void {
  const what = 'confusionMatrix';
  checkTarget(what, pred, target, n, c, !!opts.sparse);
  const k = confusionClasses(c);
  checkOut(what, matrix, k * k, 'the matrix');
  if (c > 46340) throw new ShapeError(`${what}: ${c} classes give ${c}x${c} cells, over the u32 codes the kernel writes; at most 46340 classes.`);
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const consts = { WG: wg, SPARSE: opts.sparse ? 1 : 0 };
  const chunk = chunkOf(rec, opts);
  const chunks = Math.ceil(n / chunk);
  const cells = k * k;
  const uniform = metricsUniform(rec, n, c, [], chunks, chunk, k);
  const codes = rec.scratch(n * 4, `${what} (row codes)`);
  const variant = `chunk${chunk}`;
  rec.dispatch({
    shader: 'metrics',
    entry: 'confusionCodes',
    constants: consts,
    bindings: [uniform, pred, target, null, null, codes],
    workgroups: grid1d(rec.engine, n, wg),
    label: `${what} (codes)`,
    cost: { variant: 'row', threads: wg, serial: opts.sparse ? c : 2 * c, flops: 2 * n * c, bytes: 4 * (n * c + (opts.sparse ? n : n * c) + n) },
  });
  const partials = chunks === 1 ? null : rec.scratch(chunks * cells * 4, `${what} (chunk counts)`);
  rec.dispatch({
    shader: 'metrics',
    entry: 'confusionCells',
    constants: consts,
    bindings: [uniform, null, codes, null, null, partials ?? matrix],
    workgroups: grid1d(rec.engine, cells * chunks, wg),
    label: chunks === 1 ? what : `${what} (cells, ${chunks} chunks)`,
    cost: { variant, threads: wg, serial: Math.min(n, chunk), flops: n * cells, bytes: 4 * (n * cells + cells * (chunks === 1 ? 2 : chunks)) },
  });
  if (!partials) return;
  rec.dispatch({
    shader: 'metrics',
    entry: 'confusionPartials',
    constants: consts,
    bindings: [uniform, null, partials, null, null, matrix],
    workgroups: grid1d(rec.engine, cells, wg),
    label: `${what} (sum of chunks)`,
    cost: { variant: 'serial', threads: wg, serial: chunks, flops: chunks * cells, bytes: 4 * (chunks * cells + 2 * cells) },
  });
}
