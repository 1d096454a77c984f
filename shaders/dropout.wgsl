// Inverted dropout with a counter-based RNG: every element's draw is a pure function of
// (element index, step t, stream, seed), hashed by pcg4d (Jarzynski & Olano, "Hash Functions for GPU Rendering",
// JCGT 2020). No RNG state is stored: a replayed step reads t from stepState[0] and draws a fresh mask, and the
// same (seed, stream, t) always gives the same mask. CPU twin: src/reference/dropout.ts (same u32 arithmetic).
// pcg4d comes from shaders/hash.wgsl, prepended by src/shaders.ts (WGSL has no includes).

override WG: u32 = 64u;

struct Params {
  n: u32,
  threshold: u32, // keep when (hash >> 8) >= threshold, threshold = round(rate * 2^24)
  scale: f32,     // 1 / (1 - rate)
  seed: u32,
  stream: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> stepState: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;            // forward: x; backward: dy
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // forward: y; backward: dx
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;   // forward output
@group(0) @binding(5) var<storage, read> maskIn: array<f32>;       // backward input

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let h = pcg4d(vec4<u32>(i, stepState[0], p.stream, p.seed));
  let m = select(0.0, p.scale, (h.x >> 8u) >= p.threshold);
  mask[i] = m;
  y[i] = x[i] * m;
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  y[i] = x[i] * maskIn[i];
}
