// shaders/matmul.wgsl vs the float64 reference (src/reference/matmul.ts) on awkward sizes, every transpose
// variant, the fused bias / ReLU / accumulate epilogue, and every kernel variant.
//
// Tolerance: relative error <= 1e-5 with a floor of sqrt(k). A k-term float32 dot product of values in [-1, 1]
// carries rounding on the scale of sqrt(k) (the size of the sum of its terms' random walk), not of the (possibly
// tiny) result, so errors are measured relative to max(|ref|, sqrt(k)). Outputs are poisoned with NaN first so
// an element the kernel never writes fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { ShapeError } from '../src/errors.js';
import { matmul, type MatmulOptions, type MatmulVariant } from '../src/kernels/matmul.js';
import { matmulRef } from '../src/reference/matmul.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

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
}

async function check(c: Case): Promise<void> {
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
