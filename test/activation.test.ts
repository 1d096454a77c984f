import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder, runOnce } from '../src/gpu/recorder.js';
import { Activation } from '../src/layers/activation.js';
import { Tensor } from '../src/gpu/tensor.js';
import { activationBackward, activationForward } from '../src/kernels/activation.js';
import type { ActivationName, StepContext } from '../src/layers/layer.js';
import { activationBackwardRef, activationForwardRef, activationNumericGradRef } from '../src/reference/activation.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, maxRelError, nanArray } from './helpers/check.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
const measured: string[] = [];
afterAll(() => {
  console.log(`activation gradient checks (max |gpu - numeric| / max(|numeric|, 1)):\n  ${measured.join('\n  ')}`);
  engine?.dispose();
});

const KINDS: ActivationName[] = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'];
const SHAPES: [number, number][] = [[1, 1], [3, 7], [33, 10], [7, 127], [127, 33]];

/** Random x in [-4, 4], kept at least 1e-2 away from relu's kink so central differences never straddle it. */
function inputs(n: number, seed: number): Float32Array {
  const x = randomUniform(n, seed, -4, 4);
  for (let i = 0; i < n; i++) if (Math.abs(x[i]!) < 1e-2) x[i] = x[i]! < 0 ? -0.5 : 0.5;
  return x;
}

describe.each(KINDS)('%s', (kind) => {
  it.each(SHAPES)('forward and backward match float64 and the numeric gradient for %ix%i', async (rows, cols) => {
    const n = rows * cols;
    const x = inputs(n, n * 7 + kind.length);
    const dy = randomUniform(n, n * 13 + 5);
    const tx = engine.tensor([rows, cols], x), tdy = engine.tensor([rows, cols], dy);
    const ty = engine.tensor([rows, cols], nanArray(n)), tdx = engine.tensor([rows, cols], nanArray(n));
    await runOnce(engine, 'act', (rec) => {
      activationForward(rec, kind, tx, ty, rows, cols);
      activationBackward(rec, kind, ty, tdy, tdx, rows, cols);
    });
    const y = await ty.data(), dx = await tdx.data();
    // f32 exp/tanh/division: a few ulp of values of magnitude <= 1 (x itself for linear/relu).
    expectClose(y, activationForwardRef(kind, x, rows, cols), 2e-6, 1, 'forward');
    // Backward from the GPU's y against the closed form in float64 on the same y: only f32 rounding differs.
    expectClose(dx, activationBackwardRef(kind, y, dy, rows, cols), 2e-6, 1, 'backward vs closed form');
    // Against central differences (h = 1e-5) of Σ dy·act(x) on the float64 forward: the numeric gradient's own
    // error is ~h²·|act'''| + 1e-16·cols/h < 1e-9; the GPU's is f32 rounding of y (~1e-7) carried through the
    // derivative, so 1e-5 on values |dx| <= 1 (floor 1) leaves a 10x margin yet fails any wrong formula.
    const num = activationNumericGradRef(kind, x, dy, rows, cols);
    const e = expectClose(dx, num, 1e-5, 1, 'backward vs numeric');
    if (rows * cols >= 1000 || (rows === 33 && cols === 10)) measured.push(`${kind} ${rows}x${cols}: ${e.toExponential(2)}`);
    for (const t of [tx, tdy, ty, tdx]) t.dispose();
  });

  it('runs in place (y aliases x, dx aliases dy) with the same results', async () => {
    const rows = 33, cols = 10, n = rows * cols;
    const x = inputs(n, 99), dy = randomUniform(n, 98);
    const t = engine.tensor([rows, cols], x), g = engine.tensor([rows, cols], dy);
    const y2 = engine.tensor([rows, cols], nanArray(n));
    await runOnce(engine, 'act in place', (rec) => {
      activationForward(rec, kind, t, t, rows, cols);
      rec.copy(t, y2);
      activationBackward(rec, kind, y2, g, g, rows, cols);
    });
    const y = await t.data();
    expectClose(y, activationForwardRef(kind, x, rows, cols), 2e-6);
    expectClose(await g.data(), activationBackwardRef(kind, y, dy, rows, cols), 2e-6);
    for (const u of [t, g, y2]) u.dispose();
  });
});

describe('extremes', () => {
  it('stays finite and saturates correctly at ±100', async () => {
    const x = Float32Array.from([-100, -30, -15.5, 0, 15.5, 30, 100, -1e-4, 1e-4, 88.7]);
    for (const kind of ['sigmoid', 'tanh', 'softmax'] as const) {
      const tx = engine.tensor([1, x.length], x), ty = engine.tensor([1, x.length], nanArray(x.length));
      await runOnce(engine, 'extreme', (rec) => activationForward(rec, kind, tx, ty, 1, x.length));
      const y = await ty.data();
      expect(y.every(Number.isFinite), `${kind}: ${y}`).toBe(true);
      // relative error with a tiny floor: the small outputs (sigmoid(-30) ~ 1e-13, tanh(1e-4)) keep their precision
      expect(maxRelError(y, activationForwardRef(kind, x, 1, x.length), 1e-30), kind).toBeLessThan(1e-5);
      tx.dispose();
      ty.dispose();
    }
  });

  it('rejects unknown kinds, wrong sizes and partial overlaps', async () => {
    const t = engine.tensor([2, 4], new Float32Array(8));
    await expect(runOnce(engine, 'bad', (rec) => activationForward(rec, 'gelu' as ActivationName, t, t, 2, 4))).rejects.toThrow(/gelu/);
    await expect(runOnce(engine, 'bad', (rec) => activationForward(rec, 'relu', t, t, 3, 3))).rejects.toThrow(/9 values/);
    const whole = engine.tensor([16], new Float32Array(16));
    const a = Tensor.view(engine, whole.buffer, 0, [2, 4]), b = Tensor.view(engine, whole.buffer, 16, [2, 4]);
    await expect(runOnce(engine, 'bad', (rec) => activationForward(rec, 'relu', a, b, 2, 4))).rejects.toThrow(/overlap/);
    t.dispose();
    whole.dispose();
  });
});

describe('Activation layer', () => {
  it('applies softmax over the last axis forward and backward, and linear is a pass-through', async () => {
    const layer = new Activation({ activation: 'softmax' });
    expect(layer.className).toBe('Activation');
    expect(layer.name).toMatch(/^activation/);
    expect(layer.getConfig()).toEqual({ activation: 'softmax' });
    layer.build([3, 10]);
    expect(layer.outputShape).toEqual([3, 10]);
    layer.allocate(engine, 8);
    const n = 5, rows = n * 3, cols = 10;
    const x = inputs(rows * cols, 1), dy = randomUniform(rows * cols, 2);
    const tx = engine.tensor([n, 3, 10], x), tdy = engine.tensor([n, 3, 10], dy), step = engine.zeros([4], 'u32');
    const ctx: StepContext = { engine, n, training: true, stepState: step.buffer, seed: 0 };
    const rec = new Recorder(engine, 'layer');
    const y = layer.forward(rec, tx, ctx);
    const dx = layer.backward(rec, tdy, ctx, true)!;
    rec.run();
    rec.dispose();
    expectClose(await y.data(), activationForwardRef('softmax', x, rows, cols), 2e-6);
    expectClose(await dx.data(), activationNumericGradRef('softmax', x, dy, rows, cols), 1e-5);
    layer.release();

    const lin = new Activation({ activation: 'linear' });
    lin.build([3, 10]);
    lin.allocate(engine, 8);
    expect(lin.forward(new Recorder(engine), tx, ctx)).toBe(tx);
    expect(lin.backward(new Recorder(engine), tdy, ctx, true)).toBe(tdy);
    expect(() => new Activation({ activation: 'swish' as ActivationName })).toThrow(/swish/);
    for (const t of [tx, tdy, step]) t.dispose();
  });
});

// The GPU class: elementwise kinds run one vec4 per invocation when n is a multiple of 4; both entries forced.
describe('GPU class', () => {
  let gpu: Engine;
  beforeAll(async () => {
    gpu = await createEngine({ adapterClass: 'gpu' });
  });
  afterAll(() => gpu?.dispose());
  const shapes: [number, number][] = [[1, 1], [3, 7], [1, 4], [33, 10], [7, 127], [127, 33], [257, 4], [784, 1], [1000, 3]];
  describe.each([true, false])('vec4=%s', (vec4) => {
    it.each(KINDS.flatMap((k) => shapes.filter(([r, c]) => !vec4 || (r * c) % 4 === 0).map(([r, c]): [ActivationName, number, number] => [k, r, c])))(
      '%s forward, backward and in place match float64 for %ix%i', async (kind, rows, cols) => {
        const n = rows * cols;
        const x = inputs(n, n * 3 + kind.length), dy = randomUniform(n, n * 11 + 1);
        const tx = gpu.tensor([rows, cols], x), tdy = gpu.tensor([rows, cols], dy);
        const ty = gpu.tensor([rows, cols], nanArray(n)), tdx = gpu.tensor([rows, cols], nanArray(n));
        const t2 = gpu.tensor([rows, cols], x), g2 = gpu.tensor([rows, cols], dy);
        await runOnce(gpu, 'act', (rec) => {
          activationForward(rec, kind, tx, ty, rows, cols, { vec4 });
          activationBackward(rec, kind, ty, tdy, tdx, rows, cols, { vec4 });
          activationForward(rec, kind, t2, t2, rows, cols, { vec4 });
          activationBackward(rec, kind, ty, g2, g2, rows, cols, { vec4 });
        });
        const y = await ty.data();
        expectClose(y, activationForwardRef(kind, x, rows, cols), 2e-6, 1, 'forward');
        expectClose(await tdx.data(), activationBackwardRef(kind, y, dy, rows, cols), 2e-6, 1, 'backward');
        expectClose(await t2.data(), activationForwardRef(kind, x, rows, cols), 2e-6, 1, 'forward in place');
        expectClose(await g2.data(), activationBackwardRef(kind, y, dy, rows, cols), 2e-6, 1, 'backward in place');
        for (const t of [tx, tdy, ty, tdx, t2, g2]) t.dispose();
      },
    );
  });

  it.each([128, 1024])('plan rules at batch %i (conv-sized ReLU backward, the Dense layers)', (b) => {
    const shapes: [number, number][] = [[b * 16 * 16, 64], [b, 128], [b, 10], ...(b === 128 ? [[b * 32 * 32, 64] as [number, number]] : [])];
    const ts: Tensor[] = [];
    const plan = planOf(gpu, (rec) => {
      for (const [rows, cols] of shapes) {
        const y = gpu.zeros([rows, cols]), dy = gpu.zeros([rows, cols]), dx = gpu.zeros([rows, cols]);
        ts.push(y, dy, dx);
        for (const kind of ['relu', 'tanh', 'softmax'] as const) activationBackward(rec, kind, y, dy, dx, rows, cols);
      }
    });
    expectPlanRules(plan, `activations at batch ${b}`);
    for (const t of ts) t.dispose();
  });
});
