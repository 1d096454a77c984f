// The counter-based hash shared by every random kernel family (not a family itself): src/shaders.ts prepends this
// file to dropout, initializer and augment. pcg4d, Jarzynski & Olano, "Hash Functions for GPU Rendering", JCGT
// 2020. CPU twin: pcg4d in src/reference/dropout.ts (the same u32 arithmetic, bit for bit).
fn pcg4d(a: vec4<u32>) -> vec4<u32> {
  var v = a * 1664525u + 1013904223u;
  v.x += v.y * v.w;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v.w += v.y * v.z;
  v = v ^ (v >> vec4<u32>(16u));
  v.x += v.y * v.w;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v.w += v.y * v.z;
  return v;
}
