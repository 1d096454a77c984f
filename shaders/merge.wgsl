// Merge-layer kernels (Add, Multiply, Concatenate) and the step plan's fan-out gradient sums. One invocation per
// element (per vec4 in the *4 entries, for sizes that are a multiple of 4 on the GPU class); a 2-D grid folds large
// arrays (grid1d): index = x + y * (workgroups.x * WG). No entry binds one buffer twice: in-place updates read and
// write `out` through its one read_write binding.

override WG: u32 = 64u;

struct Params {
  n: u32,
  // copyColumns: columns copied per row, then the source's and the destination's row length and column offset
  cols: u32,
  srcCols: u32,
  srcOff: u32,
  dstCols: u32,
  dstOff: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// out += a   (binding 2 is left out of this entry's layout)
@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = out[i] + a[i];
}

// out = a * b
@compute @workgroup_size(WG)
fn multiply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = a[i] * b[i];
}

// out *= a   (binding 2 is left out)
@compute @workgroup_size(WG)
fn multiplyInto(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = out[i] * a[i];
}

// out[r, dstOff + c] = a[r, srcOff + c] for c < cols, rows of srcCols / dstCols values; p.n = rows * cols.
// Concatenate's forward (each input into its columns) and backward (each input's columns of dy).
@compute @workgroup_size(WG)
fn copyColumns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let r = u32(idiv(i32(i), i32(p.cols)));
  let c = i - r * p.cols;
  out[r * p.dstCols + p.dstOff + c] = a[r * p.srcCols + p.srcOff + c];
}

// ---------------------------------------------------------------- four elements per invocation
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn accumulate4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = out4[i] + a4[i];
}

@compute @workgroup_size(WG)
fn multiply4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = a4[i] * b4[i];
}

@compute @workgroup_size(WG)
fn multiplyInto4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = out4[i] * a4[i];
}
