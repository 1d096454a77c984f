// Learning-rate schedules against float64 formulas written from Keras' documented definitions, step by step
// (Keras' LearningRateSchedule: a function of the 0-based optimizer step), their argument checks, the check fit
// runs before training, and their model.json config round trip.
import { describe, expect, it } from 'vitest';
import { adam, learningRateAt, optimizerConfig, optimizerFromConfig, sgd } from '../src/model/optimizers.js';
import { checkLearningRate, cosineDecay, exponentialDecay, inverseTimeDecay, piecewiseConstantDecay, scheduleFromConfig, type LearningRateSchedule } from '../src/model/schedules.js';

// steps 0..300 and a few far ones (odd sizes, the boundaries and the ends of warm-up and decay)
const STEPS = [...Array.from({ length: 301 }, (_, i) => i), 999, 1000, 1001, 4097, 100_000];

function expectSchedule(s: LearningRateSchedule, formula: (step: number) => number): void {
  for (const step of STEPS) {
    const want = formula(step);
    const got = s(step);
    // the same float64 formula; only the order of operations may differ
    expect(Math.abs(got - want), `step ${step}: ${got} vs ${want}`).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(want)));
  }
}

describe('exponentialDecay', () => {
  it.each([false, true])('initial · rate^(step / decaySteps), staircase=%s', (staircase) => {
    const s = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 33, decayRate: 0.96, staircase });
    expectSchedule(s, (t) => 0.1 * Math.pow(0.96, staircase ? Math.floor(t / 33) : t / 33));
    // staircase holds the rate through each block of decaySteps steps
    if (staircase) expect([s(0), s(32), s(33)]).toEqual([0.1, 0.1, 0.1 * 0.96]);
  });
});

describe('inverseTimeDecay', () => {
  it.each([false, true])('initial / (1 + rate · step / decaySteps), staircase=%s', (staircase) => {
    const s = inverseTimeDecay({ initialLearningRate: 0.5, decaySteps: 7, decayRate: 0.5, staircase });
    expectSchedule(s, (t) => 0.5 / (1 + 0.5 * (staircase ? Math.floor(t / 7) : t / 7)));
  });
});

describe('piecewiseConstantDecay', () => {
  it('values[0] up to and including boundaries[0], then each value past its boundary', () => {
    const s = piecewiseConstantDecay({ boundaries: [100, 110, 257], values: [1, 0.5, 0.1, 0.01] });
    expectSchedule(s, (t) => (t <= 100 ? 1 : t <= 110 ? 0.5 : t <= 257 ? 0.1 : 0.01));
    expect([s(100), s(101), s(110), s(111)]).toEqual([1, 0.5, 0.5, 0.1]);
  });
});

describe('cosineDecay', () => {
  const cosine = (t: number, steps: number, from: number, alpha: number) => from * ((1 - alpha) * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, steps)) / steps)) + alpha);

  it.each([0, 0.1])('without warm-up: the cosine from initial to alpha · initial, then flat (alpha=%s)', (alpha) => {
    const s = cosineDecay({ initialLearningRate: 0.2, decaySteps: 127, alpha });
    expectSchedule(s, (t) => cosine(t, 127, 0.2, alpha));
    expect(s(0)).toBe(0.2);
    expect(s(127)).toBeCloseTo(0.2 * alpha, 15);
  });

  it('with warm-up: linear from initial to warmupTarget over warmupSteps, then the cosine from warmupTarget', () => {
    const s = cosineDecay({ initialLearningRate: 0, decaySteps: 200, alpha: 0.05, warmupTarget: 0.1, warmupSteps: 33 });
    expectSchedule(s, (t) => (Math.min(t, 233) < 33 ? (0.1 * t) / 33 : cosine(Math.min(t, 233) - 33, 200, 0.1, 0.05)));
    expect(s(0)).toBe(0); // Keras' own warm-up example starts at 0
    expect(s(33)).toBeCloseTo(0.1, 15);
    expect(s(10_000)).toBeCloseTo(0.1 * 0.05, 15);
  });
});

describe('argument checks', () => {
  it.each([
    [() => exponentialDecay({ initialLearningRate: 0, decaySteps: 10, decayRate: 0.9 }), /initialLearningRate must be a finite number > 0/],
    [() => exponentialDecay({ initialLearningRate: 0.1, decaySteps: 0, decayRate: 0.9 }), /decaySteps must be a finite number > 0/],
    [() => exponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: -0.5 }), /decayRate must be a finite number > 0/],
    [() => inverseTimeDecay({ initialLearningRate: -1, decaySteps: 10, decayRate: 0.5 }), /initialLearningRate/],
    [() => piecewiseConstantDecay({ boundaries: [10, 20], values: [0.1, 0.01] }), /one more entry than boundaries/],
    [() => piecewiseConstantDecay({ boundaries: [20, 10], values: [0.1, 0.01, 0.001] }), /increase strictly/],
    [() => piecewiseConstantDecay({ boundaries: [10], values: [0.1, 0] }), /values\[1\] must be a finite number > 0/],
    [() => cosineDecay({ initialLearningRate: 0.1, decaySteps: 10, alpha: 1.5 }), /alpha must be in \[0, 1\]/],
    [() => cosineDecay({ initialLearningRate: 0, decaySteps: 10 }), /initialLearningRate must be a finite number > 0/],
    [() => cosineDecay({ initialLearningRate: 0, decaySteps: 10, warmupTarget: 0, warmupSteps: 5 }), /warmupTarget must be a finite number > 0/],
  ])('%#: a clear error naming the argument', (make, re) => {
    expect(make).toThrow(re);
  });
});

describe('checkLearningRate (run by fit before training)', () => {
  it('rejects a non-positive number', () => {
    for (const bad of [0, -0.01, NaN, Infinity]) expect(() => checkLearningRate(bad, 0, 10)).toThrow(/learning rate must be a finite number > 0/);
    expect(() => checkLearningRate(0.01, 0, 10)).not.toThrow();
  });

  it('evaluates a schedule at every step the fit runs: a negative rate at step 57 is found before step 0 runs', () => {
    const bad = Object.assign((t: number) => (t === 57 ? -1e-3 : 0.01), { className: 'MySchedule' });
    expect(() => checkLearningRate(bad, 0, 100)).toThrow(/MySchedule gives the learning rate -0.001 at optimizer step 57/);
    expect(() => checkLearningRate(bad, 0, 57)).not.toThrow(); // a fit that never reaches step 57
    expect(() => checkLearningRate(bad, 58, 100)).not.toThrow(); // a resumed one that starts past it
    expect(() => checkLearningRate(() => NaN, 0, 3)).toThrow(/NaN at optimizer step 0/);
  });

  it('allows 0 at some steps (warm-up from 0, cosine floor) but not at every step', () => {
    expect(() => checkLearningRate(cosineDecay({ initialLearningRate: 0, decaySteps: 10, warmupTarget: 0.1, warmupSteps: 5 }), 0, 30)).not.toThrow();
    expect(() => checkLearningRate(cosineDecay({ initialLearningRate: 0.1, decaySteps: 10 }), 10, 30)).toThrow(/learning rate of 0 at every one of the 30 steps/);
  });
});

describe('config (model.json training_config)', () => {
  it.each([
    exponentialDecay({ initialLearningRate: 0.1, decaySteps: 33, decayRate: 0.96, staircase: true }),
    inverseTimeDecay({ initialLearningRate: 0.5, decaySteps: 7, decayRate: 0.5 }),
    piecewiseConstantDecay({ boundaries: [100, 110], values: [1, 0.5, 0.1] }),
    cosineDecay({ initialLearningRate: 0, decaySteps: 200, alpha: 0.05, warmupTarget: 0.1, warmupSteps: 33 }),
    cosineDecay({ initialLearningRate: 0.1, decaySteps: 200 }),
  ])('%#: Keras class name and snake_case config, read back to the same rates', (s) => {
    const cfg = optimizerConfig(adam({ learningRate: s }));
    const lr = cfg.config.learning_rate as { class_name: string; config: Record<string, unknown> };
    expect(lr.class_name).toBe(s.className);
    expect(Object.keys(lr.config).every((k) => k === k.toLowerCase())).toBe(true);
    const back = optimizerFromConfig(JSON.parse(JSON.stringify(cfg)))!;
    expect(typeof back.learningRate).toBe('function');
    for (const t of STEPS) expect(learningRateAt(back.learningRate, t)).toBe(s(t));
    expect(scheduleFromConfig('NoSuchDecay', {})).toBeUndefined();
  });

  it('a custom schedule function is saved as its rate at step 0', () => {
    expect(optimizerConfig(sgd({ learningRate: (t) => 0.3 / (1 + t) })).config.learning_rate).toBe(0.3);
  });
});
