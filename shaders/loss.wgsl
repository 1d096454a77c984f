// Losses over [n, c] predictions: the gradient (per row or per element, fully parallel) and the statistics.
// Statistics, software class (`accumulate`): one workgroup; invocation k takes rows k, k+WG, ...; the WG partial
// sums are then added in index order by invocation 0. GPU class (`statsRows*`, `statsPartials*`): one row per
// invocation, a fixed-order tree per workgroup of WG rows, then the same over the per-workgroup partials until
// one workgroup is left, whose total goes into stats. Either way the summation order is fixed and results are
// bit-for-bit repeatable on an adapter (the two classes add in different orders).
// stats = [lossSum, correctCount, exampleCount, nonFinite], ACCUMULATED (+=) until the caller clears it.
// nonFinite is 0, or 1 + the exampleCount before the first batch whose logits or loss were NaN or infinite.
// Targets: one-hot f32 [n, c] read through bitcast, or (SPARSE) u32 class indices [n]; both bound as u32.

override WG: u32 = 64u;
// 0 softmax cross-entropy on logits, 1 cross-entropy on probabilities, 2 mean squared error, 3 accuracy only (loss 0),
// 4 binary cross-entropy on logits (sigmoid fused), 5 binary cross-entropy on probabilities. The binary losses are
// Keras' mean over the last axis, and their "correct" count is binary_accuracy: per row, the fraction of outputs
// whose thresholded prediction (p > 0.5, logit > 0) equals the target.
override LOSS: u32 = 0u;
override SPARSE: u32 = 0u; // 1: labels are u32 class indices
override WEIGHTED: u32 = 0u; // 1: each row's loss and gradient are multiplied by rowWeights[row] (sample weights)

const EPS: f32 = 1e-7;             // Keras' epsilon()
const ONE_MINUS_EPS: f32 = 0.99999988; // f32(1 - 1e-7), as Keras computes 1 - epsilon in float32

struct Params {
  n: u32,
  c: u32,
  gradScale: f32,
  items: u32, // statsPartials*: partials this pass reads
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // logits, probabilities or predictions
@group(0) @binding(2) var<storage, read> labels: array<u32>;     // one-hot f32 bits, or class indices
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
// Sample weights [n] (WEIGHTED); unweighted, the caller binds x here, which is read and discarded, so the binding
// is used by every specialization of the entry points alike.
@group(0) @binding(6) var<storage, read> rowWeights: array<f32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn weightOf(r: u32) -> f32 {
  return select(1.0, rowWeights[r], WEIGHTED == 1u);
}

fn tgt(r: u32, j: u32) -> f32 {
  if (SPARSE == 1u) { return select(0.0, 1.0, labels[r] == j); }
  return bitcast<f32>(labels[r * p.c + j]);
}

// NaN and ±Inf by their bits: comparisons alone can be folded away by a fast-math compiler.
fn nonFinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn rowMax(base: u32) -> f32 {
  var m = x[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, x[base + j]); }
  return m;
}

// Softmax probabilities of a row (stable: the row max is subtracted).
fn softmaxRow(r: u32) {
  let base = r * p.c;
  let m = rowMax(base);
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let e = exp(x[base + j] - m);
    probs[base + j] = e;
    s += e;
  }
  for (var j = 0u; j < p.c; j++) { probs[base + j] = probs[base + j] / s; }
}

@compute @workgroup_size(WG)
fn softmaxProbs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.n) { return; }
  softmaxRow(r);
}

// ... and dLogits = (p - t) * gradScale.
@compute @workgroup_size(WG)
fn softmaxProbsGrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.n) { return; }
  softmaxRow(r);
  let base = r * p.c;
  let scale = p.gradScale * weightOf(r);
  for (var j = 0u; j < p.c; j++) { grad[base + j] = (probs[base + j] - tgt(r, j)) * scale; }
}

// log(1 + e) for 0 <= e <= 1 without losing e's precision when e is tiny (WGSL has no log1p).
fn log1pSmall(e: f32) -> f32 {
  if (e < 1e-4) { return e * (1.0 - e * (0.5 - e * (1.0 / 3.0))); }
  return log(1.0 + e);
}

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, v >= 0.0);
}

// Binary cross-entropy of one element, averaged over the row by the caller: on logits z (LOSS 4) the stable
// max(z, 0) - z·t + log(1 + e^-|z|), as tf.nn.sigmoid_cross_entropy_with_logits; on probabilities (LOSS 5) Keras'
// -(t·log(p) + (1 - t)·log(1 - p)) with p clipped to [1e-7, 1 - 1e-7].
fn binaryLoss(v: f32, t: f32) -> f32 {
  if (LOSS == 4u) { return max(v, 0.0) - v * t + log1pSmall(exp(-abs(v))); }
  let q = clamp(v, EPS, ONE_MINUS_EPS);
  return -(t * log(q) + (1.0 - t) * log(1.0 - q));
}

// LOSS 4: probs = sigmoid(z) and (per element) dz = (sigmoid(z) - t) / c · gradScale.
@compute @workgroup_size(WG)
fn sigmoidProbs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.c) { return; }
  probs[i] = sigmoid(x[i]);
}

@compute @workgroup_size(WG)
fn sigmoidProbsGrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.c) { return; }
  let q = sigmoid(x[i]);
  probs[i] = q;
  let r = i / p.c;
  grad[i] = (q - tgt(r, i - r * p.c)) / f32(p.c) * p.gradScale * weightOf(r);
}

// LOSS 1: d/dp of -t·log(clip(p)) = -t/p inside the clip range, 0 outside (clip_by_value passes no gradient there).
// LOSS 2: d/dp of mean_j (p - t)² = 2 (p - t) / c.
// LOSS 5: d/dp of the row mean of binaryLoss = (-t/p + (1 - t)/(1 - p)) / c inside the clip range, 0 outside.
@compute @workgroup_size(WG)
fn elementGrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.c) { return; }
  let r = i / p.c;
  let t = tgt(r, i - r * p.c);
  let v = x[i];
  let scale = p.gradScale * weightOf(r);
  if (LOSS == 1u) {
    let inside = v >= EPS && v <= ONE_MINUS_EPS;
    grad[i] = select(0.0, -t / v * scale, inside);
  } else if (LOSS == 5u) {
    let inside = v >= EPS && v <= ONE_MINUS_EPS;
    grad[i] = select(0.0, (-t / v + (1.0 - t) / (1.0 - v)) / f32(p.c) * scale, inside);
  } else {
    grad[i] = 2.0 * (v - t) / f32(p.c) * scale;
  }
}

// One row's statistics: (loss times its sample weight, 1 if the argmax matches the target's class else 0, 1 if
// non-finite else 0). The correct count is not weighted.
fn rowStats(r: u32) -> vec3<f32> {
  var bad = 0.0;
  let base = r * p.c;
  // argmax of the prediction (first maximum, like tf.argmax) and a scan for NaN/Inf
  var m = x[base];
  var am = 0u;
  for (var j = 0u; j < p.c; j++) {
    let v = x[base + j];
    if (nonFinite(v)) { bad = 1.0; }
    if (v > m) { m = v; am = j; }
  }
  // the target's class
  var ta = 0u;
  if (SPARSE == 1u) {
    ta = labels[r];
    // a label outside [0, c) names no class: flagged like a non-finite loss (its row's loss is meaningless)
    if (ta >= p.c) { bad = 1.0; }
  } else {
    var tm = tgt(r, 0u);
    for (var j = 1u; j < p.c; j++) {
      let t = tgt(r, j);
      if (t > tm) { tm = t; ta = j; }
    }
  }
  var correct = select(0.0, 1.0, am == ta);
  var rowLoss = 0.0;
  if (LOSS == 4u || LOSS == 5u) {
    // binary_accuracy: equal(t, p > threshold) per output, averaged over the row
    let threshold = select(0.5, 0.0, LOSS == 4u);
    var hits = 0.0;
    for (var j = 0u; j < p.c; j++) {
      let t = tgt(r, j);
      let v = x[base + j];
      hits += select(0.0, 1.0, t == select(0.0, 1.0, v > threshold));
      rowLoss += binaryLoss(v, t);
    }
    correct = hits / f32(p.c);
    rowLoss = rowLoss / f32(p.c);
  } else if (LOSS == 0u) {
    var s = 0.0;
    for (var j = 0u; j < p.c; j++) { s += exp(x[base + j] - m); }
    let lse = m + log(s);
    if (SPARSE == 1u) {
      rowLoss = lse - x[base + min(ta, p.c - 1u)];
    } else {
      for (var j = 0u; j < p.c; j++) {
        let t = tgt(r, j);
        if (t != 0.0) { rowLoss += t * (lse - x[base + j]); }
      }
    }
  } else if (LOSS == 1u) {
    if (SPARSE == 1u) {
      rowLoss = -log(clamp(x[base + min(ta, p.c - 1u)], EPS, ONE_MINUS_EPS));
    } else {
      for (var j = 0u; j < p.c; j++) {
        let t = tgt(r, j);
        if (t != 0.0) { rowLoss -= t * log(clamp(x[base + j], EPS, ONE_MINUS_EPS)); }
      }
    }
  } else if (LOSS == 2u) {
    for (var j = 0u; j < p.c; j++) {
      let d = x[base + j] - tgt(r, j);
      rowLoss += d * d;
    }
    rowLoss = rowLoss / f32(p.c);
  }
  rowLoss = rowLoss * weightOf(r);
  if (nonFinite(rowLoss)) { bad = 1.0; }
  return vec3<f32>(rowLoss, correct, bad);
}

// Adds a batch's (loss sum, correct count, non-finite flag) into stats. The flag records where it was first
// raised: 1 + the examples counted before this batch (so fit can name the batch).
fn addStats(l: f32, k: f32, b: bool) {
  if (b && stats[3] == 0.0) { stats[3] = stats[2] + 1.0; }
  stats[0] += l;
  stats[1] += k;
  stats[2] += f32(p.n);
}

var<workgroup> sLoss: array<f32, WG>;
var<workgroup> sCorrect: array<f32, WG>;
var<workgroup> sBad: array<u32, WG>;

@compute @workgroup_size(WG)
fn accumulate(@builtin(local_invocation_index) lid: u32) {
  var lossSum = 0.0;
  var correct = 0.0;
  var bad = 0u;
  for (var r = lid; r < p.n; r += WG) {
    let s = rowStats(r);
    if (s.z != 0.0) { bad = 1u; }
    correct += s.y;
    lossSum += s.x;
  }
  sLoss[lid] = lossSum;
  sCorrect[lid] = correct;
  sBad[lid] = bad;
  workgroupBarrier();
  if (lid != 0u) { return; }
  var l = 0.0;
  var k = 0.0;
  var b = 0u;
  for (var i = 0u; i < WG; i++) {
    l += sLoss[i];
    k += sCorrect[i];
    b = b | sBad[i];
  }
  addStats(l, k, b != 0u);
}

// ---------------------------------------------------------------- GPU class: statistics as a tree
// Partials are vec4 (loss sum, correct count, non-finite flag, 0); workgroup w of a pass covers items
// [w * WG, (w + 1) * WG) (rows, or the previous pass's partials); workgroups are numbered linearly (grid1d fold).
@group(0) @binding(1) var<storage, read> partIn: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partOut: array<vec4<f32>>;

var<workgroup> sPart: array<vec4<f32>, WG>;

// The workgroup's total of v over its invocations, pairing lanes by halves (fixed order); valid in invocation 0.
fn workgroupTotal(lid: u32, v: vec4<f32>) -> vec4<f32> {
  sPart[lid] = v;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) {
      let a = sPart[lid];
      let b = sPart[lid + half];
      sPart[lid] = vec4<f32>(a.x + b.x, a.y + b.y, max(a.z, b.z), 0.0);
    }
    workgroupBarrier();
  }
  return sPart[0];
}

fn rowsTotal(lid: u32, w: u32) -> vec4<f32> {
  let r = w * WG + lid;
  var v = vec4<f32>(0.0);
  if (r < p.n) { v = vec4<f32>(rowStats(r), 0.0); }
  return workgroupTotal(lid, v);
}

fn partialsTotal(lid: u32, w: u32) -> vec4<f32> {
  let i = w * WG + lid;
  var v = vec4<f32>(0.0);
  if (i < p.items) { v = partIn[i]; }
  return workgroupTotal(lid, v);
}

@compute @workgroup_size(WG)
fn statsRows(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearWorkgroup(wid, nwg);
  let s = rowsTotal(lid, w);
  if (lid == 0u && w * WG < p.n) { partOut[w] = s; }
}

// A batch of at most WG rows: one workgroup, straight into stats.
@compute @workgroup_size(WG)
fn statsRowsFinal(@builtin(local_invocation_index) lid: u32) {
  let s = rowsTotal(lid, 0u);
  if (lid == 0u) { addStats(s.x, s.y, s.z != 0.0); }
}

@compute @workgroup_size(WG)
fn statsPartials(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearWorkgroup(wid, nwg);
  let s = partialsTotal(lid, w);
  if (lid == 0u && w * WG < p.items) { partOut[w] = s; }
}

@compute @workgroup_size(WG)
fn statsPartialsFinal(@builtin(local_invocation_index) lid: u32) {
  let s = partialsTotal(lid, 0u);
  if (lid == 0u) { addStats(s.x, s.y, s.z != 0.0); }
}
