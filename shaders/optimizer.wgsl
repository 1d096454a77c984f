// Optimizer updates over a model's whole flat parameter arena: one invocation per parameter, one dispatch per
// step. Keras semantics (see src/kernels/optimizer.ts). Adam reads the step count t from stepState[0], which
// incrementStep advances on the GPU at the start of each training step, so a replayed step needs no host write.
// The learning rate is read from its own small uniform buffer (binding 7), not from the recorded parameters: the
// host changes it between steps with one 4-byte write (schedules, callbacks) and the recording stays as it is.

override WG: u32 = 64u;
override NESTEROV: u32 = 0u;

struct Params {
  n: u32,
  a: f32,   // SGD momentum, Adam beta1, RMSprop rho
  b: f32,   // Adam beta2
  eps: f32,
}

struct LearningRate {
  value: f32,
  _p0: f32,
  _p1: f32,
  _p2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>; // velocity, Adam m, RMSprop ms
@group(0) @binding(4) var<storage, read_write> s2: array<f32>; // Adam v
@group(0) @binding(5) var<storage, read> step: array<u32>;
@group(0) @binding(6) var<storage, read_write> stepRW: array<u32>;
@group(0) @binding(7) var<uniform> lr: LearningRate;

fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(1)
fn incrementStep() {
  stepRW[0] = stepRW[0] + 1u;
}

// p -= lr * g
@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  params[i] = params[i] - lr.value * grads[i];
}

// v = m v - lr g; p += v   (nesterov: p += m v - lr g, with the new v)
@compute @workgroup_size(WG)
fn sgdMomentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let g = grads[i];
  let v = p.a * s1[i] - lr.value * g;
  s1[i] = v;
  if (NESTEROV == 1u) {
    params[i] = params[i] + (p.a * v - lr.value * g);
  } else {
    params[i] = params[i] + v;
  }
}

// 1 - b^t for b in [0, 1), t >= 1, without the cancellation of 1 - pow(b, t) (which costs 1e-4 relative at
// b = 0.999, t = 1 in f32): x = t * ln(1 - c) with c = 1 - b exact, by its series for small c, then -expm1(x) by
// its series for small |x|.
fn oneMinusPow(b: f32, t: f32) -> f32 {
  let c = 1.0 - b;
  var l = 0.0; // ln(1 - c)
  if (c < 0.25) {
    var ck = c;
    for (var k = 1u; k <= 14u; k++) {
      l -= ck / f32(k);
      ck *= c;
    }
  } else {
    l = log(b);
  }
  let x = t * l;
  if (x > -0.5) {
    // -expm1(x) = -(x + x²/2! + x³/3! + ...), Horner form
    var s = 1.0;
    for (var k = 12u; k >= 2u; k--) { s = 1.0 + s * x / f32(k); }
    return -x * s;
  }
  return 1.0 - exp(x);
}

// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t m / (sqrt(v) + eps)
@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let t = f32(max(step[0], 1u));
  let lrT = lr.value * sqrt(oneMinusPow(p.b, t)) / oneMinusPow(p.a, t);
  let g = grads[i];
  let m = p.a * s1[i] + (1.0 - p.a) * g;
  let v = p.b * s2[i] + (1.0 - p.b) * g * g;
  s1[i] = m;
  s2[i] = v;
  params[i] = params[i] - lrT * m / (sqrt(v) + p.eps);
}

// ms = rho ms + (1-rho) g²; p -= lr g / (sqrt(ms) + eps)
@compute @workgroup_size(WG)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let g = grads[i];
  let ms = p.a * s1[i] + (1.0 - p.a) * g * g;
  s1[i] = ms;
  params[i] = params[i] - lr.value * g / (sqrt(ms) + p.eps);
}

// ---------------------------------------------------------------- four parameters per invocation
// For n a multiple of 4 (GPU class; a model's arena always is): the same updates on vec4s, p.n counting vec4s.
// Same formulas lane by lane, so results match the scalar entries bit for bit on an adapter that evaluates both
// the same way.
@group(0) @binding(1) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> s14: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> s24: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn sgd4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  params4[i] = params4[i] - lr.value * grads4[i];
}

@compute @workgroup_size(WG)
fn sgdMomentum4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let g = grads4[i];
  let v = p.a * s14[i] - lr.value * g;
  s14[i] = v;
  if (NESTEROV == 1u) {
    params4[i] = params4[i] + (p.a * v - lr.value * g);
  } else {
    params4[i] = params4[i] + v;
  }
}

@compute @workgroup_size(WG)
fn adam4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let t = f32(max(step[0], 1u));
  let lrT = lr.value * sqrt(oneMinusPow(p.b, t)) / oneMinusPow(p.a, t);
  let g = grads4[i];
  let m = p.a * s14[i] + (1.0 - p.a) * g;
  let v = p.b * s24[i] + (1.0 - p.b) * g * g;
  s14[i] = m;
  s24[i] = v;
  params4[i] = params4[i] - lrT * m / (sqrt(v) + p.eps);
}

@compute @workgroup_size(WG)
fn rmsprop4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let g = grads4[i];
  let ms = p.a * s14[i] + (1.0 - p.a) * g * g;
  s14[i] = ms;
  params4[i] = params4[i] - lr.value * g / (sqrt(ms) + p.eps);
}
