// Image augmentation kernels (shaders/augment.wgsl), NHWC: a `draw` of each example's random parameters from the
// counter-based hash of (example, step t, stream, seed), then the transform that reads them. CPU twin:
// src/reference/augment.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { tuningOf } from './tuning.js';

/** Keras' fill modes: how points outside the input are filled (TensorFlow's ImageProjectiveTransformV3). */
export type FillMode = 'constant' | 'reflect' | 'wrap' | 'nearest';
/** Keras' interpolations for the geometric augmentations. */
export type Interpolation = 'nearest' | 'bilinear';

/** Every fill mode, in the order the shader numbers them. */
export const FILL_MODES: readonly FillMode[] = ['constant', 'reflect', 'wrap', 'nearest'];
/** Every interpolation (0 nearest, 1 bilinear in the shader). */
export const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear'];

/** Floats of random parameters per example in the params tensor [n, PARAMS_PER_EXAMPLE]. */
export const PARAMS_PER_EXAMPLE = 8;

/** Batch, height, width and channels of an NHWC image batch. */
export interface ImageDims {
  n: number;
  h: number;
  w: number;
  c: number;
}

/**
 * What to draw per example. Ranges are [lower, upper]; a value is lower + (upper - lower)·u, u uniform in [0, 1)
 * on 24 bits. flip: each chosen axis with probability 1/2. translate: shifts as fractions of height and width.
 * rotate: the angle as a fraction of 2π. zoom: the zoom minus 1 (width null: the height's zoom). crop: a
 * height × width window at a uniform offset (center: the centre window). contrast: the factor itself.
 * brightness: a fraction of the value range's width, added.
 */
export type AugmentDraw =
  | { kind: 'flip'; horizontal: boolean; vertical: boolean }
  | { kind: 'translate'; height: [number, number]; width: [number, number] }
  | { kind: 'rotate'; factor: [number, number] }
  | { kind: 'zoom'; height: [number, number]; width: [number, number] | null }
  | { kind: 'crop'; height: number; width: number; center: boolean }
  | { kind: 'contrast'; factor: [number, number] }
  | { kind: 'brightness'; factor: [number, number]; valueRange: [number, number] };

const KINDS = { flip: 0, translate: 1, rotate: 2, zoom: 3, crop: 4, contrast: 5, brightness: 6 } as const;

/** The draw's integer and float uniforms (shared with the CPU twin, which must draw the same values). */
export function drawUniforms(d: AugmentDraw): { kind: number; mode: number; lo0: number; span0: number; lo1: number; span1: number; scale: number; oh: number; ow: number } {
  const u = { kind: KINDS[d.kind], mode: 0, lo0: 0, span0: 0, lo1: 0, span1: 0, scale: 0, oh: 0, ow: 0 };
  const range0 = (r: [number, number]) => ((u.lo0 = r[0]), (u.span0 = r[1] - r[0]));
  const range1 = (r: [number, number]) => ((u.lo1 = r[0]), (u.span1 = r[1] - r[0]));
  switch (d.kind) {
    case 'flip': u.mode = (d.horizontal ? 1 : 0) | (d.vertical ? 2 : 0); break;
    case 'translate': range0(d.height); range1(d.width); break;
    case 'rotate': range0(d.factor); break;
    case 'zoom': range0(d.height); if (d.width) range1(d.width); else u.mode = 1; break;
    case 'crop': u.oh = d.height; u.ow = d.width; u.mode = d.center ? 1 : 0; break;
    case 'contrast': range0(d.factor); break;
    case 'brightness': range0(d.factor); u.scale = d.valueRange[1] - d.valueRange[0]; break;
  }
  return u;
}

/** The transform's options: fill mode and value outside the input, interpolation, clip range (contrast, brightness). */
interface ApplyOptions {
  fillMode?: FillMode;
  interpolation?: Interpolation;
  fillValue?: number;
  valueRange?: [number, number];
  oh?: number;
  ow?: number;
  chunks?: number;
}

function uniforms(rec: Recorder, dims: ImageDims, o: ApplyOptions & Partial<ReturnType<typeof drawUniforms>> & { seed?: number; stream?: number }): GPUBuffer {
  const [vlo, vhi] = o.valueRange ?? [0, 0];
  return rec.uniform(
    [dims.n, dims.h, dims.w, dims.c, o.oh ?? 0, o.ow ?? 0, o.kind ?? 0, o.mode ?? 0, (o.seed ?? 0) >>> 0, (o.stream ?? 0) >>> 0,
      FILL_MODES.indexOf(o.fillMode ?? 'constant'), o.interpolation === 'nearest' ? 0 : 1, o.chunks ?? 0, 0, 0, 0,
      o.lo0 ?? 0, o.span0 ?? 0, o.lo1 ?? 0, o.span1 ?? 0, o.fillValue ?? 0, vlo, vhi, o.scale ?? 0],
    'uuuuuuuuuuuuuuuuffffffff',
  );
}

function expectSize(what: string, t: Tensor, size: number, shape: string): void {
  if (t.size !== size) throw new ShapeError(`${what}: expected ${shape} (${size} values), got ${shapeStr(t.shape)}.`);
}

function expectImages(what: string, t: Tensor, d: ImageDims): void {
  if (![d.n, d.h, d.w, d.c].every((v) => Number.isInteger(v) && v >= 0) || d.h < 1 || d.w < 1 || d.c < 1)
    throw new ShapeError(`${what}: image sizes must be whole numbers (height, width, channels >= 1), got ${shapeStr([d.n, d.h, d.w, d.c])}.`);
  expectSize(what, t, d.n * d.h * d.w * d.c, shapeStr([d.n, d.h, d.w, d.c]));
}

function separate(what: string, out: Tensor, ...ins: Tensor[]): void {
  for (const t of ins)
    if (t.buffer === out.buffer && t.offset < out.offset + out.byteLength && out.offset < t.offset + t.byteLength)
      throw new ShaderflowError(`${what}: the output must not overlap its inputs.`);
}

function elementwise(rec: Recorder, entry: string, count: number, bindings: (Tensor | GPUBuffer | null)[], flopsPer: number, bytesPer: number): void {
  if (count === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'augment',
    entry,
    constants: { WG: wg },
    bindings,
    workgroups: grid1d(rec.engine, count, wg),
    cost: { variant: 'scalar', threads: wg, serial: 1, flops: flopsPer * count, bytes: bytesPer * count },
  });
}

/**
 * params [n, 8] = each example's random parameters for `draw`, from pcg4d(example, t = stepState[0], stream,
 * seed): a replayed step (t incremented on the GPU) draws fresh ones. `dims` are the input images' sizes.
 */
export function augmentDraw(rec: Recorder, params: Tensor, dims: ImageDims, draw: AugmentDraw, seed: number, stream: number, stepState: GPUBuffer): void {
  expectSize('augmentDraw', params, dims.n * PARAMS_PER_EXAMPLE, shapeStr([dims.n, PARAMS_PER_EXAMPLE]));
  const u = drawUniforms(draw);
  if (draw.kind === 'crop' && !(u.oh >= 1 && u.ow >= 1 && u.oh <= dims.h && u.ow <= dims.w && dims.h - u.oh < 65536 && dims.w - u.ow < 65536))
    throw new ShapeError(`augmentDraw: a ${u.oh}x${u.ow} crop does not fit ${dims.h}x${dims.w} images.`);
  elementwise(rec, 'draw', dims.n, [uniforms(rec, dims, { ...u, seed, stream }), stepState, null, null, params], 40, 4 * PARAMS_PER_EXAMPLE);
}

/** y = x resampled at each example's affine map in params (translate, rotate, zoom), as Keras/TF does. */
export function augmentAffine(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, dims: ImageDims, o: { fillMode: FillMode; interpolation: Interpolation; fillValue: number }): void {
  expectImages('augmentAffine', x, dims);
  expectImages('augmentAffine', y, dims);
  expectSize('augmentAffine', params, dims.n * PARAMS_PER_EXAMPLE, shapeStr([dims.n, PARAMS_PER_EXAMPLE]));
  if (!FILL_MODES.includes(o.fillMode) || !INTERPOLATIONS.includes(o.interpolation))
    throw new ShaderflowError(`augmentAffine: fill mode ${JSON.stringify(o.fillMode)} / interpolation ${JSON.stringify(o.interpolation)} unknown.`);
  separate('augmentAffine', y, x, params);
  // bilinear: 4 reads, ~12 flops for the weights and coordinates; 4 reads + 1 write at worst
  elementwise(rec, 'affine', y.size, [uniforms(rec, dims, o), null, x, y, null, params], 30, 20);
}

/** y = x mirrored along each example's drawn axes; also its own backward (dx = augmentFlip(dy)). */
export function augmentFlip(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, dims: ImageDims): void {
  expectImages('augmentFlip', x, dims);
  expectImages('augmentFlip', y, dims);
  separate('augmentFlip', y, x, params);
  elementwise(rec, 'flip', y.size, [uniforms(rec, dims, {}), null, x, y, null, params], 0, 8);
}

/** y [n, oh, ow, c] = the window of x [n, h, w, c] at each example's drawn offset. */
export function augmentCrop(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, dims: ImageDims, oh: number, ow: number): void {
  expectImages('augmentCrop', x, dims);
  expectSize('augmentCrop', y, dims.n * oh * ow * dims.c, shapeStr([dims.n, oh, ow, dims.c]));
  separate('augmentCrop', y, x, params);
  elementwise(rec, 'crop', y.size, [uniforms(rec, dims, { oh, ow }), null, x, y, null, params], 0, 8);
}

/** dx [n, h, w, c] = dy [n, oh, ow, c] inside each example's window, 0 elsewhere. */
export function augmentCropBackward(rec: Recorder, dy: Tensor, params: Tensor, dx: Tensor, dims: ImageDims, oh: number, ow: number): void {
  expectImages('augmentCropBackward', dx, dims);
  expectSize('augmentCropBackward', dy, dims.n * oh * ow * dims.c, shapeStr([dims.n, oh, ow, dims.c]));
  separate('augmentCropBackward', dx, dy, params);
  elementwise(rec, 'cropBackward', dx.size, [uniforms(rec, dims, { oh, ow }), null, dy, dx, null, params], 0, 8);
}

/** Pixels per partial sum of the channel sums (CHUNK in shaders/augment.wgsl). */
const CHUNK = 4096;

/**
 * out [n, c] = scale · the per-(example, channel) sum over the pixels, in a fixed order: partials over CHUNK
 * pixels into Recorder scratch, then their sum in chunk order. `bindings` are the partial pass's (its output
 * slot 6 is filled here).
 */
function channelSums(rec: Recorder, entry: 'channelPartial' | 'contrastGradPartial', dims: ImageDims, out: Tensor, scale: number, o: ApplyOptions, bindings: (Tensor | GPUBuffer | null)[]): void {
  const count = dims.n * dims.c;
  if (count === 0) return;
  const hw = dims.h * dims.w;
  const chunks = Math.ceil(hw / CHUNK);
  if (chunks > 65535) throw new ShapeError(`augment channel sums: ${dims.h}x${dims.w} images are over ${65535 * CHUNK} pixels.`);
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const partials = rec.scratch(4 * count * chunks, 'augment channel sums');
  const partialBindings = [uniforms(rec, dims, { ...o, chunks }), ...bindings.slice(1)];
  partialBindings[6] = partials as unknown as GPUBuffer;
  rec.dispatch({
    shader: 'augment',
    entry,
    constants: { WG: wg },
    bindings: partialBindings,
    workgroups: grid1d(rec.engine, count * chunks, wg),
    cost: { variant: 'chunked', threads: wg, serial: Math.min(hw, CHUNK), flops: (entry === 'channelPartial' ? 1 : 5) * count * hw, bytes: (entry === 'channelPartial' ? 4 : 8) * count * hw + 4 * count * chunks },
  });
  rec.dispatch({
    shader: 'augment',
    entry: 'channelTotal',
    constants: { WG: wg },
    bindings: [uniforms(rec, dims, { chunks, scale }), null, null, null, null, null, out, null, partials],
    workgroups: grid1d(rec.engine, count, wg),
    cost: { variant: 'serial', threads: wg, serial: chunks, flops: count * chunks, bytes: 4 * count * (chunks + 1) },
  });
}

/** mean [n, c] = each example's per-channel mean over its pixels (a fixed-order sum). */
export function augmentChannelMean(rec: Recorder, x: Tensor, mean: Tensor, dims: ImageDims): void {
  expectImages('augmentChannelMean', x, dims);
  expectSize('augmentChannelMean', mean, dims.n * dims.c, shapeStr([dims.n, dims.c]));
  separate('augmentChannelMean', mean, x);
  channelSums(rec, 'channelPartial', dims, mean, 1 / (dims.h * dims.w), {}, [null, null, x]);
}

/** y = clip((x - mean) · f + mean, valueRange) with each example's factor f (Keras' RandomContrast). */
export function augmentContrast(rec: Recorder, x: Tensor, params: Tensor, mean: Tensor, y: Tensor, dims: ImageDims, valueRange: [number, number]): void {
  expectImages('augmentContrast', x, dims);
  expectImages('augmentContrast', y, dims);
  separate('augmentContrast', y, x, params, mean);
  elementwise(rec, 'contrast', y.size, [uniforms(rec, dims, { valueRange }), null, x, y, null, params, null, mean], 4, 8);
}

/**
 * dx of augmentContrast: f · dy · [not clipped] + (1 - f)/(h·w) · Σ dy · [not clipped] per example and channel;
 * `sums` [n, c] is the intermediate, `x` the forward input.
 */
export function augmentContrastBackward(rec: Recorder, dy: Tensor, x: Tensor, params: Tensor, mean: Tensor, sums: Tensor, dx: Tensor, dims: ImageDims, valueRange: [number, number]): void {
  for (const t of [dy, x, dx]) expectImages('augmentContrastBackward', t, dims);
  expectSize('augmentContrastBackward', sums, dims.n * dims.c, shapeStr([dims.n, dims.c]));
  separate('augmentContrastBackward', dx, dy, x, params, mean, sums);
  separate('augmentContrastBackward', sums, dy, x, params, mean);
  channelSums(rec, 'contrastGradPartial', dims, sums, 1, { valueRange }, [null, null, dy, null, null, params, null, mean, x]);
  elementwise(rec, 'contrastBackward', dx.size, [uniforms(rec, dims, { valueRange }), null, dy, dx, null, params, sums, mean, x], 8, 12);
}

/** y = clip(x + delta, valueRange) with each example's delta (Keras' RandomBrightness). */
export function augmentBrightness(rec: Recorder, x: Tensor, params: Tensor, y: Tensor, dims: ImageDims, valueRange: [number, number]): void {
  expectImages('augmentBrightness', x, dims);
  expectImages('augmentBrightness', y, dims);
  separate('augmentBrightness', y, x, params);
  elementwise(rec, 'brightness', y.size, [uniforms(rec, dims, { valueRange }), null, x, y, null, params], 2, 8);
}

/** dx = dy where x + delta was not clipped, else 0. */
export function augmentBrightnessBackward(rec: Recorder, dy: Tensor, x: Tensor, params: Tensor, dx: Tensor, dims: ImageDims, valueRange: [number, number]): void {
  for (const t of [dy, x, dx]) expectImages('augmentBrightnessBackward', t, dims);
  separate('augmentBrightnessBackward', dx, dy, x, params);
  elementwise(rec, 'brightnessBackward', dx.size, [uniforms(rec, dims, { valueRange }), null, dy, dx, null, params, null, null, x], 2, 12);
}
