// Seeded GPU initializers from the counter-based hash pcg4d (shaders/hash.wgsl, prepended by src/shaders.ts;
// CPU twin: src/reference/initializer.ts). Element i of a tensor draws from pcg4d(i, seed, attempt, DOMAIN):
// the same seed gives the same tensor on every adapter (uniform: bit for bit).

override WG: u32 = 64u;

const DOMAIN: u32 = 0x1a17u; // keeps initializer draws apart from dropout's (i, t, stream, seed)
const TWO_PI: f32 = 6.283185307179586;
const ATTEMPTS: u32 = 8u;

struct Params {
  n: u32,
  seed: u32,
  a: f32, // fill: the value; uniform: the limit; truncated normal: the stddev before truncation
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = p.a;
}

// U[-limit, limit): limit * (2u - 1) with u = k / 2^24, k the hash's top 24 bits; 2u - 1 is exact in f32, so
// the one rounding is the final product and the CPU twin matches bit for bit.
@compute @workgroup_size(WG)
fn uniformDraw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let h = pcg4d(vec4<u32>(i, p.seed, 0u, DOMAIN));
  let k = i32(h.x >> 8u);
  out[i] = p.a * (f32(2 * k - 16777216) * (1.0 / 16777216.0));
}

// Keras' truncated normal: N(0, stddev) redrawn until |z| <= 2 stddev. Box-Muller gives two candidates per
// hash; attempt a uses pcg4d(i, seed, a, DOMAIN). After 16 rejected candidates (probability 0.0455^16 ~ 1e-21)
// the last one is clamped.
@compute @workgroup_size(WG)
fn truncatedNormal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  var z = 0.0;
  for (var a = 0u; a < ATTEMPTS; a++) {
    let h = pcg4d(vec4<u32>(i, p.seed, a, DOMAIN));
    let u1 = f32((h.x >> 8u) + 1u) * (1.0 / 16777216.0); // (0, 1]
    let u2 = f32(h.y >> 8u) * (1.0 / 16777216.0);        // [0, 1)
    let r = sqrt(-2.0 * log(u1));
    let z0 = r * cos(TWO_PI * u2);
    let z1 = r * sin(TWO_PI * u2);
    if (abs(z0) <= 2.0) { z = z0; break; }
    if (abs(z1) <= 2.0) { z = z1; break; }
    z = clamp(z1, -2.0, 2.0);
  }
  out[i] = p.a * z;
}
