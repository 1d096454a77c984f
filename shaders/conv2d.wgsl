// 2-D convolution, NHWC activations and Keras [kH, kW, inC, outC] filters: forward (bias and relu fused),
// backward-input (a gather: the transposed convolution, no atomics) and backward-filter (a fixed-order
// reduction over batch and positions). CPU references: src/reference/conv2d.ts.
//
// Fast variants (`forward`, `backwardInput`, `backwardFilter`) are barrier-free and register-blocked, built
// for software adapters (llvmpipe runs each invocation as one SIMD lane, and barriers and shared memory are
// slow there): each invocation computes PX "rows" (output pixels; input pixels for backwardInput; filter rows
// (kh, kw, ci) for backwardFilter) by 4*CV channels, held in PX*CV vec4 accumulators. The channel block comes
// from workgroup_id.y, so every weight (or dy) load in the inner loop has the same address in all lanes of a
// workgroup; only one operand per row is gathered per lane. The PX rows of one invocation are WG apart, so
// neighbouring lanes take neighbouring rows. Tile shape: override constants WG, PX (<= 16), CV (<= 4), chosen
// per adapter in src/gpu/tuning.ts. Tiles past the 65535-per-dimension limit fold into workgroup_id.z
// (forward, backwardInput; backwardFilter uses z for its chunks).
//
// llvmpipe silently ends any loop after 65535 iterations (nested loops it did not unroll count too), so long
// reductions are split (src/kernels/conv2d.ts, conv2dStepsPerPass): forward and backwardInput sum a range
// [k0, k1) of channels per pass, later passes adding to `out`; backwardFilter sums a chunk of positions per
// workgroup_id.z into a partial filter and reducePartials adds the partials in chunk order.
//
// `forwardNaive` is the simplest correct kernel (one invocation per output value, llm.c dev/cuda style):
// kept as the documented baseline the fast one is tested and timed against.
//
// Summation order is fixed by the loops and the pass/chunk split (which depends only on the shapes and the
// tuning): results are bit-identical from run to run.

override WG: u32 = 64u;
override PX: u32 = 4u; // <= 16
override CV: u32 = 2u; // <= 4

struct Geometry {
  batch: i32, inH: i32, inW: i32, inC: i32,
  outH: i32, outW: i32, outC: i32, kH: i32,
  kW: i32, strideH: i32, strideW: i32, padTop: i32,
  padLeft: i32, relu: u32, hasBias: u32, rows: u32, // rows: what the x/z grid covers (pixels or filter rows)
  k0: i32, k1: i32,   // forward: input channels [k0, k1) this pass sums; backwardInput: output channels
  accumulate: u32,    // 1: add this pass's sums to out (a later pass of a split reduction)
  chunk: i32,         // backwardFilter: positions per chunk (chunk index = workgroup_id.z); reducePartials: chunks
}

@group(0) @binding(0) var<uniform> g: Geometry;
@group(0) @binding(1) var<storage, read> a: array<f32>;   // forward, backwardFilter: x;  backwardInput: dy
@group(0) @binding(2) var<storage, read> b: array<f32>;   // forward, backwardInput: w;   backwardFilter: dy
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// idiv(n, d): exact division without an integer divide, from shaders/indexing.wgsl (prepended by src/shaders.ts).

// Row index of slot p of this invocation (may be >= g.rows: the caller masks it).
fn rowOf(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, p: u32) -> u32 {
  let tile = wid.x + wid.z * nwg.x;
  return tile * WG * PX + p * WG + lid;
}

// ---------------------------------------------------------------- forward
// y[b, oh, ow, co] = act(bias[co] + sum_{kh, kw, ci} x[b, oh*sH + kh - padTop, ow*sW + kw - padLeft, ci] * w[kh, kw, ci, co])
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let co0 = i32(wid.y * 4u * CV);
  var acc: array<vec4<f32>, 64>;
  var ih0: array<i32, 16>;
  var iw0: array<i32, 16>;
  var xb: array<i32, 16>;
  var live: array<bool, 16>;
  for (var p = 0u; p < PX; p++) {
    let r = rowOf(wid, nwg, lid.x, p);
    live[p] = r < g.rows;
    let pos = i32(min(r, g.rows - 1u));
    let ow = pos % g.outW;
    let t = pos / g.outW;
    let oh = t % g.outH;
    let bb = t / g.outH;
    ih0[p] = oh * g.strideH - g.padTop;
    iw0[p] = ow * g.strideW - g.padLeft;
    xb[p] = bb * g.inH * g.inW * g.inC;
    for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); }
  }
  // Channels past outC in a partial last block read a neighbour's weight (clamped inside w); never stored.
  let lastW = g.kH * g.kW * g.inC * g.outC - 1;
  var xo: array<i32, 16>;
  var ok: array<bool, 16>;
  for (var kh = 0; kh < g.kH; kh++) {
    for (var kw = 0; kw < g.kW; kw++) {
      for (var p = 0u; p < PX; p++) {
        let ih = ih0[p] + kh;
        let iw = iw0[p] + kw;
        ok[p] = ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW;
        xo[p] = select(0, xb[p] + (ih * g.inW + iw) * g.inC, ok[p]);
      }
      var wo = ((kh * g.kW + kw) * g.inC + g.k0) * g.outC + co0;
      for (var ci = g.k0; ci < g.k1; ci++) {
        var wv: array<vec4<f32>, 4>;
        for (var j = 0u; j < CV; j++) {
          let o = wo + i32(j) * 4;
          wv[j] = vec4<f32>(b[min(o, lastW)], b[min(o + 1, lastW)], b[min(o + 2, lastW)], b[min(o + 3, lastW)]);
        }
        for (var p = 0u; p < PX; p++) {
          let xv = select(0.0, a[xo[p] + ci], ok[p]);
          for (var j = 0u; j < CV; j++) { acc[p * CV + j] = fma(vec4<f32>(xv), wv[j], acc[p * CV + j]); }
        }
        wo += g.outC;
      }
    }
  }
  for (var p = 0u; p < PX; p++) {
    if (!live[p]) { continue; }
    let base = i32(rowOf(wid, nwg, lid.x, p)) * g.outC;
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let co = co0 + i32(j) * 4 + c;
        if (co < g.outC) {
          var v = acc[p * CV + j][c];
          if (g.accumulate == 1u) { v += out[base + co]; }
          if (g.hasBias == 1u) { v += bias[co]; }
          if (g.relu == 1u) { v = max(v, 0.0); }
          out[base + co] = v;
        }
      }
    }
  }
}

// forward4: `forward` for inC and outC multiples of 4 (and channel passes starting at multiples of 4): x and w are
// read as vec4s through a4 / b4 (the same bindings as a / b, typed array<vec4<f32>>; each entry point uses one
// of the two). Four input channels per step: PX x loads and 4*CV w loads of a vec4 each, instead of 4*PX + 16*CV
// scalar loads. On llvmpipe every storage load is a per-lane loop whose cost hardly depends on its width, so this
// roughly halves the load work, which is what bounds these kernels there.
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn forward4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let co0 = i32(wid.y * 4u * CV);
  var acc: array<vec4<f32>, 64>;
  var ih0: array<i32, 16>;
  var iw0: array<i32, 16>;
  var xb: array<i32, 16>;
  var live: array<bool, 16>;
  for (var p = 0u; p < PX; p++) {
    let r = rowOf(wid, nwg, lid.x, p);
    live[p] = r < g.rows;
    let pos = i32(min(r, g.rows - 1u));
    let ow = pos % g.outW;
    let t = pos / g.outW;
    let oh = t % g.outH;
    let bb = t / g.outH;
    ih0[p] = oh * g.strideH - g.padTop;
    iw0[p] = ow * g.strideW - g.padLeft;
    xb[p] = bb * g.inH * g.inW * g.inC;
    for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); }
  }
  // In vec4 units. Channel blocks past outC (a partial last block) read a clamped neighbour; never stored.
  let lastW = (g.kH * g.kW * g.inC * g.outC) / 4 - 1;
  let outC4 = g.outC / 4;
  var xo: array<i32, 16>;
  var ok: array<bool, 16>;
  for (var kh = 0; kh < g.kH; kh++) {
    for (var kw = 0; kw < g.kW; kw++) {
      for (var p = 0u; p < PX; p++) {
        let ih = ih0[p] + kh;
        let iw = iw0[p] + kw;
        ok[p] = ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW;
        xo[p] = select(0, (xb[p] + (ih * g.inW + iw) * g.inC) / 4, ok[p]);
      }
      var wo = (((kh * g.kW + kw) * g.inC + g.k0) * g.outC + co0) / 4;
      for (var ci = g.k0; ci < g.k1; ci += 4) {
        // wm[j]'s column d: channels co0 + 4j .. +3 of input channel ci + d, so wm[j] * x adds all four inputs.
        var wm: array<mat4x4<f32>, 4>;
        for (var j = 0u; j < CV; j++) {
          let o = wo + i32(j);
          wm[j] = mat4x4<f32>(b4[min(o, lastW)], b4[min(o + outC4, lastW)], b4[min(o + 2 * outC4, lastW)], b4[min(o + 3 * outC4, lastW)]);
        }
        let c4 = ci / 4;
        for (var p = 0u; p < PX; p++) {
          let xv = select(vec4<f32>(0.0), a4[xo[p] + c4], ok[p]);
          for (var j = 0u; j < CV; j++) { acc[p * CV + j] += wm[j] * xv; }
        }
        wo += outC4 * 4;
      }
    }
  }
  for (var p = 0u; p < PX; p++) {
    if (!live[p]) { continue; }
    let base = i32(rowOf(wid, nwg, lid.x, p)) * g.outC;
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let co = co0 + i32(j) * 4 + c;
        if (co < g.outC) {
          var v = acc[p * CV + j][c];
          if (g.accumulate == 1u) { v += out[base + co]; }
          if (g.hasBias == 1u) { v += bias[co]; }
          if (g.relu == 1u) { v = max(v, 0.0); }
          out[base + co] = v;
        }
      }
    }
  }
}

// The baseline: one invocation per output value, scattered loads, nothing reused. Grid: 1-D over all outputs.
@compute @workgroup_size(WG)
fn forwardNaive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= g.rows) { return; }
  let i = i32(idx);
  let co = i % g.outC;
  let pos = i / g.outC;
  let ow = pos % g.outW;
  let oh = (pos / g.outW) % g.outH;
  let bb = pos / (g.outW * g.outH);
  var s = 0.0;
  if (g.hasBias == 1u) { s = bias[co]; }
  for (var kh = 0; kh < g.kH; kh++) {
    let ih = oh * g.strideH + kh - g.padTop;
    if (ih < 0 || ih >= g.inH) { continue; }
    for (var kw = 0; kw < g.kW; kw++) {
      let iw = ow * g.strideW + kw - g.padLeft;
      if (iw < 0 || iw >= g.inW) { continue; }
      for (var ci = 0; ci < g.inC; ci++) {
        s += a[((bb * g.inH + ih) * g.inW + iw) * g.inC + ci] * b[((kh * g.kW + kw) * g.inC + ci) * g.outC + co];
      }
    }
  }
  if (g.relu == 1u) { s = max(s, 0.0); }
  out[idx] = s;
}

// ---------------------------------------------------------------- backward-input
// dx[b, ih, iw, ci] = sum over (kh, kw) with oh = (ih + padTop - kh) / sH, ow = (iw + padLeft - kw) / sW whole
// and in range, of sum_co dy[b, oh, ow, co] * w[kh, kw, ci, co]. Rows are input pixels; channels are ci.
@compute @workgroup_size(WG)
fn backwardInput(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let ci0 = i32(wid.y * 4u * CV);
  var acc: array<vec4<f32>, 64>;
  var hh: array<i32, 16>;
  var ww: array<i32, 16>;
  var db: array<i32, 16>;
  var live: array<bool, 16>;
  for (var p = 0u; p < PX; p++) {
    let r = rowOf(wid, nwg, lid.x, p);
    live[p] = r < g.rows;
    let pos = i32(min(r, g.rows - 1u));
    let iw = pos % g.inW;
    let t = pos / g.inW;
    let ih = t % g.inH;
    let bb = t / g.inH;
    hh[p] = ih + g.padTop;
    ww[p] = iw + g.padLeft;
    db[p] = bb * g.outH * g.outW * g.outC;
    for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); }
  }
  // Weight rows of the CV*4 input channels, clamped so a partial last block stays inside w (those lanes are
  // never stored).
  let lastRow = g.kH * g.kW * g.inC - 1;
  var dyo: array<i32, 16>;
  var ok: array<bool, 16>;
  for (var kh = 0; kh < g.kH; kh++) {
    for (var kw = 0; kw < g.kW; kw++) {
      for (var p = 0u; p < PX; p++) {
        let nh = hh[p] - kh;
        let nw = ww[p] - kw;
        let oh = idiv(max(nh, 0), g.strideH);
        let ow = idiv(max(nw, 0), g.strideW);
        ok[p] = nh >= 0 && nw >= 0 && oh * g.strideH == nh && ow * g.strideW == nw && oh < g.outH && ow < g.outW;
        dyo[p] = select(0, db[p] + (oh * g.outW + ow) * g.outC, ok[p]);
      }
      let wrow = (kh * g.kW + kw) * g.inC + ci0;
      for (var co = g.k0; co < g.k1; co++) {
        var wv: array<vec4<f32>, 4>;
        for (var j = 0u; j < CV; j++) {
          let r0 = wrow + i32(j) * 4;
          wv[j] = vec4<f32>(b[min(r0, lastRow) * g.outC + co], b[min(r0 + 1, lastRow) * g.outC + co],
                            b[min(r0 + 2, lastRow) * g.outC + co], b[min(r0 + 3, lastRow) * g.outC + co]);
        }
        for (var p = 0u; p < PX; p++) {
          let dv = select(0.0, a[dyo[p] + co], ok[p]);
          for (var j = 0u; j < CV; j++) { acc[p * CV + j] = fma(vec4<f32>(dv), wv[j], acc[p * CV + j]); }
        }
      }
    }
  }
  for (var p = 0u; p < PX; p++) {
    if (!live[p]) { continue; }
    let base = i32(rowOf(wid, nwg, lid.x, p)) * g.inC;
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let ci = ci0 + i32(j) * 4 + c;
        if (ci < g.inC) { out[base + ci] = acc[p * CV + j][c] + select(0.0, out[base + ci], g.accumulate == 1u); }
      }
    }
  }
}

// ---------------------------------------------------------------- backward-filter
// dw[kh, kw, ci, co] = sum_b sum_oh sum_ow x[b, oh*sH + kh - padTop, ow*sW + kw - padLeft, ci] * dy[b, oh, ow, co]
// Rows are the kH*kW*inC filter rows (kh, kw, ci); channels are co. The loop over (b, oh, ow) is the same in
// every lane, so the dy loads are shared; the sum runs in that fixed order.
// backwardInput4: backwardInput for inC and outC multiples of 4 (passes starting at multiples of 4). Four output
// channels per step: dy loads as one vec4 per pixel and each of the 4*CV weight rows as a vec4 over those output
// channels (4*CV + PX vec4 loads instead of 16*CV + 4*PX scalar ones); block j gains dy · W_j, where W_j's column
// c is weight row ci0 + 4j + c.
@compute @workgroup_size(WG)
fn backwardInput4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let ci0 = i32(wid.y * 4u * CV);
  var acc: array<vec4<f32>, 64>;
  var hh: array<i32, 16>;
  var ww: array<i32, 16>;
  var db: array<i32, 16>;
  var live: array<bool, 16>;
  for (var p = 0u; p < PX; p++) {
    let r = rowOf(wid, nwg, lid.x, p);
    live[p] = r < g.rows;
    let pos = i32(min(r, g.rows - 1u));
    let iw = pos % g.inW;
    let t = pos / g.inW;
    let ih = t % g.inH;
    let bb = t / g.inH;
    hh[p] = ih + g.padTop;
    ww[p] = iw + g.padLeft;
    db[p] = bb * g.outH * g.outW * g.outC;
    for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); }
  }
  let lastRow = g.kH * g.kW * g.inC - 1;
  let outC4 = g.outC / 4;
  var dyo: array<i32, 16>;
  var ok: array<bool, 16>;
  for (var kh = 0; kh < g.kH; kh++) {
    for (var kw = 0; kw < g.kW; kw++) {
      for (var p = 0u; p < PX; p++) {
        let nh = hh[p] - kh;
        let nw = ww[p] - kw;
        let oh = idiv(max(nh, 0), g.strideH);
        let ow = idiv(max(nw, 0), g.strideW);
        ok[p] = nh >= 0 && nw >= 0 && oh * g.strideH == nh && ow * g.strideW == nw && oh < g.outH && ow < g.outW;
        dyo[p] = select(0, (db[p] + (oh * g.outW + ow) * g.outC) / 4, ok[p]);
      }
      let wrow = (kh * g.kW + kw) * g.inC + ci0;
      for (var co = g.k0; co < g.k1; co += 4) {
        let c4 = co / 4;
        var wm: array<mat4x4<f32>, 4>;
        for (var j = 0u; j < CV; j++) {
          let r0 = wrow + i32(j) * 4;
          wm[j] = mat4x4<f32>(b4[min(r0, lastRow) * outC4 + c4], b4[min(r0 + 1, lastRow) * outC4 + c4],
                              b4[min(r0 + 2, lastRow) * outC4 + c4], b4[min(r0 + 3, lastRow) * outC4 + c4]);
        }
        for (var p = 0u; p < PX; p++) {
          let dv = select(vec4<f32>(0.0), a4[dyo[p] + c4], ok[p]);
          for (var j = 0u; j < CV; j++) { acc[p * CV + j] += dv * wm[j]; }
        }
      }
    }
  }
  for (var p = 0u; p < PX; p++) {
    if (!live[p]) { continue; }
    let base = i32(rowOf(wid, nwg, lid.x, p)) * g.inC;
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let ci = ci0 + i32(j) * 4 + c;
        if (ci < g.inC) { out[base + ci] = acc[p * CV + j][c] + select(0.0, out[base + ci], g.accumulate == 1u); }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn backwardFilter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let co0 = i32(wid.y * 4u * CV);
  var acc: array<vec4<f32>, 64>;
  var dh: array<i32, 16>;
  var dw: array<i32, 16>;
  var xc: array<i32, 16>;
  var live: array<bool, 16>;
  for (var p = 0u; p < PX; p++) {
    let r = wid.x * WG * PX + p * WG + lid.x; // tiles are never folded here: z is the chunk
    live[p] = r < g.rows;
    let row = i32(min(r, g.rows - 1u));
    let ci = row % g.inC;
    let t = row / g.inC;
    dw[p] = t % g.kW - g.padLeft;
    dh[p] = t / g.kW - g.padTop;
    xc[p] = ci;
    for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); }
  }
  // Clamp the dy channel reads so a partial last block stays inside dy (those lanes are never stored).
  let lastCo = g.outC - 1;
  // This chunk of positions (split so no invocation loops past llvmpipe's 65535-iteration cap).
  let n0 = i32(wid.z) * g.chunk;
  let n1 = min(n0 + g.chunk, g.batch * g.outH * g.outW);
  var ow = n0 % g.outW;
  var oh = (n0 / g.outW) % g.outH;
  var bb = n0 / (g.outW * g.outH);
  var dyo = n0 * g.outC;
  for (var n = n0; n < n1; n++) {
    let xbb = bb * g.inH * g.inW * g.inC;
    var dv: array<vec4<f32>, 4>;
    for (var j = 0u; j < CV; j++) {
      let o = co0 + i32(j) * 4;
      dv[j] = vec4<f32>(b[dyo + min(o, lastCo)], b[dyo + min(o + 1, lastCo)], b[dyo + min(o + 2, lastCo)], b[dyo + min(o + 3, lastCo)]);
    }
    for (var p = 0u; p < PX; p++) {
      let ih = oh * g.strideH + dh[p];
      let iw = ow * g.strideW + dw[p];
      let inside = ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW;
      let xv = select(0.0, a[select(0, xbb + (ih * g.inW + iw) * g.inC + xc[p], inside)], inside);
      for (var j = 0u; j < CV; j++) { acc[p * CV + j] = fma(vec4<f32>(xv), dv[j], acc[p * CV + j]); }
    }
    dyo += g.outC;
    ow++;
    if (ow == g.outW) { ow = 0; oh++; if (oh == g.outH) { oh = 0; bb++; } }
  }
  for (var p = 0u; p < PX; p++) {
    if (!live[p]) { continue; }
    let base = (i32(wid.z * g.rows + wid.x * WG * PX + p * WG + lid.x)) * g.outC; // chunk z's partial
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let co = co0 + i32(j) * 4 + c;
        if (co < g.outC) { out[base + co] = acc[p * CV + j][c]; }
      }
    }
  }
}

// backwardFilter when inC is a multiple of PX: each invocation takes PX consecutive filter rows, i.e. PX
// consecutive input channels at one (kh, kw), so the bounds check and the x address are computed once per
// position instead of once per row (the per-row integer work cost as much as the FMAs). Same fixed order.
@compute @workgroup_size(WG)
fn backwardFilterAligned(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  let co0 = i32(wid.y * 4u * CV);
  let v = wid.x * WG + lid.x; // tiles are never folded here: z is the chunk
  let live = v * PX < g.rows;
  let row0 = i32(min(v * PX, g.rows - PX));
  let ci0 = row0 % g.inC;
  let t = row0 / g.inC;
  let dw0 = t % g.kW - g.padLeft;
  let dh0 = t / g.kW - g.padTop;
  var acc: array<vec4<f32>, 64>;
  for (var p = 0u; p < PX; p++) { for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); } }
  let lastCo = g.outC - 1;
  // Chunk z covers whole output rows [r0, r1) of the B*outH rows (g.chunk rows each).
  let r0 = i32(wid.z) * g.chunk;
  let r1 = min(r0 + g.chunk, g.batch * g.outH);
  for (var rr = r0; rr < r1; rr++) {
    let bb = rr / g.outH;
    let ih = (rr - bb * g.outH) * g.strideH + dh0;
    let rowOk = ih >= 0 && ih < g.inH;
    let xrow = (bb * g.inH + ih) * g.inW * g.inC + ci0;
    var dyo = rr * g.outW * g.outC;
    for (var ow = 0; ow < g.outW; ow++) {
      var dv: array<vec4<f32>, 4>;
      for (var j = 0u; j < CV; j++) {
        let o = co0 + i32(j) * 4;
        dv[j] = vec4<f32>(b[dyo + min(o, lastCo)], b[dyo + min(o + 1, lastCo)], b[dyo + min(o + 2, lastCo)], b[dyo + min(o + 3, lastCo)]);
      }
      let iw = ow * g.strideW + dw0;
      let inside = rowOk && iw >= 0 && iw < g.inW;
      let xo = select(0, xrow + iw * g.inC, inside);
      for (var p = 0u; p < PX; p++) {
        let xv = select(0.0, a[xo + i32(p)], inside);
        for (var j = 0u; j < CV; j++) { acc[p * CV + j] = fma(vec4<f32>(xv), dv[j], acc[p * CV + j]); }
      }
      dyo += g.outC;
    }
  }
  if (!live) { return; }
  for (var p = 0u; p < PX; p++) {
    let base = (i32(wid.z * g.rows) + row0 + i32(p)) * g.outC; // chunk z's partial
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let co = co0 + i32(j) * 4 + c;
        if (co < g.outC) { out[base + co] = acc[p * CV + j][c]; }
      }
    }
  }
}

// ---------------------------------------------------------------- split reductions
// out[i] = sum over chunks c (in order) of a[c * rows + i], for i < rows (rows = g.rows, chunks = g.chunk).
// Sums backwardFilter's per-chunk partial filters (and biasPartial's partial sums) in a fixed order.
// backwardFilterAligned4: backwardFilterAligned for PX and outC multiples of 4 (so inC, a multiple of PX, is one
// too): the PX consecutive x channels load as PX/4 vec4s and the dy channels as CV vec4s (a4 / b4), instead of
// PX + 4*CV scalar loads per position. Same loops and summation order as backwardFilterAligned.
@compute @workgroup_size(WG)
fn backwardFilterAligned4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
  let co0 = i32(wid.y * 4u * CV);
  let v = wid.x * WG + lid.x; // tiles are never folded here: z is the chunk
  let live = v * PX < g.rows;
  let row0 = i32(min(v * PX, g.rows - PX));
  let ci0 = row0 % g.inC;
  let t = row0 / g.inC;
  let dw0 = t % g.kW - g.padLeft;
  let dh0 = t / g.kW - g.padTop;
  var acc: array<vec4<f32>, 64>;
  for (var p = 0u; p < PX; p++) { for (var j = 0u; j < CV; j++) { acc[p * CV + j] = vec4<f32>(0.0); } }
  // In vec4 units; a partial last channel block reads a clamped neighbour (never stored).
  let lastCo4 = g.outC / 4 - 1;
  let outC4 = g.outC / 4;
  let co04 = co0 / 4;
  let r0 = i32(wid.z) * g.chunk;
  let r1 = min(r0 + g.chunk, g.batch * g.outH);
  for (var rr = r0; rr < r1; rr++) {
    let bb = rr / g.outH;
    let ih = (rr - bb * g.outH) * g.strideH + dh0;
    let rowOk = ih >= 0 && ih < g.inH;
    let xrow = ((bb * g.inH + ih) * g.inW * g.inC + ci0) / 4;
    let inC4 = g.inC / 4;
    var dyo = rr * g.outW * outC4;
    for (var ow = 0; ow < g.outW; ow++) {
      var dv: array<vec4<f32>, 4>;
      for (var j = 0u; j < CV; j++) { dv[j] = b4[dyo + min(co04 + i32(j), lastCo4)]; }
      let iw = ow * g.strideW + dw0;
      let inside = rowOk && iw >= 0 && iw < g.inW;
      let xo = select(0, xrow + iw * inC4, inside);
      for (var q = 0u; q < PX / 4u; q++) {
        let xv = select(vec4<f32>(0.0), a4[xo + i32(q)], inside);
        for (var j = 0u; j < CV; j++) {
          acc[(4u * q) * CV + j] = fma(vec4<f32>(xv.x), dv[j], acc[(4u * q) * CV + j]);
          acc[(4u * q + 1u) * CV + j] = fma(vec4<f32>(xv.y), dv[j], acc[(4u * q + 1u) * CV + j]);
          acc[(4u * q + 2u) * CV + j] = fma(vec4<f32>(xv.z), dv[j], acc[(4u * q + 2u) * CV + j]);
          acc[(4u * q + 3u) * CV + j] = fma(vec4<f32>(xv.w), dv[j], acc[(4u * q + 3u) * CV + j]);
        }
      }
      dyo += outC4;
    }
  }
  if (!live) { return; }
  for (var p = 0u; p < PX; p++) {
    let base = (i32(wid.z * g.rows) + row0 + i32(p)) * g.outC; // chunk z's partial
    for (var j = 0u; j < CV; j++) {
      for (var c = 0; c < 4; c++) {
        let co = co0 + i32(j) * 4 + c;
        if (co < g.outC) { out[base + co] = acc[p * CV + j][c]; }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn reducePartials(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= g.rows) { return; }
  var s = 0.0;
  for (var c = 0u; c < u32(g.chunk); c++) { s += a[c * g.rows + i]; }
  out[i] = s;
}

// The bias gradient, split like backwardFilter: out[c * outC + co] = sum of dy[r, co] over rows r of chunk c
// (g.k0 rows per chunk, g.rows rows in all); invocation i = c * outC + co. One loop of <= k0 iterations.
@compute @workgroup_size(WG)
fn biasPartial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = i32(gid.x + gid.y * nwg.x * WG);
  let chunks = (i32(g.rows) + g.k0 - 1) / g.k0;
  if (i >= chunks * g.outC) { return; }
  let co = i % g.outC;
  let c = i / g.outC;
  let r1 = min((c + 1) * g.k0, i32(g.rows));
  var s = 0.0;
  for (var r = c * g.k0; r < r1; r++) { s += a[r * g.outC + co]; }
  out[i] = s;
}

// ================================================================ implicit GEMM (the GPU class)
// Convolution as C[M, N] = A[M, K] · B[K, N] without materialising A: the tile loaders gather A's elements from
// the NHWC tensors (im2col on the fly). Built for GPUs (src/kernels/conv2d.ts picks these for adapterClass
// 'gpu'): a workgroup of GX x GY invocations computes a (4*GY) x (4*GX) tile of C, each invocation a 4x4 block
// (rows 4*ty.., columns 4*tx..) held in four vec4 accumulators. K advances in tiles of BK = 16 staged in
// workgroup memory as vec4s (As[k]: four consecutive rows, Bs[k]: four consecutive columns), so the inner step is
// two 16-byte workgroup loads and 16 FMAs. Each row of As / Bs is padded by one vec4 so the loaders' strided
// stores do not collide in one bank. Every invocation runs the same K loop, so the sum order is fixed.
//   gemmForward:        M = B*outH*outW (output pixels), N = outC, K = kH*kW*inC   (k = (kh, kw, ci), ci fastest)
//   gemmBackwardInput:  M = B*inH*inW (input pixels),    N = inC,  K = kH*kW*outC  (k = (kh, kw, co), co fastest)
//   gemmBackwardFilter: M = kH*kW*inC (filter rows),     N = outC, K = B*outH*outW (k = (b, oh, ow)), split-K:
//                       workgroup_id.z is the slice (g.chunk K elements each, starting at slice g.k0), written
//                       to its own partial filter; reduceGroups sums the partials in slice order.
// forward / backwardInput sum K in [g.k0, g.k1) (a pass of at most 4096: longer sums run several passes, each
// adding to out, like the register-blocked kernels). Tiles along M past the per-dimension limit fold into z.
const BK: u32 = 16u;
override GX: u32 = 16u; // invocations along N (>= 8); the tile has 4*GX columns
override GY: u32 = 16u; // invocations along M (>= 8); the tile has 4*GY rows
override A_LEN: u32 = 16u * (GY + 1u);
override B_LEN: u32 = 16u * (GX + 1u);
override VEC_B: u32 = 0u; // 1: N % 4 == 0, so a row-major B (w forward, dy backward-filter) loads as vec4s
// B (binding 2) is read through b4 only (one entry point may not use both b and b4); bAt is its scalar view.
fn bAt(i: i32) -> f32 { return b4[u32(i) >> 2u][u32(i) & 3u]; }
var<workgroup> As: array<vec4<f32>, A_LEN>; // As[k * (GY + 1) + q] = A rows 4q..4q+3 of the tile, column k
var<workgroup> Bs: array<vec4<f32>, B_LEN>; // Bs[k * (GX + 1) + q] = B columns 4q..4q+3 of the tile, row k
var<private> gacc: array<vec4<f32>, 4>;
// Per-invocation facts about the A rows it loads (fixed for the whole K loop), for the im2col gathers. A row
// past M gets rH = FAR, so every tap reads as padding.
const FAR: i32 = -1073741824;
var<private> rH: array<i32, 8>;
var<private> rW: array<i32, 8>;
var<private> rB: array<i32, 8>;

// The 4x4 block of invocation (tx, ty) gains the tile's BK-long products.
fn gemmTile(tx: u32, ty: u32) {
  for (var k = 0u; k < BK; k++) {
    let av = As[k * (GY + 1u) + ty];
    let bv = Bs[k * (GX + 1u) + tx];
    gacc[0] = fma(vec4<f32>(av.x), bv, gacc[0]);
    gacc[1] = fma(vec4<f32>(av.y), bv, gacc[1]);
    gacc[2] = fma(vec4<f32>(av.z), bv, gacc[2]);
    gacc[3] = fma(vec4<f32>(av.w), bv, gacc[3]);
  }
}

// Row-major B[k, n] = src[k * nCols + n] (w forward, dy backward-filter), rows [kt, kEnd) of K: invocation t
// loads column quad t % GX of rows t / GX + s*GY (consecutive invocations read consecutive columns).
fn loadBRowMajor(t: u32, kt: i32, kEnd: i32, n0: i32, nCols: i32) {
  let q = t % GX;
  let n = n0 + 4 * i32(q);
  for (var s = 0u; s < BK / GY; s++) {
    let k = t / GX + s * GY;
    let kk = kt + i32(k);
    var v = vec4<f32>(0.0);
    if (kk < kEnd && n < nCols) {
      let o = kk * nCols + n;
      if (VEC_B == 1u) {
        v = b4[o / 4];
      } else {
        for (var c = 0; c < 4; c++) { if (n + c < nCols) { v[c] = bAt(o + c); } }
      }
    }
    Bs[k * (GX + 1u) + q] = v;
  }
}

// The A rows of a k-fast loader (forward, backward-input): invocation t loads column t % BK of row quads
// t / BK + s * (GX*GY/BK), s < BK/GX; slot i = 4s + r is row 4 * quad + r of the tile.
fn kFastRow(t: u32, i: u32) -> u32 {
  return 4u * (t / BK + (i / 4u) * (GX * GY / BK)) + i % 4u;
}

fn storeA(t: u32, s: u32, v: vec4<f32>) {
  As[(t % BK) * (GY + 1u) + t / BK + s * (GX * GY / BK)] = v;
}

// Sums the tile of C at (m0, n0) of out (row stride nCols, base offset) with the fused epilogue.
fn gemmStore(tx: u32, ty: u32, m0: i32, n0: i32, mRows: i32, nCols: i32, base: i32, epilogue: bool) {
  for (var i = 0; i < 4; i++) {
    let m = m0 + 4 * i32(ty) + i;
    if (m >= mRows) { continue; }
    for (var c = 0; c < 4; c++) {
      let n = n0 + 4 * i32(tx) + c;
      if (n >= nCols) { continue; }
      let o = base + m * nCols + n;
      var v = gacc[i][c];
      if (epilogue) {
        if (g.accumulate == 1u) { v += out[o]; }
        if (g.hasBias == 1u) { v += bias[n]; }
        if (g.relu == 1u) { v = max(v, 0.0); }
      }
      out[o] = v;
    }
  }
}

@compute @workgroup_size(GX, GY)
fn gemmForward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.y * GX + lid.x;
  let mRows = g.batch * g.outH * g.outW;
  let n0 = i32(wid.x * 4u * GX);
  let m0 = i32((wid.y + wid.z * nwg.y) * 4u * GY);
  for (var i = 0u; i < 4u * (BK / GX); i++) {
    let m = m0 + i32(kFastRow(t, i));
    let ow = m % g.outW;
    let r = m / g.outW;
    rH[i] = select(FAR, (r % g.outH) * g.strideH - g.padTop, m < mRows);
    rW[i] = ow * g.strideW - g.padLeft;
    rB[i] = (r / g.outH) * g.inH * g.inW * g.inC;
  }
  for (var i = 0; i < 4; i++) { gacc[i] = vec4<f32>(0.0); }
  for (var kt = g.k0; kt < g.k1; kt += i32(BK)) {
    // A: column kk = (kh, kw, ci) of the output pixels' receptive fields.
    let kk = kt + i32(t % BK);
    let ci = kk % g.inC;
    let khw = kk / g.inC;
    let kw = khw % g.kW;
    let kh = select(FAR, khw / g.kW, kk < g.k1);
    for (var s = 0u; s < BK / GX; s++) {
      var v = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) {
        let ih = rH[4u * s + r] + kh;
        let iw = rW[4u * s + r] + kw;
        let ok = ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW;
        v[r] = select(0.0, a[select(0, rB[4u * s + r] + (ih * g.inW + iw) * g.inC + ci, ok)], ok);
      }
      storeA(t, s, v);
    }
    loadBRowMajor(t, kt, g.k1, n0, g.outC);
    workgroupBarrier();
    gemmTile(lid.x, lid.y);
    workgroupBarrier();
  }
  gemmStore(lid.x, lid.y, m0, n0, mRows, g.outC, 0, true);
}

@compute @workgroup_size(GX, GY)
fn gemmBackwardInput(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lid.y * GX + lid.x;
  let mRows = g.batch * g.inH * g.inW;
  let n0 = i32(wid.x * 4u * GX);
  let m0 = i32((wid.y + wid.z * nwg.y) * 4u * GY);
  for (var i = 0u; i < 4u * (BK / GX); i++) {
    let m = m0 + i32(kFastRow(t, i));
    let iw = m % g.inW;
    let r = m / g.inW;
    rH[i] = select(FAR, r % g.inH + g.padTop, m < mRows);
    rW[i] = iw + g.padLeft;
    rB[i] = (r / g.inH) * g.outH * g.outW * g.outC;
  }
  for (var i = 0; i < 4; i++) { gacc[i] = vec4<f32>(0.0); }
  for (var kt = g.k0; kt < g.k1; kt += i32(BK)) {
    // A: dy at the output pixel whose window puts tap (kh, kw) on this input pixel, channel co (zero when the
    // stride skips it or it falls outside the output).
    let kk = kt + i32(t % BK);
    let co = kk % g.outC;
    let khw = kk / g.outC;
    let kw = khw % g.kW;
    let kh = select(-FAR, khw / g.kW, kk < g.k1);
    for (var s = 0u; s < BK / GX; s++) {
      var v = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) {
        let nh = rH[4u * s + r] - kh;
        let nw = rW[4u * s + r] - kw;
        let oh = max(nh, 0) / g.strideH;
        let ow = max(nw, 0) / g.strideW;
        let ok = nh >= 0 && nw >= 0 && oh * g.strideH == nh && ow * g.strideW == nw && oh < g.outH && ow < g.outW;
        v[r] = select(0.0, a[select(0, rB[4u * s + r] + (oh * g.outW + ow) * g.outC + co, ok)], ok);
      }
      storeA(t, s, v);
    }
    // B[kk, n] = w[kh, kw, n, co]: column t % BK (consecutive invocations read consecutive co) of column quads
    // t / BK + s * (GX*GY/BK).
    for (var s = 0u; s < BK / GY; s++) {
      let q = t / BK + s * (GX * GY / BK);
      let n = n0 + 4 * i32(q);
      var v = vec4<f32>(0.0);
      if (kk < g.k1) {
        for (var c = 0; c < 4; c++) { if (n + c < g.inC) { v[c] = bAt((khw * g.inC + n + c) * g.outC + co); } }
      }
      Bs[(t % BK) * (GX + 1u) + q] = v;
    }
    workgroupBarrier();
    gemmTile(lid.x, lid.y);
    workgroupBarrier();
  }
  gemmStore(lid.x, lid.y, m0, n0, mRows, g.inC, 0, true);
}

@compute @workgroup_size(GX, GY)
fn gemmBackwardFilter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.y * GX + lid.x;
  let mRows = g.kH * g.kW * g.inC;
  let kAll = g.batch * g.outH * g.outW;
  let n0 = i32(wid.x * 4u * GX);
  let m0 = i32(wid.y * 4u * GY);
  // A rows (filter rows (kh, kw, ci)) of this invocation: row quad t % GY, the same for every K tile.
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + 4 * i32(t % GY) + i32(r);
    let khw = m / g.inC;
    rH[r] = select(FAR, khw / g.kW - g.padTop, m < mRows);
    rW[r] = khw % g.kW - g.padLeft;
    rB[r] = m % g.inC;
  }
  for (var i = 0; i < 4; i++) { gacc[i] = vec4<f32>(0.0); }
  let kStart = (g.k0 + i32(wid.z)) * g.chunk;
  let kEnd = min(kStart + g.chunk, kAll);
  for (var kt = kStart; kt < kEnd; kt += i32(BK)) {
    // A[m, kk] = x at position kk = (b, oh, ow) shifted by row m's tap: invocation t loads rows quad t % GY
    // (consecutive invocations read consecutive input channels) at columns t / GY + s*GX.
    for (var s = 0u; s < BK / GX; s++) {
      let k = t / GY + s * GX;
      let kk = kt + i32(k);
      let ow = kk % g.outW;
      let p = kk / g.outW;
      let oh = p % g.outH;
      let xb = (p / g.outH) * g.inH;
      var v = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) {
        let ih = oh * g.strideH + rH[r];
        let iw = ow * g.strideW + rW[r];
        let ok = kk < kEnd && ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW;
        v[r] = select(0.0, a[select(0, ((xb + ih) * g.inW + iw) * g.inC + rB[r], ok)], ok);
      }
      As[k * (GY + 1u) + t % GY] = v;
    }
    loadBRowMajor(t, kt, kEnd, n0, g.outC);
    workgroupBarrier();
    gemmTile(lid.x, lid.y);
    workgroupBarrier();
  }
  gemmStore(lid.x, lid.y, m0, n0, mRows, g.outC, i32(wid.z) * mRows * g.outC, false);
}

// out[j * n + i] = (out[j * n + i] when accumulating) + sum over partials c in [j*G, min((j+1)*G, chunks)), in
// order, of a[c * n + i] (n = g.rows, chunks = g.chunk, G = g.k0): one level of a fixed-order sum of partials,
// repeated while more than one group remains (src/kernels/conv2d.ts, orderedSum).
@compute @workgroup_size(WG)
fn reduceGroups(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  let n = g.rows;
  let chunks = u32(g.chunk);
  let group = u32(g.k0);
  if (idx >= n * ((chunks + group - 1u) / group)) { return; }
  let i = idx % n;
  let j = idx / n;
  let c1 = min((j + 1u) * group, chunks);
  var s = 0.0;
  for (var c = j * group; c < c1; c++) { s += a[c * n + i]; }
  if (g.accumulate == 1u) { s = out[idx] + s; }
  out[idx] = s;
}

// The bias gradient on GPUs: partial sums of dy over chunks of g.k0 rows. Workgroup (chunk, channel block of
// 32): lane (x, y) sums rows y, y + BR, ... of the chunk in channel x, then a fixed tree over the BR lanes of a
// channel in workgroup memory. out[chunk * outC + co]; chunks past the per-dimension limit fold into z.
override BR: u32 = 8u; // a power of two, 32*BR invocations
var<workgroup> colSums: array<f32, 256>;
@compute @workgroup_size(32, BR)
fn biasChunks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let co = i32(wid.y * 32u + lid.x);
  let chunk = i32(wid.x + wid.z * nwg.x);
  let r0 = chunk * g.k0;
  let r1 = min(r0 + g.k0, i32(g.rows));
  var s = 0.0;
  if (co < g.outC) {
    for (var r = r0 + i32(lid.y); r < r1; r += i32(BR)) { s += a[r * g.outC + co]; }
  }
  colSums[lid.y * 32u + lid.x] = s;
  workgroupBarrier();
  for (var h = BR / 2u; h > 0u; h /= 2u) {
    if (lid.y < h) { colSums[lid.y * 32u + lid.x] += colSums[(lid.y + h) * 32u + lid.x]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && co < g.outC && r0 < i32(g.rows)) { out[chunk * g.outC + co] = colSums[lid.x]; }
}
