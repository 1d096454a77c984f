// Per-shape autotune (src/kernels/autotune.ts): prepareTuning times the candidates of every (family, shape bucket)
// a recording asks for, stores the fastest in a per-adapter cache file (under SHADERFLOW_CACHE in Node), later
// engines reuse it without timing, and a corrupt cache is ignored with a warning and rewritten.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { autotuneEnabled, createEngine, type Engine } from '../src/gpu/engine.js';
import { BACKEND_MEMORY } from '../src/gpu/provider.js';
import { Recorder } from '../src/gpu/recorder.js';
import { prepareTuning, TUNING_VERSION, tuningCacheName, tuningChoices } from '../src/kernels/autotune.js';
import { fittingMatmulCandidates, matmul } from '../src/kernels/matmul.js';
import { chooseTuning, tuningOf } from '../src/kernels/tuning.js';

let dir: string;
const savedCache = process.env.SHADERFLOW_CACHE;
const engines: Engine[] = [];
async function engine(autotune: boolean): Promise<Engine> {
  const e = await createEngine({ autotune });
  engines.push(e);
  return e;
}

/** A recording of two matmuls of different shape buckets (NN 96x80x64 and TN 40x24x300). */
function step(e: Engine): () => Recorder {
  return () => {
    const rec = new Recorder(e, 'tuning test step');
    const a = e.empty([96, 64]);
    const b = e.empty([64, 80]);
    const c = e.empty([96, 80]);
    const at = e.empty([300, 40]);
    const bt = e.empty([300, 24]);
    const ct = e.empty([40, 24]);
    matmul(rec, a, b, c, 96, 80, 64);
    matmul(rec, at, bt, ct, 40, 24, 300, { transA: true });
    for (const t of [a, b, c, at, bt, ct]) t.dispose(); // recording only: never run
    return rec;
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shaderflow-tuning-'));
  process.env.SHADERFLOW_CACHE = dir;
});
afterAll(() => {
  for (const e of engines) e.dispose();
  if (savedCache === undefined) delete process.env.SHADERFLOW_CACHE;
  else process.env.SHADERFLOW_CACHE = savedCache;
  rmSync(dir, { recursive: true, force: true });
});

describe('per-shape autotune', () => {
  it('is on by default on detected GPUs, off on software adapters, SHADERFLOW_AUTOTUNE=0|1 and the option decide; off times and writes nothing', async () => {
    const env = process.env.SHADERFLOW_AUTOTUNE;
    try {
      delete process.env.SHADERFLOW_AUTOTUNE;
      expect(autotuneEnabled()).toBe(true);
      expect(autotuneEnabled(undefined, false)).toBe(false); // software adapters and forced classes: off by default
      process.env.SHADERFLOW_AUTOTUNE = '1';
      expect(autotuneEnabled(undefined, false)).toBe(true);
      process.env.SHADERFLOW_AUTOTUNE = '0';
      expect(autotuneEnabled()).toBe(false);
      expect(autotuneEnabled(true)).toBe(true);
    } finally {
      if (env === undefined) delete process.env.SHADERFLOW_AUTOTUNE;
      else process.env.SHADERFLOW_AUTOTUNE = env;
    }
    const e = await engine(false);
    expect(await prepareTuning(e, step(e))).toEqual([]);
    expect(tuningOf(e).matmul).toEqual(chooseTuning(e.adapter, e.limits).matmul);
    // Nothing of the tuning's: the backend memory (src/gpu/provider.ts) may sit there, written by createEngine.
    expect(readdirSync(dir).filter((f) => f !== BACKEND_MEMORY)).toEqual([]);
  });

  it('times every candidate of each shape bucket once, picks the fastest and writes the cache file', async () => {
    const e = await engine(true);
    const reports = await prepareTuning(e, step(e), { runs: 1 });
    const candidates = fittingMatmulCandidates(e).map((c) => `${c.variant}@${c.workgroup.join('x')}`);
    expect(reports.map((r) => r.bucket).sort()).toEqual(['NN 128x128x64', 'TN 64x32x512']);
    for (const r of reports) {
      expect(r.family).toBe('matmul');
      expect(r.source).toBe('measured');
      expect(r.timings.map((t) => t.candidate)).toEqual(candidates);
      for (const t of r.timings) expect(t.ms).toBeGreaterThan(0);
      const fastest = Math.min(...r.timings.map((t) => t.ms));
      expect(r.timings.find((t) => t.candidate === r.choice)!.ms).toBeLessThanOrEqual(fastest / 0.99);
    }
    const file = join(dir, tuningCacheName(e));
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.version).toBe(TUNING_VERSION);
    expect(saved.adapter).toBe(e.adapterKey());
    expect(Object.keys(saved.choices).sort()).toEqual(['matmul|NN 128x128x64', 'matmul|TN 64x32x512']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]); // the atomic write left nothing behind
    // A second prepare of the same step has nothing left to time.
    expect(await prepareTuning(e, step(e), { runs: 1 })).toEqual([]);
  });

  it('a new engine reuses the cached choices without timing or rewriting anything', async () => {
    const e0 = engines[engines.length - 1]!;
    const file = join(dir, tuningCacheName(e0));
    const before = readFileSync(file, 'utf8');
    const mtime = statSync(file).mtimeMs;
    const e = await engine(true);
    expect(await prepareTuning(e, step(e), { runs: 1 })).toEqual([]);
    expect(Object.fromEntries(tuningChoices(e).map((c) => [c.key, c.choice]))).toEqual(JSON.parse(before).choices);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(statSync(file).mtimeMs).toBe(mtime);
  });

  it.each([
    ['not JSON', '{"format": 2, "version": '],
    ['an older tuning version', JSON.stringify({ format: 2, version: TUNING_VERSION - 1, choices: {} })],
    ['a malformed choice', JSON.stringify({ format: 2, version: TUNING_VERSION, choices: { 'matmul|NN 1x1x1': { choice: 3 } } })],
  ])('ignores a corrupt cache (%s) with a warning naming the file, and rewrites it', async (_what, text) => {
    const file = join(dir, tuningCacheName(engines[0]!).replace(/x/, 'x')); // same adapter, same name
    writeFileSync(file, text);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const e = await engine(true);
      const reports = await prepareTuning(e, step(e), { runs: 1 });
      expect(reports).toHaveLength(2);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain(file);
      expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(TUNING_VERSION);
    } finally {
      warn.mockRestore();
    }
  });
});
