// Activation kernels (shaders/activation.wgsl): forward, and backward from the output y.
// CPU references: src/reference/activation.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ActivationName } from '../layers/layer.js';
import { useVec4, type ElementwiseOptions } from './elementwise.js';
import { tuningOf } from './tuning.js';

const ACT_CODE: Record<Exclude<ActivationName, 'softmax'>, number> = {
  linear: 0, relu: 1, sigmoid: 2, tanh: 3, leaky_relu: 4, elu: 5, selu: 6, gelu: 7, swish: 8, silu: 8, softplus: 9, hard_sigmoid: 10,
};

/** Every activation the kernels know, in ActivationName's order (for error messages and parsers). */
export const ACTIVATION_NAMES: readonly ActivationName[] = [
  'linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'leaky_relu', 'elu', 'selu', 'gelu', 'swish', 'silu', 'softplus', 'hard_sigmoid',
];

/**
 * The `alpha` of the parameterised kinds when none is given: leaky_relu's negative slope 0.2 (Keras 3's
 * `activations.leaky_relu`; the LeakyReLU layer passes its own, default 0.3) and elu's 1.0 (Keras and TF.js).
 */
export const DEFAULT_ALPHA: Partial<Record<ActivationName, number>> = { leaky_relu: 0.2, elu: 1 };

/**
 * What activationBackward reads beside dy: the forward's OUTPUT y for every kind whose derivative y determines, the
 * INPUT x for gelu and swish/silu (not invertible from y), so layers keep the pre-activation for those.
 */
export function activationBackwardFrom(kind: ActivationName): 'output' | 'input' {
  return kind === 'gelu' || kind === 'swish' || kind === 'silu' ? 'input' : 'output';
}

/** Per-call options of the activation kernels: the vec4 choice, and the slope/scale of leaky_relu and elu. */
export interface ActivationOptions extends ElementwiseOptions {
  /** leaky_relu's negative slope (> 0) or elu's alpha (> 0); default DEFAULT_ALPHA. */
  alpha?: number;
}

/** 'same' when a and b are the same byte range, 'partial' when they overlap otherwise, 'none' when disjoint. */
function aliasing(a: Tensor, b: Tensor): 'same' | 'partial' | 'none' {
  if (a.buffer !== b.buffer) return 'none';
  if (a.offset === b.offset && a.byteLength === b.byteLength) return 'same';
  const overlap = a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength;
  return overlap && a.byteLength > 0 && b.byteLength > 0 ? 'partial' : 'none';
}

/** Throws unless `t` holds exactly `n` values. */
function expectSize(what: string, name: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new ShapeError(`${what}: ${name} should hold ${n} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

function checkKind(what: string, kind: string): void {
  if (kind !== 'softmax' && !(kind in ACT_CODE))
    throw new ShaderflowError(`${what}: unknown activation "${kind}" (use ${ACTIVATION_NAMES.join(', ')}).`);
}

function alphaOf(what: string, kind: ActivationName, opts: ActivationOptions): number {
  const a = opts.alpha ?? DEFAULT_ALPHA[kind] ?? 0;
  // leaky_relu's backward tells x > 0 from y > 0, which needs a positive slope; elu's needs alpha > 0 likewise.
  if ((kind === 'leaky_relu' || kind === 'elu') && !(a > 0 && Number.isFinite(a)))
    throw new ShaderflowError(`${what}: ${kind} needs alpha > 0, got ${a}.`);
  return a;
}

/** Floating-point work per element of each kind (forward; backward is about the same), for the plan's costs. */
const ACT_FLOPS: Record<ActivationName, number> = {
  linear: 0, relu: 1, sigmoid: 4, tanh: 6, softmax: 4, leaky_relu: 2, elu: 6, selu: 7, gelu: 20, swish: 6, silu: 6, softplus: 8, hard_sigmoid: 3,
};

function dispatch(rec: Recorder, kind: ActivationName, entry: string, rows: number, cols: number, bindings: (Tensor | null)[], opts: ActivationOptions): void {
  const n = rows * cols;
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const softmax = kind === 'softmax';
  // elementwise kinds: one vec4 per invocation on the GPU class when n is a multiple of 4
  const v4 = !softmax && useVec4(rec, n, opts.vec4);
  const name = softmax ? `softmax${entry[0]!.toUpperCase()}${entry.slice(1)}` : v4 ? `${entry}4` : entry;
  const items = softmax ? rows : v4 ? n / 4 : n;
  const tensors = bindings.filter((b): b is Tensor => b !== null).length + (entry.endsWith('InPlace') ? 1 : 0);
  rec.dispatch({
    shader: 'activation',
    entry: name,
    constants: softmax ? { WG: wg } : { WG: wg, ACT: ACT_CODE[kind] },
    bindings: [rec.uniform([rows, cols, v4 ? n / 4 : n, alphaOf(`activation(${kind})`, kind, opts)], 'uuuf'), ...bindings],
    workgroups: grid1d(rec.engine, items, wg),
    label: `activation.${kind}.${entry}`,
    cost: { variant: softmax ? 'row' : v4 ? 'vec4' : 'scalar', threads: wg, serial: softmax ? cols : 1, flops: ACT_FLOPS[kind] * n, bytes: 4 * n * tensors },
  });
}

/** y = act(x) for x, y viewed as [rows, cols]; softmax is row-wise over cols. y may alias x (same range). */
export function activationForward(rec: Recorder, kind: ActivationName, x: Tensor, y: Tensor, rows: number, cols: number, opts: ActivationOptions = {}): void {
  checkKind('activationForward', kind);
  expectSize(`activationForward(${kind})`, 'x', x, rows * cols);
  expectSize(`activationForward(${kind})`, 'y', y, rows * cols);
  const a = aliasing(x, y);
  if (a === 'partial') throw new ShaderflowError('activationForward: x and y overlap without being the same tensor.');
  if (a === 'same') {
    if (kind !== 'linear') dispatch(rec, kind, 'forwardInPlace', rows, cols, [null, null, y], opts);
    return;
  }
  if (kind === 'linear') rec.copy(x, y, x.byteLength, 'activation.linear.forward');
  else dispatch(rec, kind, 'forward', rows, cols, [x, null, y], opts);
}

/**
 * dx = dy * act'(input), computed from the OUTPUT y (`y` is the INPUT x for the kinds activationBackwardFrom
 * names 'input': gelu, swish/silu); softmax: dx = y * (dy - Σ dy·y) per row.
 * dx may alias dy (same range); it must not overlap y.
 */
export function activationBackward(rec: Recorder, kind: ActivationName, y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number, opts: ActivationOptions = {}): void {
  checkKind('activationBackward', kind);
  const what = `activationBackward(${kind})`;
  expectSize(what, 'y', y, rows * cols);
  expectSize(what, 'dy', dy, rows * cols);
  expectSize(what, 'dx', dx, rows * cols);
  if (aliasing(y, dx) !== 'none') throw new ShaderflowError(`${what}: dx must not overlap the output y.`);
  const a = aliasing(dy, dx);
  if (a === 'partial') throw new ShaderflowError(`${what}: dy and dx overlap without being the same tensor.`);
  if (a === 'same') {
    if (kind !== 'linear') dispatch(rec, kind, 'backwardInPlace', rows, cols, [y, null, dx], opts);
    return;
  }
  if (kind === 'linear') rec.copy(dy, dx, dy.byteLength, 'activation.linear.backward');
  else dispatch(rec, kind, 'backward', rows, cols, [y, dy, dx], opts);
}
