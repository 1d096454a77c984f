// Index arithmetic shared by kernel families (not a kernel family itself): src/shaders.ts prepends this file to
// the families that use it (conv2d, pool, reduce, loss). WGSL has no #include; this is the one templating step.

// n / d for 0 <= n < 2^31, d > 0, without integer division: a vector integer divide does not exist on CPUs,
// so software adapters run it lane by lane (it dominated these kernels). Float quotient, one float correction
// of the remainder, then a final +-1 fix: exact.
fn idiv(n: i32, d: i32) -> i32 {
  let fd = f32(d);
  var q = i32(f32(n) / fd);
  q += i32(floor(f32(n - q * d) / fd));
  let r = n - q * d;
  q = select(q, q - 1, r < 0);
  q = select(q, q + 1, r >= d);
  return q;
}

// The linear index of a workgroup in a grid folded into x, y and z past the per-dimension limit (grid1d).
fn linearWorkgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}
