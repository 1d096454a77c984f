import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder, runOnce } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { adamStep, createLearningRateBuffer, incrementStep, rmspropStep, sgdStep, writeLearningRate, type LearningRateInput, type OptimizerKernelOptions } from '../src/kernels/optimizer.js';
import { adamRef, rmspropRef, sgdRef } from '../src/reference/optimizer.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose } from './helpers/check.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

let engine: Engine;
let gpu: Engine;
beforeAll(async () => {
  engine = await createEngine();
  gpu = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => {
  engine?.dispose();
  gpu?.dispose();
});

/**
 * The hyperparameters as the kernel receives them (f32 uniforms): 1 - f32(0.999) differs from 0.001 by 1.3e-5
 * relative, as in Keras' own float32 update; the reference applies the same values in float64.
 */
function f32<T extends Record<string, number | boolean>>(o: T): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? Math.fround(v) : v])) as T;
}

const SIZES = [1, 7, 127, 1000, 4097];
const STEPS = 6;

/**
 * Records `record` once and replays it STEPS times with fresh gradients written before each run (the training
 * loop's pattern: incrementStep first, so the step counter advances on the GPU; nothing is re-recorded). `cpu(step, t, g)` applies
 * the reference update. Parameters and state are compared after every step.
 */
async function replay(
  n: number,
  stateCount: number,
  record: (rec: Recorder, p: Tensor, g: Tensor, s: Tensor[], step: Tensor, lr: LearningRateInput) => void,
  cpu: (p: Float64Array, g: Float32Array, s: Float64Array[], t: number, lr: number) => void,
  t0 = 0,
  on = engine,
  lrs?: number[],
): Promise<void> {
  const engine = on;
  // with `lrs`: the rate comes from a learning-rate buffer rewritten before each run (lrs[k] for step k)
  const lrBuf = lrs ? createLearningRateBuffer(engine, lrs[0]!) : null;
  const p0 = randomUniform(n, n + 1);
  const p = engine.tensor([n], p0), g = engine.zeros([n]);
  const s = Array.from({ length: stateCount }, () => engine.zeros([n]));
  const step = engine.tensor([4], new Uint32Array([t0, 0, 0, 0]));
  const rp = Float64Array.from(p0), rs = s.map(() => new Float64Array(n));
  const rec = new Recorder(engine, 'optimizer replay');
  try {
    incrementStep(rec, step.buffer);
    record(rec, p, g, s, step, lrBuf ?? NaN);
    const dispatches = rec.dispatchCount;
    for (let k = 0; k < STEPS; k++) {
      const grads = randomUniform(n, 1000 * n + k, -1, 1);
      g.write(grads);
      if (lrBuf) writeLearningRate(engine, lrBuf, lrs![k]!);
      rec.run();
      cpu(rp, grads, rs, t0 + k + 1, lrs ? Math.fround(lrs[k]!) : NaN);
      expect(rec.dispatchCount).toBe(dispatches);
      // Each update adds f32 rounding of values ~1 (and of lr_t for Adam): 1e-6 relative, floor 1, over 6 steps.
      expectClose(await p.data(), rp, 2e-6, 1, `params after step ${k + 1}`);
      // state: relative to the largest state value (momentum's m·v - lr·g cancels to near 0 for some elements)
      for (let i = 0; i < stateCount; i++) {
        const scale = rs[i]!.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
        expectClose(await s[i]!.data(), rs[i]!, 2e-6, scale, `state ${i} after step ${k + 1}`);
      }
    }
    expect((await step.data<Uint32Array>())[0]).toBe(t0 + STEPS);
  } finally {
    rec.dispose();
    for (const t of [p, g, ...s, step]) t.dispose();
    if (lrBuf) engine.release(lrBuf);
  }
}

function optimizerCases(on: () => Engine, k: OptimizerKernelOptions) {
  return (n: number) => {
    it('SGD without momentum', () =>
      replay(n, 0, (rec, p, g) => sgdStep(rec, p, g, null, { lr: 0.05, momentum: 0, nesterov: false }, k), (p, g) => sgdRef(p, g, null, f32({ lr: 0.05, momentum: 0, nesterov: false })), 0, on()));

    it.each([false, true])('SGD with momentum 0.9, nesterov=%s', (nesterov) => {
      const o = { lr: 0.05, momentum: 0.9, nesterov };
      return replay(n, 1, (rec, p, g, s) => sgdStep(rec, p, g, s[0]!, o, k), (p, g, s) => sgdRef(p, g, s[0]!, f32(o)), 0, on());
    });

    it('Adam with bias correction from stepState (Keras defaults, lr 0.01)', () => {
      const o = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
      return replay(n, 2, (rec, p, g, s, step) => adamStep(rec, p, g, s[0]!, s[1]!, step.buffer, o, k), (p, g, s, t) => adamRef(p, g, s[0]!, s[1]!, t, f32(o)), 0, on());
    });

    it('RMSprop', () => {
      const o = { lr: 0.01, rho: 0.9, epsilon: 1e-7 };
      return replay(n, 1, (rec, p, g, s) => rmspropStep(rec, p, g, s[0]!, o, k), (p, g, s) => rmspropRef(p, g, s[0]!, f32(o)), 0, on());
    });
  };
}

describe.each(SIZES)('n=%i', optimizerCases(() => engine, {}));

// The GPU class's vec4 entries (n a multiple of 4) and scalar ones, each forced on its own.
describe.each([false, true])('GPU class, vec4=%s', (vec4) => {
  describe.each([1, 3, 4, 7, 33, 127, 257, 784, 1000, 4100].filter((n) => !vec4 || n % 4 === 0))('n=%i', optimizerCases(() => gpu, { vec4 }));
});

describe('plan rules (GPU class)', () => {
  // the CIFAR CNN's arena (2.1M parameters plus alignment padding) and the MNIST MLP's
  it.each([2_122_186 + 118, 407_050 + 118])('n=%i: vec4 updates in >= 256 workgroups of >= 64 threads', (n) => {
    const p = gpu.zeros([n]), g = gpu.zeros([n]), m = gpu.zeros([n]), v = gpu.zeros([n]), step = gpu.zeros([4], 'u32');
    const plan = planOf(gpu, (rec) => {
      incrementStep(rec, step.buffer);
      adamStep(rec, p, g, m, v, step.buffer, { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
      sgdStep(rec, p, g, m, { lr: 0.01, momentum: 0.9, nesterov: true });
      sgdStep(rec, p, g, null, { lr: 0.01, momentum: 0, nesterov: false });
      rmspropStep(rec, p, g, m, { lr: 0.001, rho: 0.9, epsilon: 1e-7 });
    });
    const d = expectPlanRules(plan, `optimizers over ${n}`);
    expect(d.slice(1).every((e) => e.cost!.variant === 'vec4')).toBe(true);
    for (const t of [p, g, m, v, step]) t.dispose();
  });
});

// The learning rate read from a GPU buffer that the host rewrites between runs of ONE recording (schedules and
// callbacks change it between batches): each step must apply exactly the rate written before it.
describe.each([
  ['software class', () => engine, {}],
  ['GPU class, vec4', () => gpu, { vec4: true }],
] as const)('learning rate from a buffer (%s)', (_, on, k) => {
  // 0 and a rate 40x the first one included: a stale or baked-in rate shows at the very next step
  const LRS = [0.05, 0.01, 0.2, 0, 0.003, 0.05];
  describe.each([7, 1000])('n=%i', (n) => {
    it('SGD', () => replay(n, 0, (rec, p, g, _s, _t, lr) => sgdStep(rec, p, g, null, { lr, momentum: 0, nesterov: false }, k), (p, g, _s, _t, lr) => sgdRef(p, g, null, { lr, momentum: 0, nesterov: false }), 0, on(), LRS));
    it('SGD with nesterov momentum', () =>
      replay(n, 1, (rec, p, g, s, _t, lr) => sgdStep(rec, p, g, s[0]!, { lr, momentum: 0.9, nesterov: true }, k), (p, g, s, _t, lr) => sgdRef(p, g, s[0]!, { lr, ...f32({ momentum: 0.9 }), nesterov: true }), 0, on(), LRS));
    it('Adam', () => {
      const o = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
      return replay(n, 2, (rec, p, g, s, step, lr) => adamStep(rec, p, g, s[0]!, s[1]!, step.buffer, { lr, ...o }, k), (p, g, s, t, lr) => adamRef(p, g, s[0]!, s[1]!, t, { lr, ...f32(o) }), 0, on(), LRS);
    });
    it('RMSprop', () => {
      const o = { rho: 0.9, epsilon: 1e-7 };
      return replay(n, 1, (rec, p, g, s, _t, lr) => rmspropStep(rec, p, g, s[0]!, { lr, ...o }, k), (p, g, s, _t, lr) => rmspropRef(p, g, s[0]!, { lr, ...f32(o) }), 0, on(), LRS);
    });
  });

  it('rejects a negative or non-finite rate before writing it', () => {
    const buf = createLearningRateBuffer(on(), 0.1);
    try {
      for (const bad of [-0.1, NaN, Infinity]) expect(() => writeLearningRate(on(), buf, bad)).toThrow(/learning rate must be a finite number >= 0/);
    } finally {
      on().release(buf);
    }
  });
});

describe('Adam resumed', () => {
  it('takes t from stepState: resuming at t=1000 applies that step count, not t=1', async () => {
    const o = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    await replay(33, 2, (rec, p, g, s, step) => adamStep(rec, p, g, s[0]!, s[1]!, step.buffer, o), (p, g, s, t) => adamRef(p, g, s[0]!, s[1]!, t, f32(o)), 1000);
    // and the two bias corrections really differ: a first step at t=1 and at t=1001 move p differently
    const a = Float64Array.from([0]), b = Float64Array.from([0]);
    adamRef(a, [1], new Float64Array(1), new Float64Array(1), 1, o);
    adamRef(b, [1], new Float64Array(1), new Float64Array(1), 1001, o);
    expect(Math.abs(a[0]! - b[0]!)).toBeGreaterThan(1e-3);
  });
});

describe('validation', () => {
  it('rejects momentum without velocity, mismatched sizes and aliasing', async () => {
    const p = engine.zeros([8]), g = engine.zeros([8]), short = engine.zeros([7]);
    await expect(runOnce(engine, 'x', (rec) => sgdStep(rec, p, g, null, { lr: 0.1, momentum: 0.9, nesterov: false }))).rejects.toThrow(/velocity/);
    await expect(runOnce(engine, 'x', (rec) => rmspropStep(rec, p, short, g, { lr: 0.1, rho: 0.9, epsilon: 1e-7 }))).rejects.toThrow(/sizes differ/);
    await expect(runOnce(engine, 'x', (rec) => sgdStep(rec, p, p, null, { lr: 0.1, momentum: 0, nesterov: false }))).rejects.toThrow(/separate/);
    for (const t of [p, g, short]) t.dispose();
  });
});
