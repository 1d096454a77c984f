// Activations over a row-major [rows, cols] matrix, forward and backward. Backward works from the OUTPUT y
// (what the layer keeps) for every kind whose derivative the output determines; gelu and swish are not invertible
// from y, so their backward reads the INPUT x in the same binding (src/kernels/activation.ts activationBackwardFrom). Elementwise kinds: one invocation per element; softmax: one
// invocation per row, sequential over cols (numerically stable: the row max is subtracted; fixed sum order).
// The *InPlace entries read and write binding 3 only (y aliases x, or dx aliases dy): WebGPU forbids binding
// one range both read-only and writable in a dispatch.

override WG: u32 = 64u;
// 0 linear, 1 relu, 2 sigmoid, 3 tanh, 4 leaky_relu (slope p.alpha), 5 elu (alpha p.alpha), 6 selu, 7 gelu (erf),
// 8 swish/silu, 9 softplus, 10 hard_sigmoid (TF.js: clip(0.2x + 0.5, 0, 1)); softmax has its own entries.
override ACT: u32 = 0u;

struct Params {
  rows: u32,
  cols: u32,
  n: u32, // rows * cols
  alpha: f32, // leaky_relu's negative slope, elu's alpha
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;   // forward: x; backward: y
@group(0) @binding(2) var<storage, read> dy: array<f32>;  // backward only
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // forward: y; backward: dx

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn sigmoid(v: f32) -> f32 {
  // exp of a non-positive argument never overflows; v < 0 takes e/(1+e).
  let e = exp(-abs(v));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, v >= 0.0);
}

// tanh without cancellation near 0 (the builtin goes through (e^2x - 1)/(e^2x + 1) on some drivers, 1e-4 relative
// error at x = 1e-4) and without inf/inf for large |x|: odd Taylor series below 0.3 (next term < 1e-8 relative),
// (1 - e)/(1 + e) with e = exp(-2|x|) above.
fn tanhStable(v: f32) -> f32 {
  let a = abs(v);
  if (a < 0.3) {
    let x2 = v * v;
    return v * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0 + x2 * (-1382.0 / 155925.0))))));
  }
  let e = exp(-2.0 * a);
  return sign(v) * ((1.0 - e) / (1.0 + e));
}

// exp(v) - 1 without cancellation near 0 (WGSL has no expm1): Taylor below 1e-2 (next term < 1e-10 relative).
fn expm1(v: f32) -> f32 {
  if (abs(v) < 1e-2) { return v * (1.0 + v * (0.5 + v * (1.0 / 6.0 + v * (1.0 / 24.0)))); }
  return exp(v) - 1.0;
}

// log(1 + e) for e >= 0 without losing e's precision when e is tiny (WGSL has no log1p).
fn log1pSmall(e: f32) -> f32 {
  if (e < 1e-4) { return e * (1.0 - e * (0.5 - e * (1.0 / 3.0))); }
  return log(1.0 + e);
}

// erfc(t) for t >= 0 in float32 (WGSL has no erf): Numerical Recipes' Chebyshev fit erfcc, fractional error below
// 1.2e-7 everywhere, so the normal CDF of a negative argument keeps its relative precision (no 1 + erf cancellation).
fn erfcPos(t: f32) -> f32 {
  let k = 1.0 / (1.0 + 0.5 * t);
  let q = -1.26551223 + k * (1.00002368 + k * (0.37409196 + k * (0.09678418 + k * (-0.18628806 + k * (0.27886807 +
          k * (-1.13520398 + k * (1.48851587 + k * (-0.82215223 + k * 0.17087277))))))));
  return k * exp(q - t * t);
}

// erf in float32: N. Juffa's minimax x·P(x²) for |x| <= 0.9277 (about 1 ulp, full relative precision near 0),
// 1 - erfc(|x|) above.
fn erf(a: f32) -> f32 {
  let t = abs(a);
  if (t > 0.927734375) { return select(-1.0, 1.0, a >= 0.0) * (1.0 - erfcPos(t)); }
  let s = a * a;
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, a, a);
}

// The standard normal CDF Φ(v) = (1 + erf(v/√2)) / 2, through erfc below v/√2 = -0.9277 (where 1 + erf cancels).
fn normalCdf(v: f32) -> f32 {
  let t = v * SQRT1_2;
  if (t < -0.927734375) { return 0.5 * erfcPos(-t); }
  return 0.5 * (1.0 + erf(t));
}

const SELU_ALPHA: f32 = 1.6732632423543772;
const SELU_SCALE: f32 = 1.0507009873554805;
const SQRT1_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

fn act(v: f32) -> f32 {
  switch ACT {
    case 1u: { return select(v, 0.0, v < 0.0); } // relu; NaN passes through
    case 2u: { return sigmoid(v); }
    case 3u: { return tanhStable(v); }
    case 4u: { return select(v, p.alpha * v, v < 0.0); }
    case 5u: { return select(v, p.alpha * expm1(v), v < 0.0); }
    case 6u: { return SELU_SCALE * select(v, SELU_ALPHA * expm1(v), v < 0.0); }
    case 7u: { return v * normalCdf(v); }
    case 8u: { return v * sigmoid(v); }
    case 9u: { return max(v, 0.0) + log1pSmall(exp(-abs(v))); }
    case 10u: { return clamp(0.2 * v + 0.5, 0.0, 1.0); }
    default: { return v; }
  }
}

// d act / d input times the incoming gradient g, from the output y (gelu, swish: from the input x, passed as y).
fn dact(y: f32, g: f32) -> f32 {
  switch ACT {
    case 1u: { return select(0.0, g, y > 0.0); }
    case 2u: { return g * y * (1.0 - y); }
    case 3u: { return g * (1.0 - y * y); }
    case 4u: { return select(p.alpha * g, g, y > 0.0); } // alpha > 0 (checked by the caller): y > 0 iff x > 0
    case 5u: { return select(g * (y + p.alpha), g, y > 0.0); } // x < 0: alpha e^x = y + alpha
    case 6u: { return g * select(y + SELU_SCALE * SELU_ALPHA, SELU_SCALE, y > 0.0); }
    case 7u: { return g * (normalCdf(y) + y * INV_SQRT_2PI * exp(-0.5 * y * y)); }
    case 8u: { let s = sigmoid(y); return g * (s + y * s * (1.0 - s)); }
    case 9u: { return g * -expm1(-y); } // sigmoid(x) = 1 - e^-y
    case 10u: { return select(0.0, 0.2 * g, y > 0.0 && y < 1.0); }
    default: { return g; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = act(x[i]);
}

@compute @workgroup_size(WG)
fn forwardInPlace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = act(out[i]);
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = dact(x[i], dy[i]);
}

@compute @workgroup_size(WG)
fn backwardInPlace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = dact(x[i], out[i]);
}

// Four elements per invocation (n a multiple of 4, GPU class; p.n counts vec4s): the same bindings as vec4 arrays.
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

fn act4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(act(v.x), act(v.y), act(v.z), act(v.w));
}

fn dact4(y: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dact(y.x, g.x), dact(y.y, g.y), dact(y.z, g.z), dact(y.w, g.w));
}

@compute @workgroup_size(WG)
fn forward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = act4(x4[i]);
}

@compute @workgroup_size(WG)
fn forwardInPlace4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = act4(out4[i]);
}

@compute @workgroup_size(WG)
fn backward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = dact4(x4[i], dy4[i]);
}

@compute @workgroup_size(WG)
fn backwardInPlace4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = dact4(x4[i], out4[i]);
}

// ---------------------------------------------------------------- softmax (row-wise over cols)

@compute @workgroup_size(WG)
fn softmaxForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var m = x[base];
  for (var j = 1u; j < p.cols; j++) { m = max(m, x[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.cols; j++) {
    let e = exp(x[base + j] - m);
    out[base + j] = e;
    s += e;
  }
  for (var j = 0u; j < p.cols; j++) { out[base + j] = out[base + j] / s; }
}

@compute @workgroup_size(WG)
fn softmaxForwardInPlace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var m = out[base];
  for (var j = 1u; j < p.cols; j++) { m = max(m, out[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.cols; j++) {
    let e = exp(out[base + j] - m);
    out[base + j] = e;
    s += e;
  }
  for (var j = 0u; j < p.cols; j++) { out[base + j] = out[base + j] / s; }
}

// dx = y * (dy - sum_j dy_j y_j)
@compute @workgroup_size(WG)
fn softmaxBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var s = 0.0;
  for (var j = 0u; j < p.cols; j++) { s += dy[base + j] * x[base + j]; }
  for (var j = 0u; j < p.cols; j++) { out[base + j] = x[base + j] * (dy[base + j] - s); }
}

@compute @workgroup_size(WG)
fn softmaxBackwardInPlace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var s = 0.0;
  for (var j = 0u; j < p.cols; j++) { s += out[base + j] * x[base + j]; }
  for (var j = 0u; j < p.cols; j++) { out[base + j] = x[base + j] * (out[base + j] - s); }
}
