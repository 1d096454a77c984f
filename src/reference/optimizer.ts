// float64 CPU references for shaders/optimizer.wgsl (Keras update rules). Each updates its arrays in place.

export function sgdRef(p: Float64Array, g: ArrayLike<number>, v: Float64Array | null, o: { lr: number; momentum: number; nesterov: boolean }): void {
  for (let i = 0; i < p.length; i++) {
    if (!v || o.momentum === 0) {
      p[i] -= o.lr * g[i]!;
      continue;
    }
    v[i] = o.momentum * v[i]! - o.lr * g[i]!;
    p[i] += o.nesterov ? o.momentum * v[i]! - o.lr * g[i]! : v[i]!;
  }
}

/** One Adam update at step t (t >= 1, counting this update). */
export function adamRef(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, t: number, o: { lr: number; beta1: number; beta2: number; epsilon: number }): void {
  const lrT = (o.lr * Math.sqrt(1 - o.beta2 ** t)) / (1 - o.beta1 ** t);
  for (let i = 0; i < p.length; i++) {
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g[i]! * g[i]!;
    p[i] -= (lrT * m[i]!) / (Math.sqrt(v[i]!) + o.epsilon);
  }
}

export function rmspropRef(p: Float64Array, g: ArrayLike<number>, ms: Float64Array, o: { lr: number; rho: number; epsilon: number }): void {
  for (let i = 0; i < p.length; i++) {
    ms[i] = o.rho * ms[i]! + (1 - o.rho) * g[i]! * g[i]!;
    p[i] -= (o.lr * g[i]!) / (Math.sqrt(ms[i]!) + o.epsilon);
  }
}
