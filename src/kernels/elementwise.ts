// Elementwise and reduction kernels: shaders/elementwise.wgsl, shaders/reduce.wgsl.
// CPU references: src/reference/elementwise.ts.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

function sameSize(what: string, ...ts: Tensor[]): void {
  for (const t of ts)
    if (t.size !== ts[0]!.size) throw new ShapeError(`${what}: sizes differ: ${ts.map((x) => shapeStr(x.shape)).join(' vs ')}`);
}

/** Per-element kernels' options: `vec4` overrides the class's choice of the four-per-invocation variant. */
export interface ElementwiseOptions {
  vec4?: boolean;
}

/**
 * Whether a per-element kernel over `n` values runs its vec4 entry: on the GPU class (wide loads, a quarter of
 * the invocations) when n is a multiple of 4; software adapters keep the scalar kernels they were measured with.
 */
export function useVec4(rec: Recorder, n: number, forced?: boolean): boolean {
  if (n % 4 !== 0) return false;
  return forced ?? classUsesVec4(rec.engine);
}

/** Whether this engine's adapter class runs the vec4 entries where the size allows (the GPU class). */
export function classUsesVec4(engine: Engine): boolean {
  return engine.adapter.adapterClass === 'gpu';
}

/** out = alpha * a + beta * b (out may alias a or b). */
export function axpby(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, alpha = 1, beta = 1, opts: ElementwiseOptions = {}): void {
  sameSize('axpby', a, b, out);
  perElement(rec, 'axpby', a.size, [a.size, alpha, beta], [a, b, out], 3, 12, opts);
}

/** out = a + b */
export function add(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  axpby(rec, a, b, out, 1, 1, opts);
}

/** out = alpha * a */
export function scale(rec: Recorder, a: Tensor, out: Tensor, alpha: number, opts: ElementwiseOptions = {}): void {
  sameSize('scale', a, out);
  perElement(rec, 'scale', a.size, [a.size, alpha, 0], [a, null, out], 1, 8, opts);
}

/** out += a (out and a must not overlap: out is read and written through its one binding). */
export function accumulate(rec: Recorder, a: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  sameSize('accumulate', a, out);
  perElement(rec, 'accumulate', a.size, [a.size, 0, 0], [a, null, out], 1, 12, opts);
}

/** out = a * b (elementwise). */
export function multiply(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  sameSize('multiply', a, b, out);
  perElement(rec, 'multiply', a.size, [a.size, 0, 0], [a, b, out], 1, 12, opts);
}

/** out *= a (out and a must not overlap). */
export function multiplyInto(rec: Recorder, a: Tensor, out: Tensor, opts: ElementwiseOptions = {}): void {
  sameSize('multiplyInto', a, out);
  perElement(rec, 'multiplyInto', a.size, [a.size, 0, 0], [a, null, out], 1, 12, opts);
}

function perElement(rec: Recorder, entry: string, n: number, u: number[], bindings: (Tensor | null)[], flopsPer: number, bytesPer: number, opts: ElementwiseOptions): void {
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const v4 = useVec4(rec, n, opts.vec4);
  const items = v4 ? n / 4 : n;
  rec.dispatch({
    shader: 'elementwise',
    entry: v4 ? `${entry}4` : entry,
    constants: { WG: wg },
    bindings: [rec.uniform([items, u[1]!, u[2]!, 0], 'uffu'), ...bindings],
    workgroups: grid1d(rec.engine, items, wg),
    cost: { variant: v4 ? 'vec4' : 'scalar', threads: wg, serial: 1, flops: flopsPer * n, bytes: bytesPer * n },
  });
}

/**
 * Which column/row-sum kernel runs: 'serial' (software class): one invocation per output and chunk of
 * REDUCE_CHUNK terms in one loop, then one ordered sum of the partials; 'tree' (GPU class): a workgroup of
 * elementwise-workgroup invocations per chunk of TREE_CHUNK terms, a fixed-order tree in workgroup memory, and
 * the same kernel again over the partials until one chunk is left.
 */
export type ReduceVariant = 'serial' | 'tree';

/** Options of columnSum and rowSum: which reduction variant runs. */
export interface ReduceOptions {
  /** Override the adapter class's choice (tests, benchmarks). */
  variant?: ReduceVariant;
}

/**
 * Terms per partial sum in the 'serial' columnSum/rowSum: below llvmpipe's silent 65535-iteration loop cap, and
 * the same on every software adapter so the summation order (and so the result, bit for bit) does not depend on it.
 */
export const REDUCE_CHUNK = 32768;

/** Terms per workgroup in the 'tree' variant: each invocation adds TREE_CHUNK / (its lanes) of them (<= 1024). */
export const TREE_CHUNK = 1024;

/** Lanes along the contiguous axis in the 'tree' variant: a power of two up to 64 that fits `cols`. */
function treeLanes(cols: number, wg: number): number {
  let tx = 1;
  while (tx < cols && tx < 64 && tx * 2 <= wg) tx *= 2;
  return tx;
}

/** 'tree' when the class is a GPU and the workgroup is a power of two (the tree pairs lanes by halves). */
function reduceVariant(rec: Recorder, wg: number, opts: ReduceOptions): ReduceVariant {
  if (opts.variant) return opts.variant;
  return treeFits(rec, wg, 'column/row sums') ? 'tree' : 'serial';
}

/**
 * Whether the GPU class's workgroup trees can run: a power-of-two workgroup (the tree pairs lanes by halves).
 * Otherwise (an adapter with an odd invocation limit) the serial variant runs and describe() says so.
 */
export function treeFits(rec: Recorder, wg: number, what: string): boolean {
  if (rec.engine.adapter.adapterClass !== 'gpu') return false;
  if (treeWorkgroupFits(wg)) return true;
  rec.engine.noteFallback(`${what}: serial sums instead of workgroup trees (workgroup size ${wg} is not a power of two)`);
  return false;
}

/** Whether the tree kernels can run on a workgroup of `wg` invocations: a power of two (lanes pair by halves). */
export function treeWorkgroupFits(wg: number): boolean {
  return (wg & (wg - 1)) === 0;
}

/** Whether this engine's column/row sums and loss statistics run the trees by default (treeFits, without the note). */
export function classUsesTree(engine: Engine): boolean {
  return engine.adapter.adapterClass === 'gpu' && treeWorkgroupFits(tuningOf(engine).elementwiseWorkgroup);
}

/**
 * Sums x viewed as [rows, cols] over one axis: 'columns' gives out[c] = sum_r x[r, c] (a Dense bias gradient),
 * 'rows' gives out[r] = sum_c x[r, c]. Long sums are split into fixed chunks whose partials (recorder-owned
 * scratch) are added in chunk order. `accumulate` adds to out instead of overwriting.
 */
function axisSum(rec: Recorder, axis: 'columns' | 'rows', x: Tensor, rows: number, cols: number, out: Tensor, accumulate: boolean, opts: ReduceOptions): void {
  const name = axis === 'columns' ? 'columnSum' : 'rowSum';
  const outputs = axis === 'columns' ? cols : rows;
  const length = axis === 'columns' ? rows : cols;
  if (rows * cols !== x.size || out.size !== outputs)
    throw new ShapeError(`${name}: x ${shapeStr(x.shape)} as [${rows}, ${cols}] into out ${shapeStr(out.shape)}`);
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  if (reduceVariant(rec, wg, opts) === 'tree') return treeSum(rec, axis, x, rows, cols, out, accumulate, wg);
  const chunks = Math.max(1, Math.ceil(length / REDUCE_CHUNK));
  const target = chunks === 1 ? out : rec.scratch(chunks * outputs * 4, `${name} of [${rows}, ${cols}]`);
  const u = rec.uniform([rows, cols, accumulate ? 1 : 0, REDUCE_CHUNK, chunks, outputs, 0, 0]);
  const written = chunks * outputs;
  rec.dispatch({
    shader: 'reduce',
    entry: name,
    constants: { WG: wg },
    bindings: [u, x, target],
    workgroups: grid1d(rec.engine, written, wg),
    label: chunks === 1 ? `reduce.${name}` : `reduce.${name} (partials)`,
    cost: { variant: 'serial', threads: wg, serial: Math.min(length, REDUCE_CHUNK), flops: rows * cols, bytes: 4 * (rows * cols + written + (accumulate && chunks === 1 ? outputs : 0)) },
  });
  if (chunks === 1) return;
  rec.dispatch({
    shader: 'reduce',
    entry: 'sumPartials',
    constants: { WG: wg },
    bindings: [u, target, out],
    workgroups: grid1d(rec.engine, outputs, wg),
    label: `reduce.${name} (sum of partials)`,
    cost: { variant: 'serial', threads: wg, serial: chunks, flops: written, bytes: 4 * (written + outputs * (accumulate ? 2 : 1)) },
  });
}

/**
 * The 'tree' column/row sum: level 1 sums chunks of TREE_CHUNK terms into partials; each further level sums the
 * previous level's partials the same way (at most 3 levels below 2^32 terms); only the last writes `out`.
 */
function treeSum(rec: Recorder, axis: 'columns' | 'rows', x: Tensor | GPUBufferBinding, rows: number, cols: number, out: Tensor, accumulate: boolean, wg: number, level = 1): void {
  const name = axis === 'columns' ? 'columnSum' : 'rowSum';
  const outputs = axis === 'columns' ? cols : rows;
  const length = axis === 'columns' ? rows : cols;
  const chunks = Math.max(1, Math.ceil(length / TREE_CHUNK));
  const tx = treeLanes(cols, wg);
  const ty = wg / tx;
  const target = chunks === 1 ? out : rec.scratch(chunks * outputs * 4, `${name} of [${rows}, ${cols}] (level ${level} partials)`);
  // Numbered linearly in the shader (block + blocks * chunk, or chunk + chunks * rowBlock) and folded like grid1d.
  const blocks = axis === 'columns' ? Math.ceil(cols / tx) : chunks;
  const workgroups = grid1d(rec.engine, axis === 'columns' ? blocks * chunks : chunks * Math.ceil(rows / ty), 1);
  const written = chunks * outputs;
  rec.dispatch({
    shader: 'reduce',
    entry: `${name}Tree`,
    constants: { WG: wg, TX: tx, CHUNK: TREE_CHUNK },
    bindings: [rec.uniform([rows, cols, accumulate ? 1 : 0, TREE_CHUNK, chunks, outputs, blocks, 0]), x, target],
    workgroups,
    label: chunks === 1 && level === 1 ? `reduce.${name}` : `reduce.${name} (level ${level}${chunks === 1 ? ', final' : ''})`,
    cost: {
      variant: 'tree',
      threads: wg,
      // terms one invocation adds, then the tree's steps
      serial: Math.ceil(Math.min(length, TREE_CHUNK) / (axis === 'columns' ? ty : tx)) + Math.log2(axis === 'columns' ? ty : tx),
      flops: rows * cols,
      bytes: 4 * (rows * cols + written + (accumulate && chunks === 1 ? outputs : 0)),
    },
  });
  if (chunks === 1) return;
  // The partials: [chunks, cols] for column sums, [rows, chunks] for row sums.
  if (axis === 'columns') treeSum(rec, axis, target as GPUBufferBinding, chunks, cols, out, accumulate, wg, level + 1);
  else treeSum(rec, axis, target as GPUBufferBinding, rows, chunks, out, accumulate, wg, level + 1);
}

/** out[c] = sum_r x[r, c] for x viewed as [rows, cols]; `accumulate` adds to out instead of overwriting. */
export function columnSum(rec: Recorder, x: Tensor, rows: number, cols: number, out: Tensor, accumulate = false, opts: ReduceOptions = {}): void {
  axisSum(rec, 'columns', x, rows, cols, out, accumulate, opts);
}

/** out[r] = sum_c x[r, c] for x viewed as [rows, cols]. */
export function rowSum(rec: Recorder, x: Tensor, rows: number, cols: number, out: Tensor, accumulate = false, opts: ReduceOptions = {}): void {
  axisSum(rec, 'rows', x, rows, cols, out, accumulate, opts);
}
