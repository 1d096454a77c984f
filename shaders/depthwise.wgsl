// Depthwise 2-D convolution, NHWC, Keras kernel layout [kH, kW, inC, M] (output channel o = c·M + m reads input
// channel c). CPU reference: src/reference/depthwise.ts. No atomics, every output written once, fixed orders:
//   forward        one invocation per output: the kH×kW window of its channel (+ bias)
//   backwardInput  one invocation per input: the outputs whose window covers it, times their M multipliers
//   filterPartial  one invocation per (chunk, kernel element): the sum over one chunk of positions (batch × outH
//                  × outW); the partials [chunks, kernel] are then column-summed in chunk order (columnSum), so no
//                  invocation loops past the chunk (llvmpipe ends loops after 65535 iterations)
// idiv is from shaders/indexing.wgsl (prepended by src/shaders.ts).

override WG: u32 = 64u;

struct Geometry {
  batch: i32, inH: i32, inW: i32, inC: i32,
  outH: i32, outW: i32, mult: i32, kH: i32,
  kW: i32, strideH: i32, strideW: i32, padTop: i32,
  padLeft: i32, n: u32, hasBias: u32, chunk: u32,
}

@group(0) @binding(0) var<uniform> g: Geometry;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // forward, filterPartial: x; backwardInput: dy
@group(0) @binding(2) var<storage, read> b: array<f32>;        // forward, backwardInput: kernel; filterPartial: dy
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= g.n) { return; }
  let outC = g.inC * g.mult;
  let t = idiv(i32(o), outC);
  let oc = i32(o) - t * outC;
  let c = idiv(oc, g.mult);
  let t2 = idiv(t, g.outW);
  let ow = t - t2 * g.outW;
  let bb = idiv(t2, g.outH);
  let oh = t2 - bb * g.outH;
  let h0 = oh * g.strideH - g.padTop;
  let w0 = ow * g.strideW - g.padLeft;
  var s = 0.0;
  for (var kh = max(0, -h0); kh < min(g.kH, g.inH - h0); kh++) {
    for (var kw = max(0, -w0); kw < min(g.kW, g.inW - w0); kw++) {
      s += a[((bb * g.inH + h0 + kh) * g.inW + w0 + kw) * g.inC + c] * b[(kh * g.kW + kw) * outC + oc];
    }
  }
  if (g.hasBias == 1u) { s += bias[oc]; }
  dst[o] = s;
}

// dx[b, ih, iw, c] = Σ over covering (oh, ow), then m, of dy[b, oh, ow, c·M + m] · k[ih - oh·sH + padTop, ., c, m].
@compute @workgroup_size(WG)
fn backwardInput(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= g.n) { return; }
  let outC = g.inC * g.mult;
  let t = idiv(i32(i), g.inC);
  let c = i32(i) - t * g.inC;
  let t2 = idiv(t, g.inW);
  let iw = t - t2 * g.inW;
  let bb = idiv(t2, g.inH);
  let ih = t2 - bb * g.inH;
  let h = ih + g.padTop;
  let w = iw + g.padLeft;
  // outputs oh with 0 <= h - oh·sH < kH: oh in [ceil((h - kH + 1) / sH), floor(h / sH)], clipped to the output
  let ohLo = select(0, idiv(h - g.kH + 1 + g.strideH - 1, g.strideH), h - g.kH + 1 > 0);
  let owLo = select(0, idiv(w - g.kW + 1 + g.strideW - 1, g.strideW), w - g.kW + 1 > 0);
  let ohHi = min(idiv(h, g.strideH), g.outH - 1);
  let owHi = min(idiv(w, g.strideW), g.outW - 1);
  var s = 0.0;
  for (var oh = ohLo; oh <= ohHi; oh++) {
    for (var ow = owLo; ow <= owHi; ow++) {
      let kbase = ((h - oh * g.strideH) * g.kW + (w - ow * g.strideW)) * outC + c * g.mult;
      let obase = ((bb * g.outH + oh) * g.outW + ow) * outC + c * g.mult;
      for (var m = 0; m < g.mult; m++) { s += a[obase + m] * b[kbase + m]; }
    }
  }
  dst[i] = s;
}

// dst[k·K + e] = Σ over positions p in chunk k of dy[p, o] · x[b, oh·sH - padTop + kh, ow·sW - padLeft + kw, c] for
// kernel element e = (kh·kW + kw)·outC + o (K = kH·kW·outC), zero where the window falls in the padding.
@compute @workgroup_size(WG)
fn filterPartial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = flatIndex(gid, nwg);
  if (id >= g.n) { return; }
  let outC = g.inC * g.mult;
  let kernelSize = g.kH * g.kW * outC;
  let k = idiv(i32(id), kernelSize);
  let e = i32(id) - k * kernelSize;
  let t = idiv(e, outC);
  let oc = e - t * outC;
  let c = idiv(oc, g.mult);
  let kh = idiv(t, g.kW);
  let kw = t - kh * g.kW;
  let positions = g.batch * g.outH * g.outW;
  let p0 = k * i32(g.chunk);
  let p1 = min(p0 + i32(g.chunk), positions);
  var s = 0.0;
  for (var p = p0; p < p1; p++) {
    let q = idiv(p, g.outW);
    let ow = p - q * g.outW;
    let bb = idiv(q, g.outH);
    let oh = q - bb * g.outH;
    let ih = oh * g.strideH - g.padTop + kh;
    let iw = ow * g.strideW - g.padLeft + kw;
    if (ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW) {
      s += b[p * outC + oc] * a[((bb * g.inH + ih) * g.inW + iw) * g.inC + c];
    }
  }
  dst[id] = s;
}
