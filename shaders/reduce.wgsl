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
  _pad0: u32,
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
