// The dispatch plan (src/model/plan.ts, model.plan, `shaderflow plan`): issue 11's parallelism rules for the GPU
// kernel set on every preset at batch 128 and 1024, and the roofline arithmetic (the CLI's --json lines: test/cli.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { buildPlan, formatPlan, H200, modeledMicros, parseGpuSpec } from '../src/model/plan.js';
import { buildPreset, PRESETS } from '../src/model/presets.js';

let gpu: Engine;
let software: Engine;
beforeAll(async () => {
  gpu = await createEngine({ adapterClass: 'gpu' });
  software = await createEngine({ adapterClass: 'software' });
});
afterAll(() => {
  gpu?.dispose();
  software?.dispose();
});

const MFLOP = 1e6;

describe('model.plan: the GPU kernel set fills a GPU', () => {
  for (const preset of PRESETS)
    for (const batch of [128, 1024])
      it(`${preset} at batch ${batch}: >10 MFLOP dispatches launch >= 256 workgroups of >= 64 threads; no serial loop > 4096`, () => {
        const { model, compileArgs } = buildPreset(preset);
        model.compile(gpu, compileArgs);
        try {
          const plan = model.plan(batch);
          expect(plan.rows.length).toBeGreaterThan(5);
          const big = plan.rows.filter((r) => r.flops > 10 * MFLOP);
          expect(big.length).toBeGreaterThan(0);
          for (const r of big) {
            expect({ label: r.label, groups: r.groups >= 256, threads: r.threads >= 64 }).toEqual({ label: r.label, groups: true, threads: true });
          }
          for (const r of plan.rows) expect({ label: r.label, serial: r.serial }).toEqual({ label: r.label, serial: Math.min(r.serial, 4096) });
          // The step's FLOPs are at least those of its matmuls and convolutions (forward 2·params·batch-ish).
          const total = plan.rows.reduce((a, r) => a + r.flops, 0);
          expect(total).toBeGreaterThan(2 * batch * 100_000);
          expect(plan.total_modeled_us).toBeCloseTo(plan.rows.reduce((a, r) => a + r.modeled_us, 0), 1);
        } finally {
          model.dispose();
        }
      });

  it('lists the same operations as the recorded step runs, and every one states its cost under both classes', () => {
    for (const engine of [gpu, software]) {
      const { model, compileArgs } = buildPreset('mnist-cnn');
      model.compile(engine, compileArgs);
      try {
        const plan = model.plan(128);
        expect(plan.rows.filter((r) => r.variant !== 'copy' && r.variant !== 'clear')).toHaveLength(model.dispatchesPerStep(128));
        for (const r of plan.rows) {
          expect(r.variant.length).toBeGreaterThan(0);
          expect(r.bytes).toBeGreaterThan(0);
        }
      } finally {
        model.dispose();
      }
    }
  });
});

describe('roofline model', () => {
  it('takes the largest of compute, memory and serial latency', () => {
    // 67 GFLOP on 67 TFLOP/s = 1 ms.
    expect(modeledMicros(100_000, 256, 1, 67e9, 0, H200)).toBeCloseTo(1000, 6);
    // 4.8 GB at 4.8 TB/s = 1 ms.
    expect(modeledMicros(100_000, 256, 1, 0, 4.8e9, H200)).toBeCloseTo(1000, 6);
    // 1 workgroup of 32 threads walking 100,000 steps: one wave, 100,000 x 4 ns = 400 µs.
    expect(modeledMicros(1, 32, 100_000, 6.4e6, 1e5, H200)).toBeCloseTo(400, 6);
    // 132 SMs x 8 resident workgroups of 256 threads = 1056 per wave: 1057 workgroups take two waves.
    expect(modeledMicros(1057, 256, 1000, 0, 0, H200)).toBeCloseTo(2 * 1000 * 4e-3, 6);
    expect(modeledMicros(1056, 256, 1000, 0, 0, H200)).toBeCloseTo(1000 * 4e-3, 6);
  });

  it('parses --gpu-spec names and JSON, and names a bad field', () => {
    expect(parseGpuSpec('h200')).toBe(H200);
    const s = parseGpuSpec('{"name":"laptop","fp32Tflops":4,"bandwidthGbs":100,"sms":24}');
    expect(s).toEqual({ ...H200, name: 'laptop', fp32Tflops: 4, bandwidthGbs: 100, sms: 24 });
    expect(() => parseGpuSpec('{"sms":-1}')).toThrow(/"sms" must be a positive number/);
    expect(() => parseGpuSpec('{"cores":3}')).toThrow(/unknown field "cores"/);
    expect(() => parseGpuSpec('rtx9090')).toThrow(/not a known GPU/);
  });

  it('refuses a dispatch that states no cost, naming it', () => {
    expect(() => buildPlan([{ label: 'mystery kernel', kind: 'dispatch', workgroups: [1, 1, 1], cost: null }])).toThrow(/"mystery kernel" states no cost/);
    const text = formatPlan(buildPlan([{ label: 'k', kind: 'dispatch', workgroups: [4, 2, 1], cost: { variant: 'v', threads: 64, serial: 9, flops: 2e6, bytes: 4e3 } }]));
    expect(text).toContain('4x2x1 (8)');
    expect(text).toMatch(/total: 1 operations, 2.0MFLOP/);
  });
});
