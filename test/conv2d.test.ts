import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import type { ConvTile } from '../src/kernels/tuning.js';
import {
  conv2dBackwardBias, conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dForwardNaive, conv2dGeometry, type Conv2dGeometry,
} from '../src/kernels/conv2d.js';
import { Conv2D } from '../src/layers/conv2d.js';
import { resetLayerNames } from '../src/layers/layer.js';
import {
  conv2dBackwardBiasRef, conv2dBackwardFilterRef, conv2dBackwardInputRef, conv2dForwardRef,
} from '../src/reference/conv2d.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

type Case = [batch: number, h: number, w: number, inC: number, outC: number, kH: number, kW: number, sH: number, sW: number, padding: 'same' | 'valid'];

// Odd image sizes, 1/3/5 channels and a few wider ones (partial channel blocks), kernels 1/2/3/5 (and 4, 5x3),
// strides 1 and 2 (and 3), both paddings, batch 1 and 3.
const CASES: Case[] = [
  [1, 5, 7, 1, 1, 1, 1, 1, 1, 'valid'],
  [3, 5, 7, 3, 5, 3, 3, 1, 1, 'same'],
  [3, 5, 7, 5, 9, 3, 3, 2, 2, 'same'],
  [1, 5, 7, 3, 4, 2, 2, 2, 2, 'same'],
  [3, 5, 7, 1, 3, 2, 2, 1, 1, 'same'],
  [3, 7, 5, 5, 3, 5, 5, 1, 1, 'same'],
  [1, 7, 5, 3, 8, 5, 3, 2, 1, 'valid'],
  [3, 5, 7, 3, 5, 3, 3, 2, 2, 'valid'],
  [1, 9, 9, 2, 33, 3, 3, 2, 2, 'valid'],
  [3, 6, 6, 4, 17, 2, 2, 1, 1, 'same'],
  [1, 5, 7, 1, 1, 4, 4, 3, 3, 'same'],
  [3, 5, 7, 5, 1, 5, 5, 2, 2, 'same'],
  [1, 6, 5, 19, 7, 3, 1, 1, 2, 'same'],
  // inC a multiple of the tile's 16 rows: backward-filter's aligned variant.
  [1, 4, 5, 32, 6, 3, 3, 1, 1, 'same'],
  [1, 6, 5, 16, 5, 2, 2, 2, 2, 'same'],
  // inC and outC multiples of 4: forward's vec4 variant (forward4), a partial last channel block in the second.
  [3, 5, 7, 4, 8, 3, 3, 1, 1, 'same'],
  [1, 6, 5, 12, 20, 3, 3, 2, 2, 'valid'],
  // inC a multiple of 8 and 16 and outC of 4 (a partial channel block): backward-filter's vec4 aligned variant.
  [2, 5, 6, 16, 12, 3, 3, 1, 1, 'same'],
];

function caseName(c: Case): string {
  const [b, h, w, ci, co, kh, kw, sh, sw, pad] = c;
  return `${b}x${h}x${w}x${ci} -> ${co}, ${kh}x${kw} /${sh}x${sw} ${pad}`;
}

interface Setup {
  g: Conv2dGeometry;
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array;
  r: Float32Array; // the loss weights: L = sum(y * r), so dL/dy = r
}

function setup(c: Case, seed: number): Setup {
  const [b, h, w, ci, co, kh, kw, sh, sw, pad] = c;
  const g = conv2dGeometry([b, h, w, ci], co, [kh, kw], [sh, sw], pad);
  return {
    g,
    x: randomUniform(b * h * w * ci, seed),
    w: randomUniform(kh * kw * ci * co, seed + 1),
    bias: randomUniform(co, seed + 2),
    r: randomUniform(b * g.outH * g.outW * co, seed + 3),
  };
}

const ySize = (g: Conv2dGeometry) => g.batch * g.outH * g.outW * g.outC;
const xSize = (g: Conv2dGeometry) => g.batch * g.inH * g.inW * g.inC;
const wSize = (g: Conv2dGeometry) => g.kH * g.kW * g.inC * g.outC;

async function gpu<T>(fn: (t: (shape: number[], data: Float32Array) => Tensor) => Promise<T>): Promise<T> {
  const made: Tensor[] = [];
  try {
    return await fn((shape, data) => {
      const t = engine.tensor(shape, data);
      made.push(t);
      return t;
    });
  } finally {
    for (const t of made) t.dispose();
  }
}

describe('conv2d geometry (Keras/TF rules)', () => {
  it('same: ceil(H/s), padding split with the extra on the bottom/right', () => {
    const g = conv2dGeometry([1, 5, 5, 1], 1, [2, 2], [2, 2], 'same');
    expect([g.outH, g.outW, g.padTop, g.padLeft]).toEqual([3, 3, 0, 0]); // total 1: all of it at the bottom/right
    const g2 = conv2dGeometry([1, 4, 7, 1], 1, [3, 4], [1, 2], 'same');
    expect([g2.outH, g2.outW, g2.padTop, g2.padLeft]).toEqual([4, 4, 1, 1]); // totals 2 and 3
    const g3 = conv2dGeometry([1, 4, 4, 1], 1, [5, 5], [1, 1], 'same');
    expect([g3.outH, g3.padTop]).toEqual([4, 2]);
  });
  it('valid: floor((H-k)/s)+1, and an empty output is a ShapeError', () => {
    const g = conv2dGeometry([1, 7, 5, 1], 1, [3, 2], [2, 2], 'valid');
    expect([g.outH, g.outW, g.padTop, g.padLeft]).toEqual([3, 2, 0, 0]);
    expect(() => conv2dGeometry([1, 2, 5, 1], 1, [3, 3], [1, 1], 'valid')).toThrow(/does not fit input \[1, 2, 5, 1\]/);
  });
});

describe('conv2d known answers (Keras same)', () => {
  // x = 1..16 as a 4x4 one-channel image.
  const x16 = Float32Array.from({ length: 16 }, (_, i) => i + 1);
  it.each([
    // 2x2 kernel, stride 2: total padding 0; each output sums one 2x2 block.
    ['2x2 ones /2', [2, 2], [2, 2], [1, 1, 1, 1], [14, 22, 46, 54]],
    // 3x3 kernel, stride 2: total padding 1, all of it at the bottom/right (TF puts the odd pixel there).
    ['3x3 ones /2', [3, 3], [2, 2], new Array(9).fill(1), [54, 45, 72, 54]],
    // 2x2 kernel [[1,2],[3,4]], stride 3: out 2x2, total padding max(3+2-4, 0) = 1 at the bottom/right.
    ['2x2 [[1,2],[3,4]] /3', [2, 2], [3, 3], [1, 2, 3, 4], [1 * 1 + 2 * 2 + 3 * 5 + 4 * 6, 1 * 4 + 3 * 8, 1 * 13 + 2 * 14, 1 * 16]],
  ] as const)('%s on a 4x4 image', async (_n, k, s, wv, expected) => {
    const g = conv2dGeometry([1, 4, 4, 1], 1, [k[0], k[1]], [s[0], s[1]], 'same');
    await gpu(async (t) => {
      const x = t([1, 4, 4, 1], x16), w = t([k[0], k[1], 1, 1], Float32Array.from(wv));
      const y = t([1, g.outH, g.outW, 1], nanArray(g.outH * g.outW));
      await runOnce(engine, 'known', (rec) => conv2dForward(rec, x, w, null, y, g, 'linear'));
      expect(Array.from(await y.data())).toEqual(expected);
    });
  });
});

describe.each(CASES)('conv2d %s', (...c) => {
  const name = caseName(c as unknown as Case);
  it(`forward (linear, relu, naive) matches float64: ${name}`, async () => {
    const s = setup(c as unknown as Case, 11);
    const { g } = s;
    // floor: y is a sum of kH*kW*inC products of values in [-1, 1]; float32 rounding scales with sqrt(terms),
    // not with the (possibly tiny) sum, so errors are measured relative to max(|ref|, sqrt(kH*kW*inC)).
    const floor = Math.sqrt(g.kH * g.kW * g.inC);
    await gpu(async (t) => {
      const x = t([g.batch, g.inH, g.inW, g.inC], s.x), w = t([g.kH, g.kW, g.inC, g.outC], s.w), b = t([g.outC], s.bias);
      for (const act of ['linear', 'relu'] as const) {
        const y = t([g.batch, g.outH, g.outW, g.outC], nanArray(ySize(g)));
        const yn = t([g.batch, g.outH, g.outW, g.outC], nanArray(ySize(g)));
        await runOnce(engine, 'fwd', (rec) => {
          conv2dForward(rec, x, w, b, y, g, act);
          conv2dForwardNaive(rec, x, w, b, yn, g, act);
        });
        const ref = conv2dForwardRef(s.x, s.w, s.bias, g, act);
        note('forward', expectClose(await y.data(), ref, 1e-5, floor, `forward ${act}`));
        expectClose(await yn.data(), ref, 1e-5, floor, `naive ${act}`);
      }
      const y0 = t([g.batch, g.outH, g.outW, g.outC], nanArray(ySize(g)));
      await runOnce(engine, 'fwd-nobias', (rec) => conv2dForward(rec, x, w, null, y0, g, 'linear'));
      expectClose(await y0.data(), conv2dForwardRef(s.x, s.w, null, g), 1e-5, floor, 'forward without bias');
    });
  });
});

/** L(x, w, b) = sum(conv(x, w) + b) * r) in float64: the scalar loss the gradient checks differentiate. */
function loss(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>, r: ArrayLike<number>, g: Conv2dGeometry): number {
  const y = conv2dForwardRef(x, w, bias, g);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]! * r[i]!;
  return s;
}

/** Central differences of `loss` with respect to every element of `which`, in float64. */
function numericGrad(s: Setup, which: 'x' | 'w' | 'bias'): Float64Array {
  const x = Float64Array.from(s.x), w = Float64Array.from(s.w), b = Float64Array.from(s.bias);
  const v = which === 'x' ? x : which === 'w' ? w : b;
  const out = new Float64Array(v.length);
  const h = 1e-3;
  for (let i = 0; i < v.length; i++) {
    const keep = v[i]!;
    v[i] = keep + h;
    const up = loss(x, w, b, s.r, s.g);
    v[i] = keep - h;
    const down = loss(x, w, b, s.r, s.g);
    v[i] = keep;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}

/** The four backward kernels on dy = r; dx, dw and db poisoned with NaN first. */
async function gpuBackward(s: Setup, tile?: ConvTile): Promise<{ dx: Float32Array; dw: Float32Array; db: Float32Array }> {
  const { g } = s;
  return gpu(async (t) => {
    const x = t([g.batch, g.inH, g.inW, g.inC], s.x), w = t([g.kH, g.kW, g.inC, g.outC], s.w);
    const dy = t([g.batch, g.outH, g.outW, g.outC], s.r);
    const dx = t([g.batch, g.inH, g.inW, g.inC], nanArray(xSize(g)));
    const dw = t([g.kH, g.kW, g.inC, g.outC], nanArray(wSize(g)));
    const db = t([g.outC], nanArray(g.outC));
    await runOnce(engine, 'bwd', (rec) => {
      conv2dBackwardInput(rec, dy, w, dx, g, tile);
      conv2dBackwardFilter(rec, x, dy, dw, g, tile);
      conv2dBackwardBias(rec, dy, db, g);
    });
    return { dx: await dx.data(), dw: await dw.data(), db: await db.data() };
  });
}

// Worst errors seen per kernel, printed at the end (for the record; the assertions are per case).
const worst = { forward: 0, dx: 0, dw: 0, db: 0, dxNumeric: 0, dwNumeric: 0, dbNumeric: 0 };
afterAll(() => console.log(`conv2d max relative errors: ${JSON.stringify(worst)}`));
const note = (k: keyof typeof worst, e: number) => (worst[k] = Math.max(worst[k], e));

describe.each(CASES)('conv2d backward %s', (...c) => {
  const name = caseName(c as unknown as Case);
  it(`matches float64 references and central differences: ${name}`, async () => {
    const s = setup(c as unknown as Case, 23);
    const { g } = s;
    const got = await gpuBackward(s);
    // Floors as for forward: the scale of one float32 sum of n unit-size terms is sqrt(n). dx sums up to
    // kH*kW*outC products, dw and db sum B*outH*outW of them.
    const fx = Math.sqrt(g.kH * g.kW * g.outC), fw = Math.sqrt(g.batch * g.outH * g.outW);
    note('dx', expectClose(got.dx, conv2dBackwardInputRef(s.r, s.w, g), 1e-5, fx, 'dx vs reference'));
    note('dw', expectClose(got.dw, conv2dBackwardFilterRef(s.x, s.r, g), 1e-5, fw, 'dw vs reference'));
    note('db', expectClose(got.db, conv2dBackwardBiasRef(s.r, g), 1e-5, fw, 'db vs reference'));
    // Gradient check. L = sum(y * r) is linear in each of x, w and b, so central differences carry no
    // truncation error; their float64 rounding is ~1e-16 * |L| / h ~ 1e-12. What remains is the GPU's float32
    // rounding, so the bound is the same 1e-5 (relative, same floors) as the forward test: much tighter than
    // the 1e-2 usual for float32 gradient checks, so a wrong index or a dropped term cannot hide in it.
    note('dxNumeric', expectClose(got.dx, numericGrad(s, 'x'), 1e-5, fx, 'dx vs central differences'));
    note('dwNumeric', expectClose(got.dw, numericGrad(s, 'w'), 1e-5, fw, 'dw vs central differences'));
    note('dbNumeric', expectClose(got.db, numericGrad(s, 'bias'), 1e-5, fw, 'db vs central differences'));
  });
});

describe('conv2d tiles and grids', () => {
  // Every tile shape the tuning may pick compiles and gives the same answers (partial pixel and channel blocks).
  const tiles: ConvTile[] = [
    { workgroup: 1, px: 1, cv: 1 },
    { workgroup: 8, px: 3, cv: 3 },
    { workgroup: 16, px: 2, cv: 4 },
    { workgroup: 64, px: 4, cv: 1 },
    { workgroup: 8, px: 16, cv: 4 },
    { workgroup: 4, px: 13, cv: 2 },
    // Tiny passes: forward and backward-input split the channel sum into passes, backward-filter into chunks
    // (what llvmpipe's 65535-iteration loop cap forces on big layers), all on these small shapes.
    { workgroup: 8, px: 16, cv: 4, steps: 7 },
    { workgroup: 4, px: 3, cv: 2, steps: 1 },
  ];
  it.each(tiles)('tile %o matches the references', async (tile) => {
    for (const c of [CASES[2]!, CASES[12]!, CASES[14]!, CASES[16]!, CASES[17]!]) {
      const s = setup(c, 5);
      const { g } = s;
      const got = await gpuBackward(s, tile);
      expectClose(got.dx, conv2dBackwardInputRef(s.r, s.w, g), 1e-5, Math.sqrt(g.kH * g.kW * g.outC), 'dx');
      expectClose(got.dw, conv2dBackwardFilterRef(s.x, s.r, g), 1e-5, Math.sqrt(g.batch * g.outH * g.outW), 'dw');
      await gpu(async (t) => {
        const x = t([g.batch, g.inH, g.inW, g.inC], s.x), w = t([g.kH, g.kW, g.inC, g.outC], s.w), b = t([g.outC], s.bias);
        const y = t([g.batch, g.outH, g.outW, g.outC], nanArray(ySize(g)));
        await runOnce(engine, 'fwd', (rec) => conv2dForward(rec, x, w, b, y, g, 'relu', tile));
        expectClose(await y.data(), conv2dForwardRef(s.x, s.w, s.bias, g, 'relu'), 1e-5, Math.sqrt(g.kH * g.kW * g.inC), 'y');
      });
    }
  });

  it('sums past 65535 iterations (llvmpipe stops longer loops): backward-filter and bias at 8x32x32', async () => {
    // 8192 positions: one unsplit invocation loop would run ~140k counted iterations and silently stop.
    // inC 2: the position-chunked variant; inC 8: the row-chunked aligned one (with the default tiles).
    for (const inC of [2, 8]) {
      const s = setup([8, 32, 32, inC, 3, 3, 3, 1, 1, 'same'], 13);
      const { g } = s;
      const got = await gpuBackward(s);
      expectClose(got.dw, conv2dBackwardFilterRef(s.x, s.r, g), 1e-5, Math.sqrt(8192), 'dw');
      expectClose(got.db, conv2dBackwardBiasRef(s.r, g), 1e-5, Math.sqrt(8192), 'db');
    }
    // and a bias over 70000 rows (more than one 60000-row chunk)
    const rows = 70000;
    const dyv = randomUniform(rows * 2, 14);
    const gb = conv2dGeometry([1, rows, 1, 1], 2, [1, 1], [1, 1], 'valid');
    await gpu(async (t) => {
      const dy = t([1, rows, 1, 2], dyv), db = t([2], nanArray(2));
      await runOnce(engine, 'bias', (rec) => conv2dBackwardBias(rec, dy, db, gb));
      expectClose(await db.data(), conv2dBackwardBiasRef(dyv, gb), 1e-5, Math.sqrt(rows));
    });
  });

  it('folds more than 65535 tiles into z', async () => {
    // 1x265x265x1 with a 1x1 kernel and a 1-invocation, 1-pixel tile: 70225 tiles, two z slices.
    const s = setup([1, 265, 265, 1, 1, 1, 1, 1, 1, 'valid'], 9);
    const tile = { workgroup: 1, px: 1, cv: 1 };
    const { g } = s;
    await gpu(async (t) => {
      const x = t([1, 265, 265, 1], s.x), w = t([1, 1, 1, 1], s.w);
      const y = t([1, 265, 265, 1], nanArray(265 * 265));
      const dx = t([1, 265, 265, 1], nanArray(265 * 265));
      await runOnce(engine, 'fold', (rec) => {
        conv2dForward(rec, x, w, null, y, g, 'linear', tile);
        conv2dBackwardInput(rec, y, w, dx, g, tile);
      });
      expectClose(await y.data(), conv2dForwardRef(s.x, s.w, null, g), 1e-6);
      expectClose(await dx.data(), conv2dBackwardInputRef(conv2dForwardRef(s.x, s.w, null, g), s.w, g), 1e-6);
    });
  });

  it('is deterministic: two runs give identical bits', async () => {
    const s = setup([3, 9, 9, 7, 6, 3, 3, 1, 1, 'same'], 3);
    const a = await gpuBackward(s), b = await gpuBackward(s);
    expect(Buffer.from(a.dx.buffer).equals(Buffer.from(b.dx.buffer))).toBe(true);
    expect(Buffer.from(a.dw.buffer).equals(Buffer.from(b.dw.buffer))).toBe(true);
  });

  it('rejects tensors of the wrong size, naming them', async () => {
    const g = conv2dGeometry([1, 5, 5, 2], 3, [3, 3], [1, 1], 'same');
    await gpu(async (t) => {
      const x = t([1, 5, 5, 2], new Float32Array(50)), w = t([3, 3, 2, 4], new Float32Array(72)), y = t([1, 5, 5, 3], new Float32Array(75));
      await expect(runOnce(engine, 'bad', (rec) => conv2dForward(rec, x, w, null, y, g, 'linear'))).rejects.toThrow(/w should hold 54 values/);
    });
  });
});

describe('Conv2D layer', () => {
  it('Keras names, shapes, parameters and config', async () => {
    resetLayerNames();
    const a = new Conv2D({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] });
    const b = new Conv2D({ filters: 8, kernelSize: [5, 3], strides: 2 });
    expect([a.name, b.name, a.className]).toEqual(['conv2d', 'conv2d_1', 'Conv2D']);
    a.build([28, 28, 1]);
    expect(a.outputShape).toEqual([28, 28, 32]);
    expect(a.paramSpecs()).toEqual([
      { name: 'kernel', shape: [3, 3, 1, 32], initializer: 'glorot_uniform', fanIn: 9, fanOut: 288 },
      { name: 'bias', shape: [32], initializer: 'zeros', fanIn: 9, fanOut: 288 },
    ]);
    expect(a.paramCount()).toBe(320);
    b.build([7, 5, 3]); // valid: floor((7-5)/2)+1 = 2, floor((5-3)/2)+1 = 2
    expect(b.outputShape).toEqual([2, 2, 8]);
    expect(a.getConfig()).toMatchObject({
      filters: 32, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1],
      activation: 'relu', use_bias: true, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
    });
    const c = new Conv2D({ filters: 4, kernelSize: 2, useBias: false });
    c.build([4, 4, 2]);
    expect(c.paramSpecs().map((p) => p.name)).toEqual(['kernel']);
    expect(c.getConfig()).toMatchObject({ use_bias: false, padding: 'valid', strides: [1, 1] });
  });

  it('bad input shapes and options are ShapeErrors naming the layer and shape', async () => {
    expect(() => new Conv2D({ name: 'c', filters: 4, kernelSize: 3 }).build([28, 28])).toThrow(/Layer "c" \(Conv2D\).*\[28, 28\]/);
    expect(() => new Conv2D({ name: 'd', filters: 4, kernelSize: 3 }).build([2, 9, 1])).toThrow(/Layer "d" \(Conv2D\).*\[2, 9, 1\]/);
    expect(() => new Conv2D({ name: 'e', filters: 0, kernelSize: 3 })).toThrow(/Layer "e".*filters/);
    expect(() => new Conv2D({ filters: 2, kernelSize: [3, 0] })).toThrow(/kernelSize/);
    expect(() => new Conv2D({ filters: 2, kernelSize: 3, strides: 1.5 })).toThrow(/strides/);
  });

  it.each(['linear', 'relu', 'tanh'] as const)('forward/backward on a partial batch match the references (%s)', async (act) => {
    const layer = new Conv2D({ filters: 6, kernelSize: 3, strides: [2, 1], padding: 'same', activation: act });
    layer.build([5, 7, 3]);
    layer.allocate(engine, 4);
    const n = 3;
    const g = layer.geometry(n);
    const s = setup([n, 5, 7, 3, 6, 3, 3, 2, 1, 'same'], 31);
    const stepState = engine.acquire(16);
    const ctx = { engine, n, training: true, stepState, seed: 1 };
    await gpu(async (t) => {
      const x = t([n, 5, 7, 3], s.x), dy = t([n, ...layer.outputShape], s.r);
      layer.weights = [t([3, 3, 3, 6], s.w), t([6], s.bias)];
      layer.grads = [t([3, 3, 3, 6], nanArray(wSize(g))), t([6], nanArray(6))];
      let y!: Tensor, dx!: Tensor | null;
      await runOnce(engine, 'layer', (rec) => {
        y = layer.forward(rec, x, ctx);
        dx = layer.backward(rec, dy, ctx, true);
      });
      const z = conv2dForwardRef(s.x, s.w, s.bias, g);
      const f = act === 'relu' ? (v: number) => Math.max(v, 0) : act === 'tanh' ? Math.tanh : (v: number) => v;
      const yRef = z.map(f);
      // dz = dy * act'(z), written with y as the kernels do: relu 1 where y > 0, tanh 1 - y^2.
      const dz = yRef.map((v, i) => s.r[i]! * (act === 'relu' ? (v > 0 ? 1 : 0) : act === 'tanh' ? 1 - v * v : 1));
      const floor = Math.sqrt(27);
      expectClose(await y.data(), yRef, 1e-5, floor, 'y');
      expectClose(await dx!.data(), conv2dBackwardInputRef(dz, s.w, g), 1e-5, Math.sqrt(9 * 6), 'dx');
      expectClose(await layer.grads[0]!.data(), conv2dBackwardFilterRef(s.x, dz, g), 1e-5, Math.sqrt(n * g.outH * g.outW), 'dw');
      expectClose(await layer.grads[1]!.data(), conv2dBackwardBiasRef(dz, g), 1e-5, Math.sqrt(n * g.outH * g.outW), 'db');
      let none: Tensor | null = x;
      await runOnce(engine, 'layer', (rec) => (none = layer.backward(rec, dy, ctx, false)));
      expect(none).toBeNull();
    });
    engine.release(stepState);
    layer.release();
  });
});
