// The matmul autotune (src/gpu/tuning.ts): a choice is measured once per adapter and cached (a file under
// SHADERFLOW_CACHE in Node), reused without timing, and a corrupt cache is ignored with a warning and rewritten.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { autotune, autotuneEnabled, chooseTuning, matmulCandidates, TUNING_VERSION, tuningCacheName, type MatmulChoice } from '../src/gpu/tuning.js';

let engine: Engine;
let dir: string;
const savedCache = process.env.SHADERFLOW_CACHE;
// Two candidates and a small product keep the test short; the real lists and shape are exercised by the bench.
const software = () => engine.adapter.software;
const candidates = (): MatmulChoice[] => matmulCandidates(software()).slice(0, 2);
const opts = () => ({ candidates: candidates(), shape: [96, 80, 64] as [number, number, number], runs: 1 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shaderflow-tuning-'));
  process.env.SHADERFLOW_CACHE = dir;
  engine = await createEngine({ autotune: false });
});
afterAll(() => {
  engine?.dispose();
  if (savedCache === undefined) delete process.env.SHADERFLOW_CACHE;
  else process.env.SHADERFLOW_CACHE = savedCache;
  rmSync(dir, { recursive: true, force: true });
});

describe('matmul autotune', () => {
  it('is off when the option or SHADERFLOW_AUTOTUNE says so, on by default', () => {
    expect(autotuneEnabled(false)).toBe(false);
    expect(autotuneEnabled(true)).toBe(true);
    const env = process.env.SHADERFLOW_AUTOTUNE;
    try {
      process.env.SHADERFLOW_AUTOTUNE = '0';
      expect(autotuneEnabled()).toBe(false);
      delete process.env.SHADERFLOW_AUTOTUNE;
      expect(autotuneEnabled()).toBe(true);
    } finally {
      if (env === undefined) delete process.env.SHADERFLOW_AUTOTUNE;
      else process.env.SHADERFLOW_AUTOTUNE = env;
    }
    // With it off the engine keeps the built-in choice.
    expect(engine.tuning.matmul).toEqual(chooseTuning(engine.adapter, engine.limits).matmul);
  });

  it('measures every candidate, picks the fastest and writes the cache file', async () => {
    const file = join(dir, tuningCacheName(engine, candidates()));
    const r = await autotune(engine, opts());
    expect(r.source).toBe('measured');
    expect(r.where).toBe(file);
    expect(r.timings.map((t) => t.variant)).toEqual(candidates().map((c) => c.variant));
    for (const t of r.timings) expect(t.ms).toBeGreaterThan(0);
    const fastest = Math.min(...r.timings.map((t) => t.ms));
    const picked = r.timings.find((t) => t.variant === r.choice.variant && t.workgroup.join() === r.choice.workgroup.join())!;
    expect(picked.ms).toBeLessThanOrEqual(fastest / 0.99);
    expect(engine.tuning.matmul).toEqual(r.choice);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.matmul).toEqual(r.choice);
    expect(saved.adapter).toBe(engine.describe());
  });

  it('reuses the cached choice without timing or rewriting anything', async () => {
    const file = join(dir, tuningCacheName(engine, candidates()));
    const before = readFileSync(file, 'utf8');
    const mtime = statSync(file).mtimeMs;
    // Whatever the engine holds now, the cache decides.
    engine.tuning.matmul = { variant: 'naive', workgroup: [1, 1] };
    const r = await autotune(engine, opts());
    expect(r.source).toBe('cache');
    expect(engine.tuning.matmul).toEqual(JSON.parse(before).matmul);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(statSync(file).mtimeMs).toBe(mtime);
  });

  it.each([
    ['not JSON', '{"format": 1, "version": '],
    ['an unknown variant', JSON.stringify({ format: 1, version: TUNING_VERSION, matmul: { variant: 'tile99', workgroup: [8, 4] }, timings: [] })],
    ['an older tuning version', JSON.stringify({ format: 1, version: TUNING_VERSION - 1, matmul: { variant: 'tile16', workgroup: [8, 4] }, timings: [] })],
  ])('ignores a corrupt cache (%s) with a warning and rewrites it', async (_what, text) => {
    const file = join(dir, tuningCacheName(engine, candidates()));
    writeFileSync(file, text);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const r = await autotune(engine, opts());
      expect(r.source).toBe('measured');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain(file);
      expect(JSON.parse(readFileSync(file, 'utf8')).matmul).toEqual(r.choice);
      expect(candidates().some((c) => c.variant === r.choice.variant)).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });

  it('runs from createEngine when enabled, and a second engine reads the same cache', async () => {
    const sub = join(dir, 'engine');
    process.env.SHADERFLOW_CACHE = sub;
    const log = vi.spyOn(console, 'warn');
    try {
      const e1 = await createEngine({ autotune: true });
      const choice1 = { ...e1.tuning.matmul };
      e1.dispose();
      const files = (await import('node:fs')).readdirSync(sub);
      expect(files.filter((f) => /^tuning-[0-9a-f]{8}\.json$/.test(f))).toHaveLength(1);
      expect(files.filter((f) => f.endsWith('.tmp'))).toHaveLength(0); // the atomic write left no temporary file
      const e2 = await createEngine({ autotune: true });
      expect(e2.tuning.matmul).toEqual(choice1);
      e2.dispose();
      expect(log).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
      process.env.SHADERFLOW_CACHE = dir;
    }
  });
});
