// What fit/evaluate/predict accept, and the GPU batch sources built from it. uint8 images go to the GPU once,
// packed (src/data/device.ts) and are scaled by 1/255 per batch on the GPU, as the seed course's X / 255.0;
// float inputs are uploaded once as float32 and gathered per batch (shaders/gather.wgsl). Either way a step
// only writes the batch's start position (4 bytes); shuffling is an index permutation.
import { DeviceDataset } from './device.js';
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from '../kernels/tuning.js';

/** uint8 images ({images, shape} or an ImageSet from a loader), float rows ({data, shape}) or a bare Float32Array. */
export type XInput = { images: Uint8Array; shape: readonly number[]; labels?: ArrayLike<number> } | { data: Float32Array; shape: readonly number[] } | Float32Array;
/**
 * Class indices (Uint8Array/Int32Array/number[]) or target rows (Float32Array [n, classes]): one-hot rows are
 * stored as class indices and expanded on the GPU; any other rows (regression targets for mean squared error,
 * smoothed labels) are kept as floats and gathered per batch.
 */
export type LabelInput = Uint8Array | Uint32Array | Int32Array | Float32Array | number[] | undefined;

/** A dataset on the GPU that records the gather of one batch (examples in `order` from the start buffer's position). */
export interface BatchSource {
  readonly count: number;
  /** Index of this source's first example in the underlying dataset (slices for validationSplit). */
  readonly base: number;
  /** Records the gather of n examples (order[start..start+n) from the start buffer) into x and y. */
  recordGather(rec: Recorder, order: Tensor, start: GPUBuffer, n: number, x: Tensor, y: Tensor, opts: { sparse?: boolean }): void;
  /** Examples [from, to) of this source, sharing its GPU data. */
  slice(from: number, to: number): BatchSource;
  /** Frees the GPU data this source owns. */
  dispose(): void;
}

/** Each example's class: the labels checked against the classes, or the argmax of one-hot / target rows [count, classes]. */
export function labelsToClasses(y: LabelInput, count: number, classes: number, what: string): Uint8Array | Uint32Array {
  const out = new Uint32Array(count);
  if (y === undefined) return out;
  if (y instanceof Float32Array && y.length === count * classes && classes > 1) {
    // One-hot rows (toCategorical): back to class indices; the GPU expands them again per batch. (Other rows
    // are gathered as floats by withTargetRows; these indices then only feed the accuracy metric's argmax.)
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (y[i * classes + c]! > y[i * classes + best]!) best = c;
      out[i] = best;
    }
    return out;
  }
  if (y.length !== count)
    throw new ShapeError(`${what}: ${count} examples but ${y.length} labels (give class indices [n] or one-hot rows [n, ${classes}]).`);
  for (let i = 0; i < count; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= classes)
      throw new ShaderflowError(`${what}: label ${i} is ${v}, outside the model's ${classes} classes (0..${classes - 1}).`);
    out[i] = v;
  }
  return out;
}

/** True when every row of y [count, classes] is exactly one 1 and zeros elsewhere. */
function isOneHot(y: Float32Array, count: number, classes: number): boolean {
  for (let i = 0; i < count; i++) {
    let ones = 0;
    for (let c = 0; c < classes; c++) {
      const v = y[i * classes + c]!;
      if (v === 1) ones++;
      else if (v !== 0) return false;
    }
    if (ones !== 1) return false;
  }
  return true;
}

/** y as real-valued target rows, when it is rows of the model's width that are not one-hot; else null. */
function targetRows(y: LabelInput, count: number, classes: number, what: string): Float32Array | null {
  if (!(y instanceof Float32Array) || y.length !== count * classes || isOneHot(y, count, classes)) return null;
  for (let i = 0; i < y.length; i++)
    if (!Number.isFinite(y[i]!)) throw new ShaderflowError(`${what}: target row ${Math.floor(i / classes)} holds ${y[i]} at column ${i % classes}; targets must be finite numbers.`);
  return y;
}

export function makeBatchSource(engine: Engine, x: XInput, y: LabelInput, inputShape: number[], classes: number, what: string): BatchSource {
  const labels = y ?? (!(x instanceof Float32Array) && 'labels' in x ? (x.labels as LabelInput) : undefined);
  const per = inputShape.reduce((a, b) => a * b, 1);
  const count = x instanceof Float32Array ? x.length / per : x.shape[0]!;
  const rows = Number.isInteger(count) ? targetRows(labels, count, classes, what) : null;
  if (!rows) return makeInputSource(engine, x, y, inputShape, classes, what);
  // Real-valued targets: the input source carries placeholder class 0; its y is overwritten per batch.
  fitsOneBuffer(engine, count * classes * 4, `${what}: ${count} target rows of ${classes} values`, 'train on fewer examples at a time');
  const source = makeInputSource(engine, x, new Uint8Array(count), inputShape, classes, what);
  return withTargetRows(source, engine.tensor([count, classes], rows), classes, what, true);
}

/** `source`'s inputs, with y gathered from real-valued target rows [count, classes] instead of class indices. */
function withTargetRows(source: BatchSource, targets: Tensor, classes: number, what: string, owner: boolean): BatchSource {
  return {
    count: source.count,
    base: source.base,
    recordGather: (rec, order, start, n, x, y, opts) => {
      if (opts.sparse)
        throw new ShaderflowError(`${what}: a sparse loss needs class indices, but the targets are real-valued rows; use 'mean_squared_error' or 'categorical_crossentropy'.`);
      source.recordGather(rec, order, start, n, x, y, opts);
      const wg = tuningOf(rec.engine).elementwiseWorkgroup;
      rec.dispatch({
        shader: 'gather',
        entry: 'targetRows',
        constants: { WG: wg },
        bindings: [rec.uniform([n, 0, classes, 0]), { buffer: start, offset: 0, size: 16 }, order, targets, null, null, y],
        workgroups: grid1d(rec.engine, n * classes, wg),
        label: 'gather target rows',
        cost: { variant: 'scalar', threads: wg, serial: 1, flops: 0, bytes: 8 * n * classes + 4 * n },
      });
    },
    slice: (from, to) => withTargetRows(source.slice(from, to), targets, classes, what, false),
    dispose: () => {
      source.dispose();
      if (owner) targets.dispose();
    },
  };
}

function makeInputSource(engine: Engine, x: XInput, y: LabelInput, inputShape: number[], classes: number, what: string): BatchSource {
  const per = inputShape.reduce((a, b) => a * b, 1);
  const check = (len: number, shape?: readonly number[]): number => {
    const count = shape ? shape[0]! : len / per;
    if (!Number.isInteger(count) || count * per !== len)
      throw new ShapeError(`${what}: ${shape ? `shape ${shapeStr(shape)}` : `${len} values`} does not hold whole examples of the model's input shape ${shapeStr(inputShape)} (${per} values each).`);
    if (count === 0) throw new ShaderflowError(`${what}: no examples.`);
    return count;
  };
  if (!(x instanceof Float32Array) && 'images' in x) {
    const count = check(x.images.length, x.shape);
    const labels = labelsToClasses(y ?? (x.labels as LabelInput), count, classes, what);
    const ds = DeviceDataset.upload(engine, { images: x.images, shape: [...x.shape] as [number, number, number, number], labels: Uint8Array.from(labels) }, classes);
    return wrapDevice(ds, 0, count);
  }
  const data = x instanceof Float32Array ? x : x.data;
  const count = check(data.length, x instanceof Float32Array ? undefined : x.shape);
  fitsOneBuffer(engine, data.length * 4, `${what}: ${count} float rows of ${per} values`, 'pass uint8 images ({images, shape}: stored packed and split into chunks) or train on fewer examples at a time');
  const labels = labelsToClasses(y, count, classes, what);
  return FloatSource.upload(engine, data, per, labels, classes);
}

/** Float data lives in one storage buffer: refuse (before allocating) what the adapter cannot bind in one piece. */
function fitsOneBuffer(engine: Engine, bytes: number, what: string, hint: string): void {
  const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
  if (bytes > limit) throw new ShapeError(`${what} are ${bytes} bytes as float32, over this adapter's limit of ${limit} bytes per storage buffer; ${hint}.`);
}

function wrapDevice(ds: DeviceDataset, base: number, count: number, owner = true): BatchSource {
  return {
    count,
    base,
    recordGather: (rec, order, start, n, x, y, opts) => ds.recordGather(rec, order, start, n, x, y, { scale: 1 / 255, offset: 0, sparse: opts.sparse }),
    slice: (from, to) => wrapDevice(ds, base + from, to - from, false),
    dispose: () => {
      if (owner) ds.dispose();
    },
  };
}

class FloatSource implements BatchSource {
  private constructor(
    private readonly src: Tensor,
    private readonly labels: Tensor,
    private readonly rowSize: number,
    private readonly classes: number,
    readonly count: number,
    readonly base: number,
    private readonly owner: boolean,
  ) {}

  static upload(engine: Engine, data: Float32Array, rowSize: number, labels: Uint32Array | Uint8Array, classes: number): FloatSource {
    const count = data.length / rowSize;
    return new FloatSource(engine.tensor([count, rowSize], data), engine.tensor([count], Uint32Array.from(labels)), rowSize, classes, count, 0, true);
  }

  recordGather(rec: Recorder, order: Tensor, start: GPUBuffer, n: number, x: Tensor, y: Tensor, opts: { sparse?: boolean }): void {
    const wg = tuningOf(rec.engine).elementwiseWorkgroup;
    const total = Math.max(n * this.rowSize, n * this.classes);
    rec.dispatch({
      shader: 'gather',
      constants: { WG: wg },
      bindings: [rec.uniform([n, this.rowSize, this.classes, opts.sparse ? 1 : 0]), { buffer: start, offset: 0, size: 16 }, order, this.src, this.labels, x, y],
      workgroups: grid1d(rec.engine, total, wg),
      label: 'gather float batch',
      cost: { variant: 'scalar', threads: wg, serial: 1, flops: 0, bytes: 8 * n * this.rowSize + 4 * n * (this.classes + 2) },
    });
  }

  slice(from: number, to: number): BatchSource {
    return new FloatSource(this.src, this.labels, this.rowSize, this.classes, to - from, this.base + from, false);
  }

  dispose(): void {
    if (!this.owner) return;
    this.src.dispose();
    this.labels.dispose();
  }
}
