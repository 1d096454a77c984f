// LayerNormalization written as a custom WGSL layer (Keras' LayerNormalization over the last axis, center and scale):
// y = gamma * (x - mean) / sqrt(var + epsilon) + beta per row of the last axis. Forward saves each row's mean and
// 1/sqrt(var + epsilon) for backward. Backward is two kernels: dx per row, and d gamma, d beta per column as
// fixed-order sums over the rows.
//
// `BrokenLayerNormalization` leaves out the dx term that flows through the variance (- xhat * mean(g * xhat)):
// test/custom-layers.test.ts proves checkGradients catches it and names the input gradient.
import { defineLayer, registerLayer, type CustomLayerDefinition } from '../../src/index.js';

const WG = 64;

export interface LayerNormalizationConfig {
  axis: number;
  epsilon: number;
}

const DIMS = /* wgsl */ `
struct Dims { rows: u32, cols: u32, epsilon: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
`;

// One invocation per row; its loops run `cols` times (keep the last axis under 65535 on llvmpipe).
const FORWARD = /* wgsl */ `${DIMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let r = id.x;
  if (r >= dims.rows) { return; }
  let base = r * dims.cols;
  let count = f32(dims.cols);
  var s = 0.0;
  for (var j = 0u; j < dims.cols; j++) { s += x[base + j]; }
  let m = s / count;
  var v = 0.0;
  for (var j = 0u; j < dims.cols; j++) { let d = x[base + j] - m; v += d * d; }
  let rs = inverseSqrt(v / count + dims.epsilon);
  mean[r] = m;
  rstd[r] = rs;
  for (var j = 0u; j < dims.cols; j++) { y[base + j] = (x[base + j] - m) * rs * gamma[j] + beta[j]; }
}
`;

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, xhat = (x - mean) * rstd.
const backwardInput = (varianceTerm: boolean) => /* wgsl */ `${DIMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let r = id.x;
  if (r >= dims.rows) { return; }
  let base = r * dims.cols;
  let count = f32(dims.cols);
  let m = mean[r];
  let rs = rstd[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = 0u; j < dims.cols; j++) {
    let g = dy[base + j] * gamma[j];
    sg += g;
    sgx += g * (x[base + j] - m) * rs;
  }
  let a = sg / count;
  let b = ${varianceTerm ? 'sgx / count' : '0.0'};
  for (var j = 0u; j < dims.cols; j++) {
    let xhat = (x[base + j] - m) * rs;
    dx[base + j] = rs * (dy[base + j] * gamma[j] - a - xhat * b);
  }
}
`;

// One invocation per column sums over the rows in order.
const BACKWARD_PARAMS = /* wgsl */ `${DIMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_gamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_beta: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let j = id.x;
  if (j >= dims.cols) { return; }
  var sg = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < dims.rows; r++) {
    let i = r * dims.cols + j;
    sg += dy[i] * (x[i] - mean[r]) * rstd[r];
    sb += dy[i];
  }
  grad_gamma[j] = sg;
  grad_beta[j] = sb;
}
`;

const groups = (count: number): [number] => [Math.max(1, Math.ceil(count / WG))];
const cols = (shape: number[]) => shape[shape.length - 1]!;
const rowsPerExample = (shape: number[]) => shape.slice(0, -1).reduce((a, b) => a * b, 1);

function definition(className: string, varianceTerm: boolean): CustomLayerDefinition<LayerNormalizationConfig> {
  return {
    className,
    baseName: 'layer_normalization',
    defaults: { axis: -1, epsilon: 1e-3 },
    validateConfig: (c) => {
      if (c.axis !== -1) return `only axis -1 (the last) is supported, got ${c.axis}`;
      if (!(c.epsilon > 0)) return `epsilon must be > 0, got ${c.epsilon}`;
    },
    params: (inputShape) => [
      { name: 'gamma', shape: [cols(inputShape)], initializer: 'ones' },
      { name: 'beta', shape: [cols(inputShape)], initializer: 'zeros' },
    ],
    saved: (inputShape) => ({ mean: rowsPerExample(inputShape), rstd: rowsPerExample(inputShape) }),
    uniform: (d) => ({ values: [d.n * rowsPerExample(d.inputShape), cols(d.inputShape), d.config.epsilon, 0], types: 'uufu' }),
    forward: { code: FORWARD, bindings: ['dims', 'x', 'gamma', 'beta', 'y', 'mean', 'rstd'], workgroups: (d) => groups(d.n * rowsPerExample(d.inputShape)) },
    backward: [
      { code: backwardInput(varianceTerm), bindings: ['dims', 'x', 'gamma', 'dy', 'mean', 'rstd', 'dx'], workgroups: (d) => groups(d.n * rowsPerExample(d.inputShape)) },
      { code: BACKWARD_PARAMS, bindings: ['dims', 'x', 'dy', 'mean', 'rstd', 'grad_gamma', 'grad_beta'], workgroups: (d) => groups(cols(d.inputShape)) },
    ],
    reference: (x, { gamma, beta }, d) => {
      const c = cols(d.inputShape);
      const eps = Math.fround(d.config.epsilon); // the uniform holds it as f32
      const y = new Float64Array(x.length);
      for (let base = 0; base < x.length; base += c) {
        let m = 0, v = 0;
        for (let j = 0; j < c; j++) m += x[base + j]!;
        m /= c;
        for (let j = 0; j < c; j++) v += (x[base + j]! - m) ** 2;
        const rs = 1 / Math.sqrt(v / c + eps);
        for (let j = 0; j < c; j++) y[base + j] = (x[base + j]! - m) * rs * gamma![j]! + beta![j]!;
      }
      return y;
    },
  };
}

export const LayerNormalization = defineLayer(definition('LayerNormalization', true));
registerLayer(LayerNormalization);

/** Deliberately wrong: dx misses the term through the variance (for the tests; not registered). */
export const BrokenLayerNormalization = defineLayer(definition('BrokenLayerNormalization', false));
