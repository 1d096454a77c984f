// The merge layers of the functional API: Add, Multiply and Concatenate (last axis). Each takes two or more inputs
// (MultiInputLayer: built with every input's shape, recorded with forwardInputs/backwardInputs by the step plan).
// Kernels: elementwise add, accumulate, multiply (src/kernels/elementwise.ts) and copyColumns (src/kernels/merge.ts). Add's backward hands its
// output gradient to every input unchanged (a view, no dispatch); the step plan sums fan-out gradients.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { shapeStr } from '../errors.js';
import { accumulate, add, multiply, multiplyInto } from '../kernels/elementwise.js';
import { copyColumns } from '../kernels/merge.js';
import { Layer, type MultiInputLayer, type StepContext } from './layer.js';

/** Options every merge layer takes. */
export interface MergeOptions {
  name?: string;
  /** Kept for Keras' config; merge layers have no weights. */
  trainable?: boolean;
}

/** The base of the merge layers: two or more inputs, one output, no weights. */
export abstract class Merge extends Layer implements MultiInputLayer {
  /** Every input's shape (no batch), as built. */
  inputShapes: number[][] = [];
  protected out?: Tensor;

  constructor(opts: MergeOptions, baseName: string) {
    super({ name: opts.name, trainable: opts.trainable }, baseName);
  }

  /** The output shape for these input shapes; throws a ShapeError naming the layer when they do not fit. */
  protected abstract mergeShape(shapes: number[][]): number[];

  computeOutputShape(inputShape: number[]): number[] {
    throw this.shapeError(`merges two or more inputs but was given one, ${shapeStr(inputShape)}: use it in a functional model, layer.apply([a, b]).`);
  }

  buildInputs(inputShapes: number[][]): void {
    if (inputShapes.length < 2) throw this.shapeError(`merges two or more inputs, got ${inputShapes.length}.`);
    this.outputShape = this.mergeShape(inputShapes);
    this.inputShapes = inputShapes.map((s) => [...s]);
    this.inputShape = [...inputShapes[0]!];
    this.built = true;
  }

  /** The common shape of the inputs (Add, Multiply); a ShapeError listing them when they differ. */
  protected sameShapes(shapes: number[][]): number[] {
    const first = shapeStr(shapes[0]!);
    if (!shapes.every((s) => shapeStr(s) === first)) throw this.shapeError(`its inputs must all have the same shape, got ${shapes.map(shapeStr).join(', ')}.`);
    return [...shapes[0]!];
  }

  getConfig(): Record<string, unknown> {
    return {};
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.out = this.own(engine, [maxBatch, ...this.outputShape]);
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    return this.forwardInputs(rec, [x], ctx);
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    return this.backwardInputs(rec, dy, ctx, [needInputGrad])[0] ?? null;
  }

  abstract forwardInputs(rec: Recorder, xs: Tensor[], ctx: StepContext): Tensor;
  abstract backwardInputs(rec: Recorder, dy: Tensor, ctx: StepContext, need: boolean[]): (Tensor | null)[];
}

/** The elementwise sum of its inputs (Keras' Add), all of one shape. */
export class Add extends Merge {
  readonly className = 'Add';
  constructor(opts: MergeOptions = {}) {
    super(opts, 'add');
  }
  protected mergeShape(shapes: number[][]): number[] {
    return this.sameShapes(shapes);
  }
  forwardInputs(rec: Recorder, xs: Tensor[], ctx: StepContext): Tensor {
    const y = this.batchView(this.out!, ctx.n);
    add(rec, xs[0]!, xs[1]!, y);
    for (const x of xs.slice(2)) accumulate(rec, x, y);
    return y;
  }
  backwardInputs(_rec: Recorder, dy: Tensor, _ctx: StepContext, need: boolean[]): (Tensor | null)[] {
    return need.map((n) => (n ? dy : null)); // d(a + b)/da = 1: the output gradient itself
  }
}

/** The elementwise product of its inputs (Keras' Multiply), all of one shape. */
export class Multiply extends Merge {
  readonly className = 'Multiply';
  private dxs: Tensor[] = [];
  constructor(opts: MergeOptions = {}) {
    super(opts, 'multiply');
  }
  protected mergeShape(shapes: number[][]): number[] {
    return this.sameShapes(shapes);
  }
  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    this.dxs = this.inputShapes.map((s) => this.own(engine, [maxBatch, ...s]));
  }
  forwardInputs(rec: Recorder, xs: Tensor[], ctx: StepContext): Tensor {
    const y = this.batchView(this.out!, ctx.n);
    multiply(rec, xs[0]!, xs[1]!, y);
    for (const x of xs.slice(2)) multiplyInto(rec, x, y);
    this.saved = Object.fromEntries(xs.map((x, i) => [`input${i}`, x]));
    return y;
  }
  backwardInputs(rec: Recorder, dy: Tensor, ctx: StepContext, need: boolean[]): (Tensor | null)[] {
    // dx_i = dy * the product of the other inputs (never dy / x_i, which fails at 0)
    const xs = need.map((_, i) => this.saved[`input${i}`]!);
    return need.map((n, i) => {
      if (!n) return null;
      const dx = this.batchView(this.dxs[i]!, ctx.n);
      const others = xs.filter((_, j) => j !== i);
      multiply(rec, dy, others[0]!, dx);
      for (const o of others.slice(1)) multiplyInto(rec, o, dx);
      return dx;
    });
  }
}

/** Its inputs joined along the last (channel) axis (Keras' Concatenate, axis -1): every other dimension must agree. */
export class Concatenate extends Merge {
  readonly className = 'Concatenate';
  /** Always -1 (the last axis, channels in NHWC). */
  readonly axis = -1;
  private dxs: Tensor[] = [];
  constructor(opts: MergeOptions & { axis?: number } = {}) {
    super(opts, 'concatenate');
    if (opts.axis !== undefined && opts.axis !== -1) throw this.shapeError(`only axis -1 (the last, channel axis) is supported, got axis ${opts.axis}.`);
  }
  protected mergeShape(shapes: number[][]): number[] {
    const rank = shapes[0]!.length;
    const lead = shapeStr(shapes[0]!.slice(0, -1));
    if (rank === 0 || !shapes.every((s) => s.length === rank && shapeStr(s.slice(0, -1)) === lead))
      throw this.shapeError(`joins its inputs along the last axis, so every other dimension must agree; got ${shapes.map(shapeStr).join(', ')}.`);
    return [...shapes[0]!.slice(0, -1), shapes.reduce((s, x) => s + x[rank - 1]!, 0)];
  }
  override getConfig(): Record<string, unknown> {
    return { axis: -1 };
  }
  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    this.dxs = this.inputShapes.map((s) => this.own(engine, [maxBatch, ...s]));
  }
  /** [rows, columns of input k, its first column in the output] per input. */
  private columns(n: number): { rows: number; total: number; cols: number[]; offsets: number[] } {
    const rank = this.outputShape.length;
    const total = this.outputShape[rank - 1]!;
    const rows = n * this.outputShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const cols = this.inputShapes.map((s) => s[rank - 1]!);
    const offsets = cols.map((_, k) => cols.slice(0, k).reduce((a, b) => a + b, 0));
    return { rows, total, cols, offsets };
  }
  forwardInputs(rec: Recorder, xs: Tensor[], ctx: StepContext): Tensor {
    const y = this.batchView(this.out!, ctx.n);
    const { rows, total, cols, offsets } = this.columns(ctx.n);
    xs.forEach((x, k) => copyColumns(rec, x, y, { rows, cols: cols[k]!, srcCols: cols[k]!, srcOff: 0, dstCols: total, dstOff: offsets[k]! }));
    return y;
  }
  backwardInputs(rec: Recorder, dy: Tensor, ctx: StepContext, need: boolean[]): (Tensor | null)[] {
    const { rows, total, cols, offsets } = this.columns(ctx.n);
    return need.map((n, k) => {
      if (!n) return null;
      const dx = this.batchView(this.dxs[k]!, ctx.n);
      copyColumns(rec, dy, dx, { rows, cols: cols[k]!, srcCols: total, srcOff: offsets[k]!, dstCols: cols[k]!, dstOff: 0 });
      return dx;
    });
  }
}
