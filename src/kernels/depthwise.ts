// Depthwise 2-D convolution kernels (shaders/depthwise.wgsl), NHWC, kernel [kH, kW, inC, multiplier]. CPU
// reference: src/reference/depthwise.ts. The geometry is conv2dGeometry's with outC = inC × multiplier.
import { ShapeError, shapeStr } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import { Tensor } from '../gpu/tensor.js';
import { conv2dGeometry, type Conv2dGeometry } from './conv2d.js';
import { columnSum } from './elementwise.js';
import { tuningOf } from './tuning.js';

/** A depthwise convolution's sizes: a Conv2D geometry (outC = inC × multiplier) and the multiplier. */
export interface DepthwiseGeometry extends Conv2dGeometry {
  multiplier: number;
}

/** Keras/TF geometry of a depthwise convolution (same rules as conv2dGeometry). */
export function depthwiseGeometry(
  inShape: [number, number, number, number], multiplier: number, kernel: [number, number], strides: [number, number], padding: 'same' | 'valid',
): DepthwiseGeometry {
  if (!Number.isInteger(multiplier) || multiplier < 1) throw new ShapeError(`depthwiseConv2d: depth multiplier must be a positive whole number, got ${multiplier}.`);
  return { ...conv2dGeometry(inShape, inShape[3] * multiplier, kernel, strides, padding), multiplier };
}

/**
 * Which backward-filter chunking runs: 'long' (software class) sums up to 4096 positions per invocation, so few
 * partials; 'short' (GPU class) sums 256, so many invocations run at once and the partials go to columnSum's
 * workgroup trees. Either way every invocation stays far below llvmpipe's 65535-iteration loop cap.
 */
export type DepthwiseFilterVariant = 'long' | 'short';

/** Positions per backward-filter partial for each variant. */
export const DEPTHWISE_FILTER_CHUNK: Record<DepthwiseFilterVariant, number> = { long: 4096, short: 256 };

const inSize = (g: DepthwiseGeometry) => g.batch * g.inH * g.inW * g.inC;
const outSize = (g: DepthwiseGeometry) => g.batch * g.outH * g.outW * g.outC;
const kernelSize = (g: DepthwiseGeometry) => g.kH * g.kW * g.outC;

function check(what: string, name: string, t: Tensor, n: number): void {
  if (t.size !== n) throw new ShapeError(`${what}: ${name} should hold ${n} values, got tensor ${shapeStr(t.shape)} (${t.size}).`);
}

function run(rec: Recorder, entry: string, g: DepthwiseGeometry, n: number, bindings: (Tensor | GPUBufferBinding | null)[], extra: { hasBias?: boolean; chunk?: number; serial: number; flops: number; bytes: number; variant: string }): void {
  if (n === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  const u = rec.uniform(
    [g.batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.multiplier, g.kH, g.kW, g.strideH, g.strideW, g.padTop, g.padLeft, n, extra.hasBias ? 1 : 0, extra.chunk ?? 0],
    'iiiiiiiiiiiiiuuu',
  );
  rec.dispatch({
    shader: 'depthwise', entry, constants: { WG: wg }, bindings: [u, ...bindings], workgroups: grid1d(rec.engine, n, wg), label: `depthwise.${entry}`,
    cost: { variant: extra.variant, threads: wg, serial: extra.serial, flops: extra.flops, bytes: extra.bytes },
  });
}

/** y = depthwise(x, kernel) + bias (bias may be null). */
export function depthwiseForward(rec: Recorder, x: Tensor, kernel: Tensor, bias: Tensor | null, y: Tensor, g: DepthwiseGeometry): void {
  check('depthwiseForward', 'x', x, inSize(g));
  check('depthwiseForward', 'kernel', kernel, kernelSize(g));
  check('depthwiseForward', 'y', y, outSize(g));
  if (bias) check('depthwiseForward', 'bias', bias, g.outC);
  const n = outSize(g);
  run(rec, 'forward', g, n, [x, kernel, bias ?? kernel, y], { hasBias: !!bias, serial: g.kH * g.kW, flops: 2 * n * g.kH * g.kW, bytes: 4 * (inSize(g) + n + kernelSize(g)), variant: 'direct' });
}

/** dx = the transposed depthwise convolution of dy (every dx value written). */
export function depthwiseBackwardInput(rec: Recorder, dy: Tensor, kernel: Tensor, dx: Tensor, g: DepthwiseGeometry): void {
  check('depthwiseBackwardInput', 'dy', dy, outSize(g));
  check('depthwiseBackwardInput', 'kernel', kernel, kernelSize(g));
  check('depthwiseBackwardInput', 'dx', dx, inSize(g));
  const covering = Math.ceil(g.kH / g.strideH) * Math.ceil(g.kW / g.strideW) * g.multiplier;
  run(rec, 'backwardInput', g, inSize(g), [dy, kernel, null, dx], { serial: covering, flops: 2 * inSize(g) * covering, bytes: 4 * (inSize(g) + outSize(g) + kernelSize(g)), variant: 'gather' });
}

/**
 * dkernel = Σ over positions of dy ⊗ the input window, as fixed chunks of positions (partials in recorder
 * scratch) summed in chunk order by columnSum. `variant` defaults to 'long' on software adapters, 'short' on GPUs.
 */
export function depthwiseBackwardFilter(rec: Recorder, x: Tensor, dy: Tensor, dkernel: Tensor, g: DepthwiseGeometry, variant?: DepthwiseFilterVariant): void {
  check('depthwiseBackwardFilter', 'x', x, inSize(g));
  check('depthwiseBackwardFilter', 'dy', dy, outSize(g));
  check('depthwiseBackwardFilter', 'dkernel', dkernel, kernelSize(g));
  const positions = g.batch * g.outH * g.outW;
  if (positions === 0) return rec.clear(dkernel, 'depthwise.backwardFilter (empty batch)');
  const v = variant ?? (rec.engine.adapter.adapterClass === 'gpu' ? 'short' : 'long');
  const chunk = DEPTHWISE_FILTER_CHUNK[v];
  const chunks = Math.ceil(positions / chunk);
  const K = kernelSize(g);
  const target = chunks === 1 ? dkernel : rec.scratch(chunks * K * 4, `depthwise backward-filter partials [${chunks}, ${K}]`);
  run(rec, 'filterPartial', g, chunks * K, [x, dy, null, target], { chunk, serial: Math.min(chunk, positions), flops: 2 * positions * K, bytes: 4 * (inSize(g) + outSize(g) + chunks * K), variant: v });
  if (chunks > 1) columnSum(rec, Tensor.view(rec.engine, (target as GPUBufferBinding).buffer, 0, [chunks, K]), chunks, K, dkernel);
}
