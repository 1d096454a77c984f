// Seeded random numbers for tests, references and initializers (mulberry32 + Box-Muller): the same seed gives
// the same values on every machine.

/** A seeded generator of floats in [0, 1) (mulberry32): the one behind splits and shuffles. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [lo, hi) as float32-representable numbers. */
export function randomUniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function randomNormal(n: number, seed: number, mean = 0, std = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(r(), 1e-12);
    const u2 = r();
    const m = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + std * m * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = mean + std * m * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
