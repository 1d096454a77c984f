// Pipelines are compiled with createComputePipelineAsync, in parallel, before a model's first step is recorded
// (issue 11, item 4): fit, evaluate and predict build no pipeline synchronously.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Conv2D, Dense, Flatten, MaxPooling2D, Sequential } from '../src/index.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

function images(n: number): { images: Uint8Array; shape: [number, number, number, number] } {
  const x = new Uint8Array(n * 8 * 8);
  for (let i = 0; i < x.length; i++) x[i] = (i * 37) % 256;
  return { images: x, shape: [n, 8, 8, 1] };
}

describe('asynchronous pipeline compilation', () => {
  it('fit, evaluate and predict compile every kernel asynchronously before recording', async () => {
    const model = new Sequential([
      new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 3, activation: 'softmax' }),
    ]);
    model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
    const labels = new Uint8Array(20).map((_, i) => i % 3);
    const before = { ...engine.pipelineBuilds };
    // 20 examples in batches of 8: a last partial batch of 4, compiled up front too.
    await model.fit(images(20), labels, { batchSize: 8, epochs: 1, verbose: 0, validationData: [images(5), labels.subarray(0, 5)] });
    await model.evaluate(images(7), labels.subarray(0, 7), { batchSize: 4 });
    await model.predict(images(3));
    expect(engine.pipelineBuilds.sync - before.sync).toBe(0);
    expect(engine.pipelineBuilds.async - before.async).toBeGreaterThan(5);
    model.dispose();
  });

  it('a kernel that fails to build is a DeviceError naming it', async () => {
    await expect(engine.compilePipelines([{ shader: 'matmul', entry: 'noSuchEntry', constants: {} }])).rejects.toThrow(/matmul:noSuchEntry/);
  });
});
