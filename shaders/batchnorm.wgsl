// Batch normalization over the last axis of x viewed as [rows, cols] (rows = batch × height × width, cols =
// channels). CPU reference: src/reference/batchnorm.ts. The per-channel sums come from columnSum
// (src/kernels/elementwise.ts: fixed-order chunks, no atomics, llvmpipe's loop cap respected); these entries are
// the per-element and per-channel steps around them, one invocation per element or channel, no loops:
//   training forward: sum x → centeredSquares → sum → stats (mean, 1/sqrt(var + eps), moving update) → normalize
//   inference forward: stats from the moving statistics → normalize
//   backward: sum dy, sum dy·x̂ (dyXhat) → inputGrad
// `stats` holds [mean[cols], invStd[cols]]; sumA and sumB are two per-channel sums (separate buffers: storage
// bindings start at 256-byte offsets, so the halves of one buffer could not be bound).

override WG: u32 = 64u;

struct Params {
  rows: u32,
  cols: u32,
  n: u32,         // elements (rows × cols) or channels (stats)
  flags: u32,     // bit 0: training (batch statistics), bit 1: has gamma, bit 2: has beta, bit 3: update moving stats
  epsilon: f32,
  momentum: f32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read> sumA: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> movingMean: array<f32>;
@group(0) @binding(7) var<storage, read_write> movingVariance: array<f32>;
@group(0) @binding(8) var<storage, read> gamma: array<f32>;
@group(0) @binding(9) var<storage, read> beta: array<f32>;
@group(0) @binding(10) var<storage, read> sumB: array<f32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn hasFlag(bit: u32) -> bool {
  return (p.flags & bit) != 0u;
}

// out = (x - sum/rows)², the terms of the biased batch variance (two passes: no E[x²] - E[x]² cancellation).
@compute @workgroup_size(WG)
fn centeredSquares(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let d = x[i] - sumA[i % p.cols] / f32(p.rows);
  out[i] = d * d;
}

// Per channel: training takes mean = Σx / rows (sumA) and the biased variance Σ(x - mean)² / rows (sumB), and
// (flag 8) moves the moving statistics toward them (moving = moving·momentum + batch·(1 - momentum), as Keras 3 and
// TF.js do, with the biased variance); inference reads the moving statistics.
@compute @workgroup_size(WG)
fn channelStats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flatIndex(gid, nwg);
  if (c >= p.cols) { return; }
  var mean: f32;
  var variance: f32;
  if (hasFlag(1u)) {
    mean = sumA[c] / f32(p.rows);
    variance = sumB[c] / f32(p.rows);
    if (hasFlag(8u)) {
      movingMean[c] = movingMean[c] * p.momentum + mean * (1.0 - p.momentum);
      movingVariance[c] = movingVariance[c] * p.momentum + variance * (1.0 - p.momentum);
    }
  } else {
    mean = movingMean[c];
    variance = movingVariance[c];
  }
  stats[c] = mean;
  stats[p.cols + c] = 1.0 / sqrt(variance + p.epsilon);
}

fn xhat(i: u32, c: u32) -> f32 {
  return (x[i] - stats[c]) * stats[p.cols + c];
}

// y = gamma · x̂ + beta (gamma 1 and beta 0 when the layer has none).
@compute @workgroup_size(WG)
fn normalizeForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let c = i % p.cols;
  var v = xhat(i, c);
  if (hasFlag(2u)) { v = v * gamma[c]; }
  if (hasFlag(4u)) { v = v + beta[c]; }
  out[i] = v;
}

// out = dy · x̂, whose column sums are dgamma.
@compute @workgroup_size(WG)
fn dyXhat(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = dy[i] * xhat(i, i % p.cols);
}

// Training: dx = gamma·invStd·(dy - (Σdy + x̂·Σdy·x̂) / rows), through the batch mean and variance
// (sumA = Σdy, sumB = Σdy·x̂). Inference: the statistics are constants, dx = gamma·invStd·dy.
@compute @workgroup_size(WG)
fn inputGrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let c = i % p.cols;
  var k = stats[p.cols + c];
  if (hasFlag(2u)) { k = k * gamma[c]; }
  var g = dy[i];
  if (hasFlag(1u)) {
    g = g - (sumA[c] + xhat(i, c) * sumB[c]) / f32(p.rows);
  }
  out[i] = k * g;
}

// ---------------------------------------------------------------- four channels per invocation
// For cols a multiple of 4: the same per-element entries on vec4s of neighbouring channels (p.n counts vec4s), the
// bindings above typed as vec4 arrays. The channel of element i is found with idiv (shaders/indexing.wgsl): an
// integer % runs lane by lane on CPU adapters. Same arithmetic per channel as the scalar entries.
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> stats4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> sumA4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> gamma4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> beta4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> sumB4: array<vec4<f32>>;

fn channel4(i: u32) -> u32 {
  let q = p.cols / 4u;
  return i - u32(idiv(i32(i), i32(q))) * q;
}

fn xhat4(i: u32, c: u32) -> vec4<f32> {
  return (x4[i] - stats4[c]) * stats4[p.cols / 4u + c];
}

@compute @workgroup_size(WG)
fn centeredSquares4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let d = x4[i] - sumA4[channel4(i)] / f32(p.rows);
  out4[i] = d * d;
}

@compute @workgroup_size(WG)
fn normalizeForward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel4(i);
  var v = xhat4(i, c);
  if (hasFlag(2u)) { v = v * gamma4[c]; }
  if (hasFlag(4u)) { v = v + beta4[c]; }
  out4[i] = v;
}

@compute @workgroup_size(WG)
fn dyXhat4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = dy4[i] * xhat4(i, channel4(i));
}

@compute @workgroup_size(WG)
fn inputGrad4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let c = channel4(i);
  var k = stats4[p.cols / 4u + c];
  if (hasFlag(2u)) { k = k * gamma4[c]; }
  var g = dy4[i];
  if (hasFlag(1u)) {
    g = g - (sumA4[c] + xhat4(i, c) * sumB4[c]) / f32(p.rows);
  }
  out4[i] = k * g;
}
