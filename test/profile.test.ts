// model.profile (src/model/profile.ts, Recorder.profile/time): every operation of the recorded step is listed
// (the same ones model.plan lists) with a measured time, and the model's state after a profile is bit for bit
// what it was. Timings themselves are never asserted (a shared machine is noisy).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder, timingMethod } from '../src/gpu/recorder.js';
import { formatProfile, profileJsonLines } from '../src/model/profile.js';
import { Conv2D } from '../src/layers/conv2d.js';
import { Dense } from '../src/layers/dense.js';
import { Flatten } from '../src/layers/flatten.js';
import { sequential } from '../src/index.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

function small() {
  const model = sequential([
    new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [7, 7, 1] }),
    new Flatten(),
    new Dense({ units: 5, activation: 'softmax' }),
  ]);
  model.compile(engine, { optimizer: 'adam', loss: 'categorical_crossentropy' });
  return model;
}

describe('model.profile', () => {
  it('lists every dispatch of the step, each timed, and leaves weights, optimizer and step state unchanged', async () => {
    const model = small();
    try {
      // One real step first, so the gradients and Adam's moments are not zeros.
      await model.timeTrainSteps({ batchSize: 3, steps: 1, warmup: 0 });
      const before = await model.getWeights();
      const gradsBefore = await model.getGradients();
      const p = await model.profile(3, { steps: 1, runs: 1 });
      // The entries are the recorded step's plan entries (model.plan lists the same recording): every dispatch.
      expect(p.entries.filter((e) => e.kind === 'dispatch').length).toBe(model.dispatchesPerStep(3));
      expect(p.entries.map((e) => e.label)).toEqual(model.plan(3).rows.map((r) => r.label)); // what `shaderflow plan` lists
      expect(p.method).toBe(timingMethod(engine));
      for (const e of p.entries) if (e.kind === 'dispatch') expect(Number.isFinite(e.us) && e.us! >= 0, e.label).toBe(true);
      expect(p.sumMs).toBeCloseTo(p.entries.reduce((a, e) => a + (e.us ?? 0), 0) / 1e3, 6);
      expect(p.stepMs).toBeGreaterThan(0);
      const after = await model.getWeights();
      after.forEach((w, i) => expect(Array.from(w.values), w.name).toEqual(Array.from(before[i]!.values)));
      (await model.getGradients()).forEach((g, i) => expect(Array.from(g.values), g.name).toEqual(Array.from(gradsBefore[i]!.values)));
      const lines = profileJsonLines(p);
      expect(lines).toHaveLength(p.entries.length + 1);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ operations: p.entries.length, method: p.method });
      expect(formatProfile(p)).toContain('synchronous step');
    } finally {
      model.dispose();
    }
  }, 120_000);

  it('profile does not change what training computes next (same weights as a model that was never profiled)', async () => {
    const a = small();
    const b = small();
    try {
      await a.profile(3, { steps: 1, runs: 1 });
      await a.timeTrainSteps({ batchSize: 3, steps: 2, warmup: 0 });
      await b.timeTrainSteps({ batchSize: 3, steps: 2, warmup: 0 });
      const wa = await a.getWeights();
      const wb = await b.getWeights();
      wa.forEach((w, i) => expect(Array.from(w.values), w.name).toEqual(Array.from(wb[i]!.values)));
    } finally {
      a.dispose();
      b.dispose();
    }
  }, 120_000);

  it('Recorder.time says how it timed, and a dry recording cannot be timed', async () => {
    const rec = new Recorder(engine, 'empty');
    try {
      const t = await rec.time(2);
      expect(t.method).toBe(timingMethod(engine));
      expect(t.ms).toBeGreaterThanOrEqual(0);
    } finally {
      rec.dispose();
    }
    const dry = new Recorder(engine, 'dry', { dry: true });
    await expect(dry.profile()).rejects.toThrow(/dry/);
    dry.dispose();
  });
});
