// Sums over one axis of a row-major [rows, cols] matrix: column sums give a Dense bias gradient (sum over the
// batch), row sums give per-example totals.
// One invocation per output and chunk; a sequential loop keeps the sum order fixed (deterministic). Sums longer
// than CHUNK terms are split: llvmpipe silently ends any loop after 65535 iterations, so each invocation sums at
// most CHUNK terms into a partial, and sumPartials adds the partials in chunk order. CHUNK is fixed (not per
// adapter) so that every adapter sums in the same order.

override WG: u32 = 64u;

struct Params {
  rows: u32,
  cols: u32,
  accumulate: u32, // 1: out += sum, 0: out = sum (the last pass only)
  chunk: u32,      // terms per partial sum (columnSum: rows, rowSum: cols)
  chunks: u32,     // number of partials per output (1: this pass writes the result)
  outputs: u32,    // sumPartials: outputs per chunk
  blocks: u32,     // tree kernels: workgroups per chunk (columnSumTree) or chunks per row block (rowSumTree)
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn invocation(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// out[k * cols + c] = sum of x[r, c] for r in chunk k; adjacent invocations read adjacent columns.
@compute @workgroup_size(WG)
fn columnSum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = invocation(gid, nwg);
  if (i >= p.cols * p.chunks) { return; }
  let c = i % p.cols;
  let k = i / p.cols;
  let r0 = k * p.chunk;
  let r1 = min(r0 + p.chunk, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    s += x[r * p.cols + c];
  }
  if (p.chunks == 1u && p.accumulate == 1u) { s += out[c]; }
  out[i] = s;
}

// out[k * rows + r] = sum of x[r, c] for c in chunk k
@compute @workgroup_size(WG)
fn rowSum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = invocation(gid, nwg);
  if (i >= p.rows * p.chunks) { return; }
  let r = i % p.rows;
  let k = i / p.rows;
  let c0 = k * p.chunk;
  let c1 = min(c0 + p.chunk, p.cols);
  var s = 0.0;
  let base = r * p.cols;
  for (var c = c0; c < c1; c++) {
    s += x[base + c];
  }
  if (p.chunks == 1u && p.accumulate == 1u) { s += out[r]; }
  out[i] = s;
}

// out[j] (+)= sum over k of partial[k * outputs + j], in chunk order; x holds the partials.
@compute @workgroup_size(WG)
fn sumPartials(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = invocation(gid, nwg);
  if (j >= p.outputs) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.chunks; k++) {
    s += x[k * p.outputs + j];
  }
  if (p.accumulate == 1u) { s += out[j]; }
  out[j] = s;
}

// ---------------------------------------------------------------- GPU class: workgroup trees
// For GPUs: a workgroup of WG invocations, laid out TX (along the contiguous axis) by WG / TX, sums a fixed
// chunk of CHUNK terms per output: each invocation adds every (WG / TX)-th (columnSumTree) or TX-th
// (rowSumTree) term of the chunk in order, then a binary tree in workgroup memory adds the lanes in a fixed
// pairing. Sums longer than CHUNK write one partial per chunk; the caller sums the partials with the same kernel
// ([chunks, cols] column sums, [rows, chunks] row sums) until one chunk is left. No atomics, fixed order: the
// result is bit-identical run to run. TX is a power of two dividing WG.
override TX: u32 = 64u;
override CHUNK: u32 = 1024u;

var<workgroup> lanes: array<f32, WG>;

// Workgroups are numbered linearly (folded into x, y, z like grid1d): w = block + blocks * k with `blocks` the
// column blocks of TX (columnSumTree), or w = k + blocks * rowBlock with `blocks` the chunks (rowSumTree);
// linearWorkgroup is in shaders/indexing.wgsl.

// out[k * cols + c] (+)= sum of x[r, c] for r in chunk k.
@compute @workgroup_size(WG)
fn columnSumTree(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ty = WG / TX;
  let lx = lid % TX;
  let ly = lid / TX;
  let w = linearWorkgroup(wid, nwg);
  let c = (w % p.blocks) * TX + lx;
  let k = w / p.blocks;
  let r0 = k * CHUNK;
  let r1 = min(r0 + CHUNK, p.rows);
  var s = 0.0;
  if (c < p.cols) {
    for (var r = r0 + ly; r < r1; r += ty) { s += x[r * p.cols + c]; }
  }
  lanes[lid] = s;
  workgroupBarrier();
  for (var half = ty / 2u; half > 0u; half = half / 2u) {
    if (ly < half) { lanes[lid] = lanes[lid] + lanes[lid + half * TX]; }
    workgroupBarrier();
  }
  if (ly == 0u && c < p.cols && k < p.chunks) {
    var v = lanes[lx];
    if (p.chunks == 1u && p.accumulate == 1u) { v += out[c]; }
    out[k * p.cols + c] = v;
  }
}

// out[r * chunks + k] (+)= sum of x[r, c] for c in chunk k.
@compute @workgroup_size(WG)
fn rowSumTree(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ty = WG / TX;
  let lx = lid % TX;
  let ly = lid / TX;
  let w = linearWorkgroup(wid, nwg);
  let k = w % p.blocks;
  let r = (w / p.blocks) * ty + ly;
  let c0 = k * CHUNK;
  let c1 = min(c0 + CHUNK, p.cols);
  var s = 0.0;
  if (r < p.rows) {
    let base = r * p.cols;
    for (var c = c0 + lx; c < c1; c += TX) { s += x[base + c]; }
  }
  lanes[lid] = s;
  workgroupBarrier();
  for (var half = TX / 2u; half > 0u; half = half / 2u) {
    if (lx < half) { lanes[lid] = lanes[lid] + lanes[lid + half]; }
    workgroupBarrier();
  }
  if (lx == 0u && r < p.rows) {
    var v = lanes[lid];
    if (p.chunks == 1u && p.accumulate == 1u) { v += out[r]; }
    out[r * p.chunks + k] = v;
  }
}
