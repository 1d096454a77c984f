import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder, runOnce } from '../src/gpu/recorder.js';
import { Activation } from '../src/layers/activation.js';
import { Tensor } from '../src/gpu/tensor.js';
import { activationBackward, activationBackwardFrom, activationForward, ACTIVATION_NAMES } from '../src/kernels/activation.js';
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

const KINDS: readonly ActivationName[] = ACTIVATION_NAMES;
const SHAPES: [number, number][] = [[1, 1], [3, 7], [33, 10], [7, 127], [127, 33]];

/**
 * Random x in [-4, 4], kept at least 1e-2 away from the kinks (relu, leaky_relu, selu at 0; hard_sigmoid at ±2.5)
 * so central differences never straddle one.
 */
function inputs(n: number, seed: number): Float32Array {
  const x = randomUniform(n, seed, -4, 4);
  for (let i = 0; i < n; i++) {
    if (Math.abs(x[i]!) < 1e-2) x[i] = x[i]! < 0 ? -0.5 : 0.5;
    if (Math.abs(Math.abs(x[i]!) - 2.5) < 1e-2) x[i] = Math.sign(x[i]!) * 2.25;
  }
  return x;
}

/** What backward reads for `kind`: the output y, or the input x (gelu, swish/silu). */
const savedFor = <T>(kind: ActivationName, x: T, y: T): T => (activationBackwardFrom(kind) === 'input' ? x : y);

describe.each(KINDS)('%s', (kind) => {
  it.each(SHAPES)('forward and backward match float64 and the numeric gradient for %ix%i', async (rows, cols) => {
    const n = rows * cols;
    const x = inputs(n, n * 7 + kind.length);
    const dy = randomUniform(n, n * 13 + 5);
    const tx = engine.tensor([rows, cols], x), tdy = engine.tensor([rows, cols], dy);
    const ty = engine.tensor([rows, cols], nanArray(n)), tdx = engine.tensor([rows, cols], nanArray(n));
    await runOnce(engine, 'act', (rec) => {
      activationForward(rec, kind, tx, ty, rows, cols);
      activationBackward(rec, kind, savedFor(kind, tx, ty), tdy, tdx, rows, cols);
    });
    const y = await ty.data(), dx = await tdx.data();
    // f32 exp/tanh/erf/division: a few ulp of values of magnitude <= 1 (x itself for linear/relu).
    expectClose(y, activationForwardRef(kind, x, rows, cols), 2e-6, 1, 'forward');
    // Backward from the GPU's y against the closed form in float64 on the same y: only f32 rounding differs.
    expectClose(dx, activationBackwardRef(kind, savedFor(kind, x, y), dy, rows, cols), 2e-6, 1, 'backward vs closed form');
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
    const y2 = engine.tensor([rows, cols], savedFor(kind, x, nanArray(n)));
    await runOnce(engine, 'act in place', (rec) => {
      activationForward(rec, kind, t, t, rows, cols);
      if (activationBackwardFrom(kind) === 'output') rec.copy(t, y2);
      activationBackward(rec, kind, y2, g, g, rows, cols);
    });
    const y = await t.data();
    expectClose(y, activationForwardRef(kind, x, rows, cols), 2e-6);
    expectClose(await g.data(), activationBackwardRef(kind, savedFor(kind, x, y), dy, rows, cols), 2e-6);
    for (const u of [t, g, y2]) u.dispose();
  });
});

describe('extremes', () => {
  it('stays finite and saturates correctly at ±100', async () => {
    const x = Float32Array.from([-100, -30, -15.5, 0, 15.5, 30, 100, -1e-4, 1e-4, 88.7]);
    for (const kind of ['sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'gelu', 'swish', 'softplus', 'hard_sigmoid', 'leaky_relu'] as const) {
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
    await expect(runOnce(engine, 'bad', (rec) => activationForward(rec, 'mish' as ActivationName, t, t, 2, 4))).rejects.toThrow(/mish/);
    await expect(runOnce(engine, 'bad', (rec) => activationForward(rec, 'leaky_relu', t, t, 2, 4, { alpha: 0 }))).rejects.toThrow(/alpha > 0/);
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
    expect(() => new Activation({ activation: 'mish' as ActivationName })).toThrow(/mish/);
    expect(new Activation({ activation: 'silu' }).getConfig()).toEqual({ activation: 'swish' });
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
          activationBackward(rec, kind, savedFor(kind, tx, ty), tdy, tdx, rows, cols, { vec4 });
          activationForward(rec, kind, t2, t2, rows, cols, { vec4 });
          activationBackward(rec, kind, savedFor(kind, tx, ty), g2, g2, rows, cols, { vec4 });
        });
        const y = await ty.data();
        const saved = savedFor(kind, x, y);
        expectClose(y, activationForwardRef(kind, x, rows, cols), 2e-6, 1, 'forward');
        expectClose(await tdx.data(), activationBackwardRef(kind, saved, dy, rows, cols), 2e-6, 1, 'backward');
        expectClose(await t2.data(), activationForwardRef(kind, x, rows, cols), 2e-6, 1, 'forward in place');
        expectClose(await g2.data(), activationBackwardRef(kind, saved, dy, rows, cols), 2e-6, 1, 'backward in place');
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

describe('the new kinds in detail', () => {
  it('erf (inside gelu) is float32-accurate: gelu and its derivative within a few ulp of float64 on [-6, 6]', async () => {
    const n = 4001;
    const x = Float32Array.from({ length: n }, (_, i) => -6 + (12 * i) / (n - 1));
    const tx = engine.tensor([1, n], x), ty = engine.tensor([1, n], nanArray(n)), tdx = engine.tensor([1, n], nanArray(n));
    const ones = engine.tensor([1, n], new Float32Array(n).fill(1));
    await runOnce(engine, 'gelu', (rec) => {
      activationForward(rec, 'gelu', tx, ty, 1, n);
      activationBackward(rec, 'gelu', tx, ones, tdx, 1, n);
    });
    // Relative to max(|ref|, 1e-3): the tail goes through erfc (no 1 + erf cancellation), whose exp(-t²) carries
    // the float32 rounding of t² = x²/2 <= 18 (18·2^-24 ≈ 1.1e-6) plus erfcc's own 1.2e-7; measured 1.4e-6.
    expectClose(await ty.data(), activationForwardRef('gelu', x, 1, n), 2e-6, 1e-3, 'gelu');
    // The derivative Φ(x) + xφ(x) crosses 0 near x = -0.75 by cancelling two terms of about 0.23: floor 0.25.
    expectClose(await tdx.data(), activationBackwardRef('gelu', x, new Float64Array(n).fill(1), 1, n), 2e-6, 0.25, "gelu'");
    for (const t of [tx, ty, tdx, ones]) t.dispose();
  });

  it('leaky_relu takes its alpha (the LeakyReLU layer), default 0.2 for the string; elu its alpha', async () => {
    const n = 33;
    const x = inputs(n, 5), dy = randomUniform(n, 6);
    for (const [kind, alpha] of [['leaky_relu', 0.3], ['leaky_relu', undefined], ['elu', 0.7]] as const) {
      const tx = engine.tensor([1, n], x), ty = engine.tensor([1, n], nanArray(n)), tdy = engine.tensor([1, n], dy), tdx = engine.tensor([1, n], nanArray(n));
      await runOnce(engine, 'alpha', (rec) => {
        activationForward(rec, kind, tx, ty, 1, n, { alpha });
        activationBackward(rec, kind, ty, tdy, tdx, 1, n, { alpha });
      });
      expectClose(await ty.data(), activationForwardRef(kind, x, 1, n, alpha), 2e-6, 1, `${kind} ${alpha}`);
      expectClose(await tdx.data(), activationNumericGradRef(kind, x, dy, 1, n, 1e-5, alpha), 1e-5, 1, `${kind} ${alpha} backward`);
      for (const t of [tx, ty, tdy, tdx]) t.dispose();
    }
    expect(activationForwardRef('leaky_relu', [-1], 1, 1)[0]).toBeCloseTo(-0.2, 12);
    expect(activationForwardRef('hard_sigmoid', [1, -3, 3], 1, 3)).toEqual(Float64Array.from([0.7, 0, 1]));
  });
});
