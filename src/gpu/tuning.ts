// Per-adapter kernel shapes. A software adapter (lavapipe/llvmpipe/SwiftShader) runs each invocation as a CPU
// SIMD lane: barrier-free, register-blocked kernels with big per-thread tiles win there. A discrete GPU wants
// larger workgroups and smaller per-invocation tiles. chooseTuning gives the starting point; `autotune` (run by
// createEngine unless disabled) times the matmul candidates once per adapter and keeps the fastest, cached on disk
// in Node (provider.ts) and in memory in a browser (provider.browser.ts).
import { ShaderflowError } from '../errors.js';
import { matmul, type MatmulVariant } from '../kernels/matmul.js';
import type { AdapterReport, Engine } from './engine.js';
import { readCache, writeCache } from './provider.js';
import { Recorder } from './recorder.js';
import type { Tensor } from './tensor.js';

/** A register-blocked conv tile (shaders/conv2d.wgsl): WG invocations, each PX rows by 4*CV channels. */
export interface ConvTile { workgroup: number; px: number; cv: number; /** Innermost steps per pass (default: from loopLimit). */ steps?: number }

/** Workgroup and tile shapes chosen for one adapter (Engine.tuning). */
export interface Tuning {
  /** Conv2D tiles per kernel (src/kernels/conv2d.ts); pooling workgroup size (src/kernels/pool.ts). */
  conv2d: { forward: ConvTile; backwardInput: ConvTile; backwardFilter: ConvTile; /** Loop iterations an invocation may run (0: no limit; llvmpipe stops at 65535). */ loopLimit: number };
  poolWorkgroup: number;
  /** Workgroup size for 1-D elementwise kernels. */
  elementwiseWorkgroup: number;
  /**
   * Matmul (shaders/matmul.wgsl): the variant (each invocation computes a tile x tile output block, tile 4, 8 or
   * 16) and the workgroup shape (x along n, y along m). Measured with `bench kernels`.
   */
  matmul: MatmulChoice;
}

/** The matmul variant and workgroup an adapter uses. */
export interface MatmulChoice {
  variant: MatmulVariant;
  workgroup: [number, number];
}

// Defaults when the autotune is off (tests, SHADERFLOW_AUTOTUNE=0). Software adapters (llvmpipe): each storage
// load costs a per-lane loop, so big register blocks win; tile16 rather than the usually faster tile32x16 because
// its pipelines compile in ~2 s instead of 5-10 s on llvmpipe (the autotune picks tile32x16 wg 8x8 there:
// 12.8 ms vs 16.3 ms for tile16 at 512^3). GPUs: a 4x4 block keeps registers low and occupancy high (untuned
// guess: no GPU was at hand; the autotune times the GPU candidates below).
const MATMUL_SOFTWARE: Tuning['matmul'] = { variant: 'tile16', workgroup: [8, 4] };
const MATMUL_GPU: Tuning['matmul'] = { variant: 'tile4', workgroup: [16, 16] };

export function chooseTuning(adapter: AdapterReport, limits: GPUSupportedLimits): Tuning {
  const maxInv = limits.maxComputeInvocationsPerWorkgroup;
  if (adapter.software) {
    return { ...convTuning(true, maxInv), elementwiseWorkgroup: Math.min(64, maxInv), matmul: MATMUL_SOFTWARE };
  }
  return { ...convTuning(false, maxInv), elementwiseWorkgroup: Math.min(256, maxInv), matmul: MATMUL_GPU };
}

/** Conv2D and pooling tiles (measured on llvmpipe with bench/conv.ts; the GPU values are untuned guesses). */
function convTuning(software: boolean, maxInv: number): Pick<Tuning, 'conv2d' | 'poolWorkgroup'> {
  const t = (workgroup: number, px: number, cv: number): ConvTile => ({ workgroup: Math.min(workgroup, maxInv), px, cv });
  // llvmpipe (measured, min of runs, CIFAR 32x32x32->64): 16 pixels x 16 channels per invocation runs forward
  // and backward-input at ~20 GFLOP/s, while some smaller tiles fall off a cliff (px 8 x cv 4: 4 GFLOP/s), so
  // retune after changing the shader; backward-filter is best at 8 rows x 8 channels (~6 GFLOP/s). loopLimit:
  // llvmpipe silently ends any loop after 65535 iterations (see conv2dStepsPerPass).
  if (software) return { conv2d: { forward: t(16, 16, 4), backwardInput: t(8, 16, 4), backwardFilter: t(8, 8, 2), loopLimit: 60000 }, poolWorkgroup: Math.min(64, maxInv) };
  return { conv2d: { forward: t(64, 4, 2), backwardInput: t(64, 4, 2), backwardFilter: t(64, 2, 2), loopLimit: 0 }, poolWorkgroup: Math.min(256, maxInv) };
}

// ------------------------------------------------------------------ autotune

/**
 * Bump when a shader or the candidate lists change, so that cached choices made for the old kernels are
 * re-measured (the version is part of the cache key).
 */
export const TUNING_VERSION = 3;

/** The matmul variants the autotune times, per adapter kind (each is valid on every adapter of that kind). */
export function matmulCandidates(software: boolean): MatmulChoice[] {
  if (software)
    return [
      { variant: 'tile16', workgroup: [8, 4] },
      { variant: 'tile32x16', workgroup: [8, 4] },
      { variant: 'tile16x32', workgroup: [8, 4] },
      { variant: 'tile32x16', workgroup: [8, 8] },
    ];
  return [
    { variant: 'tile4', workgroup: [16, 16] },
    { variant: 'tile4', workgroup: [8, 8] },
    { variant: 'tile8', workgroup: [8, 8] },
    { variant: 'tile8', workgroup: [16, 8] },
    { variant: 'tile16', workgroup: [8, 8] },
  ];
}

export interface AutotuneOptions {
  /** Candidates to time (default: matmulCandidates for this adapter kind). */
  candidates?: MatmulChoice[];
  /** The representative product m x n x k timed (default 512^3 on software adapters, 1024^3 on GPUs). */
  shape?: [number, number, number];
  /** Timed runs per candidate after one warm-up run, interleaved across candidates (the fastest counts). Default 5. */
  runs?: number;
}

export interface AutotuneResult {
  choice: MatmulChoice;
  /** 'cache': read from the cache; 'measured': timed now (and cached). */
  source: 'cache' | 'measured';
  /** Where the choice is cached (a file path in Node, `memory:NAME` in a browser). */
  where: string;
  /** Fastest milliseconds per candidate (from this run, or as recorded in the cache). */
  timings: { variant: MatmulVariant; workgroup: [number, number]; ms: number }[];
}

interface CacheFile {
  format: 1;
  version: number;
  adapter: string;
  shape: [number, number, number];
  matmul: MatmulChoice;
  timings: AutotuneResult['timings'];
}

/** FNV-1a, 32 bits, as 8 hex digits: names the cache file of an adapter. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The cache entry name for this engine's adapter and the current kernels: `tuning-<hash>.json`. */
export function tuningCacheName(engine: Engine, candidates: MatmulChoice[]): string {
  const key = `${engine.describe()}|v${TUNING_VERSION}|${candidates.map((c) => `${c.variant}@${c.workgroup.join('x')}`).join(',')}`;
  return `tuning-${fnv1a(key)}.json`;
}

/** Whether autotuning is on: the option wins, else `SHADERFLOW_AUTOTUNE=0` (Node) turns it off; default on. */
export function autotuneEnabled(option?: boolean): boolean {
  if (option !== undefined) return option;
  const env = typeof process !== 'undefined' && process.env ? process.env.SHADERFLOW_AUTOTUNE : undefined;
  return !(env !== undefined && /^(0|false|off|no)$/i.test(env.trim()));
}

function sameChoice(a: MatmulChoice, b: MatmulChoice): boolean {
  return a.variant === b.variant && a.workgroup[0] === b.workgroup[0] && a.workgroup[1] === b.workgroup[1];
}

/** Why `data` is not a usable cache entry for these candidates, or null when it is. */
function cacheProblem(data: unknown, candidates: MatmulChoice[]): string | null {
  if (typeof data !== 'object' || data === null) return 'not a JSON object';
  const d = data as Partial<CacheFile>;
  if (d.format !== 1) return `format ${JSON.stringify(d.format)} is not 1`;
  if (d.version !== TUNING_VERSION) return `tuning version ${JSON.stringify(d.version)} is not ${TUNING_VERSION}`;
  const m = d.matmul as MatmulChoice | undefined;
  if (!m || typeof m.variant !== 'string' || !Array.isArray(m.workgroup) || m.workgroup.length !== 2)
    return '"matmul" is not {variant, workgroup: [x, y]}';
  if (!candidates.some((c) => sameChoice(c, m))) return `matmul choice ${m.variant} ${m.workgroup.join('x')} is not one of the candidates`;
  if (!Array.isArray(d.timings)) return '"timings" is not an array';
  return null;
}

/**
 * Picks the fastest matmul variant for this engine's adapter and stores it in `engine.tuning.matmul`. A cached
 * choice (same adapter, same kernels, same candidates) is used as is, without timing anything, so an engine's
 * kernels are the same from run to run; a missing, unreadable or invalid cache entry is measured again (an
 * invalid one with a console warning naming the file) and rewritten (atomically in Node). Times each candidate
 * on its own Recorder, outside any model step. Call it before recording anything with the engine.
 */
export async function autotune(engine: Engine, opts: AutotuneOptions = {}): Promise<AutotuneResult> {
  const software = engine.adapter.software;
  const maxInv = engine.limits.maxComputeInvocationsPerWorkgroup;
  const candidates = (opts.candidates ?? matmulCandidates(software)).filter(
    (c) => c.workgroup[0] * c.workgroup[1] <= maxInv && c.workgroup[0] <= engine.limits.maxComputeWorkgroupSizeX && c.workgroup[1] <= engine.limits.maxComputeWorkgroupSizeY,
  );
  if (candidates.length === 0) throw new ShaderflowError(`autotune: no matmul candidate fits this adapter's workgroup limits (${maxInv} invocations); pass candidates that do, or createEngine({ autotune: false }).`);
  const name = tuningCacheName(engine, candidates);
  const cached = readCache(name);
  if (cached) {
    let problem: string | null;
    let data: unknown;
    try {
      data = JSON.parse(cached.text);
      problem = cacheProblem(data, candidates);
    } catch (e) {
      problem = `not valid JSON (${(e as Error).message})`;
    }
    if (!problem) {
      const d = data as CacheFile;
      const choice = candidates.find((c) => sameChoice(c, d.matmul))!;
      engine.tuning.matmul = { variant: choice.variant, workgroup: [choice.workgroup[0], choice.workgroup[1]] };
      return { choice: engine.tuning.matmul, source: 'cache', where: cached.where, timings: d.timings };
    }
    console.warn(`shaderflow: ignoring the tuning cache ${cached.where}: ${problem}. Measuring again and rewriting it.`);
  }
  const [m, n, k] = opts.shape ?? (software ? [512, 512, 512] : [1024, 1024, 1024]);
  const runs = opts.runs ?? 5;
  const timings: AutotuneResult['timings'] = [];
  const a = engine.tensor([m, k], filler(m * k, 1));
  const b = engine.tensor([k, n], filler(k * n, 2));
  const out = engine.empty([m, n]);
  const recs = candidates.map((c) => {
    const rec = new Recorder(engine, `autotune matmul ${c.variant} ${c.workgroup.join('x')}`);
    matmul(rec, a, b, out, m, n, k, { variant: c.variant, workgroup: c.workgroup });
    return rec;
  });
  try {
    // Warm-up (compiles each pipeline), then `runs` rounds over all candidates, keeping each one's fastest run:
    // on a shared machine, interleaving spreads background load over all candidates alike and the minimum drops
    // the runs it disturbed.
    for (const rec of recs) {
      rec.run();
      await engine.sync('autotune warm-up');
    }
    const best = candidates.map(() => Infinity);
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < recs.length; i++) {
        const t0 = performance.now();
        recs[i]!.run();
        await engine.sync('autotune');
        best[i] = Math.min(best[i]!, performance.now() - t0);
      }
    }
    candidates.forEach((c, i) => timings.push({ variant: c.variant, workgroup: [c.workgroup[0], c.workgroup[1]], ms: Math.round(best[i]! * 1000) / 1000 }));
  } finally {
    for (const rec of recs) rec.dispose();
    for (const t of [a, b, out] as Tensor[]) t.dispose();
  }
  // Ties (within 1%) go to the earlier candidate: the lists start with the safest choice.
  let best = 0;
  for (let i = 1; i < timings.length; i++) if (timings[i]!.ms < timings[best]!.ms * 0.99) best = i;
  const choice = candidates[best]!;
  engine.tuning.matmul = { variant: choice.variant, workgroup: [choice.workgroup[0], choice.workgroup[1]] };
  const file: CacheFile = { format: 1, version: TUNING_VERSION, adapter: engine.describe(), shape: [m, n, k], matmul: engine.tuning.matmul, timings };
  let where = name;
  try {
    where = writeCache(name, `${JSON.stringify(file, null, 2)}\n`);
  } catch (e) {
    console.warn(`shaderflow: could not write the tuning cache ${name}: ${(e as Error).message}. The choice holds for this engine only.`);
  }
  return { choice: engine.tuning.matmul, source: 'measured', where, timings };
}

/** Deterministic values in [-1, 1) (no Math.random: the timing must not depend on denormals by chance). */
function filler(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let x = seed * 2654435761;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x / 2147483648 - 1;
  }
  return out;
}
