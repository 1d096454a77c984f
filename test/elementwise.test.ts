// The GPU-class elementwise and reduction variants (vec4 axpby/scale, 'tree' column/row sums) against float64,
// each forced on its own, plus issue 11's plan rules at the seed shapes. test/engine.test.ts covers the defaults.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import { axpby, columnSum, rowSum, scale, TREE_CHUNK, type ReduceVariant } from '../src/kernels/elementwise.js';
import { axpbyRef, columnSumRef, rowSumRef } from '../src/reference/elementwise.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => engine?.dispose());

const SIZES = [1, 3, 7, 33, 127, 257, 784, 1000];

describe('elementwise (GPU class)', () => {
  it.each(SIZES.flatMap((n) => [n, n * 4]))('vec4 and scalar axpby and scale match float64 for n=%i', async (n) => {
    const a = randomUniform(n, n), b = randomUniform(n, n + 1);
    const ta = engine.tensor([n], a), tb = engine.tensor([n], b), out = engine.tensor([n], nanArray(n));
    for (const vec4 of [false, true]) {
      out.write(nanArray(n));
      await runOnce(engine, 'axpby', (rec) => axpby(rec, ta, tb, out, 0.75, -1.5, { vec4 }));
      expectClose(await out.data(), axpbyRef(a, b, 0.75, -1.5), 1e-6, 1, `axpby vec4=${vec4}`);
      out.write(nanArray(n));
      await runOnce(engine, 'scale', (rec) => scale(rec, ta, out, 3, { vec4 }));
      expectClose(await out.data(), axpbyRef(a, a, 3, 0), 1e-6, 1, `scale vec4=${vec4}`);
    }
    for (const t of [ta, tb, out]) t.dispose();
  });

  it('picks vec4 on the GPU class only when n is a multiple of 4', () => {
    const t = engine.zeros([12]), u = engine.zeros([7]);
    const plan = planOf(engine, (rec) => {
      scale(rec, t, t, 2);
      scale(rec, u, u, 2);
    });
    expect(plan.map((e) => e.cost!.variant)).toEqual(['vec4', 'scalar']);
    t.dispose();
    u.dispose();
  });
});

const VARIANTS: ReduceVariant[] = ['tree', 'serial'];

async function sums(variant: ReduceVariant, x: Float32Array, rows: number, cols: number, cs0: Float32Array | null, rs0: Float32Array | null) {
  const tx = engine.tensor([rows, cols], x);
  const cs = engine.tensor([cols], cs0 ?? nanArray(cols)), rs = engine.tensor([rows], rs0 ?? nanArray(rows));
  await runOnce(engine, 'sums', (rec) => {
    columnSum(rec, tx, rows, cols, cs, cs0 !== null, { variant });
    rowSum(rec, tx, rows, cols, rs, rs0 !== null, { variant });
  });
  const out = { cs: await cs.data(), rs: await rs.data() };
  for (const t of [tx, cs, rs]) t.dispose();
  return out;
}

describe.each(VARIANTS)('column and row sums, variant %s', (variant) => {
  it.each([[1, 1], [3, 7], [33, 127], [257, 10], [784, 33], [1000, 3], [7, 1000], [127, 1], [1, 257]])('match float64 for %ix%i', async (rows, cols) => {
    const x = randomUniform(rows * cols, rows * 31 + cols);
    const { cs, rs } = await sums(variant, x, rows, cols, null, null);
    // floor: a sum of n terms in [-1, 1] carries rounding on the scale of sqrt(n), not of the (possibly tiny) sum.
    expectClose(cs, columnSumRef(x, rows, cols), 1e-5, Math.sqrt(rows), 'column sums');
    expectClose(rs, rowSumRef(x, rows, cols), 1e-5, Math.sqrt(cols), 'row sums');
  });

  // Past TREE_CHUNK^2 terms a tree sum needs three levels; past 65535 the serial one needs partials.
  it.each([[TREE_CHUNK * TREE_CHUNK + 4097, 1], [70001, 3], [3, 70001], [1, TREE_CHUNK * TREE_CHUNK + 5]])(
    'match float64 with accumulate over several levels of partials for %ix%i', async (rows, cols) => {
      const x = randomUniform(rows * cols, rows + cols);
      const cs0 = randomUniform(cols, 5), rs0 = randomUniform(rows, 6);
      const { cs, rs } = await sums(variant, x, rows, cols, cs0, rs0);
      expectClose(cs, columnSumRef(x, rows, cols).map((v, i) => v + cs0[i]!), 1e-5, Math.sqrt(rows), 'column sums');
      expectClose(rs, rowSumRef(x, rows, cols).map((v, i) => v + rs0[i]!), 1e-5, Math.sqrt(cols), 'row sums');
    },
  );

  it('is bit-identical run to run', async () => {
    const rows = 70001, cols = 33;
    const x = randomUniform(rows * cols, 9, -1, 3);
    const a = await sums(variant, x, rows, cols, null, null);
    const b = await sums(variant, x, rows, cols, null, null);
    expect(Buffer.from(b.cs.buffer).equals(Buffer.from(a.cs.buffer))).toBe(true);
    expect(Buffer.from(b.rs.buffer).equals(Buffer.from(a.rs.buffer))).toBe(true);
  });
});

describe('column sums: plan rules (GPU class)', () => {
  // Dense bias gradients at the seed shapes (batch x units), a conv bias gradient (B*H*W x filters), and far larger.
  const SHAPES: [number, number][] = [
    ...[128, 1024].flatMap((b) => [512, 10, 128, 64].map((u): [number, number] => [b, u])),
    [128 * 32 * 32, 64], [1 << 24, 1], [1 << 21, 8], [3, 1 << 22], [1, 1 << 24],
  ];
  it.each(SHAPES)('[%i, %i]: no serial loop over 4096, enough workgroups for big sums', (rows, cols) => {
    const x = engine.zeros([rows, cols]), c = engine.zeros([cols]), r = engine.zeros([rows]);
    const plan = planOf(engine, (rec) => {
      columnSum(rec, x, rows, cols, c, true);
      rowSum(rec, x, rows, cols, r);
    });
    expect(plan.every((e) => e.cost?.variant === 'tree')).toBe(true);
    expectPlanRules(plan, `sums of [${rows}, ${cols}]`);
    for (const t of [x, c, r]) t.dispose();
  });
});
