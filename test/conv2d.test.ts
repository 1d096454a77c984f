import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareTuning } from '../src/kernels/autotune.js';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import type { ConvTile } from '../src/kernels/tuning.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { Recorder } from '../src/gpu/recorder.js';
import { tuningOf } from '../src/kernels/tuning.js';
import {
  biasLanes, CONV_GEMM, conv2dBackwardBias, conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dForwardNaive, conv2dGeometry,
  defaultConvGemm, GPU_SERIAL_MAX, gemmStorageBytes, pickConvGemm, type Conv2dGeometry, type ConvBiasVariant, type ConvGemmVariant, type ConvKernel,
} from '../src/kernels/conv2d.js';
import { Conv2D } from '../src/layers/conv2d.js';
import { resetLayerNames } from '../src/layers/layer.js';
import {
  conv2dBackwardBiasRef, conv2dBackwardFilterRef, conv2dBackwardInputRef, conv2dForwardRef,
} from '../src/reference/conv2d.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

// `engine` is the default class (software on llvmpipe); `gpuEngine` forces the GPU class (implicit-GEMM variants).
let engine: Engine;
let gpuEngine: Engine;
beforeAll(async () => {
  engine = await createEngine();
  gpuEngine = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => {
  engine?.dispose();
  gpuEngine?.dispose();
});
const engines = { default: () => engine, gpu: () => gpuEngine };
type EngineName = keyof typeof engines;

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

async function gpu<T>(fn: (t: (shape: number[], data: Float32Array) => Tensor) => Promise<T>, e: Engine = engine): Promise<T> {
  const made: Tensor[] = [];
  try {
    return await fn((shape, data) => {
      const t = e.tensor(shape, data);
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
async function gpuBackward(
  s: Setup, kernel?: ConvKernel, e: Engine = engine, bias?: ConvBiasVariant,
): Promise<{ dx: Float32Array; dw: Float32Array; db: Float32Array }> {
  const { g } = s;
  return gpu(async (t) => {
    const x = t([g.batch, g.inH, g.inW, g.inC], s.x), w = t([g.kH, g.kW, g.inC, g.outC], s.w);
    const dy = t([g.batch, g.outH, g.outW, g.outC], s.r);
    const dx = t([g.batch, g.inH, g.inW, g.inC], nanArray(xSize(g)));
    const dw = t([g.kH, g.kW, g.inC, g.outC], nanArray(wSize(g)));
    const db = t([g.outC], nanArray(g.outC));
    await runOnce(e, 'bwd', (rec) => {
      conv2dBackwardInput(rec, dy, w, dx, g, kernel);
      conv2dBackwardFilter(rec, x, dy, dw, g, kernel);
      conv2dBackwardBias(rec, dy, db, g, bias);
    });
    return { dx: await dx.data(), dw: await dw.data(), db: await db.data() };
  }, e);
}

// Worst errors seen per kernel, printed at the end (for the record; the assertions are per case).
const worst = { forward: 0, dx: 0, dw: 0, db: 0, dxNumeric: 0, dwNumeric: 0, dbNumeric: 0 };
afterAll(() => console.log(`conv2d max relative errors: ${JSON.stringify(worst)}`));
const note = (k: keyof typeof worst, e: number) => (worst[k] = Math.max(worst[k], e));

describe.each(CASES)('conv2d backward %s', (...c) => {
  const name = caseName(c as unknown as Case);
  it.each(Object.keys(engines) as EngineName[])(`matches float64 references and central differences (%s class): ${name}`, async (cls) => {
    const s = setup(c as unknown as Case, 23);
    const { g } = s;
    const got = await gpuBackward(s, undefined, engines[cls]());
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

const GEMMS = Object.keys(CONV_GEMM) as ConvGemmVariant[];

/** forward (linear and relu with bias, linear without) on `e` with `kernel`, outputs poisoned with NaN first. */
async function gpuForward(s: Setup, kernel: ConvKernel | undefined, e: Engine): Promise<{ relu: Float32Array; linear: Float32Array; noBias: Float32Array }> {
  const { g } = s;
  return gpu(async (t) => {
    const x = t([g.batch, g.inH, g.inW, g.inC], s.x), w = t([g.kH, g.kW, g.inC, g.outC], s.w), b = t([g.outC], s.bias);
    const ys = [0, 1, 2].map(() => t([g.batch, g.outH, g.outW, g.outC], nanArray(ySize(g))));
    await runOnce(e, 'fwd', (rec) => {
      conv2dForward(rec, x, w, b, ys[0]!, g, 'relu', kernel);
      conv2dForward(rec, x, w, b, ys[1]!, g, 'linear', kernel);
      conv2dForward(rec, x, w, null, ys[2]!, g, 'linear', kernel);
    });
    return { relu: await ys[0]!.data(), linear: await ys[1]!.data(), noBias: await ys[2]!.data() };
  }, e);
}

/** Every pass of `s` on `e` with `kernel` against the float64 references (same floors as above). */
async function checkAllPasses(s: Setup, kernel: ConvKernel | undefined, e: Engine, bias?: ConvBiasVariant): Promise<void> {
  const { g } = s;
  const f = await gpuForward(s, kernel, e);
  const fy = Math.sqrt(g.kH * g.kW * g.inC);
  expectClose(f.relu, conv2dForwardRef(s.x, s.w, s.bias, g, 'relu'), 1e-5, fy, 'forward relu');
  expectClose(f.linear, conv2dForwardRef(s.x, s.w, s.bias, g), 1e-5, fy, 'forward linear');
  expectClose(f.noBias, conv2dForwardRef(s.x, s.w, null, g), 1e-5, fy, 'forward without bias');
  const got = await gpuBackward(s, kernel, e, bias);
  const fx = Math.sqrt(g.kH * g.kW * g.outC), fw = Math.sqrt(g.batch * g.outH * g.outW);
  expectClose(got.dx, conv2dBackwardInputRef(s.r, s.w, g), 1e-5, fx, 'dx');
  expectClose(got.dw, conv2dBackwardFilterRef(s.x, s.r, g), 1e-5, fw, 'dw');
  expectClose(got.db, conv2dBackwardBiasRef(s.r, g), 1e-5, fw, 'db');
}

const bitsEqual = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.each(CASES)('conv2d implicit GEMM (GPU class) %s', (...c) => {
  const name = caseName(c as unknown as Case);
  it.each(GEMMS)(`%s: forward, backward-input, backward-filter (split-K) and biasChunks match float64: ${name}`, async (v) => {
    await checkAllPasses(setup(c as unknown as Case, 41), v, gpuEngine, 'biasChunks');
  });
});

describe('conv2d implicit GEMM: long sums, determinism, limits', () => {
  it('uses the GEMM kernels by default in the GPU class and the register-blocked ones in the software class', () => {
    expect(tuningOf(gpuEngine).conv2d.implicitGemm).toBe(true);
    const g = conv2dGeometry([2, 9, 9, 3], 8, [3, 3], [1, 1], 'same');
    const variants = (e: Engine) => {
      const rec = new Recorder(e, 'variants');
      const [x, w, y, dx, dw, db] = [[2, 9, 9, 3], [3, 3, 3, 8], [2, 9, 9, 8], [2, 9, 9, 3], [3, 3, 3, 8], [8]].map((sh) => e.empty(sh));
      try {
        conv2dForward(rec, x!, w!, db!, y!, g, 'relu');
        conv2dBackwardInput(rec, y!, w!, dx!, g);
        conv2dBackwardFilter(rec, x!, y!, dw!, g);
        conv2dBackwardBias(rec, y!, db!, g);
        const plan = rec.plan();
        // Every dispatch states its cost, in both classes.
        for (const p of plan) expect(p.cost, p.label).not.toBeNull();
        return plan.map((p) => p.cost!.variant);
      } finally {
        rec.dispose();
        for (const t of [x, w, y, dx, dw, db]) t!.dispose();
      }
    };
    expect(variants(gpuEngine)).toEqual(['gemmForward.gemm64x32', 'gemmBackwardInput.gemm64x32', 'gemmBackwardFilter.gemm32x32', 'reduceGroups', 'biasChunks']);
    if (engine.adapter.adapterClass === 'software')
      expect(variants(engine)).toEqual(['forward', 'backwardInput', 'backwardFilter', 'biasPartial']);
  });

  it('splits K past 4096 into passes (forward: 3x3x520 inputs; backward-input: 3x3x520 filters)', async () => {
    for (const v of ['gemm64x64', 'gemm32x32'] as const) {
      const s = setup([1, 5, 4, 520, 7, 3, 3, 1, 1, 'same'], 51);
      const f = await gpuForward(s, v, gpuEngine);
      expectClose(f.relu, conv2dForwardRef(s.x, s.w, s.bias, s.g, 'relu'), 1e-5, Math.sqrt(9 * 520), 'forward relu, 2 passes');
      const s2 = setup([1, 5, 4, 7, 520, 3, 3, 2, 1, 'same'], 52);
      const got = await gpuBackward(s2, v, gpuEngine, 'biasChunks');
      expectClose(got.dx, conv2dBackwardInputRef(s2.r, s2.w, s2.g), 1e-5, Math.sqrt(9 * 520), 'dx, 2 passes');
      expectClose(got.dw, conv2dBackwardFilterRef(s2.x, s2.r, s2.g), 1e-5, Math.sqrt(s2.g.batch * s2.g.outH * s2.g.outW), 'dw');
    }
  });

  it('split-K backward-filter and the chunked bias sum are bit-identical run to run (8x32x32, 256+ slices)', async () => {
    for (const inC of [3, 8]) {
      const s = setup([8, 32, 32, inC, 5, 3, 3, 1, 1, 'same'], 53);
      const a = await gpuBackward(s, undefined, gpuEngine), b = await gpuBackward(s, undefined, gpuEngine);
      expectClose(a.dw, conv2dBackwardFilterRef(s.x, s.r, s.g), 1e-5, Math.sqrt(8192), 'dw');
      expectClose(a.db, conv2dBackwardBiasRef(s.r, s.g), 1e-5, Math.sqrt(8192), 'db');
      expect(bitsEqual(a.dw, b.dw)).toBe(true);
      expect(bitsEqual(a.db, b.db)).toBe(true);
      expect(bitsEqual(a.dx, b.dx)).toBe(true);
    }
  });

  it('runs split-K slices in rounds when all partials would not fit one binding, each round added in order', async () => {
    const s = setup([8, 16, 16, 3, 5, 3, 3, 1, 1, 'same'], 55); // K = 2048 positions: 128 slices of 16
    const { g } = s;
    const dwOf = (round?: number) =>
      gpu(async (t) => {
        const x = t([g.batch, g.inH, g.inW, g.inC], s.x), dy = t([g.batch, g.outH, g.outW, g.outC], s.r);
        const dw = t([g.kH, g.kW, g.inC, g.outC], nanArray(wSize(g)));
        const rec = new Recorder(gpuEngine, 'rounds');
        try {
          conv2dBackwardFilter(rec, x, dy, dw, g, 'gemm32x32', round);
          if (round) expect(rec.plan().filter((p) => p.cost!.variant.startsWith('gemmBackwardFilter'))).toHaveLength(Math.ceil(128 / round));
          rec.run();
        } finally {
          rec.dispose();
        }
        await gpuEngine.checkErrors('rounds');
        return dw.data();
      }, gpuEngine);
    for (const round of [50, 7]) expectClose(await dwOf(round), conv2dBackwardFilterRef(s.x, s.r, g), 1e-5, Math.sqrt(2048), `dw, ${round} slices per round`);
  });

  it('sums more than 4096 bias chunks in two levels (4,199,401 rows, 3 channels), in a fixed order', async () => {
    const rows = 4096 * 1024 + 5001;
    const dyv = randomUniform(rows * 3, 54);
    const gb = conv2dGeometry([1, rows, 1, 1], 3, [1, 1], [1, 1], 'valid');
    const once = () =>
      gpu(async (t) => {
        const dy = t([1, rows, 1, 3], dyv), db = t([3], nanArray(3));
        const rec = new Recorder(gpuEngine, 'bias');
        try {
          conv2dBackwardBias(rec, dy, db, gb, 'biasChunks');
          const plan = rec.plan();
          expect(plan.map((p) => p.label)).toEqual(['conv2d.backwardBias', 'conv2d.backwardBias (sum of chunks) [level 0]', 'conv2d.backwardBias (sum of chunks) [level 1]']);
          for (const p of plan) expect(p.cost!.serial).toBeLessThanOrEqual(GPU_SERIAL_MAX);
          rec.run();
        } finally {
          rec.dispose();
        }
        await gpuEngine.checkErrors('bias');
        return db.data();
      }, gpuEngine);
    const a = await once(), b = await once();
    expectClose(a, conv2dBackwardBiasRef(dyv, gb), 1e-5, Math.sqrt(rows));
    expect(bitsEqual(a, b)).toBe(true);
  });

  it('autotunes the GEMM tile per pass and shape bucket (families conv2d.forward, .backwardInput, .backwardFilter)', async () => {
    const saved = process.env.SHADERFLOW_CACHE;
    const dir = mkdtempSync(join(tmpdir(), 'shaderflow-conv-tuning-'));
    process.env.SHADERFLOW_CACHE = dir;
    const e = await createEngine({ adapterClass: 'gpu', autotune: true });
    try {
      const g = conv2dGeometry([2, 9, 9, 3], 40, [3, 3], [1, 1], 'same');
      const shapes = [[2, 9, 9, 3], [3, 3, 3, 40], [2, 9, 9, 40], [2, 9, 9, 3], [3, 3, 3, 40]];
      const record = () => {
        const rec = new Recorder(e, 'conv tuning step');
        const [x, w, y, dx, dw] = shapes.map((sh) => e.empty(sh)) as Tensor[];
        conv2dForward(rec, x!, w!, null, y!, g, 'relu');
        conv2dBackwardInput(rec, y!, w!, dx!, g);
        conv2dBackwardFilter(rec, x!, y!, dw!, g);
        for (const t of [x, w, y, dx, dw]) t!.dispose(); // recording only
        return rec;
      };
      const reports = await prepareTuning(e, record, { runs: 1 });
      expect(reports.map((r) => r.family).sort()).toEqual(['conv2d.backwardFilter', 'conv2d.backwardInput', 'conv2d.forward']);
      for (const r of reports) {
        expect([...r.timings.map((t) => t.candidate)].sort()).toEqual([...GEMMS].sort());
        expect(GEMMS).toContain(r.choice);
      }
      // The real recording uses the stored choices.
      const rec = record();
      const used = rec.plan().map((p) => p.cost!.variant).filter((v) => v.startsWith('gemm'));
      rec.dispose();
      const choice = (f: string) => reports.find((r) => r.family === f)!.choice;
      expect(used).toEqual([`gemmForward.${choice('conv2d.forward')}`, `gemmBackwardInput.${choice('conv2d.backwardInput')}`, `gemmBackwardFilter.${choice('conv2d.backwardFilter')}`]);
    } finally {
      e.dispose();
      if (saved === undefined) delete process.env.SHADERFLOW_CACHE;
      else process.env.SHADERFLOW_CACHE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('picks the next GEMM tile that fits the limits, then none (fake limits)', () => {
    const full = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256 };
    expect(pickConvGemm(full, 'gemm64x64')).toEqual({ variant: 'gemm64x64', skipped: [] });
    expect(pickConvGemm(full, 'gemm64x32').variant).toBe('gemm64x32');
    expect(gemmStorageBytes('gemm64x64')).toBe(8704);
    const small = pickConvGemm({ ...full, maxComputeWorkgroupStorageSize: 8192 }, 'gemm64x64');
    expect(small.variant).toBe('gemm64x32');
    expect(small.skipped).toEqual(['gemm64x64 needs 8704 bytes of workgroup storage (the adapter allows 8192)']);
    expect(pickConvGemm({ ...full, maxComputeInvocationsPerWorkgroup: 128 }, 'gemm64x64').variant).toBe('gemm64x32');
    expect(pickConvGemm({ ...full, maxComputeInvocationsPerWorkgroup: 64 }, 'gemm64x64').variant).toBe('gemm32x32');
    expect(pickConvGemm({ ...full, maxComputeWorkgroupSizeY: 8 }, 'gemm64x64').variant).toBe('gemm32x32');
    const none = pickConvGemm({ ...full, maxComputeWorkgroupStorageSize: 4096 }, 'gemm64x64');
    expect(none.variant).toBeNull();
    expect(none.skipped).toHaveLength(3);
    expect(pickConvGemm({ ...full, maxComputeInvocationsPerWorkgroup: 32 }, 'gemm32x32').variant).toBeNull();
    // The bias sum's lanes: 32 channels x up to 8 rows.
    expect(biasLanes(full)).toBe(8);
    expect(biasLanes({ ...full, maxComputeInvocationsPerWorkgroup: 128 })).toBe(4);
    expect(biasLanes({ ...full, maxComputeWorkgroupSizeY: 2 })).toBe(2);
    expect(biasLanes({ ...full, maxComputeInvocationsPerWorkgroup: 32 })).toBe(0);
    expect(biasLanes({ ...full, maxComputeWorkgroupSizeX: 16 })).toBe(0);
    // Default tiles: 32 columns for N <= 32, 32 rows too for M <= 32.
    expect([defaultConvGemm(100352, 32), defaultConvGemm(131072, 64), defaultConvGemm(9, 32), defaultConvGemm(288, 64)]).toEqual(['gemm64x32', 'gemm64x64', 'gemm32x32', 'gemm64x64']);
    // without split-K (forward, backward-input): a smaller tile where only it makes 256 workgroups
    expect([defaultConvGemm(6272, 64, true), defaultConvGemm(25088, 32, true), defaultConvGemm(131072, 64, true), defaultConvGemm(3000, 16, true)]).toEqual(['gemm32x32', 'gemm64x32', 'gemm64x64', 'gemm64x32']);
  });
});

/** The seed conv layers (3x3 same): MNIST 28x28x1->32, CIFAR 32x32x3->32 and 32x32x32->64. */
const SEED_CONVS: [number, number, number, number][] = [[28, 28, 1, 32], [32, 32, 3, 32], [32, 32, 32, 64]];

/** Every dispatch of one conv layer's training step (forward, both gradients, bias), recorded into `rec`. */
function recordConvStep(rec: Recorder, g: Conv2dGeometry, t: (shape: number[]) => Tensor): void {
  const x = t([g.batch, g.inH, g.inW, g.inC]), w = t([g.kH, g.kW, g.inC, g.outC]), b = t([g.outC]);
  const y = t([g.batch, g.outH, g.outW, g.outC]), dx = t([g.batch, g.inH, g.inW, g.inC]);
  const dw = t([g.kH, g.kW, g.inC, g.outC]), db = t([g.outC]);
  conv2dForward(rec, x, w, b, y, g, 'relu');
  conv2dBackwardFilter(rec, x, y, dw, g);
  conv2dBackwardBias(rec, y, db, g);
  conv2dBackwardInput(rec, y, w, dx, g);
}

function expectPlanRules(plan: ReturnType<Recorder['plan']>, what: string): void {
  for (const p of plan) {
    const c = p.cost;
    expect(c, `${what}: ${p.label} states no cost`).not.toBeNull();
    const groups = p.workgroups[0] * p.workgroups[1] * p.workgroups[2];
    if (c!.flops > 10e6) {
      expect(groups, `${what}: ${p.label} (${c!.variant}, ${c!.flops / 1e6} MFLOP) workgroups`).toBeGreaterThanOrEqual(256);
      expect(c!.threads, `${what}: ${p.label} threads`).toBeGreaterThanOrEqual(64);
    }
    expect(c!.serial, `${what}: ${p.label} (${c!.variant}) serial loop`).toBeLessThanOrEqual(GPU_SERIAL_MAX);
  }
}

describe('conv2d dispatch plan rules (GPU class, seed shapes)', () => {
  it.each([128, 1024, 8192])('batch %i: > 10 MFLOP dispatches launch >= 256 workgroups of >= 64 threads; no serial loop > 4096', (batch) => {
    for (const [h, w, ci, co] of SEED_CONVS) {
      const g = conv2dGeometry([batch, h, w, ci], co, [3, 3], [1, 1], 'same');
      // Placeholder buffers (as model.plan records on): shapes too big for this adapter, no GPU memory.
      gpuEngine.withVirtualBuffers(() => {
        const rec = new Recorder(gpuEngine, 'plan', { dry: true });
        try {
          recordConvStep(rec, g, (shape) => gpuEngine.empty(shape));
          expectPlanRules(rec.plan(), `batch ${batch} ${h}x${w}x${ci}->${co}`);
        } finally {
          rec.dispose();
        }
      });
    }
  });

  it('batch 128, recorded into a real Recorder with real tensors', () => {
    for (const [h, w, ci, co] of SEED_CONVS) {
      const g = conv2dGeometry([128, h, w, ci], co, [3, 3], [1, 1], 'same');
      const made: Tensor[] = [];
      const rec = new Recorder(gpuEngine, 'plan');
      try {
        recordConvStep(rec, g, (shape) => {
          const t = gpuEngine.empty(shape);
          made.push(t);
          return t;
        });
        expectPlanRules(rec.plan(), `batch 128 ${h}x${w}x${ci}->${co}`);
      } finally {
        rec.dispose();
        for (const t of made) t.dispose();
      }
    }
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

  it.each(['linear', 'relu', 'tanh'].flatMap((a) => (Object.keys(engines) as EngineName[]).map((c) => [a, c])) as ['linear' | 'relu' | 'tanh', EngineName][])(
    'forward/backward on a partial batch match the references (%s, %s class)', async (act, cls) => {
    const engine = engines[cls]();
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
    }, engine);
    engine.release(stepState);
    layer.release();
  });
});
