// Two probes of what the adapter can do. FMA throughput probe (entry `main`): measures the adapter's peak f32 FMA rate, the yardstick the matmul benchmark reports
// against. Each invocation runs `p.iters` rounds over 16 independent scalar accumulators (four vec4 chains),
// enough independent chains to cover FMA latency on GPUs and on SIMD-per-lane software adapters. Operands come
// from a uniform so nothing folds at compile time, and every invocation writes its total so nothing is dead.
// Work per invocation: p.iters * 4 rounds * 4 vec4 * 4 lanes * 2 flops = 128 * p.iters flops.

override WG: u32 = 64u;

struct Params {
  iters: u32,
  a: f32, // 0.999 (any value in (0.1, 1) keeps the chains bounded)
  b: f32,
  c: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let seed = f32(i & 7u) * 1e-3;
  // |x| < 1 keeps every chain converging to a normal fixed point y / (1 - x): no overflow, no denormals.
  let x = vec4<f32>(p.a, p.a - seed, p.a - 2.0 * seed, p.a * 0.5);
  let y = vec4<f32>(p.b, p.b + seed, p.b + 2.0 * seed, p.b * 0.5);
  var s0 = vec4<f32>(p.c + seed);
  var s1 = vec4<f32>(p.c - seed);
  var s2 = vec4<f32>(p.c * 0.5);
  var s3 = vec4<f32>(p.c * 0.25);
  for (var t = 0u; t < p.iters; t++) {
    // 4 rounds per trip: 16 dependent-free vec4 FMAs between loop branches.
    s0 = fma(s0, x, y); s1 = fma(s1, x, y); s2 = fma(s2, x, y); s3 = fma(s3, x, y);
    s0 = fma(s0, x, y); s1 = fma(s1, x, y); s2 = fma(s2, x, y); s3 = fma(s3, x, y);
    s0 = fma(s0, x, y); s1 = fma(s1, x, y); s2 = fma(s2, x, y); s3 = fma(s3, x, y);
    s0 = fma(s0, x, y); s1 = fma(s1, x, y); s2 = fma(s2, x, y); s3 = fma(s3, x, y);
  }
  let s = s0 + s1 + s2 + s3;
  out[i] = s.x + s.y + s.z + s.w;
}

// Memory-bandwidth probe (entry `copy`): dst = src as vec4s, a grid-stride loop (cp.stride = invocations in the
// dispatch) so that a fixed grid copies a buffer of any size. Bytes moved: 16 read + 16 written per vec4.
// Bindings 2..4 so that neither entry point's interface shares a binding with the other's.
struct CopyParams {
  n: u32, // vec4s to copy
  stride: u32,
  _a: u32,
  _b: u32,
}

@group(0) @binding(2) var<uniform> cp: CopyParams;
@group(0) @binding(3) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x + gid.y * nwg.x * WG; i < cp.n; i += cp.stride) {
    dst[i] = src[i];
  }
}
