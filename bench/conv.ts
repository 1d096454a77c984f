// Conv2D and pooling timings on the seed models' shapes: median of a few runs after a warm-up, each run one
// recorded kernel timed by bench/kernels.ts timeRecording (GPU timestamps where the device has them). FLOPs count 2 per multiply-add of the
// dense convolution (padding taps included, as everyone counts them).
import type { Engine } from '../src/gpu/engine.js';
import type { Tensor } from '../src/gpu/tensor.js';
import type { ConvTile } from '../src/kernels/tuning.js';
import {
  conv2dBackwardBias, conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dForwardNaive, conv2dGeometry, type Conv2dGeometry,
} from '../src/kernels/conv2d.js';
import { maxPool2dForward, maxPool2dBackward, pool2dGeometry } from '../src/kernels/pool.js';
import { randomUniform } from '../src/reference/random.js';
import { timeRecording as time, type Timing } from './kernels.js';

export interface BenchResult extends Timing {
  name: string;
  gflops: number;
  /** Memory-bound kernels (pooling, the bias gradient): GB/s of bytes read and written. */
  gbs?: number;
}

function convFlops(g: Conv2dGeometry): number {
  return 2 * g.batch * g.outH * g.outW * g.outC * g.kH * g.kW * g.inC;
}

export interface BenchOptions {
  runs?: number;
  /** Also time the one-invocation-per-output baseline forward. */
  naive?: boolean;
  /** Override the tuned tiles (for autotuning experiments). */
  tiles?: { forward?: ConvTile; backwardInput?: ConvTile; backwardFilter?: ConvTile };
  /** Called with each result as soon as it is measured. */
  onResult?: (r: BenchResult) => void;
  /** Which shapes: default both. */
  shapes?: ('cifar2' | 'mnist' | 'cifar1')[];
}

/**
 * Times forward, backward-input and backward-filter at the CIFAR second conv and the MNIST conv (and, when asked
 * with `shapes`, the CIFAR first conv), and max-pool forward and backward.
 */
export async function benchConv(engine: Engine, opts: BenchOptions = {}): Promise<BenchResult[]> {
  const runs = opts.runs ?? 3;
  const results: BenchResult[] = [];
  const out = { push: (r: BenchResult) => (results.push(r), opts.onResult?.(r)) };
  const shapes = {
    cifar2: { name: 'cifar conv2 128x32x32x32->64 3x3 same', g: conv2dGeometry([128, 32, 32, 32], 64, [3, 3], [1, 1], 'same') },
    mnist: { name: 'mnist conv 128x28x28x1->32 3x3 same', g: conv2dGeometry([128, 28, 28, 1], 32, [3, 3], [1, 1], 'same') },
    cifar1: { name: 'cifar conv1 128x32x32x3->32 3x3 same', g: conv2dGeometry([128, 32, 32, 3], 32, [3, 3], [1, 1], 'same') },
  };
  for (const key of opts.shapes ?? (['cifar2', 'mnist'] as const)) {
    const { name, g } = shapes[key];
    const tensors: Tensor[] = [];
    const mk = (shape: number[], seed: number) => {
      const t = engine.tensor(shape, randomUniform(shape.reduce((a, b) => a * b, 1), seed));
      tensors.push(t);
      return t;
    };
    const x = mk([g.batch, g.inH, g.inW, g.inC], 1);
    const w = mk([g.kH, g.kW, g.inC, g.outC], 2);
    const bias = mk([g.outC], 3);
    const y = mk([g.batch, g.outH, g.outW, g.outC], 4);
    const dx = mk([g.batch, g.inH, g.inW, g.inC], 5);
    const dw = mk([g.kH, g.kW, g.inC, g.outC], 6);
    const f = convFlops(g);
    const db = mk([g.outC], 8);
    const add = (what: string, t: Timing) => out.push({ name: `${name} ${what}`, ...t, gflops: f / t.ms / 1e6 });
    add('forward', await time(engine, 'forward', (r) => conv2dForward(r, x, w, bias, y, g, 'relu', opts.tiles?.forward), runs));
    if (opts.naive) add('forward (naive)', await time(engine, 'naive', (r) => conv2dForwardNaive(r, x, w, bias, y, g, 'relu'), 1));
    add('backward-input', await time(engine, 'bwd-input', (r) => conv2dBackwardInput(r, y, w, dx, g, opts.tiles?.backwardInput), runs));
    add('backward-filter', await time(engine, 'bwd-filter', (r) => conv2dBackwardFilter(r, x, y, dw, g, opts.tiles?.backwardFilter), runs));
    // The bias gradient: a column sum of dy, one add per element; memory-bound, so GB/s of dy read.
    const tb = await time(engine, 'bwd-bias', (r) => conv2dBackwardBias(r, y, db, g), runs);
    const dyBytes = 4 * g.batch * g.outH * g.outW * g.outC;
    out.push({ name: `${name} bias gradient`, ...tb, gflops: dyBytes / 4 / tb.ms / 1e6, gbs: dyBytes / tb.ms / 1e6 });
    for (const t of tensors) t.dispose();
  }
  {
    const pg = pool2dGeometry([128, 32, 32, 64], [2, 2], [2, 2], 'valid');
    const x = engine.tensor([128, 32, 32, 64], randomUniform(128 * 32 * 32 * 64, 7));
    const y = engine.empty([128, 16, 16, 64]);
    const am = engine.empty([128, 16, 16, 64], 'u32');
    const dx = engine.empty([128, 32, 32, 64]);
    // Pooling "GFLOP/s": one compare per window element. Bytes moved: forward reads x (4 B per element) and
    // writes the max and its argmax (a quarter each); backward reads those two and writes dx: 6 bytes per input
    // element either way.
    const elements = 128 * 32 * 32 * 64;
    const pool = (what: string, t: Timing) => out.push({ name: `max-pool 128x32x32x64 2x2/2 ${what}`, ...t, gflops: elements / t.ms / 1e6, gbs: (6 * elements) / t.ms / 1e6 });
    pool('forward', await time(engine, 'maxpool', (r) => maxPool2dForward(r, x, y, am, pg), runs));
    pool('backward', await time(engine, 'maxpool-bwd', (r) => maxPool2dBackward(r, y, am, dx, pg), runs));
    for (const t of [x, y, am, dx]) t.dispose();
  }
  return results;
}
