// ZeroPadding2D's kernels (src/kernels/padding.ts) against the float64 reference on both adapter classes, odd
// shapes, NaN-poisoned outputs; the layer's padding forms and config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Engine, ZeroPadding2D, type AdapterClass } from '../src/index.js';
import { runOnce } from '../src/gpu/recorder.js';
import { pad2dBackward, pad2dForward, pad2dGeometry } from '../src/kernels/padding.js';
import { pad2dForwardRef } from '../src/reference/padding.js';
import { randomUniform } from '../src/reference/random.js';
import { nanArray } from './helpers/check.js';

const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => Object.values(engines).forEach((e) => e?.dispose()));

describe.each(['software', 'gpu'] as const)('%s class', (cls) => {
  it.each([
    [[1, 1, 1, 1], [[0, 0], [0, 0]]],
    [[3, 7, 5, 3], [[1, 2], [0, 3]]],
    [[2, 28, 28, 1], [[3, 3], [3, 3]]],
    [[7, 4, 9, 33], [[2, 0], [1, 1]]],
  ] as const)('%j padded by %j: forward is exact, backward crops exactly', async (shape, pad) => {
    const engine = engines[cls]!;
    const g = pad2dGeometry([...shape], [[...pad[0]], [...pad[1]]]);
    const inN = shape.reduce((a: number, b: number) => a * b, 1), outN = g.batch * g.outH * g.outW * g.c;
    const x = randomUniform(inN, inN), dy = randomUniform(outN, outN);
    const tx = engine.tensor([inN], x), ty = engine.tensor([outN], nanArray(outN)), tdy = engine.tensor([outN], dy), tdx = engine.tensor([inN], nanArray(inN));
    await runOnce(engine, 'pad', (rec) => {
      pad2dForward(rec, tx, ty, g);
      pad2dBackward(rec, tdy, tdx, g);
    });
    expect(Array.from(await ty.data())).toEqual(Array.from(pad2dForwardRef(x, g), Math.fround));
    // backward is the adjoint of forward: dx_i = dy at i's padded position, so <pad(x), dy> = <x, dx>
    const dx = await tdx.data();
    const padded = pad2dForwardRef(Float64Array.from({ length: inN }, (_, i): number => i + 1), g);
    padded.forEach((v, o) => v > 0 && expect(dx[v - 1]).toBe(dy[o]));
    for (const t of [tx, ty, tdy, tdx]) t.dispose();
  });
});

describe('ZeroPadding2D', () => {
  it('takes Keras padding forms and saves [[top, bottom], [left, right]]', () => {
    expect(new ZeroPadding2D().padding).toEqual([[1, 1], [1, 1]]);
    expect(new ZeroPadding2D({ padding: [2, 3] }).padding).toEqual([[2, 2], [3, 3]]);
    const z = new ZeroPadding2D({ padding: [[1, 2], [3, 4]] });
    z.build([5, 6, 2]);
    expect(z.outputShape).toEqual([8, 13, 2]);
    expect(z.getConfig()).toEqual({ padding: [[1, 2], [3, 4]], data_format: 'channels_last' });
    expect(() => new ZeroPadding2D({ padding: -1 })).toThrow(/padding must be/);
    expect(() => new ZeroPadding2D({ padding: [1, 2, 3] as unknown as number })).toThrow(/padding must be/);
    expect(() => new ZeroPadding2D().build([5, 6])).toThrow(/rank 3/);
  });
});
