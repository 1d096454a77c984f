import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Engine, Recorder, ShaderflowError, ShapeError } from '../src/index.js';
import { chunkPlan, cpuGather, DeviceDataset } from '../src/data/device.js';
import { permutation } from '../src/data/preprocess.js';
import type { ImageSet } from '../src/data/types.js';
import { nanArray } from './helpers/check.js';
import { expectSameBytes, syntheticSet } from './helpers/data-fixtures.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

const STORAGE_COPY_DST = 0x0080 | 0x0008;

/**
 * Uploads `set`, records ONE gather of n examples, then replays it for several `start` values (rewriting only the
 * 4-byte start buffer) and checks x and y against the CPU path bit for bit.
 */
async function checkGather(set: ImageSet, classes: number, n: number, starts: number[], opts: { scale?: number; offset?: number; sparse?: boolean }, maxChunkBytes?: number, expectChunks?: number) {
  const count = set.shape[0];
  const row = set.shape[1] * set.shape[2] * set.shape[3];
  const ds = DeviceDataset.upload(engine, set, classes, { maxChunkBytes });
  if (expectChunks !== undefined) expect(ds.chunkCount).toBe(expectChunks);
  expect(ds.count).toBe(count);
  expect(ds.exampleShape).toEqual(set.shape.slice(1));
  const order = permutation(count, 1234 + n);
  const orderT = engine.tensor([count], order);
  const start = engine.device.createBuffer({ size: 16, usage: STORAGE_COPY_DST, label: 'start' });
  const x = engine.tensor([n, row], nanArray(n * row));
  const yPer = opts.sparse ? 1 : classes;
  const y = engine.tensor([n, yPer], nanArray(n * yPer));
  const rec = new Recorder(engine, 'gather test');
  ds.recordGather(rec, orderT, start, n, x, y, opts);
  try {
    for (const s of starts) {
      engine.device.queue.writeBuffer(start, 0, Uint32Array.of(s));
      rec.run();
      await engine.checkErrors('gather');
      const gx = await x.data();
      const gy = new Uint32Array((await y.data()).buffer);
      const cpu = opts.sparse ? cpuGather(set, order, s, n, classes, { ...opts, sparse: true }) : cpuGather(set, order, s, n, classes, { ...opts, sparse: false });
      expectSameBytes(gx, cpu.x, `x at start ${s}`);
      expectSameBytes(gy, cpu.y, `y at start ${s}`);
    }
  } finally {
    rec.dispose();
    for (const t of [orderT, x, y]) t.dispose();
    start.destroy();
    ds.dispose();
  }
}

describe('DeviceDataset: GPU batches equal the CPU path bit for bit', () => {
  it('28x28x1, odd n, a permutation, several starts, one-hot, x/255', async () => {
    const set = syntheticSet(101, 28, 28, 1, 10, 9);
    await checkGather(set, 10, 13, [0, 13, 50, 88], {}, undefined, 1);
  });

  it('sparse labels as u32, and a scale/offset that a fused multiply-add would round differently', async () => {
    const set = syntheticSet(64, 7, 5, 3, 7, 2); // 105 bytes per example: examples straddle u32 words
    await checkGather(set, 7, 9, [0, 1, 55], { sparse: true, scale: 1 / 127.5, offset: -1 });
    await checkGather(set, 7, 9, [3, 30], { scale: 0.1, offset: 0.3 });
  });

  it('split into chunks of whole examples (small chunk limit), one dispatch each, same bits', async () => {
    const set = syntheticSet(50, 6, 6, 3, 10, 5); // 108 bytes per example
    await checkGather(set, 10, 17, [0, 16, 33], {}, 108 * 12 + 3, 5); // 12 examples per chunk -> 5 chunks
    await checkGather(set, 10, 17, [5, 33], { sparse: true }, 108 * 12 + 3, 5);
    await checkGather(set, 10, 50, [0], {}, 108 * 25, 2);
  });

  it('the default chunk size follows the adapter limit; CIFAR-10 train needs two chunks at 128 MiB', () => {
    const set = syntheticSet(4, 2, 2, 1);
    const ds = DeviceDataset.upload(engine, set, 10);
    expect(ds.chunkCount).toBe(1);
    ds.dispose();
    expect(chunkPlan(50000, 3072, 128 * 1024 * 1024)).toEqual([
      { first: 0, count: 43690 },
      { first: 43690, count: 6310 },
    ]);
    expect(chunkPlan(60000, 784, 128 * 1024 * 1024)).toEqual([{ first: 0, count: 60000 }]);
    expect(chunkPlan(0, 784, 1024)).toEqual([{ first: 0, count: 0 }]);
  });

  it('clear errors for bad arguments', () => {
    const set = syntheticSet(8, 2, 2, 1, 3);
    expect(() => DeviceDataset.upload(engine, set, 2)).toThrow(/outside 0..1/);
    expect(() => DeviceDataset.upload(engine, set, 3, { maxChunkBytes: 2 })).toThrow(/one example is 4 bytes/);
    expect(() => DeviceDataset.upload(engine, { ...set, shape: [9, 2, 2, 1] }, 3)).toThrow(ShapeError);
    const ds = DeviceDataset.upload(engine, set, 3);
    const order = engine.tensor([8], permutation(8, 1));
    const x = engine.empty([4, 4]);
    const y = engine.empty([4, 3]);
    const uniform = engine.acquire(16, 'uniform');
    const good = engine.device.createBuffer({ size: 16, usage: STORAGE_COPY_DST });
    const rec = new Recorder(engine, 'bad');
    expect(() => ds.recordGather(rec, order, uniform, 4, x, y)).toThrow(ShaderflowError);
    expect(() => ds.recordGather(rec, order, good, 5, x, y)).toThrow(/needs 20/);
    expect(() => ds.recordGather(rec, order, good, 4, x, y, { sparse: false })).not.toThrow();
    expect(() => ds.recordGather(rec, order, good, 9, x, y)).toThrow(/1..8/);
    rec.dispose();
    engine.release(uniform);
    good.destroy();
    for (const t of [order, x, y]) t.dispose();
    ds.dispose();
    expect(() => cpuGather(set, Uint32Array.of(8), 0, 1, 3, {})).toThrow(/not an example index/);
  });
});
