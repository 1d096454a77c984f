import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import {
  augmentAffine, augmentBrightness, augmentBrightnessBackward, augmentChannelMean, augmentContrast, augmentContrastBackward,
  augmentCrop, augmentCropBackward, augmentDraw, augmentFlip, FILL_MODES, INTERPOLATIONS, PARAMS_PER_EXAMPLE,
  type AugmentDraw, type ImageDims,
} from '../src/kernels/augment.js';
import {
  affineRef, affineTolerance, augmentParamsRef, brightnessBackwardRef, brightnessRef, channelMeanRef, contrastBackwardRef, contrastRef,
  cropBackwardRef, cropRef, flipRef, mapCoordRef,
} from '../src/reference/augment.js';
import { randomUniform } from '../src/reference/random.js';
import { Recorder } from '../src/gpu/recorder.js';
import { incrementStep } from '../src/kernels/optimizer.js';
import type { StepContext } from '../src/layers/layer.js';
import { Dense } from '../src/layers/dense.js';
import { Conv2D } from '../src/layers/conv2d.js';
import { Flatten } from '../src/layers/flatten.js';
import {
  checkAugmentationOrder, ImageAugmentation, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
} from '../src/layers/augment.js';
import { checkGradients } from '../src/check/gradients.js';
import { ModelFormatError, ShapeError } from '../src/errors.js';
import { Sequential } from '../src/model/sequential.js';
import { fromArtifacts, layersFromJson, toArtifacts, topologyOf } from '../src/model/io.js';
import { resetLayerNames } from '../src/layers/layer.js';
import { buildPreset } from '../src/model/presets.js';
import { model as functionalModel } from '../src/model/model.js';
import { input } from '../src/layers/input.js';
import { Add } from '../src/layers/merge.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

const made: Tensor[] = [];
function tensor(shape: number[], values: ArrayLike<number>): Tensor {
  const t = engine.tensor(shape, Float32Array.from(values));
  made.push(t);
  return t;
}
function poisoned(shape: number[]): Tensor {
  return tensor(shape, nanArray(shape.reduce((a, b) => a * b, 1)));
}
function free(): void {
  for (const t of made.splice(0)) t.dispose();
}

async function drawOnGpu(d: ImageDims, draw: AugmentDraw, seed: number, stream: number, t: number): Promise<Float32Array> {
  const params = poisoned([d.n, PARAMS_PER_EXAMPLE]);
  const step = engine.tensor([4], new Uint32Array([t, 0, 0, 0]));
  made.push(step);
  await runOnce(engine, 'draw', (rec) => augmentDraw(rec, params, d, draw, seed, stream, step.buffer));
  const out = (await params.data()) as Float32Array;
  free();
  return out;
}

const DRAWS: AugmentDraw[] = [
  { kind: 'flip', horizontal: true, vertical: true },
  { kind: 'flip', horizontal: true, vertical: false },
  { kind: 'translate', height: [-0.2, 0.3], width: [-0.1, 0.1] },
  { kind: 'zoom', height: [-0.3, 0.2], width: null },
  { kind: 'zoom', height: [-0.3, 0.2], width: [0.1, 0.5] },
  { kind: 'crop', height: 5, width: 3, center: false },
  { kind: 'crop', height: 5, width: 3, center: true },
  { kind: 'contrast', factor: [0.5, 1.7] },
  { kind: 'brightness', factor: [-0.2, 0.4], valueRange: [0, 255] },
];

describe('augmentation parameter draws', () => {
  it.each(DRAWS.map((d) => [d.kind + JSON.stringify(d), d] as const))('match the CPU twin (%s)', async (_name, draw) => {
    const d = { n: 257, h: 7, w: 33, c: 3 };
    const gpu = await drawOnGpu(d, draw, 42, 5, 9);
    const ref = augmentParamsRef(d, draw, 42, 5, 9);
    // the hash and the integer draws are exact; the float draws at most float32 rounding apart (FMA contraction)
    if (draw.kind === 'flip' || draw.kind === 'crop') expect(Array.from(gpu)).toEqual(Array.from(ref));
    else expectClose(gpu, ref, 4e-7, 1, draw.kind);
  });

  it('rotation matches up to WGSL cos/sin accuracy and is a rotation about the centre', async () => {
    const d = { n: 127, h: 7, w: 33, c: 1 };
    const draw: AugmentDraw = { kind: 'rotate', factor: [-0.5, 0.5] };
    const gpu = await drawOnGpu(d, draw, 3, 1, 2);
    const ref = augmentParamsRef(d, draw, 3, 1, 2);
    for (let b = 0; b < d.n; b++) {
      const g = gpu.subarray(b * 8, b * 8 + 6), r = ref.subarray(b * 8, b * 8 + 6);
      // cos/sin within 2^-11 (WGSL's bound), the offsets within that times the image size
      for (const k of [0, 1, 3, 4]) expect(Math.abs(g[k]! - r[k]!)).toBeLessThan(2 ** -11);
      for (const k of [2, 5]) expect(Math.abs(g[k]! - r[k]!)).toBeLessThan(2 ** -11 * (d.w + d.h));
      // the centre maps to itself
      const cx = (d.w - 1) / 2, cy = (d.h - 1) / 2;
      expect(Math.abs(r[0]! * cx + r[1]! * cy + r[2]! - cx)).toBeLessThan(1e-5);
      expect(Math.abs(r[3]! * cx + r[4]! * cy + r[5]! - cy)).toBeLessThan(1e-5);
    }
  });

  it('are uniform over their ranges and independent per example, step, stream and seed', async () => {
    const d = { n: 4096, h: 9, w: 9, c: 1 };
    const tr = await drawOnGpu(d, { kind: 'translate', height: [-0.5, 0.5], width: [0, 1] }, 1, 1, 1);
    const dys = Array.from({ length: d.n }, (_, b) => -tr[b * 8 + 5]! / d.h), dxs = Array.from({ length: d.n }, (_, b) => -tr[b * 8 + 2]! / d.w);
    expect(Math.min(...dys)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...dys)).toBeLessThan(0.5);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    // mean of U(a, b) within 5 standard errors
    expect(Math.abs(mean(dys))).toBeLessThan(5 * Math.sqrt(1 / 12 / d.n));
    expect(Math.abs(mean(dxs) - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / d.n));
    const flips = await drawOnGpu(d, { kind: 'flip', horizontal: true, vertical: true }, 1, 1, 1);
    const h = Array.from({ length: d.n }, (_, b) => flips[b * 8]!), v = Array.from({ length: d.n }, (_, b) => flips[b * 8 + 1]!);
    for (const axis of [h, v]) expect(Math.abs(mean(axis) - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / d.n));
    const crops = await drawOnGpu(d, { kind: 'crop', height: 5, width: 9, center: false }, 1, 1, 1);
    const tops = Array.from({ length: d.n }, (_, b) => crops[b * 8]!);
    for (let k = 0; k <= 4; k++) expect(Math.abs(tops.filter((t) => t === k).length / d.n - 0.2)).toBeLessThan(5 * Math.sqrt(0.16 / d.n));
    expect(crops.filter((_, i) => i % 8 === 1).every((l) => l === 0)).toBe(true);
    const base = await drawOnGpu(d, { kind: 'contrast', factor: [0, 1] }, 7, 2, 10);
    for (const [seed, stream, t] of [[7, 2, 11], [7, 3, 10], [8, 2, 10]] as const) {
      const other = await drawOnGpu(d, { kind: 'contrast', factor: [0, 1] }, seed, stream, t);
      expect(other.filter((v, i) => i % 8 === 0 && v === base[i]).length).toBeLessThan(5);
    }
    expect(await drawOnGpu(d, { kind: 'contrast', factor: [0, 1] }, 7, 2, 10)).toEqual(base);
  });
});

describe('TensorFlow fill-mode coordinate maps', () => {
  it('reflect, wrap, nearest and constant map as TF documents (d c b a | a b c d | d c b a)', () => {
    // len 4: reflect -1 -> 0, -2 -> 1, 4 -> 3, 5 -> 2; then TF's clamp to [0, 3]
    expect([-1, -2, -4, 4, 5, 7, 8].map((c) => mapCoordRef(c, 4, 'reflect'))).toEqual([0, 1, 3, 3, 2, 0, 0]);
    // TF's wrap divides by len - 1 but shifts by len: -4 lands on 4 and is clamped to 3 (TF's own arithmetic)
    expect([-1, -4, 4, 5].map((c) => mapCoordRef(c, 4, 'wrap'))).toEqual([3, 3, 0, 1]);
    expect([-3.5, 1.25, 9].map((c) => mapCoordRef(c, 4, 'nearest'))).toEqual([0, 1.25, 3]);
    expect(mapCoordRef(-3.5, 4, 'constant')).toBe(-3.5);
  });
});

function dimsShape(d: ImageDims): number[] {
  return [d.n, d.h, d.w, d.c];
}

async function gpuParams(d: ImageDims, draw: AugmentDraw, t = 3): Promise<{ params: Tensor; values: Float32Array }> {
  const params = poisoned([d.n, PARAMS_PER_EXAMPLE]);
  const step = engine.tensor([4], new Uint32Array([t, 0, 0, 0]));
  made.push(step);
  await runOnce(engine, 'draw', (rec) => augmentDraw(rec, params, d, draw, 11, 4, step.buffer));
  return { params, values: (await params.data()) as Float32Array };
}

// The kernels pick their workgroup size by adapter class: every transform is checked under both kernel sets.
for (const adapterClass of ['software', 'gpu'] as const)
describe(`augmentation transforms against the float64 twins (${adapterClass} class)`, () => {
  let defaultEngine: Engine;
  beforeAll(async () => {
    defaultEngine = engine;
    engine = await createEngine({ adapterClass });
  });
  afterAll(() => {
    engine.dispose();
    engine = defaultEngine;
  });
  const SIZES: ImageDims[] = [
    { n: 3, h: 7, w: 33, c: 3 },
    { n: 2, h: 1, w: 7, c: 2 },
    { n: 1, h: 27, w: 1, c: 1 },
  ];
  const GEOMETRY: AugmentDraw[] = [
    { kind: 'translate', height: [-0.4, 0.4], width: [-0.7, 0.7] },
    { kind: 'rotate', factor: [-0.5, 0.5] },
    { kind: 'zoom', height: [-0.5, 0.8], width: [-0.6, 1] },
  ];
  for (const d of SIZES)
    for (const draw of GEOMETRY)
      it(`${draw.kind} ${dimsShape(d).join('x')}, every fill mode and interpolation`, async () => {
        const x = randomUniform(d.n * d.h * d.w * d.c, d.h * 100 + d.w, 0, 1);
        const tx = tensor(dimsShape(d), x);
        const { params, values } = await gpuParams(d, draw);
        for (const fillMode of FILL_MODES)
          for (const interpolation of INTERPOLATIONS) {
            const y = poisoned(dimsShape(d));
            const o = { fillMode, interpolation, fillValue: 0.375 };
            await runOnce(engine, 'affine', (rec) => augmentAffine(rec, tx, params, y, d, o));
            expectClose(await y.data(), affineRef(x, values, d, o), affineTolerance(d), 1, `${draw.kind} ${fillMode} ${interpolation}`);
          }
        free();
      });

  it('an integer translation with constant fill is a shift; reflect mirrors about the edge pixel', async () => {
    const d = { n: 1, h: 5, w: 7, c: 2 };
    const x = randomUniform(d.n * d.h * d.w * d.c, 5, 0, 1);
    const tx = tensor(dimsShape(d), x);
    // shift right by 2 and down by 1: output (y, x) reads input (y - 1, x - 2)
    const params = tensor([1, 8], [1, 0, -2, 0, 1, -1, 0, 0]);
    for (const fillMode of ['constant', 'reflect'] as const) {
      const y = poisoned(dimsShape(d));
      await runOnce(engine, 'shift', (rec) => augmentAffine(rec, tx, params, y, d, { fillMode, interpolation: 'bilinear', fillValue: -1 }));
      const out = await y.data();
      for (let i = 0; i < d.h; i++)
        for (let j = 0; j < d.w; j++)
          for (let ch = 0; ch < d.c; ch++) {
            let si = i - 1, sj = j - 2;
            if (fillMode === 'reflect') (si = si < 0 ? -si - 1 : si), (sj = sj < 0 ? -sj - 1 : sj);
            const want = si < 0 || sj < 0 ? -1 : x[(si * d.w + sj) * d.c + ch]!;
            expect(out[(i * d.w + j) * d.c + ch]).toBe(want);
          }
    }
    free();
  });

  it('a rotation by half a turn is both flips (bilinear, up to cos/sin accuracy)', async () => {
    const d = { n: 2, h: 9, w: 13, c: 3 };
    const x = randomUniform(d.n * d.h * d.w * d.c, 8, 0, 1);
    const tx = tensor(dimsShape(d), x);
    const { params } = await gpuParams(d, { kind: 'rotate', factor: [0.5, 0.5] });
    const y = poisoned(dimsShape(d));
    await runOnce(engine, 'rotate', (rec) => augmentAffine(rec, tx, params, y, d, { fillMode: 'constant', interpolation: 'bilinear', fillValue: 0 }));
    const flipBoth = flipRef(x, new Float32Array(16).fill(1), d);
    // a coordinate error of 2^-11 · size moves a value by at most that fraction of the input's range (1)
    expectClose(await y.data(), flipBoth, 2 ** -11 * (d.w + d.h), 1, 'half turn');
    free();
  });

  for (const d of SIZES)
    it(`flip, crop, contrast, brightness ${dimsShape(d).join('x')} and their backward`, async () => {
      const size = d.n * d.h * d.w * d.c;
      const x = randomUniform(size, size + 1, 0, 1);
      const dy = randomUniform(size, size + 2, -1, 1);
      const tx = tensor(dimsShape(d), x), tdy = tensor(dimsShape(d), dy);
      for (const draw of [{ kind: 'flip', horizontal: true, vertical: true }, { kind: 'flip', horizontal: false, vertical: true }] as AugmentDraw[]) {
        const { params, values } = await gpuParams(d, draw);
        const y = poisoned(dimsShape(d));
        await runOnce(engine, 'flip', (rec) => augmentFlip(rec, tx, params, y, d));
        expect(Array.from(await y.data())).toEqual(Array.from(flipRef(x, values, d), Math.fround));
      }
      const oh = Math.max(1, d.h - 2), ow = Math.max(1, d.w - 3);
      for (const center of [false, true]) {
        const { params, values } = await gpuParams(d, { kind: 'crop', height: oh, width: ow, center });
        const y = poisoned([d.n, oh, ow, d.c]);
        await runOnce(engine, 'crop', (rec) => augmentCrop(rec, tx, params, y, d, oh, ow));
        expect(Array.from(await y.data())).toEqual(Array.from(cropRef(x, values, d, oh, ow), Math.fround));
        const cdy = randomUniform(d.n * oh * ow * d.c, 77, -1, 1);
        const tcdy = tensor([d.n, oh, ow, d.c], cdy), dx = poisoned(dimsShape(d));
        await runOnce(engine, 'cropBackward', (rec) => augmentCropBackward(rec, tcdy, params, dx, d, oh, ow));
        expect(Array.from(await dx.data())).toEqual(Array.from(cropBackwardRef(cdy, values, d, oh, ow), Math.fround));
      }
      const range: [number, number] = [0.15, 0.85]; // some outputs clip at both ends
      {
        const { params, values } = await gpuParams(d, { kind: 'contrast', factor: [0.2, 1.8] });
        const mean = poisoned([d.n, d.c]), y = poisoned(dimsShape(d));
        await runOnce(engine, 'contrast', (rec) => {
          augmentChannelMean(rec, tx, mean, d);
          augmentContrast(rec, tx, params, mean, y, d, range);
        });
        expectClose(await mean.data(), channelMeanRef(x, d), 1e-6, 1, 'channel mean');
        expectClose(await y.data(), contrastRef(x, values, d, range), 2e-6, 1, 'contrast');
        const sums = poisoned([d.n, d.c]), dx = poisoned(dimsShape(d));
        await runOnce(engine, 'contrastBackward', (rec) => augmentContrastBackward(rec, tdy, tx, params, mean, sums, dx, d, range));
        // the sum's terms are |dy| <= 1: the floor is their scale over h·w
        expectClose(await dx.data(), contrastBackwardRef(dy, x, values, d, range), 2e-6, 1, 'contrast backward');
      }
      {
        const { params, values } = await gpuParams(d, { kind: 'brightness', factor: [-0.3, 0.3], valueRange: range });
        const y = poisoned(dimsShape(d)), dx = poisoned(dimsShape(d));
        await runOnce(engine, 'brightness', (rec) => {
          augmentBrightness(rec, tx, params, y, d, range);
          augmentBrightnessBackward(rec, tdy, tx, params, dx, d, range);
        });
        expectClose(await y.data(), brightnessRef(x, values, d, range), 1e-6, 1, 'brightness');
        expect(Array.from(await dx.data())).toEqual(Array.from(brightnessBackwardRef(dy, x, values, d, range), Math.fround));
      }
      free();
    });

  it('channel sums past one chunk (h·w > 4096) and past llvmpipe\'s loop cap (h·w > 65535)', async () => {
    for (const d of [{ n: 1, h: 65, w: 67, c: 2 }, { n: 1, h: 257, w: 257, c: 1 }]) {
      const x = randomUniform(d.h * d.w * d.c, 9, 0, 1);
      const tx = tensor(dimsShape(d), x), mean = poisoned([1, d.c]);
      await runOnce(engine, 'mean', (rec) => augmentChannelMean(rec, tx, mean, d));
      expectClose(await mean.data(), channelMeanRef(x, d), 2e-6, 1, `mean ${d.h}x${d.w}`);
      free();
    }
  });
});

function layers(): ImageAugmentation[] {
  return [
    new RandomFlip({ mode: 'horizontal' }),
    new RandomFlip({ mode: 'vertical', seed: 5 }),
    new RandomFlip(),
    new RandomTranslation({ heightFactor: 0.2, widthFactor: [-0.3, 0.1], fillMode: 'constant', fillValue: 0.5 }),
    new RandomTranslation({ heightFactor: [0.1, -0.2], widthFactor: 0.3, interpolation: 'nearest', fillMode: 'wrap' }),
    new RandomRotation({ factor: 0.25, fillMode: 'nearest' }),
    new RandomZoom({ heightFactor: [-0.3, 0.3] }),
    new RandomZoom({ heightFactor: 0.2, widthFactor: [-0.5, 0], interpolation: 'nearest', fillMode: 'reflect' }),
    new RandomCrop({ height: 5, width: 6 }),
    new RandomContrast({ factor: 0.4, valueRange: [0, 1] }),
    new RandomContrast({ factor: [0.1, 0.9] }),
    new RandomBrightness({ factor: 0.3, valueRange: [0, 1] }),
    new RandomBrightness({ factor: [-0.5, 0.2], valueRange: [255, 0] }),
  ];
}

describe('augmentation layers', () => {
  const shape = [7, 9, 3];
  const n = 5;
  const ctxAt = (training: boolean, step: Tensor, seed = 21): StepContext => ({ engine, n, training, stepState: step.buffer, seed });

  async function run(layer: ImageAugmentation, x: Float32Array, training: boolean, t: number, seed = 21): Promise<{ y: Float32Array; same: boolean; dispatches: number }> {
    const tx = tensor([n, ...shape], x);
    const step = engine.tensor([4], new Uint32Array([t, 0, 0, 0]));
    made.push(step);
    const rec = new Recorder(engine, 'layer');
    try {
      const y = layer.forward(rec, tx, ctxAt(training, step, seed));
      rec.run();
      return { y: (await y.data()) as Float32Array, same: y === tx, dispatches: rec.dispatchCount };
    } finally {
      rec.dispose();
    }
  }

  it.each(layers().map((l) => [`${l.className} ${JSON.stringify(l.getConfig())}`, l] as const))(
    '%s: the CPU twin while training, the identity (crop: the centre) in inference, the same for the same step',
    async (_name, layer) => {
      layer.build(shape);
      layer.allocate(engine, n);
      const x = randomUniform(n * 7 * 9 * 3, layer.id + 3, 0, 1);
      const t = 4;
      const a = await run(layer, x, true, t);
      const want = layer.forwardRef(x, n, { seed: 21, step: t });
      // rotation's parameters come from WGSL cos/sin (absolute error 2^-11): its coordinates may move that much × size
      const tol = layer instanceof RandomRotation ? 2 ** -11 * 16 : layer.hasInputGradient ? 2e-6 : affineTolerance({ n, h: 7, w: 9, c: 3 });
      if (!(layer instanceof RandomRotation && layer.interpolation === 'nearest')) expectClose(a.y, want, tol, 1, layer.className);
      expect(a.y.length).toBe(n * layer.outputShape.reduce((p, q) => p * q, 1));
      const b = await run(layer, x, true, t);
      expect(b.y).toEqual(a.y);
      const c = await run(layer, x, true, t + 1);
      expect(c.y).not.toEqual(a.y);
      const d = await run(layer, x, true, t, 22);
      // a layer seed overrides the model's; otherwise another model seed draws other parameters
      if (layer.seed === undefined) expect(d.y).not.toEqual(a.y);
      else expect(d.y).toEqual(a.y);
      const inf = await run(layer, x, false, t);
      if (layer instanceof RandomCrop) {
        expect(Array.from(inf.y)).toEqual(Array.from(layer.forwardRef(x, n), Math.fround));
        expect(layer.forwardRef(x, n)[0]).toBe(x[(1 * 9 + 1) * 3]); // centre of 7x9 -> offset (1, 1)
      } else {
        expect(inf.same).toBe(true);
        expect(inf.dispatches).toBe(0);
      }
      layer.release();
      free();
    },
  );

  it('each example gets its own parameters (a batch of one image repeated comes out different)', async () => {
    const layer = new RandomTranslation({ heightFactor: 0.3, widthFactor: 0.3 });
    layer.build(shape);
    layer.allocate(engine, n);
    const one = randomUniform(7 * 9 * 3, 4, 0, 1);
    const x = new Float32Array(n * one.length);
    for (let b = 0; b < n; b++) x.set(one, b * one.length);
    const { y } = await run(layer, x, true, 1);
    const images = Array.from({ length: n }, (_, b) => Array.from(y.subarray(b * one.length, (b + 1) * one.length)).join());
    expect(new Set(images).size).toBe(n);
    layer.release();
    free();
  });

  it('a replayed step redraws from the GPU step counter', async () => {
    const layer = new RandomFlip();
    layer.build(shape);
    layer.allocate(engine, n);
    const x = randomUniform(n * 7 * 9 * 3, 8, 0, 1);
    const tx = tensor([n, ...shape], x);
    const step = engine.tensor([4], new Uint32Array([0, 0, 0, 0]));
    made.push(step);
    const rec = new Recorder(engine, 'replay');
    const outs: Float32Array[] = [];
    try {
      incrementStep(rec, step.buffer);
      const y = layer.forward(rec, tx, ctxAt(true, step));
      for (let k = 0; k < 3; k++) {
        rec.run();
        outs.push((await y.data()) as Float32Array);
      }
    } finally {
      rec.dispose();
    }
    for (const [k, out] of outs.entries()) expectClose(out, layer.forwardRef(x, n, { seed: 21, step: k + 1 }), 0, 1, `step ${k + 1}`);
    layer.release();
    free();
  });

  it.each([
    ['RandomFlip', () => new RandomFlip()],
    ['RandomCrop', () => new RandomCrop({ height: 4, width: 5 })],
    ['RandomContrast', () => new RandomContrast({ factor: [0.3, 0.6], valueRange: [-0.8, 0.8] })],
    ['RandomBrightness', () => new RandomBrightness({ factor: 0.2, valueRange: [-0.9, 0.9] })],
  ] as const)('%s: input gradients match numeric differences of the float64 twin', async (_name, make) => {
    const r = await checkGradients(make(), { engine, inputShape: [5, 7, 3], batch: 3, numeric: 'reference' });
    for (const t of r.tensors) expect(t.pass, `${t.tensor}: ${t.maxAbsError} > ${t.bound}`).toBe(true);
  });

  it('resampling layers pass no gradient back; a model rejects them after a layer with weights', () => {
    const conv = new Conv2D({ filters: 2, kernelSize: 3 });
    for (const geo of [new RandomTranslation({ heightFactor: 0.1, widthFactor: 0.1 }), new RandomRotation({ factor: 0.1 }), new RandomZoom({ heightFactor: 0.1 })]) {
      expect(geo.hasInputGradient).toBe(false);
      checkAugmentationOrder([new RandomFlip(), geo, new Flatten(), new Dense({ units: 3 })]);
      const layers = [new RandomFlip({ inputShape: [8, 8, 1] }), conv, geo];
      layers[0]!.build([8, 8, 1]);
      conv.build([8, 8, 1]);
      expect(() => checkAugmentationOrder(layers)).toThrow(ShapeError);
      expect(() => checkAugmentationOrder(layers)).toThrow(/augmentation layers must come before layers with weights/);
    }
    // graph form: only layers upstream count (a conv on a parallel branch is no obstacle)
    const branchConv = new Conv2D({ filters: 2, kernelSize: 3 });
    branchConv.build([8, 8, 1]);
    const zoom = new RandomZoom({ heightFactor: 0.1 });
    checkAugmentationOrder([{ layer: branchConv, inputs: [-1] }, { layer: zoom, inputs: [-1] }]);
    expect(() => checkAugmentationOrder([{ layer: branchConv, inputs: [-1] }, { layer: new RandomFlip(), inputs: [0] }, { layer: zoom, inputs: [1] }])).toThrow(
      /"random_zoom.*" \(RandomZoom\) follows "conv2d.*" \(Conv2D\)/,
    );
    // flips, crops, contrast and brightness have exact input gradients: allowed anywhere
    checkAugmentationOrder([conv, new RandomFlip(), new RandomCrop({ height: 2, width: 2 }), new RandomContrast({ factor: 0.1 }), new RandomBrightness({ factor: 0.1 })]);
  });

  it('compile rejects a resampling layer after trainable weights, and accepts it after frozen ones', () => {
    resetLayerNames();
    const conv = new Conv2D({ filters: 2, kernelSize: 3, padding: 'same', inputShape: [8, 8, 1] });
    const m = new Sequential([conv, new RandomRotation({ factor: 0.1 }), new Flatten(), new Dense({ units: 2, activation: 'softmax' })]);
    expect(() => m.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy' })).toThrow(ShapeError);
    expect(() => m.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy' })).toThrow(/augmentation layers must come before layers with weights/);
    expect(m.compiled).toBe(false);
    conv.trainable = false;
    m.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy' });
    expect(m.compiled).toBe(true);
    m.dispose();
  });

  it('rejects bad options and shapes with ShapeErrors naming the layer', () => {
    const bad: [() => unknown, RegExp][] = [
      [() => new RandomFlip({ mode: 'diagonal' as 'horizontal' }), /mode must be/],
      [() => new RandomTranslation({ heightFactor: 1.5, widthFactor: 0 }), /heightFactor must be/],
      [() => new RandomTranslation({ heightFactor: 0.1, widthFactor: [0.1] as unknown as number }), /widthFactor must be/],
      [() => new RandomRotation({ factor: 0.1, fillMode: 'mirror' as 'reflect' }), /fillMode must be/],
      [() => new RandomRotation({ factor: 0.1, interpolation: 'bicubic' as 'nearest' }), /interpolation must be/],
      [() => new RandomZoom({ heightFactor: NaN }), /heightFactor must be/],
      [() => new RandomCrop({ height: 0, width: 3 }), /height must be/],
      [() => new RandomContrast({ factor: -0.1 }), /factor must be/],
      [() => new RandomContrast({ factor: 1.5 }), /factor must be/],
      [() => new RandomBrightness({ factor: 0.1, valueRange: [1, 1] }), /valueRange must be/],
      [() => new RandomFlip({ seed: -1 }), /seed must be/],
      [() => new RandomCrop({ height: 9, width: 3 }).build([8, 8, 1]), /9x3 crop needs images at least that large, got 8x8/],
      [() => new RandomFlip().build([8, 8]), /rank 3/],
    ];
    for (const [make, re] of bad) {
      expect(make).toThrow(ShapeError);
      expect(make).toThrow(re);
    }
    expect(() => new RandomTranslation({ heightFactor: 0.1, widthFactor: 0.1, name: 'shift' }).build([3])).toThrow(/Layer "shift" \(RandomTranslation\)/);
  });

  it('factors follow Keras: a number f is [-f, f] (contrast: [1 - f, 1 + f]), pairs are sorted', () => {
    const d = { n: 2000, h: 4, w: 4, c: 1 };
    const draw = (l: ImageAugmentation, t = 1) => augmentParamsRef(d, (l as unknown as { drawSpec(t: boolean): AugmentDraw }).drawSpec(true), 1, 1, t);
    const firsts = (p: Float32Array, k = 0) => Array.from({ length: d.n }, (_, b) => p[b * 8 + k]!);
    const contrast = firsts(draw(new RandomContrast({ factor: 0.25 })));
    expect(Math.min(...contrast)).toBeGreaterThanOrEqual(0.75);
    expect(Math.max(...contrast)).toBeLessThan(1.25);
    expect(Math.min(...contrast)).toBeLessThan(0.76);
    const bright = firsts(draw(new RandomBrightness({ factor: [0.2, -0.1], valueRange: [0, 255] })));
    expect(Math.min(...bright)).toBeGreaterThanOrEqual(-0.1 * 255);
    expect(Math.max(...bright)).toBeLessThan(0.2 * 255);
    const zoom = firsts(draw(new RandomZoom({ heightFactor: 0.5 })), 4);
    expect(Math.min(...zoom)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...zoom)).toBeLessThan(1.5);
    // no widthFactor: the width zooms with the height
    const tied = draw(new RandomZoom({ heightFactor: 0.5 }));
    for (let b = 0; b < d.n; b++) expect(tied[b * 8]).toBe(tied[b * 8 + 4]);
  });
});

describe('augmentation layers in model.json', () => {
  function model(): Sequential {
    resetLayerNames();
    return new Sequential([
      new RandomFlip({ mode: 'horizontal', inputShape: [9, 10, 3] }),
      new RandomTranslation({ heightFactor: 0.1, widthFactor: [-0.2, 0.05], fillMode: 'constant', fillValue: 0.25, seed: 3 }),
      new RandomRotation({ factor: [-0.1, 0.2], interpolation: 'nearest', fillMode: 'wrap' }),
      new RandomZoom({ heightFactor: 0.2 }),
      new RandomZoom({ heightFactor: [-0.1, 0.3], widthFactor: 0.1, fillMode: 'nearest' }),
      new RandomContrast({ factor: 0.2, valueRange: [0, 1] }),
      new RandomBrightness({ factor: [-0.1, 0.2], valueRange: [0, 1], seed: 9 }),
      new RandomCrop({ height: 7, width: 8 }),
      new Flatten(),
      new Dense({ units: 4, activation: 'softmax' }),
    ]);
  }

  it('write Keras class names and snake_case configs, and load back to the same layers and predictions', async () => {
    const a = model();
    const topo = topologyOf(a);
    const configs = topo.config.layers.map((l) => [l.class_name, l.config] as const);
    expect(configs[1]).toEqual(['RandomTranslation', expect.objectContaining({ height_factor: 0.1, width_factor: [-0.2, 0.05], fill_mode: 'constant', interpolation: 'bilinear', fill_value: 0.25, seed: 3 })]);
    expect(configs[3]![1]).toMatchObject({ height_factor: 0.2, width_factor: null, fill_mode: 'reflect' });
    expect(configs[5]).toEqual(['RandomContrast', expect.objectContaining({ factor: 0.2, value_range: [0, 1], seed: null })]);
    expect(configs[7]).toEqual(['RandomCrop', expect.objectContaining({ height: 7, width: 8, seed: null })]);
    expect(configs[0]![1]).toMatchObject({ mode: 'horizontal', batch_input_shape: [null, 9, 10, 3] });
    const loaded = layersFromJson(JSON.parse(JSON.stringify({ modelTopology: topo })));
    expect(loaded.layers.map((l) => [l.className, l.getConfig()])).toEqual(a.layers.map((l) => [l.className, l.getConfig()]));

    a.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 4 });
    const art = await toArtifacts(a);
    const b = fromArtifacts(engine, art.modelJson, art.weights);
    const x = randomUniform(3 * 9 * 10 * 3, 12, 0, 1);
    const images = { images: Uint8Array.from(x, (v) => Math.floor(v * 255)), shape: [3, 9, 10, 3] };
    expect(await b.predict(images)).toEqual(await a.predict(images));
    a.dispose();
    b.dispose();
  });

  it('a bad augmentation config is a ModelFormatError naming the layer', () => {
    const topo = topologyOf(model());
    const broken = (i: number, patch: Record<string, unknown>) => {
      const t = JSON.parse(JSON.stringify(topo));
      Object.assign(t.config.layers[i].config, patch);
      return () => layersFromJson({ modelTopology: t });
    };
    for (const [i, patch, re] of [
      [1, { fill_mode: 'mirror' }, /"random_translation".*fillMode must be/],
      [2, { factor: 'a lot' }, /"random_rotation".*factor must be/],
      [0, { mode: 'up' }, /"random_flip".*mode must be/],
      [7, { height: 10 }, /"random_crop"/],
      [5, { value_range: [1] }, /"random_contrast".*valueRange/],
      [6, { data_format: 'channels_first' }, /"random_brightness".*channels_last/],
      [6, { seed: -2 }, /"random_brightness".*seed/],
    ] as const) {
      const load = broken(i, patch);
      if (i === 7) {
        // the crop's size is checked when the model builds (the input shape is known then)
        const layers = load().layers;
        expect(() => new Sequential(layers).build()).toThrow(/10x8 crop needs images at least that large/);
        continue;
      }
      expect(load).toThrow(ModelFormatError);
      expect(load).toThrow(re);
    }
  });
});

describe('the cifar-cnn-augmented preset', () => {
  it('is the seed CIFAR CNN behind RandomFlip(horizontal) and RandomTranslation(0.1, 0.1): same parameters, Keras summary rows', () => {
    const plain = buildPreset('cifar-cnn').model.summary(false);
    const { model, compileArgs, recipe } = buildPreset('cifar-cnn-augmented');
    const text = model.summary(false);
    expect(model.name).toBe('cifar_cnn_augmented');
    expect(text).toContain('Total params: 2,125,578');
    expect(text).toContain('Trainable params: 2,125,578');
    expect(text).toMatch(/random_flip \(RandomFlip\)\s+\(None, 32, 32, 3\)\s+0/);
    // Keras 2 cuts the name column at 29 characters, as here
    expect(text).toContain('random_translation (RandomTra(None, 32, 32, 3)         0');
    // the rest is the plain CNN row for row
    const rows = (t: string) => t.split('\n').filter((l) => /^(conv2d|max_pooling2d|flatten|dense|dropout)/.test(l));
    expect(rows(text)).toEqual(rows(plain));
    expect(model.layers[0]!.getConfig()).toMatchObject({ mode: 'horizontal' });
    expect(model.layers[1]!.getConfig()).toMatchObject({ height_factor: 0.1, width_factor: 0.1, fill_mode: 'reflect', interpolation: 'bilinear' });
    expect(compileArgs.optimizer).toBe('adam');
    expect(recipe.dataset).toBe('cifar10');
  });

  it('plans its step: a draw and a gather per augmentation layer, nothing in evaluation (dry recordings, contrast scratch included)', () => {
    const { model, compileArgs } = buildPreset('cifar-cnn-augmented');
    model.compile(engine, compileArgs);
    const labels = model.plan(128).rows.map((r) => r.label);
    expect(labels.slice(0, 8).filter((l) => l.startsWith('augment.'))).toEqual(['augment.draw', 'augment.flip', 'augment.draw', 'augment.affine']);
    model.dispose();
    resetLayerNames();
    const m = new Sequential([new RandomContrast({ factor: 0.2, inputShape: [6, 5, 2] }), new Flatten(), new Dense({ units: 3, activation: 'softmax' })]);
    m.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy' });
    expect(m.plan(4).rows.map((r) => r.label).filter((l) => l.startsWith('augment.'))).toEqual(['augment.draw', 'augment.channelPartial', 'augment.channelTotal', 'augment.contrast']);
    m.dispose();
  });
});

describe('augmentation layers in functional models', () => {
  it('train in a graph; compile rejects a resampling layer fed by a trainable branch; model.json round-trips', async () => {
    resetLayerNames();
    const x = input({ shape: [8, 8, 3] });
    const flipped = new RandomFlip({ mode: 'horizontal' }).apply(x);
    const shifted = new RandomTranslation({ heightFactor: 0.2, widthFactor: 0.2, fillMode: 'constant' }).apply(flipped);
    const a = new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(shifted);
    const sum = new Add().apply([a, shifted]);
    const out = new Dense({ units: 2, activation: 'softmax' }).apply(new Flatten().apply(sum));
    const m = functionalModel({ inputs: x, outputs: out });
    m.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 2 });
    const images = { images: Uint8Array.from({ length: 6 * 8 * 8 * 3 }, (_, i) => (i * 37) % 256), shape: [6, 8, 8, 3] };
    const h = await m.fit(images, Uint8Array.from([0, 1, 0, 1, 1, 0]), { batchSize: 3, epochs: 1, verbose: 0 });
    expect(Number.isFinite(h.history.loss![0]!)).toBe(true);
    const art = await toArtifacts(m);
    const topo = (art.modelJson as { modelTopology: { config: { layers: { class_name: string }[] } } }).modelTopology.config.layers.map((l) => l.class_name);
    expect(topo).toContain('RandomTranslation');
    const b = fromArtifacts(engine, art.modelJson, art.weights);
    expect(await b.predict(images)).toEqual(await m.predict(images));
    m.dispose();
    b.dispose();

    resetLayerNames();
    const y = input({ shape: [8, 8, 3] });
    const conv = new Conv2D({ filters: 3, kernelSize: 3, padding: 'same' }).apply(y);
    const zoomed = new RandomZoom({ heightFactor: 0.1 }).apply(conv);
    const bad = functionalModel({ inputs: y, outputs: new Dense({ units: 2, activation: 'softmax' }).apply(new Flatten().apply(zoomed)) });
    expect(() => bad.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' })).toThrow(/augmentation layers must come before layers with weights/);
  });
});
