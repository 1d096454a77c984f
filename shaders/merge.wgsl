// Concatenate's kernel: a block of columns copied between row-major matrices of different widths. Forward writes
// each input into its columns of the output; backward reads each input's columns of the output gradient. One
// invocation per element; a 2-D grid folds large arrays (grid1d): index = x + y * (workgroups.x * WG).
// (The merge layers' per-element kernels, accumulate and multiply, are in shaders/elementwise.wgsl.)

override WG: u32 = 64u;

struct Params {
  // elements copied (rows * cols), columns copied per row, the source's and the destination's row length and first column
  n: u32,
  cols: u32,
  srcCols: u32,
  srcOff: u32,
  dstCols: u32,
  dstOff: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// dst[r, dstOff + c] = src[r, srcOff + c] for c < cols
@compute @workgroup_size(WG)
fn copyColumns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let r = u32(idiv(i32(i), i32(p.cols)));
  let c = i - r * p.cols;
  dst[r * p.dstCols + p.dstOff + c] = src[r * p.srcCols + p.srcOff + c];
}
