// shaders/matmul.wgsl vs the float64 reference (src/reference/matmul.ts) on awkward sizes, every transpose
// variant, the fused bias / ReLU / accumulate epilogue, and every kernel variant: under the adapter's own class,
// and the workgroup-memory GEMMs with and without split-K under the forced GPU class (on llvmpipe here). Also
// the GPU class's plan rule at the seed models' Dense shapes and the fallbacks for adapters with small limits.
//
// Tolerance: relative error <= 1e-5 with a floor of sqrt(k). A k-term float32 dot product of values in [-1, 1]
// carries rounding on the scale of sqrt(k) (the size of the sum of its terms' random walk), not of the (possibly
// tiny) result, so errors are measured relative to max(|ref|, sqrt(k)). Outputs are poisoned with NaN first so
// an element the kernel never writes fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Engine } from '../src/gpu/engine.js';
import { Recorder, runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { ShapeError } from '../src/errors.js';
import {
  fitMatmulChoice,
  gemmSplit,
  gemmWorkgroupBytes,
  matmul,
  MAX_SERIAL,
  MIN_WORKGROUPS,
  type GemmVariant,
  type MatmulLimits,
  type MatmulOptions,
  type MatmulVariant,
} from '../src/kernels/matmul.js';
import { tuningOf } from '../src/kernels/tuning.js';
import { matmulRef } from '../src/reference/matmul.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;
/** The forced GPU class: the workgroup-memory GEMMs run on llvmpipe through Dawn's OpenGL ES backend. */
let gpu: Engine;
beforeAll(async () => {
  engine = await createEngine();
  gpu = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => {
  engine?.dispose();
  gpu?.dispose();
});

const TOL = 1e-5;

interface Case {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  relu?: boolean;
  accumulate?: boolean;
  variant?: MatmulVariant;
  splitK?: number;
}

async function check(c: Case, on: Engine = engine): Promise<void> {
  const engine = on;
  const { m, n, k } = c;
  const seed = m * 1000003 + n * 1009 + k * 7 + (c.transA ? 1 : 0) + (c.transB ? 2 : 0);
  const a = randomUniform(m * k, seed);
  const b = randomUniform(k * n, seed + 1);
  const bias = c.bias ? randomUniform(n, seed + 2) : undefined;
  const prev = c.accumulate ? randomUniform(m * n, seed + 3) : nanArray(m * n);
  const ta = engine.tensor(c.transA ? [k, m] : [m, k], a);
  const tb = engine.tensor(c.transB ? [n, k] : [k, n], b);
  const tbias = bias ? engine.tensor([n], bias) : undefined;
  const out = engine.tensor([m, n], prev);
  const opts: MatmulOptions = {
    transA: c.transA,
    transB: c.transB,
    bias: tbias,
    activation: c.relu ? 'relu' : 'linear',
    accumulate: c.accumulate,
    variant: c.variant,
    splitK: c.splitK,
  };
  try {
    await runOnce(engine, 'matmul test', (rec) => matmul(rec, ta, tb, out, m, n, k, opts));
    const ref = matmulRef(a, b, m, n, k, {
      transA: c.transA,
      transB: c.transB,
      bias,
      activation: c.relu ? 'relu' : 'linear',
      accumulateInto: c.accumulate ? prev : undefined,
    });
    expectClose(await out.data(), ref, TOL, Math.max(1, Math.sqrt(k)), JSON.stringify(c));
  } finally {
    for (const t of [ta, tb, tbias, out] as (Tensor | undefined)[]) t?.dispose();
  }
}

// m x n x k: every awkward size appears in each position; a few are tile multiples, most are not.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 1000, 3],
  [3, 7, 33],
  [7, 3, 1],
  [33, 127, 7],
  [127, 33, 257],
  [257, 127, 33],
  [784, 10, 127],
  [128, 64, 784],
  [1000, 3, 257],
  [3, 257, 1000],
  [64, 48, 100],
];
const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

describe('matmul', () => {
  for (const [transA, transB] of TRANSPOSES) {
    const name = `${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`;
    it.each(SHAPES)(`${name} matches float64 for %ix%ix%i`, async (m, n, k) => {
      await check({ m, n, k, transA, transB });
    });
  }

  // The epilogue does not depend on the transposes; each case still uses a different one.
  it.each([
    [33, 127, 7, false, false, true, false],
    [257, 10, 784, true, false, true, true],
    [127, 1000, 33, false, true, false, true],
    [7, 3, 257, true, true, true, true],
  ])('bias / relu epilogue for %ix%ix%i (transA %s, transB %s, bias %s, relu %s)', async (m, n, k, transA, transB, bias, relu) => {
    await check({ m, n, k, transA, transB, bias, relu });
  });

  it.each([
    [33, 127, 7, false, false, false],
    [784, 10, 127, true, false, true],
    [127, 257, 33, false, true, false],
    [3, 1000, 1, true, true, true],
  ])('accumulates into the output for %ix%ix%i (transA %s, transB %s, with bias and relu %s)', async (m, n, k, transA, transB, epi) => {
    await check({ m, n, k, transA, transB, accumulate: true, bias: epi, relu: epi });
  });

  // Every kernel variant, whatever this adapter's tuning picks (tile4 is the GPU choice; naive the reference), one
  // test per variant and transpose pair (the big tiles take seconds to compile per pipeline on llvmpipe).
  for (const variant of ['naive', 'tile4', 'tile8', 'tile16', 'tile32x16', 'tile16x32'] as const) {
    for (const [transA, transB] of TRANSPOSES) {
      it(`variant ${variant} matches float64 on edge shapes (${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'})`, async () => {
        for (const [m, n, k] of [
          [37, 29, 41],
          [70, 45, 13],
          [16, 16, 16],
          [3, 1, 6],
        ] as const)
          await check({ m, n, k, transA, transB, variant, bias: m === 37, relu: m === 37 });
      }, 300_000);
    }
  }

  it('folds more row workgroups than the adapter allows per dimension into z', async () => {
    const max = engine.limits.maxComputeWorkgroupsPerDimension;
    // The naive kernel with 1x1 workgroups needs one workgroup per row.
    await runOnceCheck(max + 5, 1, 2);
    async function runOnceCheck(m: number, n: number, k: number): Promise<void> {
      const a = randomUniform(m * k, 11), b = randomUniform(k * n, 12);
      const ta = engine.tensor([m, k], a), tb = engine.tensor([k, n], b), out = engine.tensor([m, n], nanArray(m * n));
      await runOnce(engine, 'fold', (rec) => matmul(rec, ta, tb, out, m, n, k, { variant: 'naive', workgroup: [1, 1] }));
      expectClose(await out.data(), matmulRef(a, b, m, n, k), TOL, Math.sqrt(k));
      for (const t of [ta, tb, out]) t.dispose();
    }
  });

  it('k = 0 gives zeros (plus the bias)', async () => {
    const ta = engine.tensor([3, 0], []), tb = engine.tensor([0, 5], []), out = engine.tensor([3, 5], nanArray(15));
    const bias = engine.tensor([5], [1, -2, 3, -4, 5]);
    await runOnce(engine, 'k0', (rec) => matmul(rec, ta, tb, out, 3, 5, 0));
    expect(Array.from(await out.data())).toEqual(new Array(15).fill(0));
    await runOnce(engine, 'k0 bias', (rec) => matmul(rec, ta, tb, out, 3, 5, 0, { bias, activation: 'relu' }));
    expect(Array.from(await out.data())).toEqual([0, 1, 2].flatMap(() => [1, 0, 3, 0, 5]));
    for (const t of [ta, tb, out, bias]) t.dispose();
  });

  it('throws ShapeError naming the shapes when sizes disagree', () => {
    const a = engine.empty([4, 3]), b = engine.empty([3, 5]), out = engine.empty([4, 5]), bias = engine.empty([4]);
    const rec = { engine } as unknown as Parameters<typeof matmul>[0]; // never reached: the check comes first
    expect(() => matmul(rec, a, b, out, 4, 5, 4)).toThrow(ShapeError);
    expect(() => matmul(rec, a, b, out, 4, 5, 4)).toThrow(/A \[4, 3\] must hold \[4, 4\]/);
    expect(() => matmul(rec, a, b, out, 4, 5, 3, { transA: true })).not.toThrow(ShapeError); // [3,4] holds 12 too
    expect(() => matmul(rec, a, b, engine.empty([5, 4]), 4, 6, 3)).toThrow(/B \[3, 5\] must hold \[3, 6\]/);
    expect(() => matmul(rec, a, b, out, 4, 5, 3, { bias })).toThrow(/bias \[4\] must hold \[5\]/);
    expect(() => matmul(rec, a, b, out, 4, 5, 2.5)).toThrow(ShapeError);
    for (const t of [a, b, out, bias]) t.dispose();
  });
});

const GEMMS: GemmVariant[] = ['gemm64x64', 'gemm32x32'];
// Split-K: off, the smallest slice (one K-tile, so many slices and a ragged last one), and the automatic rule.
const SPLITS: [string, number | undefined][] = [
  ['no split', 0],
  ['split-K slices of 16', 16],
  ['automatic split', undefined],
];

describe('matmul GEMMs in workgroup memory (forced GPU class)', () => {
  it('the GPU class defaults to the 64x64 GEMM', () => {
    expect(gpu.adapter.adapterClass).toBe('gpu');
    expect(tuningOf(gpu).matmul.variant).toBe('gemm64x64');
  });

  for (const variant of GEMMS) {
    for (const [split, splitK] of SPLITS) {
      for (const [transA, transB] of TRANSPOSES) {
        it(`${variant}, ${split}: ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} matches float64 on the awkward shapes`, async () => {
          for (const [m, n, k] of SHAPES) await check({ m, n, k, transA, transB, variant, splitK }, gpu);
        }, 300_000);
      }
      it.each([
        [33, 127, 7, false, false, true, true, false],
        [257, 10, 784, true, false, true, false, false],
        [127, 1000, 33, false, true, false, true, true],
        [7, 3, 257, true, true, true, true, true],
        [1000, 257, 3, false, false, true, false, true],
      ])(`${variant}, ${split}: bias / relu / accumulate for %ix%ix%i (transA %s, transB %s, bias %s, relu %s, accumulate %s)`, async (m, n, k, transA, transB, bias, relu, accumulate) => {
        await check({ m, n, k, transA, transB, bias, relu, accumulate, variant, splitK }, gpu);
      }, 300_000);
    }
  }

  it('splits any K over 4096 so no invocation walks more than 4096 depths, and still matches float64', async () => {
    for (const variant of GEMMS) {
      const s = gemmSplit(3, 5, 9001, variant);
      expect(s.slices).toBe(3); // 3008, 3008 and 2985 depths
      expect(s.slice).toBeLessThanOrEqual(MAX_SERIAL);
      await check({ m: 3, n: 5, k: 9001, variant, bias: true, relu: true }, gpu);
      await check({ m: 3, n: 5, k: 9001, variant, transA: true, transB: true }, gpu);
    }
  }, 300_000);

  it('split-K results are the same bits on every run and in every recording', async () => {
    for (const [m, n, k, variant] of [
      [128, 128, 784, 'gemm64x64'],
      [127, 33, 5000, 'gemm32x32'],
    ] as const) {
      const a = gpu.tensor([m, k], randomUniform(m * k, 5));
      const b = gpu.tensor([k, n], randomUniform(k * n, 6));
      const bias = gpu.tensor([n], randomUniform(n, 7));
      const out = gpu.tensor([m, n], nanArray(m * n));
      const rec = new Recorder(gpu, 'split-K twice');
      matmul(rec, a, b, out, m, n, k, { variant, bias, activation: 'relu' });
      expect(rec.plan().map((p) => p.cost!.variant)).toEqual([variant, 'splitKSum']);
      rec.run();
      const first = new Uint32Array((await out.data()).buffer.slice(0));
      await out.write(nanArray(m * n));
      rec.run();
      const second = new Uint32Array((await out.data()).buffer.slice(0));
      rec.dispose();
      await out.write(nanArray(m * n));
      await runOnce(gpu, 'split-K again', (r) => matmul(r, a, b, out, m, n, k, { variant, bias, activation: 'relu' }));
      const third = new Uint32Array((await out.data()).buffer.slice(0));
      expect(second).toEqual(first);
      expect(third).toEqual(first);
      for (const t of [a, b, bias, out]) t.dispose();
    }
  }, 300_000);

  // Dense m x n x k at the seed models (MLP 784-512-10; MNIST/Fashion CNN Flatten 6272-128-10; CIFAR CNN Flatten
  // 16384-128-64-10): forward with bias and ReLU, weight gradient Xᵀ·dY (k x n x m), input gradient dY·Wᵀ (m x k x n).
  const DENSE: [number, number][] = [
    [784, 512],
    [512, 10],
    [6272, 128],
    [128, 10],
    [16384, 128],
    [128, 64],
    [64, 10],
  ];
  it.each([128, 1024])('plan rule at the seed Dense shapes, batch %i: >10 MFLOP dispatches span >= 256 workgroups of >= 64 threads, every serial loop <= 4096', (batch) => {
    const rec = new Recorder(gpu, `dense shapes at batch ${batch}`);
    const made: Tensor[] = [];
    const t = (shape: number[]) => (made.push(gpu.empty(shape)), made[made.length - 1]!);
    try {
      for (const [inF, outF] of DENSE) {
        const x = t([batch, inF]), w = t([inF, outF]), bias = t([outF]), y = t([batch, outF]), dw = t([inF, outF]), dx = t([batch, inF]);
        matmul(rec, x, w, y, batch, outF, inF, { bias, activation: 'relu' });
        matmul(rec, x, y, dw, inF, outF, batch, { transA: true });
        matmul(rec, y, w, dx, batch, inF, outF, { transB: true });
      }
      const plan = rec.plan();
      expect(plan.length).toBeGreaterThanOrEqual(3 * DENSE.length);
      for (const p of plan) {
        const c = p.cost!;
        expect(c, p.label).not.toBeNull();
        const groups = p.workgroups[0] * p.workgroups[1] * p.workgroups[2];
        expect(c.serial, p.label).toBeLessThanOrEqual(MAX_SERIAL);
        expect(c.serial, p.label).toBeGreaterThan(0);
        expect(c.bytes, p.label).toBeGreaterThan(0);
        if (c.flops > 10e6) {
          expect(groups, `${p.label}: workgroups`).toBeGreaterThanOrEqual(MIN_WORKGROUPS);
          expect(c.threads, `${p.label}: threads`).toBeGreaterThanOrEqual(64);
        }
      }
      // Each Dense matmul states its whole product's FLOPs (split or not).
      const gemmFlops = plan.filter((p) => p.cost!.variant.startsWith('gemm')).reduce((s, p) => s + p.cost!.flops, 0);
      expect(gemmFlops).toBe(DENSE.reduce((s, [i, o]) => s + 3 * 2 * batch * i * o, 0));
    } finally {
      rec.dispose();
      for (const x of made) x.dispose();
    }
  });

  it('states its cost: serial = the depths one invocation walks, bytes = the strips each workgroup reads + writes', () => {
    const a = gpu.empty([128, 6272]), b = gpu.empty([6272, 128]), out = gpu.empty([128, 128]);
    const rec = new Recorder(gpu, 'cost');
    matmul(rec, a, b, out, 128, 128, 6272);
    const [g, sum] = rec.plan();
    // 4 tiles of 64x64, split into 66 slices of 96 depths (4 x 66 = 264 workgroups).
    expect(g!.workgroups).toEqual([2, 2, 66]);
    expect(g!.cost).toEqual({ variant: 'gemm64x64', threads: 256, serial: 96, flops: 2 * 128 * 128 * 6272, bytes: 4 * (2 * 128 * 6272 + 2 * 6272 * 128 + 66 * 128 * 128) });
    expect(sum!.cost).toEqual({ variant: 'splitKSum', threads: 64, serial: 66, flops: 66 * 128 * 128, bytes: 4 * (66 * 128 * 128 + 128 * 128) });
    expect(sum!.workgroups).toEqual([256, 1, 1]);
    rec.dispose();
    for (const t of [a, b, out]) t.dispose();
  });

  it('picks the 32x32 GEMM where only it reaches 256 workgroups (1024x64x128), and never splits tiny products', () => {
    const rec = new Recorder(gpu, 'choice');
    const a = gpu.empty([1024, 128]), b = gpu.empty([128, 64]), out = gpu.empty([1024, 64]);
    matmul(rec, a, b, out, 1024, 64, 128);
    const tiny = [gpu.empty([128, 64]), gpu.empty([64, 10]), gpu.empty([128, 10])] as const;
    matmul(rec, tiny[0], tiny[1], tiny[2], 128, 10, 64);
    const plan = rec.plan();
    expect(plan.map((p) => p.cost!.variant)).toEqual(['gemm32x32', 'splitKSum', 'gemm64x64']);
    expect(plan[0]!.workgroups[0] * plan[0]!.workgroups[1] * plan[0]!.workgroups[2]).toBeGreaterThanOrEqual(256);
    rec.dispose();
    for (const t of [a, b, out, ...tiny]) t.dispose();
  });
});

describe('matmul fallbacks for small adapter limits', () => {
  const roomy: MatmulLimits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupStorageSize: 16384 };
  const gemm64 = { variant: 'gemm64x64', workgroup: [16, 16] } as const;
  const pick = (l: Partial<MatmulLimits>) => fitMatmulChoice({ ...gemm64, workgroup: [16, 16] }, { ...roomy, ...l });

  it('keeps the 64x64 GEMM when it fits (WebGPU default limits), else takes the next variant that fits and says why', () => {
    expect(gemmWorkgroupBytes('gemm64x64')).toBeLessThanOrEqual(16384);
    expect(pick({})).toEqual({ choice: gemm64, note: null });
    const fewInvocations = pick({ maxComputeInvocationsPerWorkgroup: 128 });
    expect(fewInvocations.choice.variant).toBe('gemm32x32');
    expect(fewInvocations.note).toMatch(/gemm32x32 instead of gemm64x64 because it needs 256 invocations per workgroup and the adapter allows 128/);
    const littleStorage = pick({ maxComputeWorkgroupStorageSize: 8192 });
    expect(littleStorage.choice.variant).toBe('gemm32x32');
    expect(littleStorage.note).toMatch(/needs 8704 bytes of workgroup storage and the adapter allows 8192/);
    expect(pick({ maxComputeWorkgroupStorageSize: 4096 }).choice).toEqual({ variant: 'tile4', workgroup: [16, 16] });
    expect(pick({ maxComputeWorkgroupStorageSize: 0, maxComputeInvocationsPerWorkgroup: 32 }).choice).toEqual({ variant: 'tile4', workgroup: [4, 4] });
    expect(pick({ maxComputeWorkgroupSizeY: 8 }).choice.variant).toBe('gemm32x32');
  });

  /** The GPU engine seen through smaller limits (everything else is the real device). */
  function shrunk(l: Partial<GPUSupportedLimits>): Engine {
    const limits: Record<string, number> = {};
    for (const key in gpu.limits) limits[key] = (gpu.limits as unknown as Record<string, number>)[key]!;
    const fake = Object.create(gpu, { limits: { value: { ...limits, ...l } }, fallbackNotes: { value: [] } }) as Engine;
    return fake;
  }

  it('an engine with too little workgroup storage runs the next variant, correctly, and describe() says so', async () => {
    const small = shrunk({ maxComputeWorkgroupStorageSize: 4096 });
    await check({ m: 70, n: 45, k: 130, bias: true, relu: true }, small);
    await check({ m: 37, n: 29, k: 41, transA: true, transB: true, variant: 'gemm32x32' }, small);
    expect(small.fallbackNotes).toEqual([
      'matmul: tile4 wg 16x16 instead of gemm64x64 because it needs 8704 bytes of workgroup storage and the adapter allows 4096',
      'matmul: tile4 wg 16x16 instead of gemm32x32 because it needs 4608 bytes of workgroup storage and the adapter allows 4096',
    ]);
    expect(small.describe()).toContain('tile4 wg 16x16 instead of gemm64x64');
    expect(gpu.fallbackNotes).toEqual([]);
  }, 300_000);

  it('folds row tiles into z past the workgroups per dimension, with and without split-K', async () => {
    const narrow = shrunk({ maxComputeWorkgroupsPerDimension: 8 });
    for (const variant of GEMMS) {
      // 1000 rows: 16 (64x64) or 32 (32x32) row tiles on an adapter that allows 8 per dimension.
      await check({ m: 1000, n: 3, k: 257, variant, splitK: 0, bias: true }, narrow);
      // 2 slices x 2 or 4 row folds in z.
      await check({ m: 1000, n: 3, k: 100, variant, splitK: 64, transA: true }, narrow);
    }
    // 7 slices x 4 row folds do not fit in 8: a ShapeError naming the shapes, not a WebGPU validation error.
    const a = narrow.empty([100, 1000]), b = narrow.empty([100, 3]), out = narrow.empty([1000, 3]);
    const rec = new Recorder(narrow, 'too many');
    expect(() => matmul(rec, a, b, out, 1000, 3, 100, { variant: 'gemm32x32', splitK: 16, transA: true })).toThrow(/7 K slices x 4 row folds exceed this adapter's 8 workgroups per dimension/);
    rec.dispose();
    for (const t of [a, b, out]) t.dispose();
  }, 300_000);
});
