// Sums over one axis of a row-major [rows, cols] matrix: column sums give a Dense/Conv bias gradient
// (sum over the batch and spatial positions), row sums give per-example totals.
// One invocation per output; a sequential loop per invocation keeps the sum order fixed (deterministic).

override WG: u32 = 64u;

struct Params {
  rows: u32,
  cols: u32,
  accumulate: u32, // 1: out += sum, 0: out = sum
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// out[c] = sum over r of x[r, c]; adjacent invocations read adjacent columns.
@compute @workgroup_size(WG)
fn columnSum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    s += x[r * p.cols + c];
  }
  if (p.accumulate == 1u) { s += out[c]; }
  out[c] = s;
}

// out[r] = sum over c of x[r, c]
@compute @workgroup_size(WG)
fn rowSum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  var s = 0.0;
  let base = r * p.cols;
  for (var c = 0u; c < p.cols; c++) {
    s += x[base + c];
  }
  if (p.accumulate == 1u) { s += out[r]; }
  out[r] = s;
}
