// Host-side preprocessing: seeded permutations and splits, one-hot labels, and the uint8 -> float32 value map
// shared with the GPU batch path (so the two agree bit for bit). Nothing here expands a whole dataset to float32
// unless asked to (`normalize`, meant for a batch or a handful of images).
import { ShaderflowError } from '../errors.js';
import { mulberry32 } from '../reference/random.js';
import { exampleBytes, type ImageSet } from './types.js';

/**
 * A seeded random permutation of base..base+n-1 (Fisher-Yates over mulberry32): the same seed gives the same order
 * everywhere.
 */
export function permutation(n: number, seed: number, base = 0): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new ShaderflowError(`permutation: n must be a whole number >= 0, got ${n}.`);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i + base;
  const r = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

// numpy's legacy RandomState stream (frozen by NEP 19), reproduced bit for bit: the presets' sklearn split
// (src/model/presets.ts) and imageDatasetFromDirectory's Keras file shuffle (RandomState(seed).shuffle) use it.

/** numpy.random.RandomState(seed) as far as permutation needs: MT19937 (init_genrand seeding) 32-bit outputs. */
class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 * prev + i (mod 2^32), split in 16-bit halves to stay exact in float64.
      mt[i] = ((((prev >>> 16) * 1812433253) << 16) + (prev & 0xffff) * 1812433253 + i) >>> 0;
    }
  }

  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** numpy's random_interval(max): a uniform integer in [0, max], by masking to the smallest covering bit mask and rejecting. */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > max);
    return v;
  }
}

/** numpy.random.RandomState(seed).permutation(n), exactly (n < 2^32). */
export function numpyPermutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new Mt19937(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.interval(i);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** The shuffle order for `epoch` of a run seeded with `seed` (a fresh permutation each epoch, reproducible). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  return permutation(n, (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
}

export interface SplitOptions {
  /** A fraction in (0, 1) of the examples, or a whole number of them, for the test part (default 0.25). */
  testSize?: number;
  /** Seed of the shuffle (default 0). */
  seed?: number;
  /** Shuffle before splitting (default true); false keeps order and takes the last examples as the test part. */
  shuffle?: boolean;
}

type Labels = Uint8Array | Uint32Array | Int32Array | Float32Array | number[];

function splitIndices(n: number, opts: SplitOptions): { train: Uint32Array; test: Uint32Array } {
  const ts = opts.testSize ?? 0.25;
  let nTest: number;
  if (ts > 0 && ts < 1) nTest = Math.ceil(ts * n);
  else if (Number.isInteger(ts) && ts >= 0 && ts <= n) nTest = ts;
  else throw new ShaderflowError(`trainTestSplit: testSize ${ts} must be a fraction in (0, 1) or a whole number of examples in 0..${n}.`);
  const order = opts.shuffle === false ? Uint32Array.from({ length: n }, (_, i) => i) : permutation(n, opts.seed ?? 0);
  return { train: order.subarray(0, n - nTest), test: order.subarray(n - nTest) };
}

function takeRows<T extends Uint8Array | Float32Array | Int32Array | Uint32Array>(src: T, rowSize: number, idx: Uint32Array): T {
  const out = new (src.constructor as new (n: number) => T)(idx.length * rowSize);
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i]! * rowSize, (idx[i]! + 1) * rowSize), i * rowSize);
  return out;
}

function takeLabels<L extends Labels>(labels: L, idx: Uint32Array): L {
  if (Array.isArray(labels)) return Array.from(idx, (i) => labels[i]!) as L;
  const out = new (labels.constructor as new (n: number) => Exclude<L, number[]>)(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = (labels as Exclude<L, number[]>)[idx[i]!]!;
  return out as L;
}

/** Splits an ImageSet into train and test parts (copies the images once; seeded and reproducible). */
export function trainTestSplit(set: ImageSet, opts?: SplitOptions): { train: ImageSet; test: ImageSet };
/** Splits parallel arrays: `images` holds `labels.length` equal rows (any row size). */
export function trainTestSplit<T extends Uint8Array | Float32Array | Int32Array | Uint32Array, L extends Labels>(
  images: T,
  labels: L,
  opts?: SplitOptions,
): { xTrain: T; xTest: T; yTrain: L; yTest: L };
export function trainTestSplit(a: ImageSet | Uint8Array | Float32Array | Int32Array | Uint32Array, b?: Labels | SplitOptions, c?: SplitOptions): unknown {
  if (!ArrayBuffer.isView(a)) {
    const set = a as ImageSet;
    const n = set.shape[0];
    if (set.labels.length !== n || set.images.length !== n * exampleBytes(set))
      throw new ShaderflowError(`trainTestSplit: shape [${set.shape.join(', ')}] does not match ${set.images.length} image bytes and ${set.labels.length} labels.`);
    const { train, test } = splitIndices(n, (b as SplitOptions | undefined) ?? {});
    const per = exampleBytes(set);
    const [, h, w, ch] = set.shape;
    return {
      train: { images: takeRows(set.images, per, train), shape: [train.length, h, w, ch], labels: takeLabels(set.labels, train) },
      test: { images: takeRows(set.images, per, test), shape: [test.length, h, w, ch], labels: takeLabels(set.labels, test) },
    };
  }
  const images = a;
  const labels = b as Labels;
  const n = labels.length;
  const rowSize = n === 0 ? 0 : images.length / n;
  if (!Number.isInteger(rowSize)) throw new ShaderflowError(`trainTestSplit: ${images.length} values do not split into ${n} equal rows (one per label).`);
  const { train, test } = splitIndices(n, c ?? {});
  return { xTrain: takeRows(images, rowSize, train), xTest: takeRows(images, rowSize, test), yTrain: takeLabels(labels, train), yTest: takeLabels(labels, test) };
}

/** One-hot rows [n, numClasses] as float32 (Keras's to_categorical). numClasses defaults to max label + 1. */
export function toCategorical(labels: ArrayLike<number>, numClasses?: number): Float32Array {
  let k = numClasses;
  if (k === undefined) {
    k = 0;
    for (let i = 0; i < labels.length; i++) k = Math.max(k, labels[i]! + 1);
  }
  const out = new Float32Array(labels.length * k);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= k) throw new ShaderflowError(`toCategorical: label ${i} is ${v}, outside 0..${k - 1}.`);
    out[i * k + v] = 1;
  }
  return out;
}

/**
 * The float32 value of every byte 0..255: fround(fround(b * scale) + offset), in float32 arithmetic. The GPU
 * batch path looks values up in this same table, so host and GPU agree bit for bit whatever the adapter fuses.
 */
export function byteTable(scale = 1 / 255, offset = 0): Float32Array {
  const s = Math.fround(scale);
  const o = Math.fround(offset);
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = Math.fround(Math.fround(b * s) + o);
  return t;
}

/** uint8 pixels to float32 through `byteTable` (default x / 255). For a batch or a few images, not a whole dataset. */
export function normalize(pixels: Uint8Array, opts: { scale?: number; offset?: number } = {}): Float32Array {
  const t = byteTable(opts.scale, opts.offset);
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = t[pixels[i]!]!;
  return out;
}

/** Mean and standard deviation of all pixel values (0..255) of a set, e.g. to pick scale = 1/(255 std'), offset = -mean'/std'. */
export function pixelStats(set: ImageSet | Uint8Array): { mean: number; std: number } {
  const px = ArrayBuffer.isView(set) ? set : set.images;
  const hist = new Float64Array(256);
  for (let i = 0; i < px.length; i++) hist[px[i]!]++;
  let sum = 0;
  let sq = 0;
  for (let v = 0; v < 256; v++) {
    sum += v * hist[v]!;
    sq += v * v * hist[v]!;
  }
  const n = Math.max(1, px.length);
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

/** Scale and offset that map pixels to zero mean, unit variance: x * scale + offset = (x - mean) / std. */
export function standardizeParams(stats: { mean: number; std: number }): { scale: number; offset: number } {
  const std = stats.std > 0 ? stats.std : 1;
  return { scale: 1 / std, offset: -stats.mean / std };
}
