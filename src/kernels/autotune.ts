// Per-shape autotune. A kernel family that has several valid variants for a shape asks `tunedChoice` which to
// record; the answer comes from the engine's choice store (cached on disk per adapter in Node, in memory in a
// browser). When a model prepares a step (`prepareTuning`), the step is recorded once in "collecting" mode: every
// (family, shape bucket) without a stored choice is noted, its candidates are timed on scratch tensors of that
// shape, outside any step, and the fastest is stored. The real step is recorded afterwards and finds the choices.
// Lives in kernels/, not gpu/: it times kernels, and the device layer knows none.
import type { Engine } from '../gpu/engine.js';
import { readCache, writeCache } from '../gpu/provider.js';
import { Recorder, timingMethod, type TimingMethod } from '../gpu/recorder.js';

/** Records one candidate at the request's shape; `dispose` frees what `setup` allocated. */
export interface CandidateTimer {
  record(rec: Recorder, candidate: string): void;
  dispose(): void;
}

export interface TuningRequest {
  /** The kernel family, e.g. 'matmul' or 'conv2d.forward'. */
  family: string;
  /** The shape bucket (part of the cache key): shapes in one bucket share a choice. */
  bucket: string;
  /** Candidate ids, safest first (ties within 1% go to the earlier one). */
  candidates: string[];
  /** Allocates scratch tensors of the request's shape and returns how to record each candidate on them. */
  setup(engine: Engine): CandidateTimer;
}

export interface TuningChoice {
  choice: string;
  /** Fastest milliseconds per candidate, as measured when the choice was made. */
  timings: { candidate: string; ms: number }[];
  /** How the candidates were timed: GPU timestamps where the device has 'timestamp-query', else wall clock. */
  method: TimingMethod;
}

export interface TuningReport extends TuningChoice {
  family: string;
  bucket: string;
  source: 'cache' | 'measured';
}

/**
 * Bump when a shader or a candidate list changes, so that cached choices made for the old kernels are measured
 * again (the version is part of the cache name).
 */
export const TUNING_VERSION = 5;

interface Store {
  choices: Map<string, TuningChoice>;
  /** The cache entry name (a file in the cache folder in Node). */
  name: string;
  where: string;
}

interface CacheFile {
  format: 2;
  version: number;
  adapter: string;
  choices: Record<string, TuningChoice>;
}

const stores = new WeakMap<Engine, Store>();
const collecting = new WeakMap<Engine, Map<string, TuningRequest>>();

/** FNV-1a, 32 bits, as 8 hex digits: names the cache file of an adapter. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The cache entry name for this engine's adapter (and class) and the current kernels: `tuning-<hash>.json`. */
export function tuningCacheName(engine: Engine): string {
  return `tuning-${fnv1a(`${engine.adapterKey()}|v${TUNING_VERSION}`)}.json`;
}

/** Why `data` is not a usable cache file, or null when it is. */
function cacheProblem(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return 'not a JSON object';
  const d = data as Partial<CacheFile>;
  if (d.format !== 2) return `format ${JSON.stringify(d.format)} is not 2`;
  if (d.version !== TUNING_VERSION) return `tuning version ${JSON.stringify(d.version)} is not ${TUNING_VERSION}`;
  if (typeof d.choices !== 'object' || d.choices === null || Array.isArray(d.choices)) return '"choices" is not an object';
  for (const [key, c] of Object.entries(d.choices)) {
    if (!c || typeof c.choice !== 'string' || !Array.isArray(c.timings)) return `choice "${key}" is not {choice, timings}`;
  }
  return null;
}

function storeOf(engine: Engine): Store {
  let s = stores.get(engine);
  if (s) return s;
  const name = tuningCacheName(engine);
  s = { choices: new Map(), name, where: name };
  stores.set(engine, s);
  if (!engine.autotune) return s; // autotune off: the built-in defaults, whatever a cache holds
  const cached = readCache(name);
  if (!cached) return s;
  s.where = cached.where;
  let data: unknown;
  let problem: string | null;
  try {
    data = JSON.parse(cached.text);
    problem = cacheProblem(data);
  } catch (e) {
    problem = `not valid JSON (${(e as Error).message})`;
  }
  if (problem) {
    console.warn(`shaderflow: ignoring the tuning cache ${cached.where}: ${problem}. Measuring again and rewriting it.`);
    return s;
  }
  for (const [key, c] of Object.entries((data as CacheFile).choices)) s.choices.set(key, c);
  return s;
}

/**
 * The variant to record for (family, bucket): the stored choice when it is still a candidate, else `fallback`.
 * While `prepareTuning` collects, a missing choice is noted (with `request`) so that it gets measured.
 */
export function tunedChoice(engine: Engine, request: TuningRequest, fallback: string): string {
  const key = `${request.family}|${request.bucket}`;
  if (!engine.autotune || request.candidates.length < 2) return fallback;
  const hit = storeOf(engine).choices.get(key);
  if (hit && request.candidates.includes(hit.choice)) return hit.choice;
  const pending = collecting.get(engine);
  if (pending && !pending.has(key)) pending.set(key, request);
  return fallback;
}

export interface PrepareTuningOptions {
  /** Timed runs per candidate after one warm-up run, interleaved across candidates (the fastest counts). Default 5. */
  runs?: number;
}

/**
 * Records a step once with `record` (then disposes it) to learn which kernel shapes lack a choice, times their
 * candidates and stores the fastest (cached per adapter). Does nothing when the engine's autotune is off, and
 * times nothing when every choice is cached. Call before recording the real step.
 */
export async function prepareTuning(engine: Engine, record: () => Recorder, opts: PrepareTuningOptions = {}): Promise<TuningReport[]> {
  if (!engine.autotune) return [];
  const store = storeOf(engine);
  const pending = new Map<string, TuningRequest>();
  collecting.set(engine, pending);
  try {
    record().dispose();
  } finally {
    collecting.delete(engine);
  }
  const reports: TuningReport[] = [];
  for (const [key, req] of pending) {
    const measured = await timeCandidates(engine, req, opts.runs ?? 5);
    store.choices.set(key, measured);
    reports.push({ family: req.family, bucket: req.bucket, source: 'measured', ...measured });
  }
  if (reports.length) saveStore(engine, store);
  return reports;
}

/** Every choice the engine holds (cached or measured), for reports such as the device bundle's. */
export function tuningChoices(engine: Engine): { key: string; choice: TuningChoice }[] {
  return [...storeOf(engine).choices].map(([key, choice]) => ({ key, choice }));
}

async function timeCandidates(engine: Engine, req: TuningRequest, runs: number): Promise<TuningChoice> {
  const timer = req.setup(engine);
  const recs = req.candidates.map((c) => {
    const rec = new Recorder(engine, `autotune ${req.family} ${req.bucket} ${c}`);
    timer.record(rec, c);
    return rec;
  });
  const best = req.candidates.map(() => Infinity);
  try {
    // Warm-up (compiles each pipeline), then `runs` rounds over all candidates, keeping each one's fastest run:
    // on a shared machine, interleaving spreads background load over all candidates alike and the minimum drops
    // the runs it disturbed.
    for (const rec of recs) {
      rec.run();
      await engine.sync('autotune warm-up');
    }
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < recs.length; i++) {
        // GPU timestamps around the candidate's passes where the device has them (no submit latency in the
        // figure), else the wall clock of submit-and-wait less an empty submit's (Recorder.time).
        const t = await recs[i]!.time(1);
        best[i] = Math.min(best[i]!, t.ms);
      }
    }
  } finally {
    for (const rec of recs) rec.dispose();
    timer.dispose();
  }
  let pick = 0;
  for (let i = 1; i < best.length; i++) if (best[i]! < best[pick]! * 0.99) pick = i;
  return {
    choice: req.candidates[pick]!,
    timings: req.candidates.map((candidate, i) => ({ candidate, ms: Math.round(best[i]! * 1000) / 1000 })),
    method: timingMethod(engine),
  };
}

function saveStore(engine: Engine, store: Store): void {
  const file: CacheFile = { format: 2, version: TUNING_VERSION, adapter: engine.adapterKey(), choices: Object.fromEntries(store.choices) };
  try {
    store.where = writeCache(store.name, `${JSON.stringify(file, null, 1)}\n`);
  } catch (e) {
    console.warn(`shaderflow: could not write the tuning cache ${store.name}: ${(e as Error).message}. The choices hold for this engine only.`);
  }
}

/** The smallest power of two >= v (shape buckets: sizes within a factor of two share a choice). */
export function pow2Bucket(v: number): number {
  return v <= 1 ? 1 : 2 ** Math.ceil(Math.log2(v));
}
