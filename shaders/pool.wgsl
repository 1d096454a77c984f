// 2-D max and average pooling, NHWC. CPU references: src/reference/pool.ts.
// One invocation per output value (forward) or per input value (backward); large grids fold into y (grid1d).
// Padded positions never take part: max pooling skips them (TF pads with -inf), average pooling divides by the
// count of real elements in the window (TF/Keras 'same').
// Both backward passes are gathers: each input value sums, in a fixed order, the outputs whose window covers
// it. No atomics, every dx value written (no separate zeroing), bit-identical from run to run.

override WG: u32 = 64u;

struct Geometry {
  batch: i32, inH: i32, inW: i32, c: i32,
  outH: i32, outW: i32, poolH: i32, poolW: i32,
  strideH: i32, strideW: i32, padTop: i32, padLeft: i32,
  n: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> g: Geometry;
@group(0) @binding(1) var<storage, read> src: array<f32>;        // forward: x;  backward: dy
@group(0) @binding(2) var<storage, read> argIn: array<u32>;      // maxBackward: argmax
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // forward: y;  backward: dx
@group(0) @binding(4) var<storage, read_write> argOut: array<u32>; // maxForward: argmax

// idiv(n, d): exact division without an integer divide, from shaders/indexing.wgsl (prepended by src/shaders.ts).

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// The clipped window of output (oh, ow): rows [r.x, r.y), columns [r.z, r.w) of the input.
fn windowOf(oh: i32, ow: i32) -> vec4<i32> {
  let h = oh * g.strideH - g.padTop;
  let w = ow * g.strideW - g.padLeft;
  return vec4<i32>(max(h, 0), min(h + g.poolH, g.inH), max(w, 0), min(w + g.poolW, g.inW));
}

// Outputs whose window covers input (ih, iw): rows [r.x, r.y], columns [r.z, r.w] (empty when x > y).
fn coveringOutputs(ih: i32, iw: i32) -> vec4<i32> {
  let h = ih + g.padTop;
  let w = iw + g.padLeft;
  let hlo = h - g.poolH + 1;
  let wlo = w - g.poolW + 1;
  return vec4<i32>(select(0, idiv(max(hlo, 0) + g.strideH - 1, g.strideH), hlo > 0), min(idiv(h, g.strideH), g.outH - 1),
                   select(0, idiv(max(wlo, 0) + g.strideW - 1, g.strideW), wlo > 0), min(idiv(w, g.strideW), g.outW - 1));
}

struct Where { b: i32, h: i32, w: i32, c: i32 }

fn decode(i: i32, H: i32, W: i32) -> Where {
  let t = idiv(i, g.c);
  let t2 = idiv(t, W);
  let b = idiv(t2, H);
  return Where(b, t2 - b * H, t - t2 * W, i - t * g.c);
}

// y = max over the window; argmax = flat input index of the first maximum in row-major window order.
@compute @workgroup_size(WG)
fn maxForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let p = decode(i32(o), g.outH, g.outW);
  let r = windowOf(p.h, p.w);
  var best = 0.0; // replaced by the first element (at < 0)
  var at = -1;
  for (var ih = r.x; ih < r.y; ih++) {
    for (var iw = r.z; iw < r.w; iw++) {
      let i = ((p.b * g.inH + ih) * g.inW + iw) * g.c + p.c;
      let v = src[i];
      if (at < 0 || v > best) { best = v; at = i; }
    }
  }
  dst[o] = best;
  argOut[o] = u32(at);
}

// dx[i] = sum of dy[o] over the outputs o whose argmax is i (outputs visited in row-major order).
@compute @workgroup_size(WG)
fn maxBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= g.n) { return; }
  let p = decode(i32(i), g.inH, g.inW);
  let r = coveringOutputs(p.h, p.w);
  var s = 0.0;
  for (var oh = r.x; oh <= r.y; oh++) {
    for (var ow = r.z; ow <= r.w; ow++) {
      let o = ((p.b * g.outH + oh) * g.outW + ow) * g.c + p.c;
      if (argIn[o] == i) { s += src[o]; }
    }
  }
  dst[i] = s;
}

// y = mean of the real (unpadded) elements of the window.
@compute @workgroup_size(WG)
fn avgForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let p = decode(i32(o), g.outH, g.outW);
  let r = windowOf(p.h, p.w);
  var s = 0.0;
  for (var ih = r.x; ih < r.y; ih++) {
    for (var iw = r.z; iw < r.w; iw++) {
      s += src[((p.b * g.inH + ih) * g.inW + iw) * g.c + p.c];
    }
  }
  dst[o] = s / f32((r.y - r.x) * (r.w - r.z));
}

// dx[i] = sum over the outputs o covering i of dy[o] / count(o).
@compute @workgroup_size(WG)
fn avgBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= g.n) { return; }
  let p = decode(i32(i), g.inH, g.inW);
  let r = coveringOutputs(p.h, p.w);
  var s = 0.0;
  for (var oh = r.x; oh <= r.y; oh++) {
    for (var ow = r.z; ow <= r.w; ow++) {
      let q = windowOf(oh, ow);
      s += src[((p.b * g.outH + oh) * g.outW + ow) * g.c + p.c] / f32((q.y - q.x) * (q.w - q.z));
    }
  }
  dst[i] = s;
}

// Non-overlapping windows (stride >= pool, the usual 2x2/2): one invocation per output writes its whole window,
// so every input is written by at most one invocation (deterministic, no atomics) and nothing is gathered.
// Inputs outside every window (stride > pool, or 'valid' leftovers) are cleared by the caller first.
@compute @workgroup_size(WG)
fn maxBackwardScatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let p = decode(i32(o), g.outH, g.outW);
  let r = windowOf(p.h, p.w);
  let at = argIn[o];
  let d = src[o];
  for (var ih = r.x; ih < r.y; ih++) {
    for (var iw = r.z; iw < r.w; iw++) {
      let i = ((p.b * g.inH + ih) * g.inW + iw) * g.c + p.c;
      dst[i] = select(0.0, d, u32(i) == at);
    }
  }
}

@compute @workgroup_size(WG)
fn avgBackwardScatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let p = decode(i32(o), g.outH, g.outW);
  let r = windowOf(p.h, p.w);
  let d = src[o] / f32((r.y - r.x) * (r.w - r.z));
  for (var ih = r.x; ih < r.y; ih++) {
    for (var iw = r.z; iw < r.w; iw++) {
      dst[((p.b * g.inH + ih) * g.inW + iw) * g.c + p.c] = d;
    }
  }
}

// ---------------------------------------------------------------- four channels per invocation
// For c a multiple of 4: one invocation per 4 neighbouring channels (g.n counts those groups), every load and store
// a vec4 (src4 / argIn4 / dst4 / argOut4 are the bindings above, typed as vec4 arrays; an entry point uses one
// typing). Same windows, order and first-max rule per channel as the scalar kernels. On llvmpipe each storage
// access is a per-lane loop whose cost hardly depends on its width, so this does ~4x less access work.
@group(0) @binding(1) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> argIn4: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> argOut4: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn maxForward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let p = decode(i32(o) * 4, g.outH, g.outW);
  let r = windowOf(p.h, p.w);
  var best = vec4<f32>(0.0);
  var at = vec4<i32>(-1);
  let lanes = vec4<i32>(0, 1, 2, 3);
  for (var ih = r.x; ih < r.y; ih++) {
    for (var iw = r.z; iw < r.w; iw++) {
      let i = ((p.b * g.inH + ih) * g.inW + iw) * g.c + p.c;
      let v = src4[i / 4];
      let take = (at < vec4<i32>(0)) | (v > best);
      best = select(best, v, take);
      at = select(at, vec4<i32>(i) + lanes, take);
    }
  }
  dst4[o] = best;
  argOut4[o] = vec4<u32>(at);
}

@compute @workgroup_size(WG)
fn maxBackwardScatter4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let p = decode(i32(o) * 4, g.outH, g.outW);
  let r = windowOf(p.h, p.w);
  let at = argIn4[o];
  let d = src4[o];
  let lanes = vec4<u32>(0u, 1u, 2u, 3u);
  for (var ih = r.x; ih < r.y; ih++) {
    for (var iw = r.z; iw < r.w; iw++) {
      let i = ((p.b * g.inH + ih) * g.inW + iw) * g.c + p.c;
      dst4[i / 4] = select(vec4<f32>(0.0), d, vec4<u32>(u32(i)) + lanes == at);
    }
  }
}
