// Depthwise convolution kernels (src/kernels/depthwise.ts) on both adapter classes and both backward-filter
// chunkings: forward against the float64 reference, backward against the float64 adjoint (the forward is
// bilinear in x and the kernel, so its gradients are the same loops with the roles swapped), odd shapes, strides,
// both paddings, multipliers, and more positions than one chunk; NaN-poisoned outputs. Layer-level numeric
// gradient checks are in test/check-gradients.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, DepthwiseConv2D, Engine, SeparableConv2D, type AdapterClass } from '../src/index.js';
import { runOnce } from '../src/gpu/recorder.js';
import { depthwiseBackwardFilter, depthwiseBackwardInput, depthwiseForward, depthwiseGeometry, type DepthwiseFilterVariant, type DepthwiseGeometry } from '../src/kernels/depthwise.js';
import { depthwiseForwardRef } from '../src/reference/depthwise.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => Object.values(engines).forEach((e) => e?.dispose()));

/** dx and dkernel of L = Σ dy · depthwise(x, k): every (output, kernel element) term visited once. */
function adjointRef(x: ArrayLike<number>, k: ArrayLike<number>, dy: ArrayLike<number>, g: DepthwiseGeometry): { dx: Float64Array; dk: Float64Array } {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC), dk = new Float64Array(g.kH * g.kW * g.outC);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let o = 0; o < g.outC; o++) {
          const d = dy[((b * g.outH + oh) * g.outW + ow) * g.outC + o]!;
          const c = Math.floor(o / g.multiplier);
          for (let kh = 0; kh < g.kH; kh++)
            for (let kw = 0; kw < g.kW; kw++) {
              const ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw;
              if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) continue;
              const xi = ((b * g.inH + ih) * g.inW + iw) * g.inC + c, ki = (kh * g.kW + kw) * g.outC + o;
              dx[xi]! += d * k[ki]!;
              dk[ki]! += d * x[xi]!;
            }
        }
  return { dx, dk };
}

const CASES: [shape: [number, number, number, number], mult: number, kernel: [number, number], strides: [number, number], padding: 'same' | 'valid'][] = [
  [[1, 1, 1, 1], 1, [1, 1], [1, 1], 'valid'],
  [[2, 5, 7, 3], 1, [3, 3], [1, 1], 'same'],
  [[3, 7, 5, 2], 2, [2, 3], [2, 2], 'valid'],
  [[2, 6, 5, 4], 3, [3, 3], [2, 2], 'same'],
  [[1, 4, 9, 5], 1, [5, 3], [1, 2], 'same'],
  [[3, 40, 40, 3], 2, [3, 3], [1, 1], 'same'], // 4800 positions: two 'long' chunks, nineteen 'short' ones
];

describe.each(['software', 'gpu'] as const)('%s class', (cls) => {
  it.each(CASES)('%j x%i, kernel %j, strides %j, %s', async (shape, mult, kernel, strides, padding) => {
    const engine = engines[cls]!;
    const g = depthwiseGeometry(shape, mult, kernel, strides, padding);
    const inN = shape[0] * shape[1] * shape[2] * shape[3], outN = g.batch * g.outH * g.outW * g.outC, kN = g.kH * g.kW * g.outC;
    const x = randomUniform(inN, inN + 1), k = randomUniform(kN, kN + 2), bias = randomUniform(g.outC, 3), dy = randomUniform(outN, outN + 4);
    const t = {
      x: engine.tensor([inN], x), k: engine.tensor([kN], k), bias: engine.tensor([g.outC], bias), dy: engine.tensor([outN], dy),
      y: engine.tensor([outN], nanArray(outN)), dx: engine.tensor([inN], nanArray(inN)),
      dkLong: engine.tensor([kN], nanArray(kN)), dkShort: engine.tensor([kN], nanArray(kN)),
    };
    await runOnce(engine, 'depthwise', (rec) => {
      depthwiseForward(rec, t.x, t.k, t.bias, t.y, g);
      depthwiseBackwardInput(rec, t.dy, t.k, t.dx, g);
      for (const v of ['long', 'short'] as DepthwiseFilterVariant[]) depthwiseBackwardFilter(rec, t.x, t.dy, v === 'long' ? t.dkLong : t.dkShort, g, v);
    });
    // sums of kH·kW (forward), covering·M (dx) and up to 4800 (dkernel) products of unit-scale values, in float32:
    // the floors are the scale of the terms' magnitudes summed (a sum's rounding grows with Σ|terms|)
    expectClose(await t.y.data(), depthwiseForwardRef(x, k, bias, g), 2e-6, 1, 'y');
    const ref = adjointRef(x, k, dy, g);
    expectClose(await t.dx.data(), ref.dx, 2e-6, 1, 'dx');
    const positions = g.batch * g.outH * g.outW;
    const floor = Math.max(1, Math.sqrt(positions)); // the sums' typical size
    expectClose(await t.dkLong.data(), ref.dk, 2e-6, floor, 'dkernel long');
    expectClose(await t.dkShort.data(), ref.dk, 2e-6, floor, 'dkernel short');
    Object.values(t).forEach((v) => v.dispose());
  });
});

describe('layers', () => {
  it('DepthwiseConv2D and SeparableConv2D: Keras shapes, weights and config', () => {
    const d = new DepthwiseConv2D({ name: 'dw', kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2 });
    d.build([7, 5, 3]);
    expect(d.outputShape).toEqual([4, 3, 6]);
    expect(d.paramSpecs().map((p) => [p.name, p.shape])).toEqual([['depthwise_kernel', [3, 3, 3, 2]], ['bias', [6]]]);
    expect(d.getConfig()).toMatchObject({ kernel_size: [3, 3], strides: [2, 2], padding: 'same', depth_multiplier: 2, activation: 'linear', use_bias: true });
    const s = new SeparableConv2D({ name: 's', filters: 8, kernelSize: 3 });
    s.build([7, 5, 3]);
    expect(s.outputShape).toEqual([5, 3, 8]);
    expect(s.paramSpecs().map((p) => [p.name, p.shape])).toEqual([['depthwise_kernel', [3, 3, 3, 1]], ['pointwise_kernel', [1, 1, 3, 8]], ['bias', [8]]]);
    expect(s.paramCount()).toBe(27 + 24 + 8);
    expect(s.getConfig()).toMatchObject({ filters: 8, depth_multiplier: 1, pointwise_initializer: { class_name: 'GlorotUniform' } });
    expect(() => new DepthwiseConv2D({ kernelSize: 3, depthMultiplier: 0 })).toThrow(/depthMultiplier/);
    expect(() => new DepthwiseConv2D({ kernelSize: 5 }).build([3, 3, 1])).toThrow(/does not apply/);
  });
});
