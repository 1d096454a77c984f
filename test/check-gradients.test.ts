// checkGradients (src/check/gradients.ts) on every built-in layer: GPU forward + backward against central
// differences of the float64 references, for odd shapes and every activation, pooling and padding kind; Dropout in
// its deterministic training mode (fixed step counter); a few on the float32 GPU-forward path too. And that it can
// fail: a layer whose backward leaves a gradient unwritten, or gets one wrong, is reported by tensor name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Activation, AveragePooling2D, BatchNormalization, checkGradients, DepthwiseConv2D, GlobalAveragePooling2D, SeparableConv2D, GlobalMaxPooling2D, LeakyReLU, ZeroPadding2D, Conv2D, createEngine, Dense, Dropout, Engine, Flatten, MaxPooling2D, NumericError, ShaderflowError,
  type Layer, type StepContext,
} from '../src/index.js';
import type { Recorder } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { scale } from '../src/kernels/elementwise.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
const measured: string[] = [];
afterAll(() => {
  console.log(`checkGradients on built-in layers (max rel error per tensor):\n  ${measured.join('\n  ')}`);
  engine?.dispose();
});

type Case = [name: string, make: () => Layer, inputShape: number[], tensors: string[]];

const CASES: Case[] = [
  ['Dense linear', () => new Dense({ name: 'd', units: 7 }), [5], ['input', 'd/kernel', 'd/bias']],
  ['Dense relu', () => new Dense({ name: 'd', units: 3, activation: 'relu' }), [33], ['input', 'd/kernel', 'd/bias']],
  ['Dense sigmoid, no bias', () => new Dense({ name: 'd', units: 4, activation: 'sigmoid', useBias: false }), [7], ['input', 'd/kernel']],
  ['Dense tanh on rank-3 input (last axis)', () => new Dense({ name: 'd', units: 3, activation: 'tanh' }), [3, 2, 5], ['input', 'd/kernel', 'd/bias']],
  ['Dense softmax', () => new Dense({ name: 'd', units: 5, activation: 'softmax' }), [6], ['input', 'd/kernel', 'd/bias']],
  ['Conv2D 3x3 same relu', () => new Conv2D({ name: 'c', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }), [5, 7, 2], ['input', 'c/kernel', 'c/bias']],
  ['Conv2D 2x2 /2 same (asymmetric padding) tanh', () => new Conv2D({ name: 'c', filters: 5, kernelSize: 2, strides: 2, padding: 'same', activation: 'tanh' }), [5, 7, 3], ['input', 'c/kernel', 'c/bias']],
  ['Conv2D 5x3 valid, vec4 channels', () => new Conv2D({ name: 'c', filters: 8, kernelSize: [5, 3], padding: 'valid' }), [7, 5, 4], ['input', 'c/kernel', 'c/bias']],
  ['Conv2D sigmoid no bias', () => new Conv2D({ name: 'c', filters: 2, kernelSize: 3, activation: 'sigmoid', useBias: false }), [4, 5, 1], ['input', 'c/kernel']],
  ['MaxPooling2D 2x2 valid', () => new MaxPooling2D({ name: 'p', poolSize: 2 }), [5, 7, 3], ['input']],
  ['MaxPooling2D 3x3 /1 same (overlapping), 4 channels', () => new MaxPooling2D({ name: 'p', poolSize: 3, strides: 1, padding: 'same' }), [4, 5, 4], ['input']],
  ['AveragePooling2D 2x2 valid', () => new AveragePooling2D({ name: 'p', poolSize: 2 }), [5, 7, 3], ['input']],
  ['AveragePooling2D 3x3 /1 same (overlapping, partial windows)', () => new AveragePooling2D({ name: 'p', poolSize: 3, strides: 1, padding: 'same' }), [5, 4, 2], ['input']],
  ['Flatten', () => new Flatten({ name: 'f' }), [3, 2, 5], ['input']],
  ['Dropout 0.4 (deterministic training mode)', () => new Dropout({ name: 'drop', rate: 0.4 }), [33], ['input']],
  ['Dropout 0.3 with its own seed', () => new Dropout({ name: 'drop', rate: 0.3, seed: 9 }), [4, 3, 2], ['input']],
  ...(['linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'leaky_relu', 'elu', 'selu', 'gelu', 'swish', 'softplus', 'hard_sigmoid'] as const).map(
    (a): Case => [`Activation ${a}`, () => new Activation({ name: 'a', activation: a }), [3, 7], ['input']],
  ),
  ['BatchNormalization (training: through the batch statistics)', () => new BatchNormalization({ name: 'bn' }), [3, 2, 5], ['input', 'bn/gamma', 'bn/beta']],
  ['BatchNormalization on features, no scale', () => new BatchNormalization({ name: 'bn', scale: false }), [7], ['input', 'bn/beta']],
  ['ZeroPadding2D [[1, 2], [0, 3]]', () => new ZeroPadding2D({ name: 'z', padding: [[1, 2], [0, 3]] }), [3, 2, 5], ['input']],
  ['ZeroPadding2D 1', () => new ZeroPadding2D({ name: 'z' }), [2, 3, 4], ['input']],
  ['GlobalAveragePooling2D', () => new GlobalAveragePooling2D({ name: 'g' }), [5, 3, 7], ['input']],
  ['GlobalMaxPooling2D, 4 channels', () => new GlobalMaxPooling2D({ name: 'g' }), [5, 3, 4], ['input']],
  ['GlobalMaxPooling2D, 3 channels', () => new GlobalMaxPooling2D({ name: 'g' }), [3, 7, 3], ['input']],
  ['DepthwiseConv2D 3x3 same', () => new DepthwiseConv2D({ name: 'dw', kernelSize: 3, padding: 'same' }), [5, 4, 3], ['input', 'dw/depthwise_kernel', 'dw/bias']],
  ['DepthwiseConv2D 2x3 /2 valid, multiplier 2, relu', () => new DepthwiseConv2D({ name: 'dw', kernelSize: [2, 3], strides: 2, depthMultiplier: 2, activation: 'relu' }), [5, 7, 2], ['input', 'dw/depthwise_kernel', 'dw/bias']],
  ['DepthwiseConv2D 3x3 /2 same (asymmetric padding), no bias, gelu', () => new DepthwiseConv2D({ name: 'dw', kernelSize: 3, strides: 2, padding: 'same', useBias: false, activation: 'gelu' }), [6, 5, 3], ['input', 'dw/depthwise_kernel']],
  ['SeparableConv2D 3x3 same relu', () => new SeparableConv2D({ name: 's', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }), [5, 4, 3], ['input', 's/depthwise_kernel', 's/pointwise_kernel', 's/bias']],
  ['SeparableConv2D 3x3 /2 valid, multiplier 2, swish', () => new SeparableConv2D({ name: 's', filters: 3, kernelSize: 3, strides: 2, depthMultiplier: 2, activation: 'swish' }), [7, 6, 2], ['input', 's/depthwise_kernel', 's/pointwise_kernel', 's/bias']],
  ['SeparableConv2D 2x2 /2 same, no bias', () => new SeparableConv2D({ name: 's', filters: 5, kernelSize: 2, strides: 2, padding: 'same', useBias: false }), [5, 5, 4], ['input', 's/depthwise_kernel', 's/pointwise_kernel']],
  ['LeakyReLU alpha 0.3 (default)', () => new LeakyReLU({ name: 'l' }), [3, 7], ['input']],
  ['Dense gelu (pre-activation kept)', () => new Dense({ name: 'd', units: 5, activation: 'gelu' }), [6], ['input', 'd/kernel', 'd/bias']],
  ['Dense swish', () => new Dense({ name: 'd', units: 4, activation: 'swish' }), [5], ['input', 'd/kernel', 'd/bias']],
  ['Conv2D 3x3 same elu', () => new Conv2D({ name: 'c', filters: 3, kernelSize: 3, padding: 'same', activation: 'elu' }), [4, 5, 2], ['input', 'c/kernel', 'c/bias']],
  ['Conv2D 3x3 valid gelu', () => new Conv2D({ name: 'c', filters: 4, kernelSize: 3, activation: 'gelu' }), [5, 4, 3], ['input', 'c/kernel', 'c/bias']],
];

describe('checkGradients on every built-in layer (float64 reference)', () => {
  it.each(CASES)('%s', async (_name, make, inputShape, tensors) => {
    const r = await checkGradients(make(), { engine, inputShape, batch: 3, maxElements: 1000 });
    expect(r.method).toBe('float64-reference');
    expect(r.tensors.map((t) => t.tensor)).toEqual(tensors);
    for (const t of r.tensors) {
      measured.push(`${_name} ${t.tensor}: ${t.maxRelError.toExponential(2)}`);
      expect(t.pass, JSON.stringify(t)).toBe(true);
      expect(t.scale, `${t.tensor}: the numeric gradient vanished, so the check would prove nothing`).toBeGreaterThan(1e-3);
      expect(t.checked).toBe(t.shape.reduce((a, b) => a * b, 1));
    }
  });
});

describe('checkGradients on the GPU forward (float32 steps, two-step bound)', () => {
  it.each(CASES.filter(([n]) => /Dense tanh|Conv2D 3x3|MaxPooling2D 3x3|AveragePooling2D 3x3|Dropout 0.4|Activation softmax|BatchNormalization \(|ZeroPadding2D 1|GlobalAverage|Activation gelu|DepthwiseConv2D 3x3 same|SeparableConv2D 3x3 same/.test(n)))('%s', async (_name, make, inputShape) => {
    const r = await checkGradients(make(), { engine, inputShape, batch: 2, numeric: 'gpu', maxElements: 24 });
    expect(r.method).toBe('float32-gpu-forward');
    for (const t of r.tensors) {
      expect(t.pass, JSON.stringify(t)).toBe(true);
      expect(t.checked).toBe(Math.min(24, t.shape.reduce((a, b) => a * b, 1)));
    }
  });
});

/** A Dense whose backward forgets the bias gradient, and one whose input gradient is scaled by 1.01. */
class NoBiasGrad extends Dense {
  override backward(rec: Recorder, dy: Tensor, ctx: StepContext, need: boolean): Tensor | null {
    const self = this as { useBias: boolean };
    self.useBias = false; // the bias gradient is never written: left NaN-poisoned
    try {
      return super.backward(rec, dy, ctx, need);
    } finally {
      self.useBias = true;
    }
  }
}
class SlightlyWrongInputGrad extends Dense {
  private wrong?: Tensor;
  protected override allocateBuffers(engine: Engine, maxBatch: number): void {
    super.allocateBuffers(engine, maxBatch);
    this.wrong = this.own(engine, [maxBatch, ...this.inputShape]);
  }
  override backward(rec: Recorder, dy: Tensor, ctx: StepContext, need: boolean): Tensor | null {
    const dx = super.backward(rec, dy, ctx, need)!;
    const out = this.batchView(this.wrong!, ctx.n);
    scale(rec, dx, out, 1.01);
    return out;
  }
}

describe('checkGradients fails, naming the tensor', () => {
  it('an unwritten gradient (NaN-poisoned) and a 1% error in another', async () => {
    const a = await checkGradients(new NoBiasGrad({ name: 'd', units: 4 }), { engine, inputShape: [5] });
    expect(a.tensors.filter((t) => !t.pass).map((t) => t.tensor)).toEqual(['d/bias']);
    expect(a.tensors[2]!.maxAbsError).toBe(Infinity);
    const b = await checkGradients(new SlightlyWrongInputGrad({ name: 'd', units: 4 }), { engine, inputShape: [5] });
    expect(b.tensors.filter((t) => !t.pass).map((t) => t.tensor)).toEqual(['input']);
    expect(b.tensors[0]!.maxRelError).toBeGreaterThan(5e-3);
    const c = await checkGradients(new SlightlyWrongInputGrad({ name: 'd', units: 4 }), { engine, inputShape: [5], numeric: 'gpu' });
    expect(c.tensors.filter((t) => !t.pass).map((t) => t.tensor)).toEqual(['input']);
    await expect(checkGradients(new NoBiasGrad({ name: 'd', units: 4 }), { engine, inputShape: [5], throwOnFailure: true })).rejects.toThrow(NumericError);
    await expect(checkGradients(new Dense({ name: 'd', units: 4 }), { engine, inputShape: [5], throwOnFailure: true })).resolves.toMatchObject({ pass: true });
  });

  it('bad arguments are ShaderflowErrors saying what to give', async () => {
    await expect(checkGradients(new Dense({ units: 2 }), { inputShape: [3] })).rejects.toThrow(/pass \{ engine \}/);
    await expect(checkGradients(new Dense({ units: 2 }), { engine })).rejects.toThrow(/has no input shape; pass \{ inputShape \}/);
    await expect(checkGradients(new Dense({ units: 2 }), { engine, inputShape: [3], input: [1, 2] })).rejects.toThrow(ShaderflowError);
    expect(engine.memory().liveBuffers).toBeLessThan(50); // everything the checks made was freed
  });
});
