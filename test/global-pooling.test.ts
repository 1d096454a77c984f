// GlobalAveragePooling2D and GlobalMaxPooling2D (the pool kernels with one whole-image window) on both adapter
// classes against the float64 references, including a large image (a long window loop) and ties for the max.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Engine, GlobalAveragePooling2D, GlobalMaxPooling2D, Recorder, type AdapterClass, type Layer } from '../src/index.js';
import { avgPool2dForwardRef, maxPool2dForwardRef } from '../src/reference/pool.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => Object.values(engines).forEach((e) => e?.dispose()));

async function run(engine: Engine, layer: Layer, n: number, x: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
  layer.allocate(engine, n);
  const tx = engine.tensor([n, ...layer.inputShape], x), tdy = engine.tensor([n, ...layer.outputShape], dy), step = engine.zeros([4], 'u32');
  const ctx = { engine, n, training: true, stepState: step.buffer, seed: 0 };
  const rec = new Recorder(engine, 'global pool');
  const y = layer.forward(rec, tx, ctx);
  const dx = layer.backward(rec, tdy, ctx, true)!;
  rec.run();
  const out = { y: await y.data(), dx: await dx.data() };
  rec.dispose();
  layer.release();
  for (const t of [tx, tdy, step]) t.dispose();
  return out;
}

describe.each(['software', 'gpu'] as const)('%s class', (cls) => {
  it.each([[1, 1, 1, 1], [3, 5, 7, 3], [2, 8, 8, 64], [1, 250, 240, 4]] as const)('[%i, %i, %i, %i] -> [n, c], forward and backward', async (n, h, w, c) => {
    const engine = engines[cls]!;
    const size = n * h * w * c;
    const x = randomUniform(size, size + 1), dy = randomUniform(n * c, 7);
    const g = { batch: n, inH: h, inW: w, c, outH: 1, outW: 1, poolH: h, poolW: w, strideH: h, strideW: w, padTop: 0, padLeft: 0 };
    const avg = new GlobalAveragePooling2D();
    avg.build([h, w, c]);
    expect(avg.outputShape).toEqual([c]);
    const a = await run(engine, avg, n, x, dy);
    // a mean of h·w float32 terms: rounding grows with the loop (h·w·u relative to the mean |x|, 0.5 here)
    // a mean of h·w float32 terms summed in order: about sqrt(h·w)·u of the mean |x| (0.5 here); 2e-6 up to 250x240
    expectClose(a.y, avgPool2dForwardRef(x, g), 2e-6, 0.5, 'avg y');
    expectClose(a.dx, Float64Array.from({ length: size }, (_, i) => dy[Math.floor(i / (h * w * c)) * c + (i % c)]! / (h * w)), 2e-6, 1e-3, 'avg dx');
    const max = new GlobalMaxPooling2D();
    max.build([h, w, c]);
    const m = await run(engine, max, n, x, dy);
    const ref = maxPool2dForwardRef(x, g);
    expect(Array.from(m.y)).toEqual(Array.from(ref.y, Math.fround));
    const want = new Float32Array(size);
    ref.argmax.forEach((at, o) => (want[at] = dy[o]!));
    expect(Array.from(m.dx)).toEqual(Array.from(want));
  });

  it('an image past one invocation\'s loop (65535 positions) is a ShapeError at build, not a silently short sum', () => {
    expect(() => new GlobalAveragePooling2D({ name: 'g' }).build([300, 250, 1])).toThrow(/75000 elements, more than the 65535/);
  });

  it('GlobalMaxPooling2D sends a tie to the first maximum only', async () => {
    const max = new GlobalMaxPooling2D();
    max.build([2, 2, 1]);
    const m = await run(engines[cls]!, max, 1, Float32Array.from([1, 3, 3, 2]), Float32Array.from([5]));
    expect(Array.from(m.y)).toEqual([3]);
    expect(Array.from(m.dx)).toEqual([0, 5, 0, 0]);
    expect(nanArray(1)).toHaveLength(1);
  });
});
