import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import {
  avgPool2dBackward, avgPool2dForward, maxPool2dBackward, maxPool2dForward, pool2dGeometry, type Pool2dGeometry,
} from '../src/kernels/pool.js';
import { AveragePooling2D, MaxPool2D, MaxPooling2D } from '../src/layers/pooling.js';
import { resetLayerNames, type StepContext } from '../src/layers/layer.js';
import {
  avgPool2dBackwardRef, avgPool2dForwardRef, maxPool2dBackwardRef, maxPool2dForwardRef,
} from '../src/reference/pool.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

let engine: Engine;
let gpuClass: Engine;
beforeAll(async () => {
  engine = await createEngine();
  gpuClass = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => {
  engine?.dispose();
  gpuClass?.dispose();
});

async function gpu<T>(fn: (t: (shape: number[], data: Float32Array | Uint32Array) => Tensor) => Promise<T>, on = engine): Promise<T> {
  const made: Tensor[] = [];
  try {
    return await fn((shape, data) => {
      const t = on.tensor(shape, data);
      made.push(t);
      return t;
    });
  } finally {
    for (const t of made) t.dispose();
  }
}

/** n distinct values 0.01 apart, shuffled: no ties, and a 1e-3 nudge never changes which element is the max. */
function distinct(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const v = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * 0.01);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

type Case = [batch: number, h: number, w: number, c: number, pH: number, pW: number, sH: number, sW: number, padding: 'same' | 'valid'];
// Odd sizes, 1/3/5 channels, windows 1/2/3/5, strides 1/2/3 (overlapping windows when stride < pool), both paddings.
const CASES: Case[] = [
  [1, 5, 7, 1, 2, 2, 2, 2, 'valid'],
  [3, 5, 7, 3, 2, 2, 2, 2, 'same'],
  [3, 5, 7, 5, 3, 3, 2, 2, 'same'],
  [1, 7, 5, 3, 3, 3, 1, 1, 'same'],
  [3, 6, 6, 4, 2, 2, 1, 1, 'valid'],
  [1, 5, 7, 2, 3, 2, 3, 2, 'same'],
  [1, 9, 9, 1, 5, 5, 2, 2, 'same'],
  [3, 5, 7, 3, 1, 1, 1, 1, 'valid'],
  [1, 7, 7, 5, 2, 3, 3, 3, 'valid'],
  // Channels a multiple of 4: the vec4 kernels (maxForward4, maxBackwardScatter4), disjoint windows with padding,
  // exact tiling and inputs outside every window.
  [2, 6, 8, 8, 2, 2, 2, 2, 'valid'],
  [1, 5, 7, 4, 2, 2, 2, 2, 'same'],
  [1, 7, 7, 4, 2, 3, 3, 3, 'valid'],
];
const name = (c: Case) => `${c[0]}x${c[1]}x${c[2]}x${c[3]} pool ${c[4]}x${c[5]} /${c[6]}x${c[7]} ${c[8]}`;
const geom = (c: Case) => pool2dGeometry([c[0], c[1], c[2], c[3]], [c[4], c[5]], [c[6], c[7]], c[8]);
const inSize = (g: Pool2dGeometry) => g.batch * g.inH * g.inW * g.c;
const outSize = (g: Pool2dGeometry) => g.batch * g.outH * g.outW * g.c;

async function runMax(g: Pool2dGeometry, xv: Float32Array, dyv: Float32Array, on = engine) {
  return gpu(async (t) => {
    const x = t([inSize(g)], xv), dy = t([outSize(g)], dyv);
    const y = t([outSize(g)], nanArray(outSize(g)));
    const am = t([outSize(g)], new Uint32Array(outSize(g)).fill(0xffffffff));
    const dx = t([inSize(g)], nanArray(inSize(g)));
    await runOnce(on, 'maxpool', (rec) => {
      maxPool2dForward(rec, x, y, am, g);
      maxPool2dBackward(rec, dy, am, dx, g);
    });
    return { y: await y.data(), argmax: (await am.data()) as unknown as Uint32Array, dx: await dx.data() };
  }, on);
}

async function runAvg(g: Pool2dGeometry, xv: Float32Array, dyv: Float32Array, on = engine) {
  return gpu(async (t) => {
    const x = t([inSize(g)], xv), dy = t([outSize(g)], dyv);
    const y = t([outSize(g)], nanArray(outSize(g)));
    const dx = t([inSize(g)], nanArray(inSize(g)));
    await runOnce(on, 'avgpool', (rec) => {
      avgPool2dForward(rec, x, y, g);
      avgPool2dBackward(rec, dy, dx, g);
    });
    return { y: await y.data(), dx: await dx.data() };
  }, on);
}

/** Central differences of L = sum(pool(x) * r) in float64 with respect to every x. */
function numericGrad(forward: (x: Float64Array) => Float64Array, xv: Float32Array, r: Float32Array): Float64Array {
  const x = Float64Array.from(xv);
  const out = new Float64Array(x.length);
  const L = () => forward(x).reduce((s, v, i) => s + v * r[i]!, 0);
  const h = 1e-3;
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!;
    x[i] = keep + h;
    const up = L();
    x[i] = keep - h;
    const down = L();
    x[i] = keep;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}

const worst = { maxForward: 0, avgForward: 0, maxBackward: 0, avgBackward: 0, maxNumeric: 0, avgNumeric: 0 };
afterAll(() => console.log(`pool max relative errors: ${JSON.stringify(worst)}`));
const note = (k: keyof typeof worst, e: number) => (worst[k] = Math.max(worst[k], e));

describe('pool geometry and known answers (Keras same)', () => {
  it('same: ceil(H/s) with the extra padding at the bottom/right; valid drops the remainder', () => {
    const g = pool2dGeometry([1, 5, 7, 1], [2, 2], [2, 2], 'same');
    expect([g.outH, g.outW, g.padTop, g.padLeft]).toEqual([3, 4, 0, 0]);
    const g2 = pool2dGeometry([1, 5, 7, 1], [3, 3], [1, 1], 'same');
    expect([g2.outH, g2.outW, g2.padTop, g2.padLeft]).toEqual([5, 7, 1, 1]);
    const g3 = pool2dGeometry([1, 5, 7, 1], [2, 2], [2, 2], 'valid');
    expect([g3.outH, g3.outW]).toEqual([2, 3]);
    expect(() => pool2dGeometry([1, 1, 7, 1], [2, 2], [2, 2], 'valid')).toThrow(/does not fit/);
  });

  it('3x3 image, 2x2 pool, stride 2, same: windows clipped at the bottom/right', async () => {
    const g = pool2dGeometry([1, 3, 3, 1], [2, 2], [2, 2], 'same');
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const dy = Float32Array.from([10, 20, 30, 40]);
    const m = await runMax(g, x, dy);
    expect(Array.from(m.y)).toEqual([5, 6, 8, 9]);
    expect(Array.from(m.argmax)).toEqual([4, 5, 7, 8]);
    expect(Array.from(m.dx)).toEqual([0, 0, 0, 0, 10, 20, 0, 30, 40]);
    const a = await runAvg(g, x, dy);
    // Keras 'same' average pooling divides by the count of real (unpadded) elements: 4, 2, 2, 1.
    expect(Array.from(a.y)).toEqual([3, 4.5, 7.5, 9]);
    expect(Array.from(a.dx)).toEqual([2.5, 2.5, 10, 2.5, 2.5, 10, 15, 15, 40]);
  });

  it.each([
    // Integer values in 0..2 tie often; overlapping 3x3 windows at stride 1 (scalar kernels), and disjoint 2x2/2
    // windows over 8 channels (the vec4 kernels).
    [[3, 7, 5, 2], [3, 3], [1, 1]],
    [[3, 6, 6, 8], [2, 2], [2, 2]],
  ] as [[number, number, number, number], [number, number], [number, number]][])('ties go to the first maximum in row-major window order, every run (%o)', async (shape, pool, strides) => {
    const g = pool2dGeometry(shape, pool, strides, 'same');
    const x = Float32Array.from(randomUniform(inSize(g), 77), (v) => Math.floor((v + 1) * 1.5));
    const dy = randomUniform(outSize(g), 78);
    const ref = maxPool2dForwardRef(x, g);
    const first = await runMax(g, x, dy);
    expect(Array.from(first.argmax)).toEqual(Array.from(ref.argmax));
    expectClose(first.dx, maxPool2dBackwardRef(dy, ref.argmax, g), 1e-6, 1);
    const again = await runMax(g, x, dy);
    expect(Buffer.from(again.dx.buffer).equals(Buffer.from(first.dx.buffer))).toBe(true);
  });
});

it('indexes exactly past 2^24 elements (the float-assisted division)', async () => {
  // 1x1030x1030x17 = 18,035,300 values > 2^24, where a float32 quotient alone would be off.
  const g = pool2dGeometry([1, 1030, 1030, 17], [3, 3], [2, 2], 'same');
  const x = randomUniform(inSize(g), 41), r = randomUniform(outSize(g), 42);
  const ref = maxPool2dForwardRef(x, g);
  const m = await runMax(g, x, r);
  let wrong = 0;
  for (let i = 0; i < ref.argmax.length; i++) if (m.argmax[i] !== ref.argmax[i]) wrong++;
  expect(wrong).toBe(0);
  expectClose(m.dx, maxPool2dBackwardRef(r, ref.argmax, g), 1e-6, 1);
});

describe.each(CASES.flatMap((c) => [[...c, 'default'], [...c, 'gpu']]))('pooling %s', (...c) => {
  const cs = c.slice(0, 9) as unknown as Case;
  const cls = c[9] as 'default' | 'gpu';
  it(`max and average pooling match float64 and central differences: ${name(cs)} (${cls} class)`, async () => {
    const on = cls === 'gpu' ? gpuClass : engine;
    const g = geom(cs);
    const x = distinct(inSize(g), 3 + cs[1] * cs[3]);
    const r = randomUniform(outSize(g), 5 + cs[2]);
    const m = await runMax(g, x, r, on);
    const ref = maxPool2dForwardRef(x, g);
    note('maxForward', expectClose(m.y, ref.y, 0, 1, 'max y')); // a max is exact
    expect(Array.from(m.argmax)).toEqual(Array.from(ref.argmax));
    // Gradient check bounds: L = sum(pool(x) * r) is piecewise linear in x. Average pooling is linear, and the
    // inputs are 0.01 apart so a 1e-3 nudge never changes a window's max: central differences carry no
    // truncation error, only float64 rounding (~1e-13). dx sums at most ceil(pool/stride)^2 float32 terms of
    // size <= 1, so 1e-6 relative (floor 1, the size of one term) is float32 rounding with room to spare.
    note('maxBackward', expectClose(m.dx, maxPool2dBackwardRef(r, ref.argmax, g), 1e-6, 1, 'max dx'));
    note('maxNumeric', expectClose(m.dx, numericGrad((xx) => maxPool2dForwardRef(xx, g).y, x, r), 1e-6, 1, 'max dx vs central differences'));
    const a = await runAvg(g, x, r, on);
    note('avgForward', expectClose(a.y, avgPool2dForwardRef(x, g), 1e-6, 1, 'avg y'));
    note('avgBackward', expectClose(a.dx, avgPool2dBackwardRef(r, g), 1e-6, 1, 'avg dx'));
    note('avgNumeric', expectClose(a.dx, numericGrad((xx) => avgPool2dForwardRef(xx, g), x, r), 1e-6, 1, 'avg dx vs central differences'));
  });
});

describe('pooling plan rules (GPU class)', () => {
  // the seed CNNs' pools (MNIST 28x28x32, CIFAR 32x32x64, 2x2/2) at batch 128 and 1024, an overlapping 3x3/1 pool
  const cases: Case[] = [128, 1024].flatMap((b): Case[] => [[b, 28, 28, 32, 2, 2, 2, 2, 'valid'], [b, 32, 32, 64, 2, 2, 2, 2, 'valid'], [b, 28, 28, 3, 3, 3, 1, 1, 'same']]);
  it.each(cases.map((c) => [name(c), c] as [string, Case]))('%s: enough workgroups, short serial loops', (_, c) => {
    const g = geom(c);
    // CIFAR's 32x32x64 at batch 1024 is 256 MiB, over this adapter's binding limit (128 MiB on llvmpipe): skipped here
    if (inSize(g) * 4 > gpuClass.limits.maxStorageBufferBindingSize) return;
    const x = gpuClass.zeros([inSize(g)]), y = gpuClass.zeros([outSize(g)]), am = gpuClass.zeros([outSize(g)], 'u32');
    const plan = planOf(gpuClass, (rec) => {
      maxPool2dForward(rec, x, y, am, g);
      maxPool2dBackward(rec, y, am, x, g);
      avgPool2dForward(rec, x, y, g);
      avgPool2dBackward(rec, y, x, g);
    });
    for (const d of expectPlanRules(plan, name(c))) expect(d.workgroups[0] * d.workgroups[1] * d.workgroups[2], d.label).toBeGreaterThanOrEqual(256);
    for (const t of [x, y, am]) t.dispose();
  });
});

describe('pooling layers', () => {
  function ctx(n: number): StepContext {
    return { engine, n, training: true, stepState: engine.acquire(16), seed: 1 };
  }

  it('Keras names, defaults, configs and shapes', () => {
    resetLayerNames();
    const m = new MaxPooling2D();
    const m2 = new MaxPool2D({ poolSize: [3, 2], strides: 1, padding: 'same' });
    const a = new AveragePooling2D({ poolSize: 3 });
    expect([m.name, m2.name, a.name]).toEqual(['max_pooling2d', 'max_pooling2d_1', 'average_pooling2d']);
    expect(m.className).toBe('MaxPooling2D');
    m.build([28, 28, 32]);
    expect(m.outputShape).toEqual([14, 14, 32]);
    m2.build([5, 7, 3]);
    expect(m2.outputShape).toEqual([5, 7, 3]);
    a.build([7, 5, 1]);
    expect(a.outputShape).toEqual([2, 1, 1]);
    expect(m.getConfig()).toEqual({ pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_last' });
    expect(m2.getConfig()).toMatchObject({ pool_size: [3, 2], strides: [1, 1], padding: 'same' });
    expect(m.paramCount()).toBe(0);
  });

  it('bad input shapes and options are ShapeErrors naming the layer and shape', () => {
    expect(() => new MaxPooling2D({ name: 'p' }).build([28, 28])).toThrow(/Layer "p" \(MaxPooling2D\).*\[28, 28\]/);
    expect(() => new AveragePooling2D({ name: 'q', poolSize: 3 }).build([2, 5, 1])).toThrow(/Layer "q" \(AveragePooling2D\).*\[2, 5, 1\]/);
    expect(() => new MaxPooling2D({ poolSize: 0 })).toThrow(/poolSize/);
    expect(() => new MaxPooling2D({ padding: 'full' as 'same' })).toThrow(/padding/);
  });

  it.each(['max', 'avg'] as const)('%s layer forward/backward on a partial batch match the references', async (kind) => {
    const layer = kind === 'max' ? new MaxPooling2D({ poolSize: 3, strides: 2, padding: 'same' }) : new AveragePooling2D({ poolSize: 2, padding: 'same' });
    layer.build([5, 7, 3]);
    layer.allocate(engine, 4);
    const c = ctx(3);
    const g = layer.geometry(3);
    const xv = distinct(inSize(g), 9), dyv = randomUniform(outSize(g), 10);
    await gpu(async (t) => {
      const x = t([3, 5, 7, 3], xv), dy = t([3, ...layer.outputShape], dyv);
      let y!: Tensor, dx!: Tensor | null;
      await runOnce(engine, 'layer', (rec) => {
        y = layer.forward(rec, x, c);
        dx = layer.backward(rec, dy, c, true);
      });
      expect(y.shape).toEqual([3, ...layer.outputShape]);
      expect(dx!.shape).toEqual([3, 5, 7, 3]);
      if (kind === 'max') {
        const ref = maxPool2dForwardRef(xv, g);
        expectClose(await y.data(), ref.y, 0);
        expectClose(await dx!.data(), maxPool2dBackwardRef(dyv, ref.argmax, g), 1e-6);
      } else {
        expectClose(await y.data(), avgPool2dForwardRef(xv, g), 1e-6);
        expectClose(await dx!.data(), avgPool2dBackwardRef(dyv, g), 1e-6);
      }
      let none: Tensor | null = x;
      await runOnce(engine, 'layer', (rec) => (none = layer.backward(rec, dy, c, false)));
      expect(none).toBeNull();
    });
    engine.release(c.stepState);
    layer.release();
  });
});
