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
