// `npm run bench -- check [--batch N] [--json]`: every kernel family the engine's adapter class uses, run at the
// seed models' shapes through its public TS function (so the variant the engine's tuning picks, including any
// GPU variant added later, is the one checked) on random inputs, with NaN-poisoned outputs, against the float64
// references of src/reference/. Prints the max relative error per kernel, so a miscompile or a bad register
// spill on real hardware shows. Relative error: max |gpu - ref| / max(|ref|, 1% of max |ref|) over all elements
// (the floor keeps near-zero outputs from turning float32 rounding into huge ratios); NaN or an unwritten
// element is Infinity. A kernel passes at <= 1e-3: float32 round-off reaches ~1e-4 against that floor on the
// long sums (the CIFAR conv2 bias gradient at batch 16 measured 9e-5 on llvmpipe; batch 128 sums 8x more terms),
// while a miscompiled or mis-indexed kernel is off by O(1).
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { activationBackward, activationForward } from '../src/kernels/activation.js';
import { conv2dBackwardBias, conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dGeometry, type Conv2dGeometry } from '../src/kernels/conv2d.js';
import { columnSum } from '../src/kernels/elementwise.js';
import { softmaxCrossEntropy } from '../src/kernels/loss.js';
import { matmul, type MatmulOptions } from '../src/kernels/matmul.js';
import { adamStep, sgdStep } from '../src/kernels/optimizer.js';
import { maxPool2dBackward, maxPool2dForward, pool2dGeometry } from '../src/kernels/pool.js';
import { activationBackwardRef, activationForwardRef } from '../src/reference/activation.js';
import { conv2dBackwardBiasRef, conv2dBackwardFilterRef, conv2dBackwardInputRef, conv2dForwardRef } from '../src/reference/conv2d.js';
import { columnSumRef } from '../src/reference/elementwise.js';
import { lossRef } from '../src/reference/loss.js';
import { matmulRef } from '../src/reference/matmul.js';
import { adamRef, sgdRef } from '../src/reference/optimizer.js';
import { maxPool2dBackwardRef, maxPool2dForwardRef } from '../src/reference/pool.js';
import { randomUniform } from '../src/reference/random.js';

export const CHECK_TOLERANCE = 1e-3;

export interface CheckResult {
  kernel: string;
  /** The dispatches' labels (they name the variant), joined with " + ". */
  dispatches: string;
  maxRelError: number;
  ok: boolean;
  ms: number;
}

/** max |gpu - ref| / max(|ref|, 1% of max |ref|); Infinity on a non-finite GPU value or a length mismatch. */
export function maxRelError(gpu: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (gpu.length !== ref.length) return Infinity;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  const floor = Math.max(scale * 0.01, 1e-30);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = gpu[i]!;
    if (!Number.isFinite(g)) return Infinity;
    worst = Math.max(worst, Math.abs(g - ref[i]!) / Math.max(Math.abs(ref[i]!), floor));
  }
  return worst;
}

interface Case {
  kernel: string;
  /** Allocates inputs, records the kernel, and says how to read the outputs and compute their references. */
  run(engine: Engine, rec: Recorder, keep: (t: Tensor) => Tensor): { outputs: Tensor[]; refs: () => ArrayLike<number>[] };
}

let seed = 100;
function input(engine: Engine, keep: (t: Tensor) => Tensor, shape: number[], lo = -1, hi = 1): { t: Tensor; v: Float32Array } {
  const v = randomUniform(shape.reduce((a, b) => a * b, 1), seed++, lo, hi);
  return { t: keep(engine.tensor(shape, v)), v };
}
function poisoned(engine: Engine, keep: (t: Tensor) => Tensor, shape: number[], dtype: 'f32' | 'u32' = 'f32'): Tensor {
  const t = keep(engine.empty(shape, dtype));
  if (dtype === 'f32') t.write(new Float32Array(t.size).fill(NaN));
  else t.write(new Uint32Array(t.size).fill(0xffffffff));
  return t;
}

/** The seed models' Dense layers (in -> out features) and conv layers (input NHWC without the batch, filters). */
const DENSE: [number, number, string][] = [
  [784, 512, 'mlp dense 784->512'],
  [512, 10, 'mlp dense 512->10'],
  [6272, 128, 'mnist-cnn dense 6272->128'],
  [128, 10, 'mnist-cnn dense 128->10'],
  [16384, 128, 'cifar-cnn dense 16384->128'],
  [128, 64, 'cifar-cnn dense 128->64'],
  [64, 10, 'cifar-cnn dense 64->10'],
];
const CONV: [[number, number, number], number, string][] = [
  [[28, 28, 1], 32, 'mnist-cnn conv 28x28x1->32'],
  [[32, 32, 3], 32, 'cifar-cnn conv1 32x32x3->32'],
  [[32, 32, 32], 64, 'cifar-cnn conv2 32x32x32->64'],
];

export function checkCases(batch: number): Case[] {
  const cases: Case[] = [];
  for (const [inF, outF, name] of DENSE) {
    const mm = (what: string, m: number, n: number, k: number, o: MatmulOptions, withBias: boolean): Case => ({
      kernel: `matmul ${name} ${what} ${m}x${n}x${k}`,
      run(engine, rec, keep) {
        const a = input(engine, keep, o.transA ? [k, m] : [m, k]);
        const b = input(engine, keep, o.transB ? [n, k] : [k, n]);
        const bias = withBias ? input(engine, keep, [n]) : null;
        const out = poisoned(engine, keep, [m, n]);
        matmul(rec, a.t, b.t, out, m, n, k, { ...o, bias: bias?.t });
        return { outputs: [out], refs: () => [matmulRef(a.v, b.v, m, n, k, { transA: o.transA, transB: o.transB, bias: bias?.v, activation: o.activation })] };
      },
    });
    cases.push(mm('forward (bias, relu)', batch, outF, inF, { activation: 'relu' }, true));
    cases.push(mm('dW Aᵀ', inF, outF, batch, { transA: true }, false));
    cases.push(mm('dX Bᵀ', batch, inF, outF, { transB: true }, false));
  }
  for (const [[h, w, c], filters, name] of CONV) {
    const geometry = (): Conv2dGeometry => conv2dGeometry([batch, h, w, c], filters, [3, 3], [1, 1], 'same');
    const xs = (g: Conv2dGeometry) => [g.batch, g.inH, g.inW, g.inC];
    const ys = (g: Conv2dGeometry) => [g.batch, g.outH, g.outW, g.outC];
    const ws = (g: Conv2dGeometry) => [g.kH, g.kW, g.inC, g.outC];
    cases.push({
      kernel: `conv2d ${name} forward (bias, relu)`,
      run(engine, rec, keep) {
        const g = geometry();
        const x = input(engine, keep, xs(g));
        const wt = input(engine, keep, ws(g));
        const bias = input(engine, keep, [g.outC]);
        const y = poisoned(engine, keep, ys(g));
        conv2dForward(rec, x.t, wt.t, bias.t, y, g, 'relu');
        return { outputs: [y], refs: () => [conv2dForwardRef(x.v, wt.v, bias.v, g, 'relu')] };
      },
    });
    // Only a conv after the first layer propagates a gradient to its input (the CIFAR CNN's conv2).
    if (name.includes('conv2'))
      cases.push({
        kernel: `conv2d ${name} backward-input`,
        run(engine, rec, keep) {
          const g = geometry();
          const dy = input(engine, keep, ys(g));
          const wt = input(engine, keep, ws(g));
          const dx = poisoned(engine, keep, xs(g));
          conv2dBackwardInput(rec, dy.t, wt.t, dx, g);
          return { outputs: [dx], refs: () => [conv2dBackwardInputRef(dy.v, wt.v, g)] };
        },
      });
    cases.push({
      kernel: `conv2d ${name} backward-filter`,
      run(engine, rec, keep) {
        const g = geometry();
        const x = input(engine, keep, xs(g));
        const dy = input(engine, keep, ys(g));
        const dw = poisoned(engine, keep, ws(g));
        conv2dBackwardFilter(rec, x.t, dy.t, dw, g);
        return { outputs: [dw], refs: () => [conv2dBackwardFilterRef(x.v, dy.v, g)] };
      },
    });
    cases.push({
      kernel: `conv2d ${name} bias gradient`,
      run(engine, rec, keep) {
        const g = geometry();
        const dy = input(engine, keep, ys(g));
        const db = poisoned(engine, keep, [g.outC]);
        conv2dBackwardBias(rec, dy.t, db, g);
        return { outputs: [db], refs: () => [conv2dBackwardBiasRef(dy.v, g)] };
      },
    });
  }
  for (const [[h, w, c], name] of [
    [[28, 28, 32], 'mnist-cnn'],
    [[32, 32, 64], 'cifar-cnn'],
  ] as const) {
    cases.push({
      kernel: `max-pool ${name} ${h}x${w}x${c} 2x2 forward + backward`,
      run(engine, rec, keep) {
        const g = pool2dGeometry([batch, h, w, c], [2, 2], [2, 2], 'valid');
        const x = input(engine, keep, [batch, h, w, c]);
        const y = poisoned(engine, keep, [batch, g.outH, g.outW, c]);
        const am = poisoned(engine, keep, [batch, g.outH, g.outW, c], 'u32');
        const dy = input(engine, keep, [batch, g.outH, g.outW, c]);
        const dx = poisoned(engine, keep, [batch, h, w, c]);
        maxPool2dForward(rec, x.t, y, am, g);
        maxPool2dBackward(rec, dy.t, am, dx, g);
        return {
          outputs: [y, dx],
          refs: () => {
            const f = maxPool2dForwardRef(x.v, g);
            return [f.y, maxPool2dBackwardRef(dy.v, f.argmax, g)];
          },
        };
      },
    });
  }
  for (const [cols, name] of [
    [512, 'mlp'],
    [128, 'cnn'],
  ] as const) {
    cases.push({
      kernel: `relu forward + backward ${batch}x${cols} (${name})`,
      run(engine, rec, keep) {
        const x = input(engine, keep, [batch, cols]);
        const dy = input(engine, keep, [batch, cols]);
        const y = poisoned(engine, keep, [batch, cols]);
        const dx = poisoned(engine, keep, [batch, cols]);
        activationForward(rec, 'relu', x.t, y, batch, cols);
        activationBackward(rec, 'relu', y, dy.t, dx, batch, cols);
        return {
          outputs: [y, dx],
          refs: () => {
            const yr = activationForwardRef('relu', x.v, batch, cols);
            return [yr, activationBackwardRef('relu', Float32Array.from(yr), dy.v, batch, cols)];
          },
        };
      },
    });
    cases.push({
      kernel: `column sum ${batch}x${cols} (${name} bias gradient)`,
      run(engine, rec, keep) {
        const x = input(engine, keep, [batch, cols]);
        const out = poisoned(engine, keep, [cols]);
        columnSum(rec, x.t, batch, cols, out);
        return { outputs: [out], refs: () => [columnSumRef(x.v, batch, cols)] };
      },
    });
  }
  cases.push({
    kernel: `softmax cross-entropy ${batch}x10 (probabilities, gradient)`,
    run(engine, rec, keep) {
      const logits = input(engine, keep, [batch, 10], -4, 4);
      const onehot = new Float32Array(batch * 10);
      for (let r = 0; r < batch; r++) onehot[r * 10 + ((r * 7) % 10)] = 1;
      const target = keep(engine.tensor([batch, 10], onehot));
      const probs = poisoned(engine, keep, [batch, 10]);
      const grad = poisoned(engine, keep, [batch, 10]);
      const stats = keep(engine.zeros([4]));
      softmaxCrossEntropy(rec, logits.t, target, probs, grad, stats, batch, 10, { gradScale: 1 / batch });
      return {
        outputs: [probs, grad],
        refs: () => {
          const r = lossRef('softmaxCrossEntropy', logits.v, onehot, batch, 10, 1 / batch);
          return [r.probs!, r.grad];
        },
      };
    },
  });
  const paramCount = 2_125_578; // the CIFAR CNN's parameters: one optimizer dispatch over the whole arena
  cases.push({
    kernel: `sgd step over ${paramCount} parameters`,
    run(engine, rec, keep) {
      const p = input(engine, keep, [paramCount]);
      const gr = input(engine, keep, [paramCount]);
      sgdStep(rec, p.t, gr.t, null, { lr: 0.01, momentum: 0, nesterov: false });
      return {
        outputs: [p.t],
        refs: () => {
          const pr = Float64Array.from(p.v);
          sgdRef(pr, gr.v, null, { lr: 0.01, momentum: 0, nesterov: false });
          return [pr];
        },
      };
    },
  });
  cases.push({
    kernel: `adam step over ${paramCount} parameters (t = 1)`,
    run(engine, rec, keep) {
      const p = input(engine, keep, [paramCount]);
      const gr = input(engine, keep, [paramCount]);
      const m = input(engine, keep, [paramCount], 0, 0.1);
      const v = input(engine, keep, [paramCount], 0, 0.1);
      const state = keep(engine.tensor([4], new Uint32Array([1, 0, 0, 0])));
      const o = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
      adamStep(rec, p.t, gr.t, m.t, v.t, state.buffer, o);
      return {
        outputs: [p.t, m.t, v.t],
        refs: () => {
          const [pr, mr, vr] = [Float64Array.from(p.v), Float64Array.from(m.v), Float64Array.from(v.v)];
          adamRef(pr, gr.v, mr, vr, 1, o);
          return [pr, mr, vr];
        },
      };
    },
  });
  return cases;
}

/** Runs every case (each recorded, run and read back on its own) and returns its max relative error. */
export async function runChecks(engine: Engine, batch: number, onResult: (r: CheckResult) => void = () => {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of checkCases(batch)) {
    const t0 = performance.now();
    const owned: Tensor[] = [];
    const rec = new Recorder(engine, `check ${c.kernel}`);
    let result: CheckResult;
    try {
      const { outputs, refs } = c.run(engine, rec, (t) => (owned.push(t), t));
      const dispatches = rec.labels.join(' + ');
      rec.run();
      await engine.sync(`check ${c.kernel}`);
      const got = await Promise.all(outputs.map((t) => t.data()));
      const want = refs();
      const err = Math.max(...got.map((g, i) => maxRelError(g, want[i]!)));
      result = { kernel: c.kernel, dispatches, maxRelError: err, ok: err <= CHECK_TOLERANCE, ms: performance.now() - t0 };
    } catch (e) {
      result = { kernel: c.kernel, dispatches: `error: ${(e as Error).message.split('\n')[0]}`, maxRelError: Infinity, ok: false, ms: performance.now() - t0 };
    } finally {
      rec.dispose();
      for (const t of owned) t.dispose();
    }
    results.push(result);
    onResult(result);
  }
  return results;
}

export async function checkCommand(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const bi = args.indexOf('--batch');
  const batch = bi >= 0 ? Number(args[bi + 1]) : 128;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`check: --batch needs a whole number >= 1, got ${args[bi + 1]}`);
  const engine = await createEngine();
  try {
    const say = (s: string) => process.stdout.write(`${s}\n`);
    say(json ? JSON.stringify({ adapter: engine.describe(), adapter_class: engine.adapter.adapterClass, batch, tolerance: CHECK_TOLERANCE }) : `adapter: ${engine.describe()}\nbatch ${batch}; max relative error vs the float64 references (pass <= ${CHECK_TOLERANCE})`);
    const results = await runChecks(engine, batch, (r) => {
      if (json) say(JSON.stringify({ kernel: r.kernel, dispatches: r.dispatches, max_rel_error: Number.isFinite(r.maxRelError) ? r.maxRelError : null, ok: r.ok }));
      else say(`${r.ok ? 'ok  ' : 'FAIL'}  ${(Number.isFinite(r.maxRelError) ? r.maxRelError.toExponential(2) : 'NaN/unwritten').padStart(13)}  ${r.kernel}  [${r.dispatches}]`);
    });
    const failed = results.filter((r) => !r.ok);
    say(json ? JSON.stringify({ checked: results.length, failed: failed.length }) : `${results.length} kernels checked, ${failed.length} failed`);
    if (failed.length) process.exitCode = 1;
  } finally {
    engine.dispose();
  }
}
