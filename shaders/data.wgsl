// Batch assembly for uint8 image datasets kept on the GPU (src/data/device.ts): images are packed four bytes to a
// u32 (little-endian: byte j of word k is image byte 4k + j), uploaded once. A batch row is picked through a
// shuffled index order; each byte becomes float32 through a 256-entry table computed on the host (so host and
// GPU agree bit for bit, whatever the adapter fuses); labels become one-hot rows, or stay class indices (u32)
// for sparse losses. A dataset too big for one binding is split into chunks of whole examples: one dispatch per
// chunk, each writing the rows whose example it holds; the first chunk's dispatch also writes y.

override WG: u32 = 64u;

struct Params {
  n: u32,          // examples in this batch
  rowSize: u32,    // bytes (= floats out) per example
  classes: u32,
  sparse: u32,     // 1: y[i] = label (u32); 0: one-hot rows of float32 0/1
  first: u32,      // first example held by this chunk
  count: u32,      // examples held by this chunk
  writeY: u32,     // 1 for the dispatch that writes y
  _pad: u32,
  table: array<vec4<f32>, 64>,  // float value of byte b: table[b / 4][b % 4]
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> start: array<u32>;   // start[0]: first position in `order`
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> packed: array<u32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;  // float32 bits (one-hot) or u32 labels (sparse)

// One invocation per output float of x; the first n * classes (or n) invocations also write y.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let s = start[0];
  if (i < p.n * p.rowSize) {
    let row = i / p.rowSize;
    let col = i - row * p.rowSize;
    let ex = order[s + row];
    if (ex >= p.first && ex - p.first < p.count) {
      let at = (ex - p.first) * p.rowSize + col;
      let b = (packed[at >> 2u] >> ((at & 3u) * 8u)) & 0xffu;
      x[i] = p.table[b >> 2u][b & 3u];
    }
  }
  if (p.writeY == 0u) { return; }
  if (p.sparse == 1u) {
    if (i < p.n) { y[i] = labels[order[s + i]]; }
  } else if (i < p.n * p.classes) {
    let row = i / p.classes;
    let c = i - row * p.classes;
    y[i] = select(0u, 0x3f800000u, labels[order[s + row]] == c);
  }
}
