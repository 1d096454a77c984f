// The merge layers' kernels (elementwise accumulate, multiply, multiplyInto; shaders/merge.wgsl's copyColumns)
// against float64, scalar and vec4 entries each forced on their own, outputs NaN-poisoned so an unwritten element fails; odd sizes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import { accumulate, multiply, multiplyInto } from '../src/kernels/elementwise.js';
import { copyColumns } from '../src/kernels/merge.js';
import { addRef, concatenateRef, copyColumnsRef, multiplyRef } from '../src/reference/merge.js';
import { randomUniform } from '../src/reference/random.js';
import { ShapeError } from '../src/errors.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;

const SIZES = [1, 3, 7, 33, 127, 257, 784, 1000];

// The kernels pick their workgroup size (and vec4 entries) by adapter class: each is checked under both kernel sets.
for (const adapterClass of ['software', 'gpu'] as const)
describe(`merge kernels (${adapterClass} class)`, () => {
  beforeAll(async () => {
    engine = await createEngine({ adapterClass });
  });
  afterAll(() => engine?.dispose());
  it.each(SIZES.flatMap((n) => [n, n * 4]))('accumulate, multiply and multiplyInto match float64 (scalar and vec4) for n=%i', async (n) => {
    const a = randomUniform(n, n), b = randomUniform(n, n + 1);
    const ta = engine.tensor([n], a), tb = engine.tensor([n], b), out = engine.tensor([n], nanArray(n));
    for (const vec4 of [false, true]) {
      out.write(b);
      await runOnce(engine, 'accumulate', (rec) => accumulate(rec, ta, out, { vec4 }));
      expectClose(await out.data(), addRef([a, b]), 1e-6, 1, `accumulate vec4=${vec4}`);
      out.write(nanArray(n));
      await runOnce(engine, 'multiply', (rec) => multiply(rec, ta, tb, out, { vec4 }));
      expectClose(await out.data(), multiplyRef([a, b]), 1e-6, 1, `multiply vec4=${vec4}`);
      await runOnce(engine, 'multiplyInto', (rec) => multiplyInto(rec, ta, out, { vec4 }));
      expectClose(await out.data(), multiplyRef([a, b, a]), 1e-6, 1, `multiplyInto vec4=${vec4}`);
    }
    for (const t of [ta, tb, out]) t.dispose();
  });

  it.each([
    [1, [1, 1]],
    [3, [2, 5, 1]],
    [7, [3, 7]],
    [33, [16, 17]],
    [257, [1, 3, 4]],
    [1000, [7, 9]],
  ])('copyColumns writes each input into its columns and reads them back (%i rows, columns %j)', async (rows, cols) => {
    const total = cols.reduce((s, c) => s + c, 0);
    const xs = cols.map((c, k) => randomUniform(rows * c, 11 * k + rows));
    const txs = xs.map((x, k) => engine.tensor([rows, cols[k]!], x));
    const out = engine.tensor([rows, total], nanArray(rows * total));
    let off = 0;
    await runOnce(engine, 'concatenate', (rec) => {
      off = 0;
      cols.forEach((c, k) => {
        copyColumns(rec, txs[k]!, out, { rows, cols: c, srcCols: c, srcOff: 0, dstCols: total, dstOff: off });
        off += c;
      });
    });
    const joined = await out.data();
    expectClose(joined, concatenateRef(xs, rows, cols), 0, 1, 'concatenate');
    // Backward: each input's columns of the joined rows.
    off = 0;
    for (const [k, c] of cols.entries()) {
      const dx = engine.tensor([rows, c], nanArray(rows * c));
      await runOnce(engine, 'split', (rec) => copyColumns(rec, out, dx, { rows, cols: c, srcCols: total, srcOff: off, dstCols: c, dstOff: 0 }));
      expectClose(await dx.data(), copyColumnsRef(joined, new Float64Array(rows * c), { rows, cols: c, srcCols: total, srcOff: off, dstCols: c, dstOff: 0 }), 0, 1, `split ${k}`);
      expectClose(await dx.data(), xs[k]!, 0, 1, `round trip ${k}`);
      dx.dispose();
      off += c;
    }
    for (const t of [...txs, out]) t.dispose();
  });

  it('copyColumns refuses columns that do not fit', async () => {
    const a = engine.zeros([3, 4]), b = engine.zeros([3, 5]);
    await expect(runOnce(engine, 'bad', (rec) => copyColumns(rec, a, b, { rows: 3, cols: 4, srcCols: 4, srcOff: 0, dstCols: 5, dstOff: 2 }))).rejects.toThrow(ShapeError);
    a.dispose();
    b.dispose();
  });
});
