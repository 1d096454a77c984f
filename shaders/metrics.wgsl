// Classification metrics over [n, c] predictions, as u32 counts ACCUMULATED (+=) into caller-owned buffers until
// the caller clears them. u32 counts are exact (f32 would stop counting exactly at 2^24) and integer sums do not
// depend on their order; the orders are fixed anyway and no atomics are used.
//
// Metric counts: for metric m (up to MAX_METRICS per dispatch) stats[2m] += its numerator and stats[2m + 1] += its
// denominator, so its value is num / den (0 when den = 0, Keras' div_no_nan):
//   KIND 1 top-k (tf.math.in_top_k): the target's class has fewer than k strictly larger predictions (ties count
//          as in); a row with any non-finite prediction or a label outside [0, c) is a miss.   num: hits, den: rows
//   KIND 2 binary accuracy: (pred > threshold) == target, per entry.                           num: matches, den: n*c
//   KIND 3 precision: predicted positive = pred > threshold, actual positive = target != 0.    num: TP, den: TP + FP
//   KIND 4 recall: as precision.                                                               num: TP, den: TP + FN
//   precision and recall are micro over every entry [r, j] (Keras' default), or over one column (classId).
// Software class (`countsChunks`, `countsChunkSum`): one invocation per chunk of rows, then one per metric adding
// the chunk counts in chunk order. GPU class (`countsRows*`, `countsPartials*`): one row per invocation, a tree per
// workgroup of WG rows, then the same over the per-workgroup partials until one workgroup is left.
//
// Confusion matrix [c, c] (rows: true class, columns: predicted class, as tf.math.confusion_matrix and sklearn):
// `confusionCodes` writes one code per row (true * c + argmax, or NONE for a label outside [0, c)); a single output
// (c = 1) is a binary classifier: a 2x2 matrix of target > 0.5 (or the sparse label 0/1) against pred > 0.5. Then one
// invocation per (cell, chunk of CHUNK rows) counts the codes equal to its cell (`confusionCells`), and where there
// is more than one chunk `confusionPartials` adds each cell's chunk counts in chunk order.
//
// The predicted class is the first maximum (ties go to the lowest index, as numpy and tf.argmax) with NaNs skipped
// by their bits (a GPU compiler may fold NaN comparisons either way), so a NaN is never the predicted class. Targets: one-hot f32 [n, c] read through
// bitcast (their class: the first maximum), or (SPARSE) u32 class indices [n]; both bound as u32.

override WG: u32 = 64u;
override SPARSE: u32 = 0u;

const MAX_METRICS: u32 = 8u;
const ALL_CLASSES: u32 = 0xffffffffu;
const NONE: u32 = 0xffffffffu;

struct Metric {
  kind: u32,
  k: u32,          // top-k: k
  threshold: f32,  // binary accuracy, precision, recall
  classId: u32,    // precision, recall: one column, or ALL_CLASSES
}

struct Params {
  n: u32,
  c: u32,
  metrics: u32, // metrics in use
  items: u32,   // chunks, or the partials a tree pass reads (per metric)
  chunk: u32,   // rows per chunk (countsChunks, confusionCells)
  classes: u32, // confusion: the matrix's classes (c, or 2 for one output)
  _pad1: u32,
  _pad2: u32,
  m: array<Metric, MAX_METRICS>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // predictions (probabilities for precision/recall)
@group(0) @binding(2) var<storage, read> labels: array<u32>;     // one-hot f32 bits, or class indices
@group(0) @binding(3) var<storage, read> partIn: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> partOut: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> stats: array<u32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// NaN and ±Inf by their bits: comparisons alone can be folded away by a fast-math compiler.
fn nonFinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn tgt(r: u32, j: u32) -> f32 {
  if (SPARSE == 1u) { return select(0.0, 1.0, labels[r] == j); }
  return bitcast<f32>(labels[r * p.c + j]);
}

// The target's class: the sparse label (possibly >= c), or the first maximum of the one-hot row.
fn targetClass(r: u32) -> u32 {
  if (SPARSE == 1u) { return labels[r]; }
  var tm = tgt(r, 0u);
  var ta = 0u;
  for (var j = 1u; j < p.c; j++) {
    let t = tgt(r, j);
    if (t > tm) { tm = t; ta = j; }
  }
  return ta;
}

fn isNan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// The first maximum of a prediction row, NaNs skipped (0 when every entry is NaN).
fn argmaxRow(base: u32) -> u32 {
  var m = 0.0;
  var am = 0u;
  var found = false;
  for (var j = 0u; j < p.c; j++) {
    let v = x[base + j];
    if (isNan(v)) { continue; }
    if (!found || v > m) { m = v; am = j; found = true; }
  }
  return am;
}

// tf.math.in_top_k for one row: 1 if fewer than k predictions are strictly larger than the target's.
fn inTopK(r: u32, k: u32) -> u32 {
  let base = r * p.c;
  let t = targetClass(r);
  if (t >= p.c) { return 0u; }
  let xt = x[base + t];
  if (nonFinite(xt)) { return 0u; }
  var larger = 0u;
  for (var j = 0u; j < p.c; j++) {
    let v = x[base + j];
    if (nonFinite(v)) { return 0u; }
    if (v > xt) { larger++; }
  }
  return select(0u, 1u, larger < k);
}

// One row's (numerator, denominator) of metric `mi`.
fn rowCounts(r: u32, mi: u32) -> vec2<u32> {
  let m = p.m[mi];
  if (m.kind == 1u) { return vec2<u32>(inTopK(r, m.k), 1u); }
  let base = r * p.c;
  var j0 = 0u;
  var j1 = p.c;
  if (m.kind != 2u && m.classId != ALL_CLASSES) { j0 = m.classId; j1 = m.classId + 1u; }
  var a = 0u;
  var b = 0u;
  for (var j = j0; j < j1; j++) {
    let v = x[base + j];
    let predicted = !isNan(v) && v > m.threshold;
    let t = tgt(r, j);
    if (m.kind == 2u) {
      // Keras: equal(y_true, cast(y_pred > threshold)); a target that is neither 0 nor 1 matches neither
      if (t == select(0.0, 1.0, predicted)) { a++; }
    } else {
      let actual = t != 0.0;
      if (predicted && actual) { a++; }
      if ((m.kind == 3u && predicted) || (m.kind == 4u && actual)) { b++; }
    }
  }
  if (m.kind == 2u) { b = j1 - j0; }
  return vec2<u32>(a, b);
}

fn addCounts(mi: u32, v: vec2<u32>) {
  stats[2u * mi] += v.x;
  stats[2u * mi + 1u] += v.y;
}

var<workgroup> sCount: array<vec2<u32>, WG>;

// The workgroup's total of v over its invocations, pairing lanes by halves (fixed order); valid in invocation 0.
// Every invocation must call it (it holds barriers).
fn workgroupTotal(lid: u32, v: vec2<u32>) -> vec2<u32> {
  workgroupBarrier(); // the previous metric's total has been read
  sCount[lid] = v;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { sCount[lid] = sCount[lid] + sCount[lid + half]; }
    workgroupBarrier();
  }
  return sCount[0];
}

// Software class: invocation i counts rows [i * chunk, (i + 1) * chunk) into partOut[i * metrics + m], without
// barriers (chunk keeps an invocation's total loop trips far below llvmpipe's cap); countsChunkSum then adds each
// metric's chunk counts in chunk order into stats.
@compute @workgroup_size(WG)
fn countsChunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.items) { return; }
  let r0 = i * p.chunk;
  let r1 = min(r0 + p.chunk, p.n);
  for (var mi = 0u; mi < p.metrics; mi++) {
    var s = vec2<u32>(0u);
    for (var r = r0; r < r1; r++) { s = s + rowCounts(r, mi); }
    partOut[i * p.metrics + mi] = s;
  }
}

@compute @workgroup_size(WG)
fn countsChunkSum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let mi = flatIndex(gid, nwg);
  if (mi >= p.metrics) { return; }
  var s = vec2<u32>(0u);
  for (var k = 0u; k < p.items; k++) { s = s + partIn[k * p.metrics + mi]; }
  addCounts(mi, s);
}

// ---------------------------------------------------------------- GPU class: counts as a tree
// Partials: partOut[w * metrics + m] for workgroup w of a pass, which covers items [w * WG, (w + 1) * WG) (rows, or
// the previous pass's partials); workgroups are numbered linearly (grid1d fold).

fn rowsTotal(lid: u32, w: u32, mi: u32) -> vec2<u32> {
  let r = w * WG + lid;
  var v = vec2<u32>(0u);
  if (r < p.n) { v = rowCounts(r, mi); }
  return workgroupTotal(lid, v);
}

fn partialsTotal(lid: u32, w: u32, mi: u32) -> vec2<u32> {
  let i = w * WG + lid;
  var v = vec2<u32>(0u);
  if (i < p.items) { v = partIn[i * p.metrics + mi]; }
  return workgroupTotal(lid, v);
}

@compute @workgroup_size(WG)
fn countsRows(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearWorkgroup(wid, nwg);
  for (var mi = 0u; mi < p.metrics; mi++) {
    let s = rowsTotal(lid, w, mi);
    if (lid == 0u && w * WG < p.n) { partOut[w * p.metrics + mi] = s; }
  }
}

// A batch of at most WG rows: one workgroup, straight into stats.
@compute @workgroup_size(WG)
fn countsRowsFinal(@builtin(local_invocation_index) lid: u32) {
  for (var mi = 0u; mi < p.metrics; mi++) {
    let s = rowsTotal(lid, 0u, mi);
    if (lid == 0u) { addCounts(mi, s); }
  }
}

@compute @workgroup_size(WG)
fn countsPartials(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearWorkgroup(wid, nwg);
  for (var mi = 0u; mi < p.metrics; mi++) {
    let s = partialsTotal(lid, w, mi);
    if (lid == 0u && w * WG < p.items) { partOut[w * p.metrics + mi] = s; }
  }
}

@compute @workgroup_size(WG)
fn countsPartialsFinal(@builtin(local_invocation_index) lid: u32) {
  for (var mi = 0u; mi < p.metrics; mi++) {
    let s = partialsTotal(lid, 0u, mi);
    if (lid == 0u) { addCounts(mi, s); }
  }
}

// ---------------------------------------------------------------- confusion matrix
// Bindings reused: codes are written through `stats` (confusionCodes) and read through `labels`
// (confusionCells); chunk counts go through `stats` and come back through `labels` (confusionPartials); the matrix
// is `stats` in the accumulating passes.

@compute @workgroup_size(WG)
fn confusionCodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg);
  if (r >= p.n) { return; }
  if (p.c == 1u) {
    var t = select(0u, 1u, tgt(r, 0u) > 0.5);
    if (SPARSE == 1u) { t = labels[r]; }
    let v = x[r];
    stats[r] = select(t * 2u + select(0u, 1u, !isNan(v) && v > 0.5), NONE, t >= 2u);
    return;
  }
  let t = targetClass(r);
  stats[r] = select(t * p.c + argmaxRow(r * p.c), NONE, t >= p.c);
}

// Invocation i: cell i % cells, chunk i / cells of p.chunk rows (cells = classes²). One chunk: the matrix cell += its count;
// several: the count goes to the partials [chunk, cell].
@compute @workgroup_size(WG)
fn confusionCells(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  let cells = p.classes * p.classes;
  if (i >= cells * p.items) { return; }
  let cell = i % cells;
  let r0 = (i / cells) * p.chunk;
  let r1 = min(r0 + p.chunk, p.n);
  var count = 0u;
  for (var r = r0; r < r1; r++) {
    if (labels[r] == cell) { count++; }
  }
  if (p.items == 1u) { stats[cell] += count; } else { stats[i] = count; }
}

// Invocation per cell: adds its chunk counts (bound as `labels`) in chunk order into the matrix (bound as `stats`).
@compute @workgroup_size(WG)
fn confusionPartials(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let cell = flatIndex(gid, nwg);
  let cells = p.classes * p.classes;
  if (cell >= cells) { return; }
  var s = 0u;
  for (var k = 0u; k < p.items; k++) { s += labels[k * cells + cell]; }
  stats[cell] += s;
}
