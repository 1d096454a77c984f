// `npm run bench -- compare [--models mlp,mnist-cnn,cifar-cnn] [--steps N] [--warmup N] [--batch N] [--wasm-cnn] [--json]`
//
// Training-step time at batch 128 (or --batch) of the seed course's three models, both ways: synchronous (each
// step submitted and waited for; the median) and pipelined (`--steps` steps submitted back to back, one wait at
// the end; the mean), in one process on one Dawn GPU instance: shaderflow first, then TF.js on its WebGPU backend, then TF.js on wasm (MLP only: TF.js's wasm
// backend has no Conv2DBackpropFilter kernel, so it cannot train the CNNs; --wasm-cnn tries one step anyway).
//
// Output: a table on stdout; with --json, one JSON line per model and engine
// {"model","engine","batch","ms_per_step","ms_per_step_pipelined","steps"} and one per model
// {"model","batch","ratio_vs_tfjs_webgpu","ratio_pipelined_vs_tfjs_webgpu"} go to stdout and
// the table, the adapter line and progress go to stderr (so `| grep '^{'` is not even needed).
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { buildPreset } from '../src/model/presets.js';
import { measureFmaPeak } from './kernels.js';
import { median, tfjsNotes, timeTfjs, type TfjsModelName, type TfjsTiming, type TimeOptions } from './tfjs.js';
import { tuningOf } from '../src/kernels/tuning.js';

const MODELS: TfjsModelName[] = ['mlp', 'mnist-cnn', 'cifar-cnn'];
/** shaderflow preset names. */
const PRESET: Record<TfjsModelName, 'mnist-mlp' | 'mnist-cnn' | 'cifar-cnn'> = {
  mlp: 'mnist-mlp',
  'mnist-cnn': 'mnist-cnn',
  'cifar-cnn': 'cifar-cnn',
};
/** Default timed / warm-up steps: CIFAR takes ~10 s a step on TF.js WebGPU on llvmpipe. */
const DEFAULT_STEPS: Record<TfjsModelName, { steps: number; warmup: number }> = {
  mlp: { steps: 20, warmup: 3 },
  'mnist-cnn': { steps: 8, warmup: 2 },
  'cifar-cnn': { steps: 3, warmup: 2 },
};

type EngineName = 'shaderflow' | 'tfjs-webgpu' | 'tfjs-wasm';

interface Row {
  model: TfjsModelName;
  engine: EngineName;
  /** Median synchronous step (submit, wait). */
  msPerStep: number | null;
  /** Mean step of `steps` steps submitted back to back with one wait at the end. */
  msPipelined: number | null;
  steps: number;
  /** Dispatches recorded in one training step (shaderflow only). */
  dispatches?: number;
  error?: string;
}

async function timeShaderflow(engine: Engine, model: TfjsModelName, opts: TimeOptions): Promise<TfjsTiming & { dispatches?: number }> {
  const built = buildPreset(PRESET[model], { seed: 1 });
  const m = built.model;
  try {
    await m.compile(engine, built.compileArgs);
    const times = await m.timeTrainSteps({ batchSize: opts.batchSize, steps: opts.steps, warmup: opts.warmup });
    if (!times.length) return { error: 'timeTrainSteps returned no times' };
    const [msPipelined] = await m.timeTrainSteps({ batchSize: opts.batchSize, steps: opts.steps, warmup: 0, mode: 'pipelined' });
    return { msPerStep: median(times), msPipelined: msPipelined!, steps: times.length, dispatches: m.dispatchesPerStep(opts.batchSize) };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0]!.slice(0, 300) };
  } finally {
    try {
      m.dispose();
    } catch {
      /* ignore */
    }
  }
}

function parseArgs(args: string[]): {
  models: TfjsModelName[];
  steps?: number;
  warmup?: number;
  batch: number;
  json: boolean;
  wasmCnn: boolean;
} {
  let models = MODELS;
  let steps: number | undefined;
  let warmup: number | undefined;
  let batch = 128;
  let json = false;
  let wasmCnn = false;
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? args[++i];
    if (flag === '--json') json = true;
    else if (flag === '--wasm-cnn') wasmCnn = true;
    else if (flag === '--models') {
      const list = (value() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.filter((m) => !MODELS.includes(m as TfjsModelName));
      if (bad.length || !list.length) throw new Error(`--models takes a list of ${MODELS.join(', ')}; got ${bad.join(',') || 'nothing'}`);
      models = list as TfjsModelName[];
    } else if (flag === '--steps') steps = num('--steps', value(), 1);
    else if (flag === '--warmup') warmup = num('--warmup', value(), 0);
    else if (flag === '--batch') batch = num('--batch', value(), 1);
    else throw new Error(`compare: unknown argument ${a}. Usage: compare [--models ${MODELS.join(',')}] [--steps N] [--warmup N] [--batch N] [--wasm-cnn] [--json]`);
  }
  return { models, steps, warmup, batch, json, wasmCnn };
}

export async function compare(args: string[]): Promise<void> {
  const opt = parseArgs(args);
  const log = (s: string) => (opt.json ? process.stderr : process.stdout).write(s + '\n');
  const progress = (s: string) => process.stderr.write(s + '\n');
  const emit = (o: object) => opt.json && process.stdout.write(JSON.stringify(o) + '\n');

  const engine = await createEngine();
  const peak = await measureFmaPeak(engine);
  log(`adapter: ${engine.describe()}`);
  log(`FMA probe: ${peak.toFixed(1)} GFLOP/s; matmul tiles: ${tuningOf(engine).matmul.variant} wg ${tuningOf(engine).matmul.workgroup.join('x')}`);
  emit({ adapter: engine.describe(), probe_gflops: round(peak, 2), matmul: tuningOf(engine).matmul });

  const rows: Row[] = [];
  const add = (model: TfjsModelName, eng: EngineName, r: TfjsTiming) => {
    const row: Row =
      'error' in r
        ? { model, engine: eng, msPerStep: null, msPipelined: null, steps: 0, error: r.error }
        : { model, engine: eng, msPerStep: r.msPerStep, msPipelined: r.msPipelined, steps: r.steps, dispatches: (r as { dispatches?: number }).dispatches };
    rows.push(row);
    progress(
      `  ${model} ${eng}: ${row.msPerStep !== null ? `${row.msPerStep.toFixed(1)} ms/step synchronous (median of ${row.steps}), ${row.msPipelined!.toFixed(1)} ms/step pipelined` : `- (${row.error})`}`,
    );
    emit({ model, engine: eng, batch: opt.batch, ms_per_step: row.msPerStep, ms_per_step_pipelined: row.msPipelined, steps: row.steps, ...(row.error ? { error: row.error } : {}) });
  };

  try {
    for (const model of opt.models) {
      const d = DEFAULT_STEPS[model];
      const o: TimeOptions = { steps: opt.steps ?? d.steps, warmup: opt.warmup ?? d.warmup, batchSize: opt.batch };
      progress(`${model}: batch ${o.batchSize}, ${o.warmup} warm-up + ${o.steps} timed steps per engine`);
      add(model, 'shaderflow', await timeShaderflow(engine, model, o));
      add(model, 'tfjs-webgpu', await timeTfjs(engine, model, 'webgpu', o));
      if (model === 'mlp') add(model, 'tfjs-wasm', await timeTfjs(engine, model, 'wasm', o));
      else if (opt.wasmCnn) {
        const r = await timeTfjs(engine, model, 'wasm', { ...o, steps: 1, warmup: 0 });
        add(model, 'tfjs-wasm', 'error' in r ? { error: `cannot train: ${r.error}` } : r);
      } else add(model, 'tfjs-wasm', { error: 'cannot train: TF.js wasm has no Conv2DBackpropFilter kernel (--wasm-cnn tries it)' });
      const sf = rows.find((r) => r.model === model && r.engine === 'shaderflow')?.msPerStep ?? null;
      const tw = rows.find((r) => r.model === model && r.engine === 'tfjs-webgpu')?.msPerStep ?? null;
      const sfp = rows.find((r) => r.model === model && r.engine === 'shaderflow')?.msPipelined ?? null;
      const twp = rows.find((r) => r.model === model && r.engine === 'tfjs-webgpu')?.msPipelined ?? null;
      emit({ model, batch: opt.batch, ratio_vs_tfjs_webgpu: sf !== null && tw !== null ? round(sf / tw, 4) : null, ratio_pipelined_vs_tfjs_webgpu: sfp !== null && twp !== null ? round(sfp / twp, 4) : null });
    }
  } finally {
    engine.dispose();
  }

  // The table: one row per model.
  const header = ['model', 'shaderflow sync', 'pipelined', 'dispatches/step', 'TF.js webgpu sync', 'pipelined', 'ratio sync', 'ratio pipelined', 'TF.js wasm sync'];
  const cell = (r: Row | undefined, v: number | null | undefined) =>
    v != null ? v.toFixed(1) : r?.error && /^cannot train/.test(r.error) ? 'cannot train' : 'n/a';
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null ? (a / b).toFixed(2) : '-');
  const body = opt.models.map((model) => {
    const get = (e: EngineName) => rows.find((q) => q.model === model && q.engine === e);
    const sf = get('shaderflow');
    const tw = get('tfjs-webgpu');
    const wasm = get('tfjs-wasm');
    return [
      model,
      cell(sf, sf?.msPerStep),
      cell(sf, sf?.msPipelined),
      sf?.dispatches !== undefined ? String(sf.dispatches) : '-',
      cell(tw, tw?.msPerStep),
      cell(tw, tw?.msPipelined),
      ratio(sf?.msPerStep, tw?.msPerStep),
      ratio(sf?.msPipelined, tw?.msPipelined),
      cell(wasm, wasm?.msPerStep),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ');
  log('');
  log(`batch ${opt.batch}, ms per step; sync: median step, each submitted and waited for; pipelined: the timed steps submitted back to back, one wait at the end (mean); ratio = shaderflow / TF.js webgpu`);
  log(line(header));
  log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const b of body) log(line(b));
  // Errors other than "cannot train", each message once with the models it hit.
  const errs = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.error || /^cannot train/.test(r.error)) continue;
    const key = `${r.engine}: ${r.error}`;
    errs.set(key, [...(errs.get(key) ?? []), r.model]);
  }
  if (errs.size) {
    log('');
    for (const [msg, models] of errs) log(`${msg} [${models.join(', ')}]`);
  }
  if (tfjsNotes.length) {
    log('');
    log('TF.js notes:');
    for (const n of tfjsNotes) log(`  - ${n}`);
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
