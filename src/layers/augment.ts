// Keras' image augmentation layers, on the GPU: RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
// RandomCrop, RandomContrast, RandomBrightness. Active only while training (ctx.training); the identity in
// evaluate and predict (RandomCrop: the centre crop). Each training step draws every example's parameters on the
// GPU from a counter-based hash of (seed, stream = layer id, step t, example), as Dropout draws its mask, so a
// replayed step augments afresh with no host work and a run is reproducible from its seed.
//
// Gradients: flip, crop, contrast and brightness pass the exact input gradient (gathers). The resampling layers
// (translation, rotation, zoom) have none: like Keras' use, they belong at the front of a model, and
// checkAugmentationOrder (run by the model at build) rejects one that follows a layer with trainable weights.
import type { Engine } from '../gpu/engine.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import {
  augmentAffine, augmentBrightness, augmentBrightnessBackward, augmentChannelMean, augmentContrast, augmentContrastBackward,
  augmentCrop, augmentCropBackward, augmentDraw, augmentFlip, FILL_MODES, INTERPOLATIONS, PARAMS_PER_EXAMPLE,
  type AugmentDraw, type FillMode, type ImageDims, type Interpolation,
} from '../kernels/augment.js';
import { affineRef, augmentParamsRef, brightnessRef, contrastRef, cropRef, flipRef } from '../reference/augment.js';
import { ShapeError } from '../errors.js';
import { Layer, type StepContext } from './layer.js';

/** A factor as Keras takes it: one number (a symmetric range) or a [lower, upper] pair. */
export type AugmentFactor = number | [number, number];

/** Options every augmentation layer takes. */
export interface AugmentOptions {
  /** The layer's own seed (Keras' `seed`); default: the model's seed. */
  seed?: number;
  name?: string;
  inputShape?: number[];
}

/** Options of the resampling layers (RandomTranslation, RandomRotation, RandomZoom). */
export interface ResampleOptions extends AugmentOptions {
  /** How points outside the image are filled (Keras' default 'reflect'). */
  fillMode?: FillMode;
  /** 'bilinear' (default) or 'nearest'. */
  interpolation?: Interpolation;
  /** The value outside the image with fillMode 'constant' (default 0). */
  fillValue?: number;
}

/** The base of the augmentation layers: rank-3 images, per-example parameters drawn on the GPU each training step. */
export abstract class ImageAugmentation extends Layer {
  readonly seed?: number;
  /** Whether backward gives the input gradient (false for the resampling layers: they must come first). */
  abstract readonly hasInputGradient: boolean;
  protected params?: Tensor;
  protected y?: Tensor;
  protected dx?: Tensor;
  /** Whether the last recorded forward transformed its input (training, or always where transformsAtInference). */
  protected active = false;
  /** Whether inference applies a transform too (RandomCrop: the centre window); else it is the identity. */
  protected readonly transformsAtInference: boolean = false;

  constructor(opts: AugmentOptions, baseName: string) {
    super({ name: opts.name, inputShape: opts.inputShape }, baseName);
    if (opts.seed !== undefined && opts.seed !== null && !(Number.isInteger(opts.seed) && opts.seed >= 0))
      throw this.shapeError(`seed must be a whole number >= 0, got ${JSON.stringify(opts.seed)}.`);
    this.seed = opts.seed ?? undefined;
  }

  computeOutputShape(inputShape: number[]): number[] {
    this.expectRank(inputShape, 3, 'images [height, width, channels]');
    return [...inputShape];
  }

  /** What the layer draws per example (the centre window for RandomCrop at inference). */
  protected abstract drawSpec(training: boolean): AugmentDraw;

  /** The [n, h, w, c] sizes of a batch of n inputs. */
  protected imageDims(n: number): ImageDims {
    const [h, w, c] = this.inputShape as [number, number, number];
    return { n, h, w, c };
  }

  /** The drawn parameters, the output and (with an input gradient) dx, for batches up to maxBatch. */
  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.params = this.own(engine, [maxBatch, PARAMS_PER_EXAMPLE]);
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    if (this.hasInputGradient) this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
  }

  /** Records the draw of this step's parameters; returns them ([n, 8], kept for backward). */
  protected recordDraw(rec: Recorder, ctx: StepContext): Tensor {
    const params = this.batchView(this.params!, ctx.n);
    augmentDraw(rec, params, this.imageDims(ctx.n), this.drawSpec(ctx.training), this.seed ?? ctx.seed, this.id, ctx.stepState);
    return params;
  }

  /** The transform of n examples with drawn parameters params, recorded into y. */
  protected abstract transform(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, ctx: StepContext): void;

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    this.active = ctx.training || this.transformsAtInference;
    if (!this.active) return x;
    const params = this.recordDraw(rec, ctx);
    const y = this.batchView(this.y!, ctx.n);
    this.saved = { x, params };
    this.transform(rec, x, params, y, ctx);
    return y;
  }

  /**
   * The float64 twin of forward for n examples of x: training draws the parameters of optimizer step `step` for
   * the model's seed (what the GPU draws; rotations up to WGSL's cos/sin accuracy); inference is the identity
   * (RandomCrop: the centre crop).
   */
  forwardRef(x: ArrayLike<number>, n: number, training?: { seed: number; step: number }): Float64Array {
    if (!training && !this.transformsAtInference) return Float64Array.from(x);
    const d = this.imageDims(n);
    const params = augmentParamsRef(d, this.drawSpec(!!training), this.seed ?? training?.seed ?? 0, this.id, training?.step ?? 0);
    return this.applyRef(x, params, d);
  }

  /** The float64 transform of n examples with the parameters `params` (the CPU twin of transform). */
  protected abstract applyRef(x: ArrayLike<number>, params: Float32Array, d: ImageDims): Float64Array;

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    if (!needInputGrad) return null;
    if (!this.active) return dy;
    // The resampling layers stop the backward pass: checkAugmentationOrder saw to it that nothing before needs it.
    if (!this.hasInputGradient) return null;
    const dx = this.batchView(this.dx!, ctx.n);
    this.applyBackward(rec, dy, dx, ctx);
    return dx;
  }

  /** Records dx from dy for the layers with an input gradient (hasInputGradient). */
  protected applyBackward(_rec: Recorder, _dy: Tensor, _dx: Tensor, _ctx: StepContext): void {}

  /** [lower, upper] of a Keras factor in [lo, hi]: a number f gives [-|f|, |f|] (`symmetric: false`: [f, f]); a pair is sorted. */
  protected factorRange(what: string, v: unknown, lo: number, hi: number, symmetric = true): [number, number] {
    const bad = () => this.shapeError(`${what} must be a number or a [lower, upper] pair of numbers in [${lo}, ${hi}], got ${JSON.stringify(v)}.`);
    if (finite(v)) {
      if (v < lo || v > hi) throw bad();
      return symmetric ? [-Math.abs(v), Math.abs(v)] : [v, v];
    }
    if (Array.isArray(v) && v.length === 2 && v.every(finite) && v.every((e) => e >= lo && e <= hi)) {
      const [a, b] = v as [number, number];
      return a <= b ? [a, b] : [b, a];
    }
    throw bad();
  }

  /** A [low, high] value range (sorted, as Keras sorts it). */
  protected valueRangeOf(v: unknown): [number, number] {
    if (Array.isArray(v) && v.length === 2 && v.every(finite) && v[0] !== v[1]) {
      const [a, b] = v as [number, number];
      return a < b ? [a, b] : [b, a];
    }
    throw this.shapeError(`valueRange must be a [low, high] pair of different numbers, got ${JSON.stringify(v)}.`);
  }
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Throws a ShapeError when a resampling augmentation (RandomTranslation, RandomRotation, RandomZoom), which has no
 * input gradient, has a layer with trainable weights upstream: those weights would get no gradient. `nodes` are a
 * model's layers in topological order, each a Layer (fed by the one before, as in Sequential) or {layer, inputs}
 * with the indices of the nodes feeding it (negative: the model input). Models run it at compile, when
 * `trainable` is read.
 */
export function checkAugmentationOrder(nodes: readonly (Layer | { layer: Layer; inputs: readonly number[] })[]): void {
  // the first layer with trainable weights at or above each node, if any
  const weightedAbove: (Layer | undefined)[] = [];
  nodes.forEach((node, i) => {
    const { layer, inputs } = node instanceof Layer ? { layer: node, inputs: [i - 1] } : node;
    const upstream = inputs.map((j) => (j >= 0 ? weightedAbove[j] : undefined)).find((l) => l !== undefined);
    if (layer instanceof ImageAugmentation && !layer.hasInputGradient && upstream)
      throw new ShapeError(
        `Layer "${layer.name}" (${layer.className}) follows "${upstream.name}" (${upstream.className}), which has trainable weights: ` +
          `augmentation layers must come before layers with weights (${layer.className} passes no gradient back). Move it to the front of the model, or freeze the layers before it.`,
      );
    const own = layer.trainable && layer.paramSpecs().some((s) => s.trainable !== false);
    weightedAbove[i] = upstream ?? (own ? layer : undefined);
  });
}

/** Keras' flip modes. */
export type FlipMode = 'horizontal' | 'vertical' | 'horizontal_and_vertical';

/** Keras' RandomFlip: each example mirrored left-right and/or top-bottom, each with probability 1/2, while training. */
export class RandomFlip extends ImageAugmentation {
  readonly className = 'RandomFlip';
  readonly hasInputGradient = true;
  readonly mode: FlipMode;

  constructor(opts: AugmentOptions & { mode?: FlipMode } = {}) {
    super(opts, 'random_flip');
    const mode = opts.mode ?? 'horizontal_and_vertical';
    if (!['horizontal', 'vertical', 'horizontal_and_vertical'].includes(mode))
      throw this.shapeError(`mode must be 'horizontal', 'vertical' or 'horizontal_and_vertical', got ${JSON.stringify(mode)}.`);
    this.mode = mode;
  }

  getConfig(): Record<string, unknown> {
    return { mode: this.mode, seed: this.seed ?? null };
  }

  protected drawSpec(): AugmentDraw {
    return { kind: 'flip', horizontal: this.mode !== 'vertical', vertical: this.mode !== 'horizontal' };
  }

  protected transform(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, ctx: StepContext): void {
    augmentFlip(rec, x, params, y, this.imageDims(ctx.n));
  }

  protected applyRef(x: ArrayLike<number>, params: Float32Array, d: ImageDims): Float64Array {
    return flipRef(x, params, d);
  }

  protected override applyBackward(rec: Recorder, dy: Tensor, dx: Tensor, ctx: StepContext): void {
    augmentFlip(rec, dy, this.saved.params!, dx, this.imageDims(ctx.n)); // a flip is its own transpose
  }
}

/** The resampling layers' shared options and sampler. */
abstract class ResampleAugmentation extends ImageAugmentation {
  readonly hasInputGradient = false;
  readonly fillMode: FillMode;
  readonly interpolation: Interpolation;
  readonly fillValue: number;

  constructor(opts: ResampleOptions, baseName: string) {
    super(opts, baseName);
    this.fillMode = opts.fillMode ?? 'reflect';
    this.interpolation = opts.interpolation ?? 'bilinear';
    this.fillValue = opts.fillValue ?? 0;
    if (!FILL_MODES.includes(this.fillMode)) throw this.shapeError(`fillMode must be one of ${FILL_MODES.join(', ')}, got ${JSON.stringify(opts.fillMode)}.`);
    if (!INTERPOLATIONS.includes(this.interpolation))
      throw this.shapeError(`interpolation must be 'bilinear' or 'nearest', got ${JSON.stringify(opts.interpolation)}.`);
    if (!finite(this.fillValue)) throw this.shapeError(`fillValue must be a finite number, got ${JSON.stringify(opts.fillValue)}.`);
  }

  /** The config keys the resampling layers share (fill_mode, interpolation, seed, fill_value). */
  protected fillConfig(): Record<string, unknown> {
    return { fill_mode: this.fillMode, interpolation: this.interpolation, seed: this.seed ?? null, fill_value: this.fillValue };
  }

  private get sampling(): { fillMode: FillMode; interpolation: Interpolation; fillValue: number } {
    return { fillMode: this.fillMode, interpolation: this.interpolation, fillValue: this.fillValue };
  }

  protected transform(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, ctx: StepContext): void {
    augmentAffine(rec, x, params, y, this.imageDims(ctx.n), this.sampling);
  }

  protected applyRef(x: ArrayLike<number>, params: Float32Array, d: ImageDims): Float64Array {
    return affineRef(x, params, d, this.sampling);
  }
}

/** Translation and zoom: a height factor and a width factor (zoom: optional, null = the height's). */
abstract class HeightWidthResample extends ResampleAugmentation {
  readonly heightFactor: AugmentFactor;
  readonly widthFactor: AugmentFactor | null;
  protected readonly ranges: [[number, number], [number, number] | null];

  constructor(opts: ResampleOptions & { heightFactor: AugmentFactor; widthFactor?: AugmentFactor | null }, baseName: string, widthOptional: boolean) {
    super(opts, baseName);
    const width = opts.widthFactor ?? null;
    this.ranges = [
      this.factorRange('heightFactor', opts.heightFactor, -1, 1),
      width === null && widthOptional ? null : this.factorRange('widthFactor', opts.widthFactor, -1, 1),
    ];
    this.heightFactor = opts.heightFactor;
    this.widthFactor = width;
  }

  getConfig(): Record<string, unknown> {
    return { height_factor: this.heightFactor, width_factor: this.widthFactor, ...this.fillConfig() };
  }
}

/**
 * Keras' RandomTranslation: each example shifted by a fraction of its height and width drawn from heightFactor
 * and widthFactor (a number f: [-f, f]; a pair: [lower, upper], in [-1, 1]; positive: down / right).
 */
export class RandomTranslation extends HeightWidthResample {
  readonly className = 'RandomTranslation';
  declare readonly widthFactor: AugmentFactor;

  constructor(opts: ResampleOptions & { heightFactor: AugmentFactor; widthFactor: AugmentFactor }) {
    super(opts, 'random_translation', false);
  }

  protected drawSpec(): AugmentDraw {
    return { kind: 'translate', height: this.ranges[0], width: this.ranges[1]! };
  }
}

/**
 * Keras' RandomRotation: each example rotated about its centre by factor × 2π (a number f: [-f, f]; a pair:
 * [lower, upper], in [-1, 1]; positive: counter-clockwise).
 */
export class RandomRotation extends ResampleAugmentation {
  readonly className = 'RandomRotation';
  readonly factor: AugmentFactor;
  private readonly range: [number, number];

  constructor(opts: ResampleOptions & { factor: AugmentFactor }) {
    super(opts, 'random_rotation');
    this.range = this.factorRange('factor', opts.factor, -1, 1);
    this.factor = opts.factor;
  }

  getConfig(): Record<string, unknown> {
    return { factor: this.factor, ...this.fillConfig() };
  }

  protected drawSpec(): AugmentDraw {
    return { kind: 'rotate', factor: this.range };
  }
}

/**
 * Keras' RandomZoom: each example zoomed about its centre by 1 + a value drawn from heightFactor (positive: zoom
 * out, negative: in; a number f: [-f, f]; a pair: [lower, upper], in [-1, 1]) and widthFactor (default: the
 * height's zoom, keeping the aspect ratio).
 */
export class RandomZoom extends HeightWidthResample {
  readonly className = 'RandomZoom';

  constructor(opts: ResampleOptions & { heightFactor: AugmentFactor; widthFactor?: AugmentFactor | null }) {
    super(opts, 'random_zoom', true);
  }

  protected drawSpec(): AugmentDraw {
    return { kind: 'zoom', height: this.ranges[0], width: this.ranges[1] };
  }
}

/**
 * Keras' RandomCrop: a height × width window of each example at a uniformly drawn offset while training; at
 * inference the centre window (Keras 2's behaviour; Keras 3 resizes instead). Images smaller than the window are a
 * ShapeError (Keras would resize them up).
 */
export class RandomCrop extends ImageAugmentation {
  readonly className = 'RandomCrop';
  readonly hasInputGradient = true;
  protected override readonly transformsAtInference = true;
  readonly height: number;
  readonly width: number;

  constructor(opts: AugmentOptions & { height: number; width: number }) {
    super(opts, 'random_crop');
    for (const k of ['height', 'width'] as const)
      if (!(Number.isInteger(opts[k]) && opts[k] >= 1)) throw this.shapeError(`${k} must be a whole number >= 1, got ${JSON.stringify(opts[k])}.`);
    this.height = opts.height;
    this.width = opts.width;
  }

  override computeOutputShape(inputShape: number[]): number[] {
    this.expectRank(inputShape, 3, 'images [height, width, channels]');
    const [h, w, c] = inputShape as [number, number, number];
    if (h < this.height || w < this.width)
      throw this.shapeError(`a ${this.height}x${this.width} crop needs images at least that large, got ${h}x${w} (resize them first).`);
    return [this.height, this.width, c];
  }

  getConfig(): Record<string, unknown> {
    return { height: this.height, width: this.width, seed: this.seed ?? null };
  }

  protected drawSpec(training: boolean): AugmentDraw {
    return { kind: 'crop', height: this.height, width: this.width, center: !training };
  }

  protected transform(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, ctx: StepContext): void {
    augmentCrop(rec, x, params, y, this.imageDims(ctx.n), this.height, this.width);
  }

  protected applyRef(x: ArrayLike<number>, params: Float32Array, d: ImageDims): Float64Array {
    return cropRef(x, params, d, this.height, this.width);
  }

  protected override applyBackward(rec: Recorder, dy: Tensor, dx: Tensor, ctx: StepContext): void {
    augmentCropBackward(rec, dy, this.saved.params!, dx, this.imageDims(ctx.n), this.height, this.width);
  }
}

/** Contrast and brightness: a factor and a value range the outputs are clipped to (Keras' default [0, 255]). */
abstract class ValueAugmentation extends ImageAugmentation {
  readonly hasInputGradient = true;
  readonly factor: AugmentFactor;
  readonly valueRange: [number, number];

  constructor(opts: AugmentOptions & { factor: AugmentFactor; valueRange?: [number, number] }, baseName: string) {
    super(opts, baseName);
    this.factor = opts.factor;
    this.valueRange = this.valueRangeOf(opts.valueRange ?? [0, 255]);
  }

  getConfig(): Record<string, unknown> {
    return { factor: this.factor, value_range: [...this.valueRange], seed: this.seed ?? null };
  }
}

/**
 * Keras' RandomContrast: each example's channels spread about their own mean, (x - mean) · f + mean, with f drawn
 * from [1 - lower, 1 + upper] (factor: a number f gives lower = upper = f; in [0, 1]), clipped to valueRange
 * (default [0, 255]).
 */
export class RandomContrast extends ValueAugmentation {
  readonly className = 'RandomContrast';
  private readonly range: [number, number];
  private mean?: Tensor;
  private sums?: Tensor;

  constructor(opts: AugmentOptions & { factor: AugmentFactor; valueRange?: [number, number] }) {
    super(opts, 'random_contrast');
    const [lower, upper] = this.factorRange('factor', opts.factor, 0, 1, false);
    this.range = [1 - lower, 1 + upper];
  }

  /** The base's buffers plus the per-(example, channel) means and gradient sums. */
  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    const c = this.inputShape[2]!;
    this.mean = this.own(engine, [maxBatch, c]);
    this.sums = this.own(engine, [maxBatch, c]);
  }

  protected drawSpec(): AugmentDraw {
    return { kind: 'contrast', factor: this.range };
  }

  protected transform(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, ctx: StepContext): void {
    const mean = this.batchView(this.mean!, ctx.n);
    augmentChannelMean(rec, x, mean, this.imageDims(ctx.n));
    augmentContrast(rec, x, params, mean, y, this.imageDims(ctx.n), this.valueRange);
    this.saved.mean = mean;
  }

  protected applyRef(x: ArrayLike<number>, params: Float32Array, d: ImageDims): Float64Array {
    return contrastRef(x, params, d, this.valueRange);
  }

  protected override applyBackward(rec: Recorder, dy: Tensor, dx: Tensor, ctx: StepContext): void {
    const { x, params, mean } = this.saved;
    augmentContrastBackward(rec, dy, x!, params!, mean!, this.batchView(this.sums!, ctx.n), dx, this.imageDims(ctx.n), this.valueRange);
  }
}

/**
 * Keras' RandomBrightness: each example shifted by a value drawn from factor (a number f: [-f, f]; a pair:
 * [lower, upper], in [-1, 1]) times the width of valueRange (default [0, 255]), then clipped to valueRange.
 */
export class RandomBrightness extends ValueAugmentation {
  readonly className = 'RandomBrightness';
  private readonly range: [number, number];

  constructor(opts: AugmentOptions & { factor: AugmentFactor; valueRange?: [number, number] }) {
    super(opts, 'random_brightness');
    this.range = this.factorRange('factor', opts.factor, -1, 1);
  }

  protected drawSpec(): AugmentDraw {
    return { kind: 'brightness', factor: this.range, valueRange: this.valueRange };
  }

  protected transform(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, ctx: StepContext): void {
    augmentBrightness(rec, x, params, y, this.imageDims(ctx.n), this.valueRange);
  }

  protected applyRef(x: ArrayLike<number>, params: Float32Array, d: ImageDims): Float64Array {
    return brightnessRef(x, params, d, this.valueRange);
  }

  protected override applyBackward(rec: Recorder, dy: Tensor, dx: Tensor, ctx: StepContext): void {
    augmentBrightnessBackward(rec, dy, this.saved.x!, this.saved.params!, dx, this.imageDims(ctx.n), this.valueRange);
  }
}

/** The Keras class names of the augmentation layers (model.json's class_name). */
export const AUGMENTATION_CLASSES = ['RandomFlip', 'RandomTranslation', 'RandomRotation', 'RandomZoom', 'RandomCrop', 'RandomContrast', 'RandomBrightness'] as const;

/**
 * An augmentation layer from its Keras/TF.js config (snake_case keys, as getConfig writes them); the constructors
 * check every value. Only data_format 'channels_last' is accepted.
 */
export function augmentationFromConfig(className: (typeof AUGMENTATION_CLASSES)[number], c: Record<string, unknown>, base: { name: string; inputShape?: number[] }): ImageAugmentation {
  if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last')
    throw new ShapeError(`Layer "${base.name}" (${className}): only data_format 'channels_last' is supported, got ${JSON.stringify(c.data_format)}.`);
  if (c.seed !== undefined && c.seed !== null && !(typeof c.seed === 'number' && c.seed <= 0xffffffff))
    throw new ShapeError(`Layer "${base.name}" (${className}): seed ${JSON.stringify(c.seed)} is not a whole number in [0, 2^32).`);
  const opts = { ...base, seed: (c.seed ?? undefined) as number | undefined };
  const resample = {
    ...opts,
    fillMode: (c.fill_mode ?? undefined) as FillMode | undefined,
    interpolation: (c.interpolation ?? undefined) as Interpolation | undefined,
    fillValue: (c.fill_value ?? undefined) as number | undefined,
  };
  const factor = c.factor as AugmentFactor;
  const valueRange = (c.value_range ?? undefined) as [number, number] | undefined;
  switch (className) {
    case 'RandomFlip': return new RandomFlip({ ...opts, mode: (c.mode ?? undefined) as FlipMode | undefined });
    case 'RandomTranslation': return new RandomTranslation({ ...resample, heightFactor: c.height_factor as AugmentFactor, widthFactor: c.width_factor as AugmentFactor });
    case 'RandomRotation': return new RandomRotation({ ...resample, factor });
    case 'RandomZoom': return new RandomZoom({ ...resample, heightFactor: c.height_factor as AugmentFactor, widthFactor: (c.width_factor ?? null) as AugmentFactor | null });
    case 'RandomCrop': return new RandomCrop({ ...opts, height: c.height as number, width: c.width as number });
    case 'RandomContrast': return new RandomContrast({ ...opts, factor, valueRange });
    case 'RandomBrightness': return new RandomBrightness({ ...opts, factor, valueRange });
  }
}
