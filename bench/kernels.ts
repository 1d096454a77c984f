// Kernel benchmarks, one table: the adapter's peak FMA rate (shaders/probe.wgsl), matmul (shaders/matmul.wgsl) at
// 1024³ (the autotuned variant and the other candidates) and the seed MLP's Dense shapes, conv2d forward /
// backward-input / backward-filter at the seed CNNs' shapes and max-pool (bench/conv.ts), each with its fraction
// of the probe. Each timing is the median of several runs after a warm-up (which also compiles the pipeline); a
// run is one recorded dispatch, submitted and waited for with `engine.sync()`. FLOPs count 2 per multiply-add.
// `node dist/node/bench.js kernels [--json]`, or main() from here.
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { median, Recorder, type TimingMethod } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { matmul, type MatmulOptions, type MatmulVariant } from '../src/kernels/matmul.js';
import { randomUniform } from '../src/reference/random.js';
import { matmulCandidates } from '../src/kernels/tuning.js';
import { benchConv, type BenchResult } from './conv.js';
import { fitFilterRows } from '../src/kernels/conv2d.js';
import { tuningOf } from '../src/kernels/tuning.js';

export interface Row {
  shape: string;
  variant: string;
  ms: number;
  gflops: number;
  /** gflops / the FMA probe's GFLOP/s (NaN when the peak was not measured or the row is not FLOPs). */
  ofPeak: number;
  /** 'GFLOP/s' (default) or 'GB/s' (memory-bound kernels: pooling). */
  unit?: 'GFLOP/s' | 'GB/s';
  /** Workgroups of each dispatch the kernel records, e.g. "392x2x1 + 5x1x1". */
  workgroups?: string;
  method?: TimingMethod;
}

export interface Timing {
  /** Median ms of one replay. */
  ms: number;
  method: TimingMethod;
  /** Workgroups of each recorded dispatch, "x*y*z" joined with " + ". */
  workgroups: string;
  /** The kernel variants the dispatches stated (their plan costs), joined with " + "; '' when none stated one. */
  variants: string;
}

/**
 * Median milliseconds of `runs` replays of what `record` records, after one warm-up replay: GPU timestamps
 * around the compute passes where the device has 'timestamp-query', else wall clock less the empty-submit
 * overhead (Recorder.time).
 */
export async function timeRecording(engine: Engine, label: string, record: (rec: Recorder) => void, runs = 5): Promise<Timing> {
  const rec = new Recorder(engine, label);
  try {
    record(rec);
    const plan = rec.plan().filter((e) => e.kind === 'dispatch');
    const workgroups = plan.map((e) => e.workgroups.join('x')).join(' + ');
    const variants = [...new Set(plan.flatMap((e) => (e.cost ? [e.cost.variant] : [])))].join(' + ');
    let method = (await rec.time(1)).method; // warm-up (compiles, first-use costs)
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = await rec.time(1);
      ms.push(t.ms);
      method = t.method;
    }
    return { ms: median(ms), method, workgroups, variants };
  } finally {
    rec.dispose();
  }
}

/** A probe's result: the rate, and the work it measured (at least PROBE_MIN_MS of it). */
export interface Probe {
  /** GFLOP/s (FMA) or GB/s (copy). */
  rate: number;
  /** Milliseconds of measured work (one timed submit). */
  measuredMs: number;
  method: TimingMethod;
  /** What was measured, e.g. "8192 x 64 invocations x 4096 iterations". */
  work: string;
  workgroups: string;
}

/** The least work a probe measures: below this, submit latency and timer resolution would dominate. */
export const PROBE_MIN_MS = 100;

/**
 * Doubles `size` (from 1) until `measure(size)` reports at least PROBE_MIN_MS, skipping ahead by a power of two
 * when a measurement of over 1 ms says how far off it is. `max` caps the size.
 */
async function scaleUntil(measure: (size: number) => Promise<{ ms: number; method: TimingMethod }>, max: number): Promise<{ size: number; ms: number; method: TimingMethod }> {
  let size = 1;
  for (;;) {
    const t = await measure(size);
    if (t.ms >= PROBE_MIN_MS || size >= max) return { size, ...t };
    const factor = t.ms > 1 ? 2 ** Math.ceil(Math.log2((1.25 * PROBE_MIN_MS) / t.ms)) : 8;
    size = Math.min(max, size * Math.max(2, factor));
  }
}

/**
 * Peak f32 GFLOP/s of the adapter: an FMA-only kernel (shaders/probe.wgsl main) with 16 independent accumulators
 * per invocation, its work doubled (iterations up to 32768 per invocation, llvmpipe's loop limit being 65535,
 * then workgroups) until one dispatch runs at least PROBE_MIN_MS.
 */
export async function fmaProbe(engine: Engine): Promise<Probe> {
  const wg = Math.min(256, engine.limits.maxComputeInvocationsPerWorkgroup, engine.limits.maxComputeWorkgroupSizeX);
  const baseGroups = engine.adapter.adapterClass === 'software' ? 256 : 2048;
  const baseIters = 512;
  const maxIters = 32768;
  const maxGroups = engine.limits.maxComputeWorkgroupsPerDimension;
  const shape = (size: number) => {
    const iters = Math.min(maxIters, baseIters * size);
    const groups = Math.min(maxGroups, baseGroups * Math.max(1, Math.round((baseIters * size) / iters)));
    return { iters, groups };
  };
  let out: Tensor | null = null;
  const last = { iters: 0, groups: 0, wgText: '' };
  const measure = async (size: number) => {
    const { iters, groups } = shape(size);
    out?.dispose();
    out = engine.empty([groups * wg]);
    const t = await timeRecording(
      engine,
      'fma probe',
      (rec) => rec.dispatch({ shader: 'probe', constants: { WG: wg }, bindings: [rec.uniform([iters, 0.999, 1e-3, 0.5], 'ufff'), out!], workgroups: [groups] }),
      1,
    );
    Object.assign(last, { iters, groups, wgText: t.workgroups });
    return t;
  };
  try {
    const r = await scaleUntil(measure, (maxIters / baseIters) * Math.floor(maxGroups / baseGroups));
    const flops = last.groups * wg * last.iters * 128;
    return { rate: flops / r.ms / 1e6, measuredMs: r.ms, method: r.method, work: `${last.groups} x ${wg} invocations x ${last.iters} iterations (${(flops / 1e9).toFixed(1)} GFLOP)`, workgroups: last.wgText };
  } finally {
    (out as Tensor | null)?.dispose();
  }
}

/** Peak f32 GFLOP/s (the FMA probe's rate), for tables that report kernels as a fraction of it. */
export async function measureFmaPeak(engine: Engine): Promise<number> {
  return (await fmaProbe(engine)).rate;
}

/**
 * Device-memory bandwidth: a copy of one buffer into another through a compute shader (shaders/probe.wgsl
 * copy: vec4 loads and stores, a grid-stride loop), buffers of up to 256 MiB (well past any cache), the copy
 * repeated back to back in one compute pass until the pass runs at least PROBE_MIN_MS. Counts bytes read plus
 * bytes written.
 */
export async function bandwidthProbe(engine: Engine): Promise<Probe> {
  const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
  const bytes = Math.floor(Math.min(256 * 2 ** 20, limit) / 16) * 16;
  const n = bytes / 16;
  const wg = Math.min(256, engine.limits.maxComputeInvocationsPerWorkgroup, engine.limits.maxComputeWorkgroupSizeX);
  const groups = Math.min(engine.limits.maxComputeWorkgroupsPerDimension, Math.ceil(n / wg), engine.adapter.adapterClass === 'software' ? 256 : 8192);
  const src = engine.tensor([bytes / 4], randomUniform(bytes / 4, 9));
  const dst = engine.empty([bytes / 4]);
  const rec = new Recorder(engine, 'copy probe');
  try {
    rec.dispatch({ shader: 'probe', entry: 'copy', constants: { WG: wg }, bindings: [null, null, rec.uniform([n, groups * wg, 0, 0]), src, dst], workgroups: [groups] });
    await rec.time(1); // warm-up
    const r = await scaleUntil((repeats) => rec.time(repeats), 1 << 14);
    return {
      rate: (2 * bytes * r.size) / r.ms / 1e6,
      measuredMs: r.ms,
      method: r.method,
      work: `${r.size} copies of ${(bytes / 2 ** 20).toFixed(0)} MiB (${groups} x ${wg} invocations)`,
      workgroups: `${groups}x1x1`,
    };
  } finally {
    rec.dispose();
    src.dispose();
    dst.dispose();
  }
}

interface MatmulCase {
  shape: string;
  m: number;
  n: number;
  k: number;
  opts?: MatmulOptions;
}

/**
 * Times matmul at 1024³ (the tuned choice first, then the other autotune candidates) and, with the tuned
 * variant, the Dense shapes of the seed's models at batch 128: forward, weight gradient (Xᵀ·dY) and input
 * gradient (dY·Wᵀ) of the MLP's 784->512 and 512->10, the MNIST CNN's 6272->128 and the CIFAR CNN's 16384->128.
 */
export async function benchMatmul(engine: Engine, opts: { runs?: number; peak?: number; candidates?: boolean; onRow?: (r: Row) => void } = {}): Promise<Row[]> {
  const runs = opts.runs ?? 5;
  const peak = opts.peak ?? NaN;
  const tuned = tuningOf(engine).matmul;
  const cases: MatmulCase[] = [];
  cases.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024 });
  if (opts.candidates ?? true)
    for (const c of matmulCandidates(engine.adapter.adapterClass)) {
      if (c.variant === tuned.variant && c.workgroup.join() === tuned.workgroup.join()) continue;
      cases.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024, opts: { variant: c.variant, workgroup: c.workgroup } });
    }
  for (const [inF, outF] of [
    [784, 512],
    [512, 10],
    [6272, 128],
    [16384, 128],
  ] as const) {
    cases.push({ shape: `dense ${inF}->${outF} fwd 128x${outF}x${inF}`, m: 128, n: outF, k: inF });
    cases.push({ shape: `dense ${inF}->${outF} dW Aᵀ ${inF}x${outF}x128`, m: inF, n: outF, k: 128, opts: { transA: true } });
    cases.push({ shape: `dense ${inF}->${outF} dX Bᵀ 128x${inF}x${outF}`, m: 128, n: inF, k: outF, opts: { transB: true } });
  }
  const rows: Row[] = [];
  for (const c of cases) {
    const o = c.opts ?? {};
    const forced = o.variant !== undefined;
    const t = await timeMatmul(engine, c.m, c.n, c.k, o, runs);
    const variant = forced ? `${o.variant} wg ${o.workgroup!.join('x')}` : `${t.variants || tuned.variant} (tuned)`;
    rows.push({ shape: `matmul ${c.shape}`, variant, ms: t.ms, gflops: t.gflops, ofPeak: t.gflops / peak, workgroups: t.workgroups, method: t.method });
    opts.onRow?.(rows.at(-1)!);
  }
  return rows;
}

/** Median ms and GFLOP/s of one m x n x k matmul (operands laid out as `opts` transposes them) on random inputs. */
export async function timeMatmul(engine: Engine, m: number, n: number, k: number, opts: MatmulOptions = {}, runs = 5): Promise<Timing & { gflops: number }> {
  const a = engine.tensor(opts.transA ? [k, m] : [m, k], randomUniform(m * k, 1));
  const b = engine.tensor(opts.transB ? [n, k] : [k, n], randomUniform(k * n, 2));
  const out = engine.empty([m, n]);
  try {
    const t = await timeRecording(engine, `matmul ${m}x${n}x${k}`, (rec) => matmul(rec, a, b, out, m, n, k, opts), runs);
    return { ...t, gflops: (2 * m * n * k) / t.ms / 1e6 };
  } finally {
    for (const t of [a, b, out] as Tensor[]) t.dispose();
  }
}

/** Conv2D (forward, backward-input, backward-filter, bias gradient at the seed CNNs' shapes) and max-pool rows (bench/conv.ts). */
export async function benchConvRows(engine: Engine, peak: number, runs = 3, onRow?: (r: Row) => void): Promise<Row[]> {
  const toRow = (r: BenchResult): Row => {
    const common = { ms: r.ms, workgroups: r.workgroups, method: r.method, variant: r.variants || '-' };
    if (r.gbs !== undefined) return { shape: r.name, ...common, gflops: r.gbs, ofPeak: NaN, unit: 'GB/s' as const };
    return { shape: `conv2d ${r.name}`, ...common, gflops: r.gflops, ofPeak: r.gflops / peak };
  };
  const results = await benchConv(engine, { runs, shapes: ['mnist', 'cifar1', 'cifar2'], onResult: (r) => onRow?.(toRow(r)) });
  return results.map(toRow);
}

export function formatTable(rows: Row[], fma: Probe, copy: Probe): string {
  const lines: string[] = [];
  const head = ['kernel and shape', 'variant', 'workgroups', 'ms', 'rate', '% of probe', 'timed by'];
  const body = [
    [`FMA probe: ${fma.work}`, 'probe', fma.workgroups, fma.measuredMs.toFixed(2), `${fma.rate.toFixed(1)} GFLOP/s`, '100.0%', fma.method],
    [`copy probe: ${copy.work}`, 'probe', copy.workgroups, copy.measuredMs.toFixed(2), `${copy.rate.toFixed(1)} GB/s`, '-', copy.method],
    ...rows.map((r) => [
      r.shape,
      r.variant,
      r.workgroups ?? '-',
      r.ms.toFixed(3),
      `${r.gflops.toFixed(2)} ${r.unit ?? 'GFLOP/s'}`,
      Number.isFinite(r.ofPeak) ? `${(100 * r.ofPeak).toFixed(1)}%` : '-',
      r.method ?? '-',
    ]),
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  lines.push(fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt));
  return lines.join('\n');
}

const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

/** One `--json` line per probe: the rate and the measured work (at least PROBE_MIN_MS). */
function probeJson(kind: 'fma' | 'copy', p: Probe): string {
  return JSON.stringify({ kernel: `${kind} probe`, work: p.work, workgroups: p.workgroups, measured_ms: round(p.measuredMs), [kind === 'fma' ? 'gflops' : 'gbs']: round(p.rate, 2), method: p.method });
}

/** `bench kernels [--json] [--quick]`: the probes, matmul, conv2d and pooling in one table. */
export async function main(args: string[] = []): Promise<void> {
  const engine = await createEngine();
  try {
    const json = args.includes('--json');
    const say = (s: string) => process.stdout.write(`${s}\n`);
    if (!json) say(`adapter: ${engine.describe()}`);
    const fma = await fmaProbe(engine);
    const copy = await bandwidthProbe(engine);
    // Without --json each row is printed as soon as it is measured (a stopped run still leaves its rows), then
    // the whole table.
    const progress = (r: Row) => !json && say(`  ${r.shape}: ${r.variant}, ${r.workgroups ?? '-'} workgroups, ${r.ms.toFixed(3)} ms, ${r.gflops.toFixed(2)} ${r.unit ?? 'GFLOP/s'} (${r.method})`);
    if (!json) {
      say(`FMA probe: ${fma.rate.toFixed(1)} GFLOP/s over ${fma.measuredMs.toFixed(1)} ms of ${fma.work} (${fma.method})`);
      say(`copy probe: ${copy.rate.toFixed(1)} GB/s over ${copy.measuredMs.toFixed(1)} ms of ${copy.work} (${copy.method})`);
    }
    if (json) {
      say(JSON.stringify({ adapter: engine.describe(), adapter_class: engine.adapter.adapterClass, matmul: tuningOf(engine).matmul, method: fma.method }));
      say(probeJson('fma', fma));
      say(probeJson('copy', copy));
    }
    // --quick (the device bundle on a software adapter): one timed run per row, no 1024³ candidates.
    const quick = args.includes('--quick');
    const runs = quick ? 1 : undefined;
    const rows = [...(await benchMatmul(engine, { peak: fma.rate, runs, candidates: !quick, onRow: progress })), ...(await benchConvRows(engine, fma.rate, runs, progress))];
    // The FMA probe again after the table: a busy machine shows up as two different peaks.
    const fma2 = await fmaProbe(engine);
    if (json) {
      for (const r of rows)
        say(JSON.stringify({ kernel: r.shape, variant: r.variant, workgroups: r.workgroups, ms: round(r.ms, 4), [r.unit === 'GB/s' ? 'gbs' : 'gflops']: round(r.gflops, 2), fraction_of_probe: Number.isFinite(r.ofPeak) ? round(r.ofPeak, 4) : null, method: r.method }));
      say(probeJson('fma', fma2).replace('"fma probe"', '"fma probe (again, after the table)"'));
    } else say(`${formatTable(rows, fma, copy)}\n(FMA probe again after the table: ${fma2.rate.toFixed(1)} GFLOP/s over ${fma2.measuredMs.toFixed(0)} ms)`);
  } finally {
    engine.dispose();
  }
}
