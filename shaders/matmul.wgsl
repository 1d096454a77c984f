// Matrix multiply with a fused epilogue: out[m, n] = act(op(A) · op(B) + bias) (+ out when ACCUMULATE).
// op(A) is A stored [m, k], or Aᵀ of A stored [k, m] when TRANS_A; op(B) is B stored [k, n], or Bᵀ of B stored
// [n, k] when TRANS_B. Row-major throughout. CPU reference: src/reference/matmul.ts.
//
// Variants, simplest first (llm.c dev/cuda style); src/kernels/matmul.ts picks one per adapter class (src/kernels/tuning.ts):
//   naive     one output per invocation, a scalar dot product. The readable reference; slow everywhere.
//   tile4     each invocation computes a 4x4 output block from 4x4 blocks of A and B loaded as vec4 rows.
//   tile8     2x2 such blocks (8x8 outputs per invocation).
//   tile16    4x4 such blocks (16x16 outputs per invocation): the fastest on llvmpipe, where every storage load
//             costs a per-lane loop and only the FMAs per loaded value matter (16 FMAs per loaded float here, 2
//             for tile4). The blocks are named variables, not arrays: Mesa does not unroll array loops here and
//             indexes them in scratch memory, which was 2-3x slower.
//   tile32x16, tile16x32  8x4 / 4x8 blocks: 10.7 FMAs per loaded float instead of 8. On llvmpipe a divergent
//             storage load costs a branchy per-lane loop (measured ~45 ns per vec4 per 8-lane SIMD group, against
//             ~0.2 ns per vec4 FMA), so the kernels are load-bound and these run ~15-25% faster than tile16 at
//             1024^3 even though their accumulators spill. Which one wins depends on the adapter: the autotune in
//             src/kernels/autotune.ts times them per shape.
// None of the above uses workgroup memory or barriers: on the SIMD-per-lane software adapters barriers serialise
// the workgroup (a 16x16 shared-memory tile ran at 0.8 GFLOP/s there). They are the software class's set.
//
// The GPU class's set (see the gemm section below):
//   gemm      a GEMM tiled in workgroup memory: WGX x WGY invocations, 4x4 outputs each, so a (4 WGY) x (4 WGX)
//             output tile (64x64 with 16x16 invocations, 32x32 with 8x8), staged through BK-deep tiles of A and B.
//             SPLIT: workgroup z also picks a slice of p.slice depths and the raw sums go to partials [S, M, N]
//             (bound as `out`), which splitKSum adds in slice order before the epilogue (no atomics: the result
//             is the same bits on every run).
//
// Blocks as matrices. For rows i..i+3 and depths k..k+3, `At` is the mat4x4 whose column c is A(i + c, k..k+3)
// (= the math transpose of the A block); `Bt` (depths k..k+3, columns j..j+3) has column d = B(k + d, j..j+3).
// The output block's transpose is then Bt · At (column c = output row i + c), so `acc += Bt * At` is 16 vec4
// FMAs in outer-product order. A transposed operand loads the other way and uses transpose(), which costs
// nothing after scalarisation.
//
// Loads. A and B are bound as array<vec4<f32>> (the binding size rounded up to 16 bytes). When the leading
// dimension along a vec4 load is a multiple of 4 (ALIGN_A / ALIGN_B) a load is one vec4; otherwise it is two
// neighbouring vec4s funnel-shifted. Rows or columns past the edge are clamped to the last one (their results are
// never stored); depths past K in the last partial step are zeroed.

override WGX: u32 = 8u;
override WGY: u32 = 8u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ALIGN_A: bool = true;
override ALIGN_B: bool = true;
override HAS_BIAS: bool = false;
override RELU: bool = false;
override ACCUMULATE: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,         // splitKSum: the number of slices S
  slice: u32,     // gemm with SPLIT: depths per slice (a multiple of BK); unused elsewhere
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>; // bound to A (unused) when !HAS_BIAS
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// ------------------------------------------------------------------ loads

// Four consecutive floats starting at element e, from a 16-byte-aligned start when `aligned`.
fn load4(e: u32, aligned: bool, fromA: bool) -> vec4<f32> {
  let q = e >> 2u;
  var v0: vec4<f32>;
  var v1: vec4<f32>;
  if (fromA) { v0 = a[q]; } else { v0 = b[q]; }
  if (aligned) { return v0; }
  let s = e & 3u;
  if (s == 0u) { return v0; }
  if (fromA) { v1 = a[q + 1u]; } else { v1 = b[q + 1u]; }
  if (s == 1u) { return vec4<f32>(v0.yzw, v1.x); }
  if (s == 2u) { return vec4<f32>(v0.zw, v1.xy); }
  return vec4<f32>(v0.w, v1.xyz);
}

// Zeroes the components of v whose depth k0 + c is at or past K (only in the last, partial depth step).
fn maskDepth(v: vec4<f32>, k0: u32) -> vec4<f32> {
  let kk = vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u);
  return select(vec4<f32>(0.0), v, kk < vec4<u32>(p.K));
}

// One vec4 of A starting at element e; `row` is its depth index when the vec4 runs along m (TRANS_A), and the
// whole vec4 is zeroed past K. Along k (!TRANS_A) the components past K are zeroed instead.
fn loadA4(e: u32, k: u32, kRow: u32, partial: bool) -> vec4<f32> {
  let v = load4(e, ALIGN_A, true);
  if (!partial) { return v; }
  if (TRANS_A) { return select(vec4<f32>(0.0), v, kRow < p.K); }
  return maskDepth(v, k);
}

fn loadB4(e: u32, k: u32, kRow: u32, partial: bool) -> vec4<f32> {
  let v = load4(e, ALIGN_B, false);
  if (!partial) { return v; }
  if (TRANS_B) { return maskDepth(v, k); }
  return select(vec4<f32>(0.0), v, kRow < p.K);
}

// At for rows i..i+3, depths k..k+3: column c = op(A)(i + c, k..k+3). Written out, not looped: see the top.
fn loadAt(i: u32, k: u32, partial: bool) -> mat4x4<f32> {
  let M = p.M;
  let K = p.K;
  if (!TRANS_A) {
    let m1 = M - 1u;
    return mat4x4<f32>(
      loadA4(min(i, m1) * K + k, k, k, partial),
      loadA4(min(i + 1u, m1) * K + k, k, k, partial),
      loadA4(min(i + 2u, m1) * K + k, k, k, partial),
      loadA4(min(i + 3u, m1) * K + k, k, k, partial));
  }
  // Stored [k, m]: a vec4 runs along m, so load depth rows and transpose.
  let ii = min(i, M - 1u);
  let k1 = K - 1u;
  return transpose(mat4x4<f32>(
    loadA4(min(k, k1) * M + ii, k, k, partial),
    loadA4(min(k + 1u, k1) * M + ii, k, k + 1u, partial),
    loadA4(min(k + 2u, k1) * M + ii, k, k + 2u, partial),
    loadA4(min(k + 3u, k1) * M + ii, k, k + 3u, partial)));
}

// Bt for depths k..k+3, columns j..j+3: column d = op(B)(k + d, j..j+3).
fn loadBt(k: u32, j: u32, partial: bool) -> mat4x4<f32> {
  let N = p.N;
  let K = p.K;
  if (!TRANS_B) {
    let jj = min(j, N - 1u);
    let k1 = K - 1u;
    return mat4x4<f32>(
      loadB4(min(k, k1) * N + jj, k, k, partial),
      loadB4(min(k + 1u, k1) * N + jj, k, k + 1u, partial),
      loadB4(min(k + 2u, k1) * N + jj, k, k + 2u, partial),
      loadB4(min(k + 3u, k1) * N + jj, k, k + 3u, partial));
  }
  // Stored [n, k]: a vec4 runs along k, so load column rows and transpose.
  let n1 = N - 1u;
  return transpose(mat4x4<f32>(
    loadB4(min(j, n1) * K + k, k, k, partial),
    loadB4(min(j + 1u, n1) * K + k, k, k, partial),
    loadB4(min(j + 2u, n1) * K + k, k, k, partial),
    loadB4(min(j + 3u, n1) * K + k, k, k, partial)));
}

// ------------------------------------------------------------------ epilogue

// Stores the 4x4 block whose transpose is `acc` at rows i..i+3, columns j..j+3 (skipping what lies past M, N).
fn storeBlock(acc: mat4x4<f32>, i: u32, j: u32) {
  let M = p.M;
  let N = p.N;
  var bv = vec4<f32>(0.0);
  if (HAS_BIAS) {
    for (var c = 0u; c < 4u; c++) { bv[c] = bias[min(j + c, N - 1u)]; }
  }
  for (var r = 0u; r < 4u; r++) {
    if (i + r >= M) { return; }
    var v = acc[r] + bv;
    if (RELU) { v = max(v, vec4<f32>(0.0)); }
    let base = (i + r) * N + j;
    for (var c = 0u; c < 4u; c++) {
      if (j + c < N) {
        var x = v[c];
        if (ACCUMULATE) { x += out[base + c]; }
        out[base + c] = x;
      }
    }
  }
}

// The block this invocation owns: (row tile, column tile), or none past the edge. Row tiles fold into z when
// there are more row workgroups than the adapter allows per dimension (see src/kernels/matmul.ts).
fn tileOrigin(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>, tm: u32, tn: u32) -> vec2<u32> {
  let rowTile = (wid.y + wid.z * nwg.y) * WGY + lid.y;
  let colTile = wid.x * WGX + lid.x;
  return vec2<u32>(rowTile * tm, colTile * tn);
}

// ------------------------------------------------------------------ naive: one output per invocation

fn elemA(i: u32, k: u32) -> f32 {
  var e: u32;
  if (TRANS_A) { e = k * p.M + i; } else { e = i * p.K + k; }
  return a[e >> 2u][e & 3u];
}

fn elemB(k: u32, j: u32) -> f32 {
  var e: u32;
  if (TRANS_B) { e = j * p.K + k; } else { e = k * p.N + j; }
  return b[e >> 2u][e & 3u];
}

@compute @workgroup_size(WGX, WGY)
fn naive(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = tileOrigin(wid, lid, nwg, 1u, 1u);
  let i = o.x;
  let j = o.y;
  if (i >= p.M || j >= p.N) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) { s += elemA(i, k) * elemB(k, j); }
  if (HAS_BIAS) { s += bias[j]; }
  if (RELU) { s = max(s, 0.0); }
  let e = i * p.N + j;
  if (ACCUMULATE) { s += out[e]; }
  out[e] = s;
}

// ------------------------------------------------------------------ tile4: a 4x4 block per invocation

@compute @workgroup_size(WGX, WGY)
fn tile4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = tileOrigin(wid, lid, nwg, 4u, 4u);
  let i = o.x;
  let j = o.y;
  if (i >= p.M || j >= p.N) { return; }
  var c00 = mat4x4<f32>();
  let kFull = p.K & ~3u;
  for (var k = 0u; k < kFull; k += 4u) {
    c00 += loadBt(k, j, false) * loadAt(i, k, false);
  }
  if (kFull < p.K) {
    c00 += loadBt(kFull, j, true) * loadAt(i, kFull, true);
  }
  storeBlock(c00, i, j);
}

// ------------------------------------------------------------------ tile8: 2x2 blocks per invocation

@compute @workgroup_size(WGX, WGY)
fn tile8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = tileOrigin(wid, lid, nwg, 8u, 8u);
  let i = o.x;
  let j = o.y;
  if (i >= p.M || j >= p.N) { return; }
  var c00 = mat4x4<f32>(); var c01 = mat4x4<f32>();
  var c10 = mat4x4<f32>(); var c11 = mat4x4<f32>();
  let kFull = p.K & ~3u;
  // The last trip (partial = true) covers the depths past the last multiple of 4, zero-padded.
  for (var k = 0u; k < p.K; k += 4u) {
    let partial = k == kFull;
    let a0 = loadAt(i, k, partial); let a1 = loadAt(i + 4u, k, partial);
    let b0 = loadBt(k, j, partial); let b1 = loadBt(k, j + 4u, partial);
    c00 += b0 * a0; c01 += b1 * a0;
    c10 += b0 * a1; c11 += b1 * a1;
  }
  storeBlock(c00, i, j); storeBlock(c01, i, j + 4u);
  storeBlock(c10, i + 4u, j); storeBlock(c11, i + 4u, j + 4u);
}

// ------------------------------------------------------------------ tile16: 4x4 blocks per invocation

@compute @workgroup_size(WGX, WGY)
fn tile16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = tileOrigin(wid, lid, nwg, 16u, 16u);
  let i = o.x;
  let j = o.y;
  if (i >= p.M || j >= p.N) { return; }
  var c00 = mat4x4<f32>(); var c01 = mat4x4<f32>(); var c02 = mat4x4<f32>(); var c03 = mat4x4<f32>();
  var c10 = mat4x4<f32>(); var c11 = mat4x4<f32>(); var c12 = mat4x4<f32>(); var c13 = mat4x4<f32>();
  var c20 = mat4x4<f32>(); var c21 = mat4x4<f32>(); var c22 = mat4x4<f32>(); var c23 = mat4x4<f32>();
  var c30 = mat4x4<f32>(); var c31 = mat4x4<f32>(); var c32 = mat4x4<f32>(); var c33 = mat4x4<f32>();
  let kFull = p.K & ~3u;
  for (var k = 0u; k < p.K; k += 4u) {
    let partial = k == kFull;
    let a0 = loadAt(i, k, partial); let a1 = loadAt(i + 4u, k, partial); let a2 = loadAt(i + 8u, k, partial); let a3 = loadAt(i + 12u, k, partial);
    let b0 = loadBt(k, j, partial); let b1 = loadBt(k, j + 4u, partial); let b2 = loadBt(k, j + 8u, partial); let b3 = loadBt(k, j + 12u, partial);
    c00 += b0 * a0; c01 += b1 * a0; c02 += b2 * a0; c03 += b3 * a0;
    c10 += b0 * a1; c11 += b1 * a1; c12 += b2 * a1; c13 += b3 * a1;
    c20 += b0 * a2; c21 += b1 * a2; c22 += b2 * a2; c23 += b3 * a2;
    c30 += b0 * a3; c31 += b1 * a3; c32 += b2 * a3; c33 += b3 * a3;
  }
  storeBlock(c00, i, j); storeBlock(c01, i, j + 4u); storeBlock(c02, i, j + 8u); storeBlock(c03, i, j + 12u);
  storeBlock(c10, i + 4u, j); storeBlock(c11, i + 4u, j + 4u); storeBlock(c12, i + 4u, j + 8u); storeBlock(c13, i + 4u, j + 12u);
  storeBlock(c20, i + 8u, j); storeBlock(c21, i + 8u, j + 4u); storeBlock(c22, i + 8u, j + 8u); storeBlock(c23, i + 8u, j + 12u);
  storeBlock(c30, i + 12u, j); storeBlock(c31, i + 12u, j + 4u); storeBlock(c32, i + 12u, j + 8u); storeBlock(c33, i + 12u, j + 12u);
}

// ------------------------------------------------------------------ tile32x16: 8x4 blocks per invocation (32 rows x 16 columns)

@compute @workgroup_size(WGX, WGY)
fn tile32x16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = tileOrigin(wid, lid, nwg, 32u, 16u);
  let i = o.x;
  let j = o.y;
  if (i >= p.M || j >= p.N) { return; }
  var c00 = mat4x4<f32>(); var c01 = mat4x4<f32>(); var c02 = mat4x4<f32>(); var c03 = mat4x4<f32>();
  var c10 = mat4x4<f32>(); var c11 = mat4x4<f32>(); var c12 = mat4x4<f32>(); var c13 = mat4x4<f32>();
  var c20 = mat4x4<f32>(); var c21 = mat4x4<f32>(); var c22 = mat4x4<f32>(); var c23 = mat4x4<f32>();
  var c30 = mat4x4<f32>(); var c31 = mat4x4<f32>(); var c32 = mat4x4<f32>(); var c33 = mat4x4<f32>();
  var c40 = mat4x4<f32>(); var c41 = mat4x4<f32>(); var c42 = mat4x4<f32>(); var c43 = mat4x4<f32>();
  var c50 = mat4x4<f32>(); var c51 = mat4x4<f32>(); var c52 = mat4x4<f32>(); var c53 = mat4x4<f32>();
  var c60 = mat4x4<f32>(); var c61 = mat4x4<f32>(); var c62 = mat4x4<f32>(); var c63 = mat4x4<f32>();
  var c70 = mat4x4<f32>(); var c71 = mat4x4<f32>(); var c72 = mat4x4<f32>(); var c73 = mat4x4<f32>();
  let kFull = p.K & ~3u;
  for (var k = 0u; k < p.K; k += 4u) {
    let partial = k == kFull;
    let a0 = loadAt(i + 0u, k, partial); let a1 = loadAt(i + 4u, k, partial); let a2 = loadAt(i + 8u, k, partial); let a3 = loadAt(i + 12u, k, partial); let a4 = loadAt(i + 16u, k, partial); let a5 = loadAt(i + 20u, k, partial); let a6 = loadAt(i + 24u, k, partial); let a7 = loadAt(i + 28u, k, partial);
    let b0 = loadBt(k, j + 0u, partial); let b1 = loadBt(k, j + 4u, partial); let b2 = loadBt(k, j + 8u, partial); let b3 = loadBt(k, j + 12u, partial);
    c00 += b0 * a0; c01 += b1 * a0; c02 += b2 * a0; c03 += b3 * a0;
    c10 += b0 * a1; c11 += b1 * a1; c12 += b2 * a1; c13 += b3 * a1;
    c20 += b0 * a2; c21 += b1 * a2; c22 += b2 * a2; c23 += b3 * a2;
    c30 += b0 * a3; c31 += b1 * a3; c32 += b2 * a3; c33 += b3 * a3;
    c40 += b0 * a4; c41 += b1 * a4; c42 += b2 * a4; c43 += b3 * a4;
    c50 += b0 * a5; c51 += b1 * a5; c52 += b2 * a5; c53 += b3 * a5;
    c60 += b0 * a6; c61 += b1 * a6; c62 += b2 * a6; c63 += b3 * a6;
    c70 += b0 * a7; c71 += b1 * a7; c72 += b2 * a7; c73 += b3 * a7;
  }
  storeBlock(c00, i + 0u, j + 0u); storeBlock(c01, i + 0u, j + 4u); storeBlock(c02, i + 0u, j + 8u); storeBlock(c03, i + 0u, j + 12u);
  storeBlock(c10, i + 4u, j + 0u); storeBlock(c11, i + 4u, j + 4u); storeBlock(c12, i + 4u, j + 8u); storeBlock(c13, i + 4u, j + 12u);
  storeBlock(c20, i + 8u, j + 0u); storeBlock(c21, i + 8u, j + 4u); storeBlock(c22, i + 8u, j + 8u); storeBlock(c23, i + 8u, j + 12u);
  storeBlock(c30, i + 12u, j + 0u); storeBlock(c31, i + 12u, j + 4u); storeBlock(c32, i + 12u, j + 8u); storeBlock(c33, i + 12u, j + 12u);
  storeBlock(c40, i + 16u, j + 0u); storeBlock(c41, i + 16u, j + 4u); storeBlock(c42, i + 16u, j + 8u); storeBlock(c43, i + 16u, j + 12u);
  storeBlock(c50, i + 20u, j + 0u); storeBlock(c51, i + 20u, j + 4u); storeBlock(c52, i + 20u, j + 8u); storeBlock(c53, i + 20u, j + 12u);
  storeBlock(c60, i + 24u, j + 0u); storeBlock(c61, i + 24u, j + 4u); storeBlock(c62, i + 24u, j + 8u); storeBlock(c63, i + 24u, j + 12u);
  storeBlock(c70, i + 28u, j + 0u); storeBlock(c71, i + 28u, j + 4u); storeBlock(c72, i + 28u, j + 8u); storeBlock(c73, i + 28u, j + 12u);
}

// ------------------------------------------------------------------ tile16x32: 4x8 blocks per invocation (16 rows x 32 columns)

@compute @workgroup_size(WGX, WGY)
fn tile16x32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = tileOrigin(wid, lid, nwg, 16u, 32u);
  let i = o.x;
  let j = o.y;
  if (i >= p.M || j >= p.N) { return; }
  var c00 = mat4x4<f32>(); var c01 = mat4x4<f32>(); var c02 = mat4x4<f32>(); var c03 = mat4x4<f32>(); var c04 = mat4x4<f32>(); var c05 = mat4x4<f32>(); var c06 = mat4x4<f32>(); var c07 = mat4x4<f32>();
  var c10 = mat4x4<f32>(); var c11 = mat4x4<f32>(); var c12 = mat4x4<f32>(); var c13 = mat4x4<f32>(); var c14 = mat4x4<f32>(); var c15 = mat4x4<f32>(); var c16 = mat4x4<f32>(); var c17 = mat4x4<f32>();
  var c20 = mat4x4<f32>(); var c21 = mat4x4<f32>(); var c22 = mat4x4<f32>(); var c23 = mat4x4<f32>(); var c24 = mat4x4<f32>(); var c25 = mat4x4<f32>(); var c26 = mat4x4<f32>(); var c27 = mat4x4<f32>();
  var c30 = mat4x4<f32>(); var c31 = mat4x4<f32>(); var c32 = mat4x4<f32>(); var c33 = mat4x4<f32>(); var c34 = mat4x4<f32>(); var c35 = mat4x4<f32>(); var c36 = mat4x4<f32>(); var c37 = mat4x4<f32>();
  let kFull = p.K & ~3u;
  for (var k = 0u; k < p.K; k += 4u) {
    let partial = k == kFull;
    let a0 = loadAt(i + 0u, k, partial); let a1 = loadAt(i + 4u, k, partial); let a2 = loadAt(i + 8u, k, partial); let a3 = loadAt(i + 12u, k, partial);
    let b0 = loadBt(k, j + 0u, partial); let b1 = loadBt(k, j + 4u, partial); let b2 = loadBt(k, j + 8u, partial); let b3 = loadBt(k, j + 12u, partial); let b4 = loadBt(k, j + 16u, partial); let b5 = loadBt(k, j + 20u, partial); let b6 = loadBt(k, j + 24u, partial); let b7 = loadBt(k, j + 28u, partial);
    c00 += b0 * a0; c01 += b1 * a0; c02 += b2 * a0; c03 += b3 * a0; c04 += b4 * a0; c05 += b5 * a0; c06 += b6 * a0; c07 += b7 * a0;
    c10 += b0 * a1; c11 += b1 * a1; c12 += b2 * a1; c13 += b3 * a1; c14 += b4 * a1; c15 += b5 * a1; c16 += b6 * a1; c17 += b7 * a1;
    c20 += b0 * a2; c21 += b1 * a2; c22 += b2 * a2; c23 += b3 * a2; c24 += b4 * a2; c25 += b5 * a2; c26 += b6 * a2; c27 += b7 * a2;
    c30 += b0 * a3; c31 += b1 * a3; c32 += b2 * a3; c33 += b3 * a3; c34 += b4 * a3; c35 += b5 * a3; c36 += b6 * a3; c37 += b7 * a3;
  }
  storeBlock(c00, i + 0u, j + 0u); storeBlock(c01, i + 0u, j + 4u); storeBlock(c02, i + 0u, j + 8u); storeBlock(c03, i + 0u, j + 12u); storeBlock(c04, i + 0u, j + 16u); storeBlock(c05, i + 0u, j + 20u); storeBlock(c06, i + 0u, j + 24u); storeBlock(c07, i + 0u, j + 28u);
  storeBlock(c10, i + 4u, j + 0u); storeBlock(c11, i + 4u, j + 4u); storeBlock(c12, i + 4u, j + 8u); storeBlock(c13, i + 4u, j + 12u); storeBlock(c14, i + 4u, j + 16u); storeBlock(c15, i + 4u, j + 20u); storeBlock(c16, i + 4u, j + 24u); storeBlock(c17, i + 4u, j + 28u);
  storeBlock(c20, i + 8u, j + 0u); storeBlock(c21, i + 8u, j + 4u); storeBlock(c22, i + 8u, j + 8u); storeBlock(c23, i + 8u, j + 12u); storeBlock(c24, i + 8u, j + 16u); storeBlock(c25, i + 8u, j + 20u); storeBlock(c26, i + 8u, j + 24u); storeBlock(c27, i + 8u, j + 28u);
  storeBlock(c30, i + 12u, j + 0u); storeBlock(c31, i + 12u, j + 4u); storeBlock(c32, i + 12u, j + 8u); storeBlock(c33, i + 12u, j + 12u); storeBlock(c34, i + 12u, j + 16u); storeBlock(c35, i + 12u, j + 20u); storeBlock(c36, i + 12u, j + 24u); storeBlock(c37, i + 12u, j + 28u);
}

// ------------------------------------------------------------------ gemm: tiled in workgroup memory (GPU class)
//
// Each workgroup owns a (4 WGY) x (4 WGX) output tile; invocation (lid.x, lid.y) the 4x4 block at rows
// 4 lid.y.., columns 4 lid.x... Per BK-deep step the workgroup stages A's tile and B's tile in workgroup memory,
// both depth-major (tileA[k][rows as vec4s], tileB[k][columns as vec4s]), so the inner loop reads one vec4 of
// each per depth (neighbouring lanes read neighbouring vec4s of B and the same vec4 of A: no bank conflicts) and
// does 16 FMAs. Loads are vec4 along the operand's stored rows (coalesced: consecutive lanes read consecutive
// 16 bytes); an operand stored depth-major ([k, m] A, [k, n] B) is copied as is, the other one (A [m, k], B
// [n, k]) is transposed on its way in with scalar stores, which the one vec4 of padding per tile row spreads
// over the banks (2-way at worst instead of 4-way). The next step's loads go to registers before the current
// step's FMAs, to hide their latency. Out-of-range rows, columns and depths load as zero.

override BK: u32 = 16u;
override SPLIT: bool = false;
// vec4s per staged tile: BK depth rows of WGY (A) or WGX (B) vec4s plus one vec4 of padding each.
override TILE_A: u32 = BK * (WGY + 1u);
override TILE_B: u32 = BK * (WGX + 1u);

var<workgroup> tileA: array<vec4<f32>, TILE_A>;
var<workgroup> tileB: array<vec4<f32>, TILE_B>;

fn scalarA(e: u32) -> f32 { return a[e >> 2u][e & 3u]; }
fn scalarB(e: u32) -> f32 { return b[e >> 2u][e & 3u]; }

// Elements e..e+3 of A or B, which lie at positions pos..pos+3 of a stored row of `len`: one vec4 load when the
// row exists and all four lie inside it, else the ones inside one by one and zeros for the rest.
fn gemmLoad4(fromA: bool, aligned: bool, e: u32, rowInside: bool, pos: u32, len: u32) -> vec4<f32> {
  if (rowInside && pos + 4u <= len) { return load4(e, aligned, fromA); }
  var v = vec4<f32>(0.0);
  if (rowInside) {
    for (var c = 0u; c < 4u; c++) {
      if (pos + c < len) {
        if (fromA) { v[c] = scalarA(e + c); } else { v[c] = scalarB(e + c); }
      }
    }
  }
  return v;
}

// The q-th vec4 (of BK WGY) of A's tile at rows i0.., depths k0.. (zero past M and K).
fn gemmLoadA(q: u32, i0: u32, k0: u32) -> vec4<f32> {
  if (!TRANS_A) {
    // [m, k]: the vec4 runs along k.
    let r = i0 + q / (BK / 4u);
    let k = k0 + (q % (BK / 4u)) * 4u;
    return gemmLoad4(true, ALIGN_A, r * p.K + k, r < p.M, k, p.K);
  }
  // [k, m]: the vec4 runs along m.
  let k = k0 + q / WGY;
  let r = i0 + (q % WGY) * 4u;
  return gemmLoad4(true, ALIGN_A, k * p.M + r, k < p.K, r, p.M);
}

// The q-th vec4 (of BK WGX) of B's tile at depths k0.., columns j0.. (zero past K and N).
fn gemmLoadB(q: u32, k0: u32, j0: u32) -> vec4<f32> {
  if (!TRANS_B) {
    // [k, n]: the vec4 runs along n.
    let k = k0 + q / WGX;
    let j = j0 + (q % WGX) * 4u;
    return gemmLoad4(false, ALIGN_B, k * p.N + j, k < p.K, j, p.N);
  }
  // [n, k]: the vec4 runs along k.
  let j = j0 + q / (BK / 4u);
  let k = k0 + (q % (BK / 4u)) * 4u;
  return gemmLoad4(false, ALIGN_B, j * p.K + k, j < p.N, k, p.K);
}

fn gemmStoreA(q: u32, v: vec4<f32>) {
  if (!TRANS_A) {
    let r = q / (BK / 4u);
    let k = (q % (BK / 4u)) * 4u;
    for (var c = 0u; c < 4u; c++) { tileA[(k + c) * (WGY + 1u) + (r >> 2u)][r & 3u] = v[c]; }
    return;
  }
  tileA[(q / WGY) * (WGY + 1u) + q % WGY] = v;
}

fn gemmStoreB(q: u32, v: vec4<f32>) {
  if (TRANS_B) {
    let j = q / (BK / 4u);
    let k = (q % (BK / 4u)) * 4u;
    for (var c = 0u; c < 4u; c++) { tileB[(k + c) * (WGX + 1u) + (j >> 2u)][j & 3u] = v[c]; }
    return;
  }
  tileB[(q / WGX) * (WGX + 1u) + q % WGX] = v;
}

// Stores the raw sums of the 4x4 block (rows of `acc`) at rows i.., columns j.. of the partials at `base`.
fn storePartial(acc: mat4x4<f32>, i: u32, j: u32, base: u32) {
  for (var r = 0u; r < 4u; r++) {
    if (i + r >= p.M) { return; }
    let row = base + (i + r) * p.N + j;
    for (var c = 0u; c < 4u; c++) { if (j + c < p.N) { out[row + c] = acc[r][c]; } }
  }
}

// Loads per invocation and step: BK / WGX vec4s of A and BK / WGY of B (src/kernels/matmul.ts keeps both <= 4).
@compute @workgroup_size(WGX, WGY)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // z = slice + S * (row-tile fold), the fold only past the adapter's workgroups per dimension.
  var slices = 1u;
  if (SPLIT) { slices = (p.K + p.slice - 1u) / p.slice; }
  let slice = wid.z % slices;
  let i0 = (wid.y + (wid.z / slices) * nwg.y) * 4u * WGY;
  let j0 = wid.x * 4u * WGX;
  if (i0 >= p.M) { return; } // a spare workgroup of the folded grid (the same for the whole workgroup)
  var kBegin = 0u;
  var kEnd = p.K;
  if (SPLIT) {
    kBegin = slice * p.slice;
    kEnd = min(p.K, kBegin + p.slice);
  }
  let steps = (kEnd - kBegin + BK - 1u) / BK;
  let tid = lid.y * WGX + lid.x;
  let threads = WGX * WGY;
  var ra: array<vec4<f32>, 4>;
  var rb: array<vec4<f32>, 4>;
  for (var l = 0u; l < BK / WGX; l++) { ra[l] = gemmLoadA(tid + l * threads, i0, kBegin); }
  for (var l = 0u; l < BK / WGY; l++) { rb[l] = gemmLoadB(tid + l * threads, kBegin, j0); }
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var t = 0u; t < steps; t++) {
    workgroupBarrier(); // every invocation is done reading the previous step's tiles
    for (var l = 0u; l < BK / WGX; l++) { gemmStoreA(tid + l * threads, ra[l]); }
    for (var l = 0u; l < BK / WGY; l++) { gemmStoreB(tid + l * threads, rb[l]); }
    workgroupBarrier();
    if (t + 1u < steps) {
      let k0 = kBegin + (t + 1u) * BK;
      for (var l = 0u; l < BK / WGX; l++) { ra[l] = gemmLoadA(tid + l * threads, i0, k0); }
      for (var l = 0u; l < BK / WGY; l++) { rb[l] = gemmLoadB(tid + l * threads, k0, j0); }
    }
    for (var kk = 0u; kk < BK; kk++) {
      let av = tileA[kk * (WGY + 1u) + lid.y];
      let bv = tileB[kk * (WGX + 1u) + lid.x];
      c0 += av.x * bv;
      c1 += av.y * bv;
      c2 += av.z * bv;
      c3 += av.w * bv;
    }
  }
  let i = i0 + 4u * lid.y;
  let j = j0 + 4u * lid.x;
  if (i >= p.M || j >= p.N) { return; }
  let acc = mat4x4<f32>(c0, c1, c2, c3);
  if (SPLIT) {
    storePartial(acc, i, j, slice * p.M * p.N);
  } else {
    storeBlock(acc, i, j);
  }
}

// ------------------------------------------------------------------ splitKSum: the ordered sum of split-K partials

// out = epilogue(sum over s = 0..S-1 of partials[s, m, n]), partials bound as A, S = p.K. One output per
// invocation (consecutive lanes read consecutive floats of each slice); the same epilogue as storeBlock.
@compute @workgroup_size(WGX)
fn splitKSum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = (wid.x + wid.y * nwg.x) * WGX + lid.x;
  let mn = p.M * p.N;
  if (e >= mn) { return; }
  var s = 0.0;
  for (var t = 0u; t < p.K; t++) { s += scalarA(t * mn + e); }
  if (HAS_BIAS) { s += bias[e % p.N]; }
  if (RELU) { s = max(s, 0.0); }
  if (ACCUMULATE) { s += out[e]; }
  out[e] = s;
}
