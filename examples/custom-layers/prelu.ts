// PReLU written as a custom WGSL layer: y = x for x > 0, alpha[c] * x otherwise, with one learned alpha per channel
// (the last axis; Keras' PReLU with shared_axes over every other axis). Forward is one invocation per element;
// backward is two kernels: dx per element, and d alpha per channel as a fixed-order sum over the batch.
//
//   import { PReLU } from './examples/custom-layers/prelu.js';
//   sequential([new Conv2D({...}), new PReLU(), ...])   // saves and loads: PReLU is registered below
//
// `brokenPReLU` is the same layer with a wrong sign in the alpha gradient: test/custom-layers.test.ts proves
// checkGradients catches it and names prelu/alpha.
import { defineLayer, registerLayer, type CustomLayerDefinition } from '../../src/index.js';

const WG = 64;

// Sizes for every kernel: total elements of the batch, and the channel count.
const DIMS = /* wgsl */ `
struct Dims { total: u32, channels: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
`;

const FORWARD = /* wgsl */ `${DIMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= dims.total) { return; }
  let v = x[i];
  y[i] = select(alpha[i % dims.channels] * v, v, v > 0.0);
}
`;

const BACKWARD_INPUT = /* wgsl */ `${DIMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= dims.total) { return; }
  dx[i] = select(alpha[i % dims.channels] * dy[i], dy[i], x[i] > 0.0);
}
`;

// One invocation per channel sums dy * x over the positions where x <= 0, in index order (deterministic). The loop
// runs total / channels times: keep that under 65535 (llvmpipe ends longer loops silently) or split it in chunks.
const backwardAlpha = (sign: '+' | '-') => /* wgsl */ `${DIMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_alpha: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let c = id.x;
  if (c >= dims.channels) { return; }
  var s = 0.0;
  for (var i = c; i < dims.total; i += dims.channels) {
    if (x[i] <= 0.0) { s ${sign}= dy[i] * x[i]; }
  }
  grad_alpha[c] = s;
}
`;

const groups = (count: number): [number] => [Math.max(1, Math.ceil(count / WG))];
const channels = (shape: number[]) => shape[shape.length - 1]!;

function definition(className: string, alphaSign: '+' | '-'): CustomLayerDefinition<Record<never, never>> {
  return {
    className,
    baseName: 'p_re_lu',
    params: (inputShape) => [{ name: 'alpha', shape: [channels(inputShape)], initializer: 'zeros' }],
    uniform: (d) => ({ values: [d.n * d.inSize, channels(d.inputShape), 0, 0] }),
    forward: { code: FORWARD, bindings: ['dims', 'x', 'alpha', 'y'], workgroups: (d) => groups(d.n * d.inSize) },
    backward: [
      { code: BACKWARD_INPUT, bindings: ['dims', 'x', 'alpha', 'dy', 'dx'], workgroups: (d) => groups(d.n * d.inSize) },
      { code: backwardAlpha(alphaSign), bindings: ['dims', 'x', 'dy', 'grad_alpha'], workgroups: (d) => groups(channels(d.inputShape)) },
    ],
    reference: (x, { alpha }, d) => {
      const c = channels(d.inputShape);
      return x.map((v, i) => (v > 0 ? v : alpha![i % c]! * v));
    },
  };
}

export const PReLU = defineLayer(definition('PReLU', '+'));
registerLayer(PReLU);

/** Deliberately wrong: the alpha gradient has the wrong sign (for the tests; not registered). */
export const BrokenPReLU = defineLayer(definition('BrokenPReLU', '-'));
