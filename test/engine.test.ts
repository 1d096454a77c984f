import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, DeviceError, Engine, runOnce, sizeClass } from '../src/index.js';
import { axpby, columnSum, rowSum, scale } from '../src/kernels/elementwise.js';
import { axpbyRef, columnSumRef, rowSumRef } from '../src/reference/elementwise.js';
import { randomUniform } from '../src/reference/random.js';
import { expectClose, nanArray } from './helpers/check.js';

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
});
afterAll(() => engine?.dispose());

const SIZES = [1, 3, 7, 33, 127, 257, 784, 1000];

describe('engine', () => {
  it('reports its adapter and real limits', () => {
    const a = engine.adapter;
    expect(['core', 'compatibility']).toContain(a.featureLevel);
    expect(engine.describe()).toContain(a.backend);
    // We asked for the adapter's limits, not WebGPU's defaults (128 invocations in compatibility mode).
    expect(engine.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it('round-trips data and frees buffers back to the pool', async () => {
    const before = engine.memory();
    const data = randomUniform(1000, 1);
    const t = engine.tensor([10, 100], data);
    expect(engine.memory().liveBuffers).toBe(before.liveBuffers + 1);
    expect(await t.data()).toEqual(data);
    t.dispose();
    expect(engine.memory().liveBuffers).toBe(before.liveBuffers);
    const t2 = engine.tensor([1000], data); // reuses the pooled buffer
    expect(engine.memory().pooledBuffers).toBe(before.pooledBuffers + 0);
    t2.dispose();
  });

  it('size classes cover the request and stay within 25% above it', () => {
    for (const n of [1, 255, 256, 257, 1000, 4096, 4097, 100_000, 3_211_264]) {
      const c = sizeClass(n);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c % 256).toBe(0);
      if (n > 1024) expect(c / n).toBeLessThanOrEqual(1.25 + 1e-9);
    }
  });

  it.each(SIZES)('axpby and scale match float64 for n=%i', async (n) => {
    const a = randomUniform(n, n), b = randomUniform(n, n + 1);
    const ta = engine.tensor([n], a), tb = engine.tensor([n], b), out = engine.tensor([n], nanArray(n));
    await runOnce(engine, 'axpby', (rec) => axpby(rec, ta, tb, out, 0.75, -1.5));
    expectClose(await out.data(), axpbyRef(a, b, 0.75, -1.5), 1e-6);
    await runOnce(engine, 'scale', (rec) => scale(rec, ta, out, 3));
    expectClose(await out.data(), axpbyRef(a, a, 3, 0), 1e-6);
    for (const t of [ta, tb, out]) t.dispose();
  });

  it.each([[1, 1], [3, 7], [33, 127], [257, 10], [784, 33], [1000, 3]])('column and row sums match float64 for %ix%i', async (rows, cols) => {
    const x = randomUniform(rows * cols, rows * 31 + cols);
    const tx = engine.tensor([rows, cols], x);
    const cs = engine.tensor([cols], nanArray(cols)), rs = engine.tensor([rows], nanArray(rows));
    await runOnce(engine, 'sums', (rec) => {
      columnSum(rec, tx, rows, cols, cs);
      rowSum(rec, tx, rows, cols, rs);
    });
    // floor: a sum of n terms in [-1, 1] carries rounding on the scale of sqrt(n), not of the (possibly tiny) sum.
    expectClose(await cs.data(), columnSumRef(x, rows, cols), 1e-5, Math.sqrt(rows));
    expectClose(await rs.data(), rowSumRef(x, rows, cols), 1e-5, Math.sqrt(cols));
    for (const t of [tx, cs, rs]) t.dispose();
  });

  // Past llvmpipe's silent 65535-iteration loop cap (a single loop there would stop early and pass small sizes).
  it.each([[100003, 3], [3, 70001], [65536, 2]])('column and row sums past the loop cap, with accumulate, for %ix%i', async (rows, cols) => {
    const x = randomUniform(rows * cols, rows + cols);
    const tx = engine.tensor([rows, cols], x);
    const cs0 = randomUniform(cols, 5), rs0 = randomUniform(rows, 6);
    const cs = engine.tensor([cols], cs0), rs = engine.tensor([rows], rs0);
    await runOnce(engine, 'sums', (rec) => {
      columnSum(rec, tx, rows, cols, cs, true);
      rowSum(rec, tx, rows, cols, rs, true);
    });
    const cref = columnSumRef(x, rows, cols).map((v, i) => v + cs0[i]!);
    const rref = rowSumRef(x, rows, cols).map((v, i) => v + rs0[i]!);
    expectClose(await cs.data(), cref, 1e-5, Math.sqrt(rows));
    expectClose(await rs.data(), rref, 1e-5, Math.sqrt(cols));
    for (const t of [tx, cs, rs]) t.dispose();
  });

  it('names the shader when a kernel fails to compile', async () => {
    // A pipeline for a missing entry point is a validation error: it must surface as a DeviceError naming it.
    expect(() => engine.pipeline('elementwise', 'noSuchEntry')).not.toThrow();
    await expect(engine.checkErrors('test')).rejects.toThrow(/elementwise:noSuchEntry/);
  });
});

describe('device acquisition', () => {
  it('forcing a backend that does not exist gives the clear error', async () => {
    const err = await createEngine({ backend: 'metal' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeviceError);
    expect(String((err as Error).message)).toMatch(/metal/);
    expect(String((err as Error).message)).toMatch(/mesa-vulkan-drivers libvulkan1 libegl-mesa0 libgles2/);
  });

  it('forcing each backend that exists here gives a working engine', async () => {
    for (const backend of ['vulkan', 'opengles'] as const) {
      let e: Engine;
      try {
        e = await createEngine({ backend });
      } catch (err) {
        expect(err).toBeInstanceOf(DeviceError); // absent here: the clear error, never a crash
        continue;
      }
      expect(e.adapter.backend).toBe(backend);
      const t = e.tensor([3], [1, 2, 3]);
      expect(Array.from(await t.data())).toEqual([1, 2, 3]);
      t.dispose();
      e.dispose();
    }
  });
});

describe('adapter classes', () => {
  it('calls only software rasterizers and fallback adapters software; Mesa hardware drivers are GPUs', async () => {
    const { classifyAdapter } = await import('../src/gpu/engine.js');
    const cls = (info: Parameters<typeof classifyAdapter>[0]) => classifyAdapter(info).adapterClass;
    expect(cls({ vendor: 'mesa', architecture: 'llvmpipe', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe('software');
    expect(cls({ vendor: 'mesa', description: 'lavapipe' })).toBe('software');
    expect(cls({ description: 'softpipe' })).toBe('software');
    expect(cls({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' })).toBe('software');
    expect(cls({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).toBe('software');
    expect(cls({ vendor: 'amd', description: 'AMD Radeon RX 7600 (RADV NAVI33), Mesa 24.2' })).toBe('gpu');
    expect(cls({ vendor: 'intel', description: 'Mesa Intel(R) Graphics (ADL GT2) anv' })).toBe('gpu');
    expect(cls({ vendor: 'nvidia', description: 'NVK AD106, Mesa 25.0' })).toBe('gpu');
    expect(cls({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })).toBe('gpu');
    expect(cls({ vendor: 'unknown', isFallbackAdapter: true })).toBe('software');
    expect(classifyAdapter({ description: 'llvmpipe' }).classReason).toContain('llvmpipe');
  });

  it('a forced class wins and says so; a bad forced value is a clear error before any adapter is requested', async () => {
    const { classifyAdapter } = await import('../src/gpu/engine.js');
    expect(classifyAdapter({ description: 'llvmpipe' }, { value: 'gpu', source: 'SHADERFLOW_ADAPTER_CLASS' })).toEqual({
      adapterClass: 'gpu',
      classReason: 'forced by SHADERFLOW_ADAPTER_CLASS',
    });
    await expect(createEngine({ adapterClass: 'fast' as 'gpu' })).rejects.toThrow(/adapterClass.*'software' or 'gpu'.*"fast"/);
    const gpu = await createEngine({ adapterClass: 'gpu' });
    try {
      expect(gpu.adapter.adapterClass).toBe('gpu');
      expect(gpu.adapter.software).toBe(false);
      expect(gpu.describe()).toContain('gpu class (forced by createEngine({ adapterClass }))');
    } finally {
      gpu.dispose();
    }
    expect(engine.describe()).toMatch(/(software|gpu) class \(/);
    // This machine's adapter (llvmpipe here, SwiftShader in a browser) is classed software by its own info.
    const a = engine.adapter;
    if (/llvmpipe|lavapipe|swiftshader/i.test(`${a.vendor} ${a.architecture} ${a.description} ${a.device}`) && !process.env.SHADERFLOW_ADAPTER_CLASS) {
      expect(a.adapterClass).toBe('software');
      expect(a.classReason).toMatch(/software rasterizer/);
    }
  });
});
