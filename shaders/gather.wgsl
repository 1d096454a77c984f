// Batch assembly for float datasets kept on the GPU (a user's Float32Array inputs): rows picked through a
// shuffled index order, labels expanded to one-hot (or copied as class indices for sparse losses).
// `targetRows` copies real-valued target rows (e.g. regression targets for mean squared error) the same way.
// uint8 image datasets use shaders/data.wgsl instead (packed four to a u32).

override WG: u32 = 64u;

struct Params {
  n: u32,          // examples in this batch
  rowSize: u32,    // floats per example
  classes: u32,
  sparse: u32,     // 1: y[i] = label as u32 bits; 0: one-hot rows
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> start: array<u32>;   // start[0]: first position in `order`
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

// One invocation per output float of x; the first n*classes invocations also write y.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n * p.rowSize) {
    let row = i / p.rowSize;
    let col = i - row * p.rowSize;
    let example = order[start[0] + row];
    x[i] = src[example * p.rowSize + col];
  }
  if (p.sparse == 1u) {
    if (i < p.n) { y[i] = bitcast<f32>(labels[order[start[0] + i]]); }
  } else if (i < p.n * p.classes) {
    let row = i / p.classes;
    let c = i - row * p.classes;
    y[i] = select(0.0, 1.0, labels[order[start[0] + row]] == c);
  }
}

// y[i] = src[order[start + row] * classes + col]: target rows that are not one-hot, kept as floats. Binds the
// targets as `src` and writes only y (after the input gather of the same batch).
@compute @workgroup_size(WG)
fn targetRows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n * p.classes) { return; }
  let row = i / p.classes;
  let col = i - row * p.classes;
  y[i] = src[order[start[0] + row] * p.classes + col];
}
