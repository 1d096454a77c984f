// Issue 11's rules for the GPU class, checked on a recording's plan (Recorder.plan()) without running it.
import { expect } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Recorder, type PlanEntry } from '../../src/gpu/recorder.js';

/** Longest serial loop any dispatch may run, and the size above which a dispatch must fill the GPU. */
export const MAX_SERIAL = 4096;
export const BIG_FLOPS = 10e6;

/**
 * Every dispatch states its cost; none runs a serial loop over MAX_SERIAL; every dispatch over BIG_FLOPS launches
 * at least 256 workgroups of at least 64 threads. Returns the dispatches for further checks.
 */
export function expectPlanRules(plan: PlanEntry[], what: string): PlanEntry[] {
  const dispatches = plan.filter((e) => e.kind === 'dispatch');
  for (const d of dispatches) {
    const name = `${what}: ${d.label}`;
    expect(d.cost, `${name} states no cost`).not.toBeNull();
    const c = d.cost!;
    expect(c.threads, `${name} threads`).toBeGreaterThan(0);
    expect(c.serial, `${name} serial`).toBeGreaterThan(0);
    expect(c.serial, `${name} serial`).toBeLessThanOrEqual(MAX_SERIAL);
    expect(c.bytes, `${name} bytes`).toBeGreaterThan(0);
    if (c.flops > BIG_FLOPS) {
      const groups = d.workgroups[0] * d.workgroups[1] * d.workgroups[2];
      expect(groups, `${name}: ${c.flops} flops in ${groups} workgroups`).toBeGreaterThanOrEqual(256);
      expect(c.threads, `${name}: threads per workgroup`).toBeGreaterThanOrEqual(64);
    }
  }
  return dispatches;
}

/** Records with `fn` (never runs it) and returns the plan. */
export function planOf(engine: Engine, fn: (rec: Recorder) => void): PlanEntry[] {
  const rec = new Recorder(engine, 'plan');
  try {
    fn(rec);
    return rec.plan();
  } finally {
    rec.dispose();
  }
}
