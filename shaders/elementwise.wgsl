// Elementwise kernels over flat f32 arrays. One invocation per element; a 2-D grid folds large arrays
// (see grid1d): index = x + y * (workgroups.x * WG).

override WG: u32 = 64u;

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// out = alpha * a + beta * b
@compute @workgroup_size(WG)
fn axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = p.alpha * a[i] + p.beta * b[i];
}

// out = alpha * a   (binding 2 is left out of this entry's layout)
@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = p.alpha * a[i];
}

// out += a   (binding 2 is left out; out is read through its one read_write binding, never bound twice)
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

// ---------------------------------------------------------------- four elements per invocation
// For n a multiple of 4 (GPU class): the same bindings typed as vec4 arrays, p.n counting vec4s.
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn axpby4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = p.alpha * a4[i] + p.beta * b4[i];
}

@compute @workgroup_size(WG)
fn scale4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out4[i] = p.alpha * a4[i];
}

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
