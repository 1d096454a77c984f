// The per-tensor comparison behind checkGradients, checkKernel and the self-test: a GPU result against the value
// it should have, element by element, each element with its own allowed error. One report shape for all three.

/** How one GPU tensor compares with its expected values (a float64 reference or a numeric gradient). */
export interface TensorCheck {
  /** What was compared: 'input' (the input gradient), 'layer/param' (a parameter gradient) or a kernel output. */
  tensor: string;
  shape: number[];
  /** Elements compared (all of them, or a seeded sample: see the options' maxElements). */
  checked: number;
  maxAbsError: number;
  /** max over elements of |gpu - expected| / max(|expected|, floor); floor is the tensor's scale (see `scale`). */
  maxRelError: number;
  /** The element closest to (or furthest past) its bound: the largest |gpu - expected| / bound. */
  worstIndex: number;
  /** The allowed |gpu - expected| at worstIndex. */
  bound: number;
  /** gpu and expected values at worstIndex. */
  gpu: number;
  expected: number;
  /** The relative-error floor: max |expected| over the tensor for gradients, the kernel's term scale for kernels. */
  scale: number;
  pass: boolean;
}

/**
 * Compares `gpu` with `expected` at `indices` (flat element indices; all elements when omitted). An element passes
 * when |gpu - expected| <= bound(i) and gpu is finite (a NaN-poisoned element the GPU never wrote fails).
 */
export function compareTensor(
  tensor: string,
  shape: readonly number[],
  gpu: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: (i: number) => number,
  floor: number,
  indices?: readonly number[],
): TensorCheck {
  const idx = indices ?? Array.from({ length: expected.length }, (_, i) => i);
  let maxAbs = 0, maxRel = 0, worst = idx[0] ?? 0, worstRatio = -1, pass = true;
  for (const i of idx) {
    const g = gpu[i]!, e = expected[i]!;
    const err = Number.isFinite(g) ? Math.abs(g - e) : Infinity;
    const b = bound(i);
    if (!(err <= b)) pass = false;
    maxAbs = Math.max(maxAbs, err);
    maxRel = Math.max(maxRel, err / Math.max(Math.abs(e), floor, Number.MIN_VALUE));
    const ratio = err === 0 ? 0 : b > 0 ? err / b : Infinity;
    if (ratio > worstRatio || Number.isNaN(ratio)) {
      worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
      worst = i;
    }
  }
  return {
    tensor, shape: [...shape], checked: idx.length, maxAbsError: maxAbs, maxRelError: maxRel, worstIndex: worst,
    bound: bound(worst), gpu: gpu[worst] ?? NaN, expected: expected[worst] ?? NaN, scale: floor, pass,
  };
}

/** `count` distinct indices of [0, size) drawn with `rand` (all of them when size <= count), in increasing order. */
export function sampleIndices(size: number, count: number, rand: () => number): number[] {
  if (size <= count) return Array.from({ length: size }, (_, i) => i);
  const picked = new Set<number>([0, size - 1]); // the ends catch off-by-one indexing
  while (picked.size < count) picked.add(Math.floor(rand() * size));
  return [...picked].sort((a, b) => a - b);
}

/** One line per tensor: "name: max abs 1.2e-7, rel 3.4e-7 at [12] (bound 5.6e-6) ok". */
export function describeCheck(t: TensorCheck): string {
  const e = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : String(v));
  return `${t.tensor} ${JSON.stringify(t.shape)}: max abs ${e(t.maxAbsError)}, rel ${e(t.maxRelError)}, worst [${t.worstIndex}] gpu ${e(t.gpu)} vs ${e(t.expected)} (bound ${e(t.bound)}) ${t.pass ? 'ok' : 'FAIL'}`;
}
