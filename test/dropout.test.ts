import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder, runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { dropoutBackward, dropoutForward } from '../src/kernels/dropout.js';
import { incrementStep } from '../src/kernels/optimizer.js';
import { Dropout } from '../src/layers/dropout.js';
import type { StepContext } from '../src/layers/layer.js';
import { dropoutMaskRef } from '../src/reference/dropout.js';
import { randomUniform } from '../src/reference/random.js';
import { nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

function stepAt(t: number): Tensor {
  return engine.tensor([4], new Uint32Array([t, 0, 0, 0]));
}

async function forward(x: Float32Array, rate: number, seed: number, stream: number, t: number): Promise<{ y: Float32Array; mask: Float32Array }> {
  const n = x.length;
  const tx = engine.tensor([n], x), ty = engine.tensor([n], nanArray(n)), tm = engine.tensor([n], nanArray(n)), step = stepAt(t);
  await runOnce(engine, 'dropout', (rec) => dropoutForward(rec, tx, ty, tm, rate, seed, stream, step.buffer));
  const out = { y: await ty.data(), mask: await tm.data() };
  for (const u of [tx, ty, tm, step]) u.dispose();
  return out;
}

describe('dropout kernels', () => {
  it.each([1, 7, 127, 1000])('matches the CPU twin exactly and scales by exactly 1/(1-rate), n=%i', async (n) => {
    const x = randomUniform(n, n);
    for (const rate of [0.1, 0.5, 0.75]) {
      const { y, mask } = await forward(x, rate, 42, 3, 5);
      expect(Array.from(mask)).toEqual(Array.from(dropoutMaskRef(n, rate, 42, 3, 5)));
      const scale = Math.fround(1 / (1 - rate));
      for (let i = 0; i < n; i++) {
        expect(mask[i] === 0 || mask[i] === scale).toBe(true);
        expect(y[i]).toBe(Math.fround(x[i]! * mask[i]!));
      }
    }
  });

  it('rate 0 is the identity', async () => {
    const x = randomUniform(1000, 1);
    const { y, mask } = await forward(x, 0, 1, 1, 1);
    expect(y).toEqual(x);
    expect(mask.every((m) => m === 1)).toBe(true);
  });

  it.each([0.1, 0.3, 0.5, 0.9])('keeps 1 - rate of the elements within 5 binomial standard deviations (rate %s)', async (rate) => {
    const n = 65536;
    const { mask } = await forward(new Float32Array(n).fill(1), rate, 7, 0, 1);
    const kept = mask.filter((m) => m !== 0).length;
    const sd = Math.sqrt(n * rate * (1 - rate));
    expect(Math.abs(kept - n * (1 - rate))).toBeLessThan(5 * sd);
    // and no structure by position: each half keeps its share too
    const firstHalf = mask.subarray(0, n / 2).filter((m) => m !== 0).length;
    expect(Math.abs(firstHalf - (n / 2) * (1 - rate))).toBeLessThan(5 * Math.sqrt((n / 2) * rate * (1 - rate)));
  });

  it('draws a fresh mask each step (t from stepState), the same mask for the same (seed, stream, t)', async () => {
    const n = 1000;
    const x = new Float32Array(n).fill(1);
    const a = await forward(x, 0.5, 9, 2, 10), b = await forward(x, 0.5, 9, 2, 10), c = await forward(x, 0.5, 9, 2, 11);
    const d = await forward(x, 0.5, 9, 3, 10), e = await forward(x, 0.5, 10, 2, 10);
    expect(a.mask).toEqual(b.mask);
    const agree = (p: Float32Array, q: Float32Array) => p.filter((v, i) => v === q[i]).length / n;
    // independent masks agree on about half the elements at rate 0.5
    for (const other of [c, d, e]) expect(agree(a.mask, other.mask)).toBeLessThan(0.6);
  });

  it('a replayed recording advances t on the GPU and redraws', async () => {
    const n = 512;
    const tx = engine.tensor([n], new Float32Array(n).fill(1)), ty = engine.empty([n]), tm = engine.empty([n]), step = stepAt(0);
    const rec = new Recorder(engine, 'replay');
    const masks: Float32Array[] = [];
    try {
      incrementStep(rec, step.buffer);
      dropoutForward(rec, tx, ty, tm, 0.5, 1, 1, step.buffer);
      for (let k = 0; k < 3; k++) {
        rec.run();
        masks.push(await tm.data());
      }
    } finally {
      rec.dispose();
    }
    expect(masks[0]).toEqual(dropoutMaskRef(n, 0.5, 1, 1, 1));
    expect(masks[2]).toEqual(dropoutMaskRef(n, 0.5, 1, 1, 3));
    expect(masks[0]).not.toEqual(masks[1]);
    for (const u of [tx, ty, tm, step]) u.dispose();
  });

  it('backward multiplies by the mask', async () => {
    const n = 333;
    const mask = dropoutMaskRef(n, 0.4, 5, 5, 5), dy = randomUniform(n, 3);
    const tm = engine.tensor([n], mask), tdy = engine.tensor([n], dy), tdx = engine.tensor([n], nanArray(n));
    await runOnce(engine, 'dropout back', (rec) => dropoutBackward(rec, tdy, tm, tdx));
    expect(Array.from(await tdx.data())).toEqual(Array.from(dy, (g, i) => Math.fround(g * mask[i]!)));
    for (const u of [tm, tdy, tdx]) u.dispose();
  });

  it('rejects rates outside [0, 1)', async () => {
    const t = engine.zeros([4]), u = engine.zeros([4]), m = engine.zeros([4]), s = stepAt(0);
    for (const rate of [1, -0.1, NaN]) await expect(runOnce(engine, 'bad', (rec) => dropoutForward(rec, t, u, m, rate, 0, 0, s.buffer))).rejects.toThrow(/rate/);
    for (const x of [t, u, m, s]) x.dispose();
  });
});

describe('Dropout layer', () => {
  const ctx = (n: number, training: boolean, step: Tensor): StepContext => ({ engine, n, training, stepState: step.buffer, seed: 77 });

  it('is the identity at inference (no dispatch) and masks while training; backward reuses the mask', async () => {
    const layer = new Dropout({ rate: 0.25 });
    expect(layer.className).toBe('Dropout');
    expect(layer.name).toMatch(/^dropout/);
    expect(layer.getConfig()).toMatchObject({ rate: 0.25, seed: null });
    layer.build([4, 5]);
    layer.allocate(engine, 8);
    const n = 6, size = n * 20;
    const x = randomUniform(size, 1), dy = randomUniform(size, 2);
    const tx = engine.tensor([n, 4, 5], x), tdy = engine.tensor([n, 4, 5], dy), step = stepAt(3);

    const inf = new Recorder(engine, 'inference');
    expect(layer.forward(inf, tx, ctx(n, false, step))).toBe(tx);
    expect(inf.dispatchCount).toBe(0);
    inf.dispose();

    const rec = new Recorder(engine, 'train');
    const y = layer.forward(rec, tx, ctx(n, true, step));
    const dx = layer.backward(rec, tdy, ctx(n, true, step), true)!;
    rec.run();
    rec.dispose();
    const mask = dropoutMaskRef(size, 0.25, 77, layer.id, 3); // stream = layer id, seed = ctx.seed
    expect(y.shape).toEqual([n, 4, 5]);
    expect(Array.from(await y.data())).toEqual(Array.from(x, (v, i) => Math.fround(v * mask[i]!)));
    expect(Array.from(await dx.data())).toEqual(Array.from(dy, (g, i) => Math.fround(g * mask[i]!)));
    expect(layer.backward(new Recorder(engine), tdy, ctx(n, true, step), false)).toBeNull();
    layer.release();
    for (const u of [tx, tdy, step]) u.dispose();
  });

  it('uses its own seed when given, and rate 0 passes through', async () => {
    const layer = new Dropout({ rate: 0.5, seed: 5 });
    expect(layer.getConfig()).toMatchObject({ rate: 0.5, seed: 5 });
    layer.build([16]);
    layer.allocate(engine, 2);
    const tx = engine.tensor([2, 16], new Float32Array(32).fill(1)), step = stepAt(1);
    const rec = new Recorder(engine, 'train');
    const y = layer.forward(rec, tx, ctx(2, true, step));
    rec.run();
    rec.dispose();
    expect(Array.from(await y.data())).toEqual(Array.from(dropoutMaskRef(32, 0.5, 5, layer.id, 1)));
    const zero = new Dropout({ rate: 0 });
    zero.build([16]);
    zero.allocate(engine, 2);
    expect(zero.forward(new Recorder(engine), tx, ctx(2, true, step))).toBe(tx);
    expect(() => new Dropout({ rate: 1 })).toThrow(/rate/);
    layer.release();
    zero.release();
    tx.dispose();
    step.dispose();
  });
});
