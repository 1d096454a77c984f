// ZeroPadding2D, NHWC: forward writes every output (the input where it lies inside, 0 in the border), backward
// crops dy back to the input's extent. One invocation per written element, no loops. CPU reference:
// src/reference/padding.ts. idiv is from shaders/indexing.wgsl (prepended by src/shaders.ts).

override WG: u32 = 64u;

struct Geometry {
  inH: i32, inW: i32, c: i32, top: i32,
  outH: i32, outW: i32, left: i32, n: u32,
}

@group(0) @binding(0) var<uniform> g: Geometry;
@group(0) @binding(1) var<storage, read> src: array<f32>;       // forward: x; backward: dy
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // forward: y; backward: dx

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn padForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let t = idiv(i32(o), g.c);
  let ch = i32(o) - t * g.c;
  let t2 = idiv(t, g.outW);
  let ow = t - t2 * g.outW;
  let b = idiv(t2, g.outH);
  let oh = t2 - b * g.outH;
  let ih = oh - g.top;
  let iw = ow - g.left;
  var v = 0.0;
  if (ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW) { v = src[((b * g.inH + ih) * g.inW + iw) * g.c + ch]; }
  dst[o] = v;
}

@compute @workgroup_size(WG)
fn padBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= g.n) { return; }
  let t = idiv(i32(i), g.c);
  let ch = i32(i) - t * g.c;
  let t2 = idiv(t, g.inW);
  let iw = t - t2 * g.inW;
  let b = idiv(t2, g.inH);
  let ih = t2 - b * g.inH;
  dst[i] = src[((b * g.outH + ih + g.top) * g.outW + iw + g.left) * g.c + ch];
}
