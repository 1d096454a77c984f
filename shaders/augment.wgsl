// Image augmentation on the GPU (Keras' RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomCrop,
// RandomContrast, RandomBrightness), NHWC. Two steps per layer: `draw` writes each example's random parameters
// (8 floats per example) from pcg4d(example, step t = stepState[0], stream = layer id, seed), so a replayed step
// draws fresh parameters with no host work and the same (seed, stream, t) always gives the same ones; then an
// apply kernel reads them. The geometric layers share one sampler (`affine`): output pixel (x, y) reads the input
// at (a0·x + a1·y + a2, b0·x + b1·y + b2), exactly as TensorFlow's ImageProjectiveTransformV3 (what Keras runs):
// the coordinate is first mapped by the fill mode, then read by nearest (round half away from zero) or bilinear
// interpolation, with the fill value outside the image. CPU twin: src/reference/augment.ts.
// pcg4d comes from shaders/hash.wgsl, prepended by src/shaders.ts.

override WG: u32 = 64u;

const TWO_PI: f32 = 6.283185307179586;
const CHUNK: u32 = 4096u; // channel sums: partials over CHUNK pixels, then a sum over the partials (llvmpipe ends
                          // any invocation's loops after 65535 iterations in all, nested or not)

// draw kinds
const FLIP: u32 = 0u;
const TRANSLATE: u32 = 1u;
const ROTATE: u32 = 2u;
const ZOOM: u32 = 3u;
const CROP: u32 = 4u;
const CONTRAST: u32 = 5u;
const BRIGHTNESS: u32 = 6u;

// fill modes
const FILL_CONSTANT: u32 = 0u;
const FILL_REFLECT: u32 = 1u;
const FILL_WRAP: u32 = 2u;
const FILL_NEAREST: u32 = 3u;

struct Params {
  n: u32,
  h: u32,
  w: u32,
  c: u32,
  oh: u32,        // crop: output height and width
  ow: u32,
  kind: u32,      // draw: what to draw
  mode: u32,      // draw: flip axes (1 horizontal, 2 vertical, 3 both); zoom 1 = width tied to height; crop 1 = centre
  seed: u32,
  stream: u32,
  fillMode: u32,
  interp: u32,    // 0 nearest, 1 bilinear
  chunks: u32,    // channel sums: partials per (example, channel) = ceil(h·w / CHUNK)
  _p2: u32,
  _p0: u32,
  _p1: u32,
  lo0: f32,       // draw: first value uniform in [lo0, lo0 + span0)
  span0: f32,
  lo1: f32,       // draw: second value uniform in [lo1, lo1 + span1)
  span1: f32,
  fillValue: f32,
  vlo: f32,       // contrast and brightness: outputs clipped to [vlo, vhi]
  vhi: f32,
  scale: f32,     // brightness: the value range's width; channelTotal: the factor on each sum
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> stepState: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;            // forward: x; backward: dy
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // forward: y; backward: dx
@group(0) @binding(4) var<storage, read_write> prm: array<f32>;    // draw: the parameters, 8 per example
@group(0) @binding(5) var<storage, read> prmIn: array<f32>;        // apply: the parameters
@group(0) @binding(6) var<storage, read_write> stat: array<f32>;   // per (example, channel): mean or gradient sum
@group(0) @binding(7) var<storage, read> statIn: array<f32>;       // per (example, channel): the mean
@group(0) @binding(8) var<storage, read> aux: array<f32>;          // backward: the forward input x

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// (example, row, column, channel) of element i of an [n, h, w, c] tensor (c = p.c).
fn nhwc(i: u32, h: u32, w: u32) -> vec4<u32> {
  let r = i / p.c;
  return vec4<u32>(r / (w * h), (r / w) % h, r % w, i % p.c);
}

fn unit(bits: u32) -> f32 {
  return f32(bits >> 8u) * (1.0 / 16777216.0); // [0, 1) on 24 bits: exact in float32
}

@compute @workgroup_size(WG)
fn draw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = flatIndex(gid, nwg);
  if (b >= p.n) { return; }
  let hs = pcg4d(vec4<u32>(b, stepState[0], p.stream, p.seed));
  let v0 = p.lo0 + p.span0 * unit(hs.x);
  let v1 = p.lo1 + p.span1 * unit(hs.y);
  let o = b * 8u;
  for (var k = 0u; k < 8u; k++) { prm[o + k] = 0.0; }
  let w1 = f32(p.w) - 1.0;
  let h1 = f32(p.h) - 1.0;
  switch p.kind {
    case FLIP: {
      // each axis flips with probability 1/2: the hash's top bit
      prm[o] = select(0.0, 1.0, (p.mode & 1u) != 0u && (hs.x >> 31u) == 0u);
      prm[o + 1u] = select(0.0, 1.0, (p.mode & 2u) != 0u && (hs.y >> 31u) == 0u);
    }
    case TRANSLATE: {
      let dy = v0 * f32(p.h);
      let dx = v1 * f32(p.w);
      prm[o] = 1.0; prm[o + 2u] = -dx;
      prm[o + 4u] = 1.0; prm[o + 5u] = -dy;
    }
    case ROTATE: {
      // Keras' rotation matrix: a rotation by the angle about the image centre ((w-1)/2, (h-1)/2)
      let angle = v0 * TWO_PI;
      let cs = cos(angle);
      let sn = sin(angle);
      prm[o] = cs; prm[o + 1u] = -sn; prm[o + 2u] = (w1 - (cs * w1 - sn * h1)) / 2.0;
      prm[o + 3u] = sn; prm[o + 4u] = cs; prm[o + 5u] = (h1 - (sn * w1 + cs * h1)) / 2.0;
    }
    case ZOOM: {
      let zy = 1.0 + v0;
      let zx = select(1.0 + v1, zy, p.mode == 1u);
      prm[o] = zx; prm[o + 2u] = (w1 / 2.0) * (1.0 - zx);
      prm[o + 4u] = zy; prm[o + 5u] = (h1 / 2.0) * (1.0 - zy);
    }
    case CROP: {
      // offsets uniform over the (h - oh + 1) x (w - ow + 1) windows, in integers: 16 bits times the count
      var oy = (p.h - p.oh) / 2u;
      var ox = (p.w - p.ow) / 2u;
      if (p.mode != 1u) {
        oy = ((hs.x >> 16u) * (p.h - p.oh + 1u)) >> 16u;
        ox = ((hs.y >> 16u) * (p.w - p.ow + 1u)) >> 16u;
      }
      prm[o] = f32(oy); prm[o + 1u] = f32(ox);
    }
    case CONTRAST: { prm[o] = v0; }
    case BRIGHTNESS: { prm[o] = v0 * p.scale; }
    default: {}
  }
}

// Keras/TF fill modes: where a coordinate outside [0, len - 1] reads from (constant: unchanged, read as the fill
// value). The same float32 steps as TensorFlow's MapCoordinate.
fn mapCoord(c: f32, len: u32) -> f32 {
  let fl = f32(len);
  var v = c;
  switch p.fillMode {
    case FILL_REFLECT: {
      if (v < 0.0) {
        if (len <= 1u) { v = 0.0; } else {
          let sz2 = 2.0 * fl;
          v = sz2 * trunc(-v / sz2) + v;
          v = select(-v - 1.0, v + sz2, v < -fl);
        }
      } else if (v > fl - 1.0) {
        if (len <= 1u) { v = 0.0; } else {
          let sz2 = 2.0 * fl;
          v -= sz2 * trunc(v / sz2);
          if (v >= fl) { v = sz2 - v - 1.0; }
        }
      }
      return clamp(v, 0.0, fl - 1.0);
    }
    case FILL_WRAP: {
      if (v < 0.0) {
        if (len <= 1u) { v = 0.0; } else { v += fl * (trunc(-v / (fl - 1.0)) + 1.0); }
      } else if (v > fl - 1.0) {
        if (len <= 1u) { v = 0.0; } else { v -= fl * trunc(v / (fl - 1.0)); }
      }
      return clamp(v, 0.0, fl - 1.0);
    }
    case FILL_NEAREST: { return clamp(v, 0.0, fl - 1.0); }
    default: { return v; }
  }
}

fn readFill(b: u32, yy: f32, xx: f32, ch: u32) -> f32 {
  if (yy < 0.0 || xx < 0.0 || yy >= f32(p.h) || xx >= f32(p.w)) { return p.fillValue; }
  return x[((b * p.h + u32(yy)) * p.w + u32(xx)) * p.c + ch];
}

// std::round: half away from zero (WGSL's round() is half to even). v - trunc(v) is exact in float32.
fn roundAway(v: f32) -> f32 {
  let t = trunc(v);
  return select(t, t + sign(v), abs(v - t) >= 0.5);
}

@compute @workgroup_size(WG)
fn affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let at = nhwc(i, p.h, p.w);
  let b = at.x;
  let ch = at.w;
  let oy = f32(at.y);
  let ox = f32(at.z);
  let o = b * 8u;
  let sx = mapCoord((prmIn[o] * ox + prmIn[o + 1u] * oy) + prmIn[o + 2u], p.w);
  let sy = mapCoord((prmIn[o + 3u] * ox + prmIn[o + 4u] * oy) + prmIn[o + 5u], p.h);
  if (p.interp == 0u) {
    y[i] = readFill(b, roundAway(sy), roundAway(sx), ch);
    return;
  }
  let x0 = floor(sx);
  let y0 = floor(sy);
  let x1 = x0 + 1.0;
  let y1 = y0 + 1.0;
  let top = (x1 - sx) * readFill(b, y0, x0, ch) + (sx - x0) * readFill(b, y0, x1, ch);
  let bottom = (x1 - sx) * readFill(b, y1, x0, ch) + (sx - x0) * readFill(b, y1, x1, ch);
  y[i] = (y1 - sy) * top + (sy - y0) * bottom;
}

// y = x mirrored along the axes drawn for each example. Its own transpose: backward is the same kernel on dy.
@compute @workgroup_size(WG)
fn flip(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let at = nhwc(i, p.h, p.w);
  let b = at.x;
  let sy = select(at.y, p.h - 1u - at.y, prmIn[b * 8u + 1u] != 0.0);
  let sx = select(at.z, p.w - 1u - at.z, prmIn[b * 8u] != 0.0);
  y[i] = x[((b * p.h + sy) * p.w + sx) * p.c + at.w];
}

// y [n, oh, ow, c] = the window of x at each example's drawn offset.
@compute @workgroup_size(WG)
fn crop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.oh * p.ow * p.c) { return; }
  let at = nhwc(i, p.oh, p.ow);
  let b = at.x;
  let sy = at.y + u32(prmIn[b * 8u]);
  let sx = at.z + u32(prmIn[b * 8u + 1u]);
  y[i] = x[((b * p.h + sy) * p.w + sx) * p.c + at.w];
}

// dx [n, h, w, c] (x binds dy [n, oh, ow, c]): dy inside the window, 0 outside. A gather: no two writes meet.
@compute @workgroup_size(WG)
fn cropBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let at = nhwc(i, p.h, p.w);
  let b = at.x;
  let iy = at.y;
  let ix = at.z;
  let ch = at.w;
  let top = u32(prmIn[b * 8u]);
  let left = u32(prmIn[b * 8u + 1u]);
  var v = 0.0;
  if (iy >= top && iy < top + p.oh && ix >= left && ix < left + p.ow) {
    v = x[((b * p.oh + iy - top) * p.ow + ix - left) * p.c + ch];
  }
  y[i] = v;
}

// The pixel range [start, end) of partial j's chunk, and its example and channel: (start, end, b, ch).
fn chunkOf(j: u32) -> vec4<u32> {
  let start = (j % p.chunks) * CHUNK;
  return vec4<u32>(start, min(p.h * p.w, start + CHUNK), j / (p.chunks * p.c), (j / p.chunks) % p.c);
}

// stat[(b·c + ch)·chunks + k] = the sum of x over chunk k of the image's pixels in channel ch.
@compute @workgroup_size(WG)
fn channelPartial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flatIndex(gid, nwg);
  if (j >= p.n * p.c * p.chunks) { return; }
  let q = chunkOf(j);
  var part = 0.0;
  for (var k = q.x; k < q.y; k++) { part += x[(q.z * p.h * p.w + k) * p.c + q.w]; }
  stat[j] = part;
}

// The same partials of dy where the contrast's clip let z through (x binds dy, aux the forward input).
@compute @workgroup_size(WG)
fn contrastGradPartial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flatIndex(gid, nwg);
  if (j >= p.n * p.c * p.chunks) { return; }
  let q = chunkOf(j);
  var part = 0.0;
  for (var k = q.x; k < q.y; k++) {
    let e = (q.z * p.h * p.w + k) * p.c + q.w;
    let z = contrastPre(aux[e], q.z, q.w);
    part += select(0.0, x[e], z >= p.vlo && z <= p.vhi);
  }
  stat[j] = part;
}

// stat[b·c + ch] = scale · the sum of its chunk partials (aux binds them), in chunk order.
@compute @workgroup_size(WG)
fn channelTotal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flatIndex(gid, nwg);
  if (j >= p.n * p.c) { return; }
  var total = 0.0;
  for (var k = 0u; k < p.chunks; k++) { total += aux[j * p.chunks + k]; }
  stat[j] = total * p.scale;
}

fn contrastPre(xv: f32, b: u32, ch: u32) -> f32 {
  let m = statIn[b * p.c + ch];
  return (xv - m) * prmIn[b * 8u] + m;
}

// y = clip((x - mean) * f + mean, vlo, vhi), per example and channel (Keras' RandomContrast).
@compute @workgroup_size(WG)
fn contrast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let ch = i % p.c;
  let b = i / (p.h * p.w * p.c);
  y[i] = clamp(contrastPre(x[i], b, ch), p.vlo, p.vhi);
}

// dx = f · dy · [z not clipped] + (1 - f) / (h·w) · Σ dy · [z not clipped]: y_k = f·x_k + (1 - f)·mean(x).
@compute @workgroup_size(WG)
fn contrastBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let ch = i % p.c;
  let b = i / (p.h * p.w * p.c);
  let f = prmIn[b * 8u];
  let z = contrastPre(aux[i], b, ch);
  let direct = select(0.0, f * x[i], z >= p.vlo && z <= p.vhi);
  y[i] = direct + (1.0 - f) * stat[b * p.c + ch] / f32(p.h * p.w);
}

// y = clip(x + delta, vlo, vhi), one delta per example (Keras' RandomBrightness).
@compute @workgroup_size(WG)
fn brightness(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let b = i / (p.h * p.w * p.c);
  y[i] = clamp(x[i] + prmIn[b * 8u], p.vlo, p.vhi);
}

// dx = dy where the clip let x + delta through, else 0 (x binds dy, aux the forward input).
@compute @workgroup_size(WG)
fn brightnessBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n * p.h * p.w * p.c) { return; }
  let b = i / (p.h * p.w * p.c);
  let z = aux[i] + prmIn[b * 8u];
  y[i] = select(0.0, x[i], z >= p.vlo && z <= p.vhi);
}
