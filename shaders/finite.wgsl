// The NaN guard's gradient check (src/kernels/finite.ts): one invocation per value of a flat f32 array (a
// model's gradient arena). When a value is NaN or infinite and state[1] is still 0, it stores state[0] there:
// the step count t that incrementStep keeps in state[0], so the host can name the training step at fault.
// Several invocations may store the same t at once; they all write the same value, so the race is benign.

override WG: u32 = 64u;

struct Params {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;

// NaN and ±Inf by their bits: comparisons alone can be folded away by a fast-math compiler.
fn nonFinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  if (nonFinite(x[i]) && state[1] == 0u) {
    state[1] = state[0];
  }
}

// Four values per invocation (n a multiple of 4, GPU class; p.n counts vec4s).
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let bits = bitcast<vec4<u32>>(x4[i]) & vec4<u32>(0x7f800000u);
  if (any(bits == vec4<u32>(0x7f800000u)) && state[1] == 0u) {
    state[1] = state[0];
  }
}
