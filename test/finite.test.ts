// The NaN guard's gradient check (shaders/finite.wgsl) under the GPU class: the vec4 entry and the scalar one,
// each forced on its own, against the CPU scan firstNonFinite; plan rules at the CIFAR CNN's arena size.
// test/reliability.test.ts covers the default class.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runOnce } from '../src/gpu/recorder.js';
import { firstNonFinite, flagNonFinite } from '../src/kernels/finite.js';
import { expectPlanRules, planOf } from './helpers/plan.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ adapterClass: 'gpu' });
});
afterAll(() => engine?.dispose());

async function flag(values: Float32Array, vec4: boolean, state0 = [7, 0, 0, 0]): Promise<number[]> {
  const x = engine.tensor([values.length], values);
  const state = engine.tensor([4], new Uint32Array(state0));
  await runOnce(engine, 'flag test', (rec) => flagNonFinite(rec, x, state.buffer, { vec4 }));
  const out = Array.from(await state.data<Uint32Array>());
  x.dispose();
  state.dispose();
  return out;
}

describe.each([true, false])('flagNonFinite (GPU class), vec4=%s', (vec4) => {
  const sizes = [1, 3, 4, 7, 33, 127, 257, 784, 1000, 4100, 5_000_000].filter((n) => !vec4 || n % 4 === 0);
  it.each(sizes)('n=%i: flags NaN, +Inf and -Inf in any lane, the first step only, and nothing else', async (n) => {
    const values = new Float32Array(n).map((_, i) => Math.sin(i) * 1e30);
    // huge finite values and -0 are not flagged
    values[0] = -0;
    if (n > 1) values[n - 1] = 3.4e38;
    expect(await flag(values, vec4)).toEqual([7, 0, 0, 0]);
    const spots = [...new Set([0, 1, 2, 3, n - 1, Math.floor(n / 2)].filter((i) => i < n))];
    for (const [k, at] of spots.entries()) {
      const bad = [NaN, Infinity, -Infinity][k % 3]!;
      const v = values.slice();
      v[at] = bad;
      expect(firstNonFinite(v)).toBe(at);
      expect(await flag(v, vec4), `${bad} at ${at}`).toEqual([7, 7, 0, 0]);
      // a flag already raised keeps its step
      expect((await flag(v, vec4, [9, 3, 0, 0]))[1]).toBe(3);
    }
  });
});

describe('flagNonFinite plan rules (GPU class)', () => {
  it.each([2_122_304, 407_168, 5_000_000])('n=%i: vec4, enough workgroups, serial 1', (n) => {
    const x = engine.zeros([n]), state = engine.zeros([4], 'u32');
    const [d] = expectPlanRules(planOf(engine, (rec) => flagNonFinite(rec, x, state.buffer)), `finite over ${n}`);
    expect(d!.cost!.variant).toBe('vec4');
    expect(d!.workgroups[0] * d!.workgroups[1]).toBeGreaterThanOrEqual(256);
    x.dispose();
    state.dispose();
  });
});
