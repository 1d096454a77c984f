// Activations over a row-major [rows, cols] matrix, forward and backward. Backward works from the OUTPUT y
// (what the layer keeps), never the input. Elementwise kinds: one invocation per element; softmax: one
// invocation per row, sequential over cols (numerically stable: the row max is subtracted; fixed sum order).
// The *InPlace entries read and write binding 3 only (y aliases x, or dx aliases dy): WebGPU forbids binding
// one range both read-only and writable in a dispatch.

override WG: u32 = 64u;
override ACT: u32 = 0u; // 0 linear, 1 relu, 2 sigmoid, 3 tanh (softmax has its own entries)

struct Params {
  rows: u32,
  cols: u32,
  n: u32, // rows * cols
  _pad: u32,
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

fn act(v: f32) -> f32 {
  switch ACT {
    case 1u: { return select(v, 0.0, v < 0.0); } // relu; NaN passes through
    case 2u: { return sigmoid(v); }
    case 3u: { return tanhStable(v); }
    default: { return v; }
  }
}

// d act / d input, expressed with the output y, times the incoming gradient g.
fn dact(y: f32, g: f32) -> f32 {
  switch ACT {
    case 1u: { return select(0.0, g, y > 0.0); }
    case 2u: { return g * y * (1.0 - y); }
    case 3u: { return g * (1.0 - y * y); }
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
