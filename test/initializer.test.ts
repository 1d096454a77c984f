import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import { initialize, initializerPlan } from '../src/kernels/initializer.js';
import type { InitializerName } from '../src/layers/layer.js';
import { initializeRef } from '../src/reference/initializer.js';
import { nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
const measured: string[] = [];
afterAll(() => {
  console.log(`truncated normal, GPU vs CPU twin (max |diff| / sd): ${measured.join(', ')}`);
  engine?.dispose();
});

async function gpuInit(n: number, initializer: InitializerName, fanIn: number, fanOut: number, seed: number): Promise<Float32Array> {
  const t = engine.tensor([n], nanArray(n));
  await runOnce(engine, 'init', (rec) => initialize(rec, t, { initializer, fanIn, fanOut }, seed));
  const d = await t.data();
  t.dispose();
  return d;
}

function moments(v: Float32Array): { mean: number; variance: number; maxAbs: number } {
  let s = 0, s2 = 0, m = 0;
  for (const x of v) (s += x), (s2 += x * x), (m = Math.max(m, Math.abs(x)));
  const mean = s / v.length;
  return { mean, variance: s2 / v.length - mean * mean, maxAbs: m };
}

const FANS: [number, number][] = [[784, 128], [3 * 3 * 16, 32]];

describe.each(['glorot_uniform', 'he_uniform'] as const)('%s', (name) => {
  it.each([1, 7, 1000, 4097])('matches the CPU twin bit for bit, n=%i', async (n) => {
    const gpu = await gpuInit(n, name, 784, 128, 12345 + n);
    expect(Array.from(gpu)).toEqual(Array.from(initializeRef(n, { initializer: name, fanIn: 784, fanOut: 128 }, 12345 + n)));
  });

  it.each(FANS)('has the Keras limit and variance limit²/3 for fans %i, %i', async (fanIn, fanOut) => {
    const n = 65536;
    const v = await gpuInit(n, name, fanIn, fanOut, 7);
    const limit = name === 'glorot_uniform' ? Math.sqrt(6 / (fanIn + fanOut)) : Math.sqrt(6 / fanIn);
    const m = moments(v);
    expect(m.maxAbs).toBeLessThanOrEqual(Math.fround(limit));
    expect(m.maxAbs).toBeGreaterThan(limit * 0.999); // the range is really used
    // 5 standard errors: sd(mean) = limit/sqrt(3n); sd(mean of x²) = sqrt(4/45)·limit²/sqrt(n) (≈ 0.35% of limit²/3)
    expect(Math.abs(m.mean)).toBeLessThan((5 * limit) / Math.sqrt(3 * n));
    expect(Math.abs(m.variance / (limit * limit / 3) - 1)).toBeLessThan(0.018);
  });
});

describe.each(['glorot_normal', 'he_normal'] as const)('%s (truncated normal)', (name) => {
  it.each([1, 7, 1000, 4097])('matches the CPU twin to f32 transcendental accuracy, n=%i', async (n) => {
    const spec = { initializer: name, fanIn: 784, fanOut: 128 };
    const gpu = await gpuInit(n, name, 784, 128, 999 + n);
    const ref = initializeRef(n, spec, 999 + n);
    const sd = initializerPlan(spec).a;
    // same hash, same acceptance; only log/cos/sin/sqrt in f32 differ: a few ulp of values up to 2 sd
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(gpu[i]! - ref[i]!) / sd);
    measured.push(`${name} n=${n}: ${worst.toExponential(2)}`);
    // measured ~1.2e-6 on llvmpipe; 1e-5 leaves room for GPUs with looser f32 log/sin/cos (a wrong sd or
    // mapping would be off by 1e-1 or more)
    expect(worst).toBeLessThan(1e-5);
  });

  it.each(FANS)('is truncated at 2 sd with the Keras variance for fans %i, %i', async (fanIn, fanOut) => {
    const n = 65536;
    const v = await gpuInit(n, name, fanIn, fanOut, 11);
    const target = name === 'glorot_normal' ? 2 / (fanIn + fanOut) : 2 / fanIn; // Keras: scale / fan after truncation
    const pre = Math.sqrt(target) / 0.87962566103423978;
    const m = moments(v);
    expect(m.maxAbs).toBeLessThanOrEqual(2 * pre * (1 + 1e-6));
    expect(m.maxAbs).toBeGreaterThan(1.99 * pre);
    expect(Math.abs(m.mean)).toBeLessThan((5 * Math.sqrt(target)) / Math.sqrt(n));
    // 5 standard errors of the mean of x² (sd(x²) < sqrt(2)·var): 2.8%
    expect(Math.abs(m.variance / target - 1)).toBeLessThan(0.028);
  });
});

describe('constants and seeds', () => {
  it('zeros and ones', async () => {
    expect(Array.from(await gpuInit(33, 'zeros', 1, 1, 0))).toEqual(new Array(33).fill(0));
    expect(Array.from(await gpuInit(33, 'ones', 1, 1, 0))).toEqual(new Array(33).fill(1));
  });

  it('the same seed gives the same tensor, another seed another one', async () => {
    const a = await gpuInit(1000, 'glorot_uniform', 10, 10, 1);
    const b = await gpuInit(1000, 'glorot_uniform', 10, 10, 1);
    const c = await gpuInit(1000, 'glorot_uniform', 10, 10, 2);
    expect(a).toEqual(b);
    expect(a.filter((x, i) => x === c[i]).length).toBeLessThan(5);
  });

  it('rejects unknown initializers and bad fans', () => {
    expect(() => initializerPlan({ initializer: 'orthogonal' as InitializerName, fanIn: 1, fanOut: 1 })).toThrow(/orthogonal/);
    expect(() => initializerPlan({ initializer: 'he_normal', fanIn: 0, fanOut: 1 })).toThrow(/positive/);
  });
});
